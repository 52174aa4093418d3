package salesforce_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testSchema = `
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}
      - {name: Legacy_Key__c, type: string, length: 40, external_id: true}
      - {name: Score__c, type: double}
`

func schema(t testing.TB) *sfsim.Schema {
	t.Helper()
	s, err := sfsim.ParseSchema([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setup starts a simulator with the test schema and a JWT client for it.
func setup(t testing.TB, cfg sfsim.Config, mods ...func(*salesforce.Config)) (*salesforce.Client, *sfsim.TestEnv) {
	t.Helper()
	if cfg.Schema == nil {
		cfg.Schema = schema(t)
	}
	env := sfsim.StartTest(t, cfg)
	c, err := salesforce.New(clientConfig(env, mods...))
	if err != nil {
		t.Fatal(err)
	}
	return c, env
}

func clientConfig(env *sfsim.TestEnv, mods ...func(*salesforce.Config)) salesforce.Config {
	c := salesforce.Config{
		LoginURL:   env.URL,
		ClientID:   env.ClientID,
		Username:   env.Username,
		PrivateKey: string(env.PrivateKeyPEM),
		HTTPClient: env.HTTP.Client(),
		AllowHTTP:  true, // the simulator serves plain http
	}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func accounts(n int, prefix string) []salesforce.Record {
	recs := make([]salesforce.Record, n)
	for i := range recs {
		recs[i] = salesforce.Record{"Name": fmt.Sprintf("%s %d", prefix, i), "External_Key__c": fmt.Sprintf("%s-%d", prefix, i)}
	}
	return recs
}

func liveCount(t testing.TB, env *sfsim.TestEnv, obj string) int {
	t.Helper()
	n, err := env.Server.Count(obj)
	if err != nil {
		t.Fatal(err)
	}
	return n.Live
}
