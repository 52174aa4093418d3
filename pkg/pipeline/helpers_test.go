package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testSchema = `
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}
      - {name: Score__c, type: double}
      - {name: Customer_Tier__c, type: picklist, values: [Platinum, Gold, Silver], restricted: true}
`

type bundle struct {
	env    *sfsim.TestEnv
	client *salesforce.Client
}

// setup starts a simulator with the test schema and a client for it.
func setup(t testing.TB, cfg sfsim.Config) *bundle {
	t.Helper()
	if cfg.Schema == nil {
		s, err := sfsim.ParseSchema([]byte(testSchema))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Schema = s
	}
	env := sfsim.StartTest(t, cfg)
	c, err := salesforce.New(salesforce.Config{
		LoginURL: env.URL, ClientID: env.ClientID, Username: env.Username,
		PrivateKey: string(env.PrivateKeyPEM), HTTPClient: env.HTTP.Client(), MaxConcurrency: 16, AllowHTTP: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{env: env, client: c}
}

// pipe builds a pipeline on the bundle's client with a no-sleep retry policy.
func (b *bundle) pipe(t testing.TB, o pipeline.Options) *pipeline.Pipeline {
	t.Helper()
	o.Client = b.client
	o.Retry = o.Retry.NoWait()
	p, err := pipeline.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *bundle) live(t testing.TB, obj string) int {
	t.Helper()
	n, err := b.env.Server.Count(obj)
	if err != nil {
		t.Fatal(err)
	}
	return n.Live
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func sourceAccounts(n int, prefix string) []map[string]any {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = map[string]any{"key": fmt.Sprintf("%s-%d", prefix, i), "company": fmt.Sprintf("%s %d", prefix, i)}
	}
	return recs
}

func accountMapper(t testing.TB) *pipeline.FieldMapper {
	t.Helper()
	m, err := pipeline.NewFieldMapper([]pipeline.FieldSpec{
		{Source: "key", Target: "External_Key__c"},
		{Source: "company", Target: "Name"},
	}, pipeline.MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
