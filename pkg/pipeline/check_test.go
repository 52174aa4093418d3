package pipeline_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// realAccount is a real Account describe (pkg/salesforce/testdata).
func realAccount(t testing.TB) *salesforce.SObjectDescribe {
	t.Helper()
	data, err := os.ReadFile("../salesforce/testdata/describe_account_v48.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := salesforce.ParseSObjectDescribe(data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func parsePipeline(t testing.TB, yaml string) *pipeline.PipelineConfig {
	t.Helper()
	cfg, err := pipeline.ParseConfig("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Pipelines[0]
}

// problemKey identifies a problem by its typed parts, not its text.
type problemKey struct {
	key, source, field string
	kind               pipeline.ProblemKind
}

func keysOf(ps []pipeline.Problem) map[problemKey]bool {
	m := map[problemKey]bool{}
	for _, p := range ps {
		m[problemKey{p.Key, p.Source, p.Field, p.Kind}] = true
	}
	return m
}

func TestCheckMappingAgainstRealDescribe(t *testing.T) {
	t.Parallel()
	acc := realAccount(t)
	related := func(name string) (*salesforce.SObjectDescribe, error) {
		if strings.EqualFold(name, "Account") {
			return acc, nil
		}
		return nil, nil // Contact, User: not in the fixture
	}
	// Insert: typos, read-only fields, relationships.
	pc := parsePipeline(t, `
pipelines:
  - name: accounts
    sobject: Account
    mapping:
      company: name
      emial: Emial__c
      duns: Duns_Number__c
      photo: PhotoUrl
      created: CreatedDate
      id: Id
      revenue: AnnualRevenue
      parent_name: Parent.Name
      parent_nope: Parent.Nope__c
      parent_id: Parent.Id
      boss: Boss.Name
      parent_field: ParentId.Name
      owner: Owner.Username
      master: MasterRecord.Id
`)
	problems, err := pipeline.CheckMapping(pc, acc, related)
	if err != nil {
		t.Fatal(err)
	}
	want := []problemKey{
		{"mapping.emial", "emial", "Emial__c", pipeline.ProblemUnknownField},
		{"mapping.duns", "duns", "Duns_Number__c", pipeline.ProblemUnknownField},
		{"mapping.photo", "photo", "PhotoUrl", pipeline.ProblemNotCreateable},
		{"mapping.created", "created", "CreatedDate", pipeline.ProblemNotCreateable},
		{"mapping.id", "id", "Id", pipeline.ProblemNotCreateable},
		{"mapping.parent_name", "parent_name", "Parent.Name", pipeline.ProblemNotExternalID},
		{"mapping.parent_nope", "parent_nope", "Parent.Nope__c", pipeline.ProblemUnknownField},
		{"mapping.boss", "boss", "Boss.Name", pipeline.ProblemUnknownRelationship},
		{"mapping.parent_field", "parent_field", "ParentId.Name", pipeline.ProblemUnknownRelationship},
		{"mapping.owner", "owner", "Owner.Username", pipeline.ProblemUnknownObject},
		{"mapping.master", "master", "MasterRecord.Id", pipeline.ProblemNotCreateable},
	}
	got := keysOf(problems)
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing problem %+v", w)
		}
	}
	if len(problems) != len(want) {
		for _, p := range problems {
			t.Logf("got %s", p)
		}
		t.Errorf("%d problems, want %d", len(problems), len(want))
	}
	for _, p := range problems {
		if p.Pipeline != "accounts" || p.Message == "" {
			t.Errorf("problem %+v lacks its pipeline or message", p)
		}
		if p.Source == "duns" && !strings.Contains(p.Message, "did you mean DunsNumber?") {
			t.Errorf("no suggestion for a near miss: %s", p)
		}
		if p.Source == "parent_field" && !strings.Contains(p.Message, "Parent.Name") {
			t.Errorf("no hint for a lookup field used as a relationship: %s", p)
		}
	}

	// Update: Id is the key; fields that cannot be updated are problems.
	pc = parsePipeline(t, `
pipelines:
  - name: fix
    sobject: Account
    mode: update
    mapping: {sf_id: Id, created: CreatedDate, photo: PhotoUrl, site: BillingStreet, partner: IsPartner}
`)
	problems, _ = pipeline.CheckMapping(pc, acc, related)
	got = keysOf(problems)
	if len(problems) != 2 || !got[problemKey{"mapping.created", "created", "CreatedDate", pipeline.ProblemNotUpdateable}] ||
		!got[problemKey{"mapping.photo", "photo", "PhotoUrl", pipeline.ProblemNotUpdateable}] {
		t.Errorf("update problems = %v", problems)
	}

	// Upsert keys: an external id or idLookup field, never Id, never a plain field.
	for _, c := range []struct {
		field string
		kind  pipeline.ProblemKind
	}{
		{"Name", pipeline.ProblemNotExternalID},
		{"Id", pipeline.ProblemNotExternalID},
		{"Nope__c", pipeline.ProblemUnknownField},
	} {
		pc = parsePipeline(t, `
pipelines:
  - name: up
    sobject: Account
    mode: upsert
    external_id_field: `+c.field+`
    mapping: {company: Name, partner: IsPartner}
`)
		problems, _ = pipeline.CheckMapping(pc, acc, related)
		got = keysOf(problems)
		if !got[problemKey{"external_id_field", "", c.field, c.kind}] {
			t.Errorf("external_id_field %s: problems %v", c.field, problems)
		}
		// IsPartner is updateable but not createable: upsert may create.
		if !got[problemKey{"mapping.partner", "partner", "IsPartner", pipeline.ProblemNotCreateable}] {
			t.Errorf("upsert writing IsPartner: problems %v", problems)
		}
	}

	// Delete sends only Id: nothing to write, only typos are reported.
	pc = parsePipeline(t, `
pipelines:
  - name: del
    sobject: Account
    mode: delete
    mapping: {sf_id: Id, created: CreatedDate}
`)
	if problems, _ = pipeline.CheckMapping(pc, acc, related); len(problems) != 0 {
		t.Errorf("delete problems = %v", problems)
	}

	// An object that does not exist, and one that cannot be written.
	problems, _ = pipeline.CheckMapping(pc, nil, nil)
	if len(problems) != 1 || problems[0].Kind != pipeline.ProblemUnknownObject || problems[0].Key != "sobject" {
		t.Errorf("unknown object: %v", problems)
	}
	readOnly := *acc
	readOnly.Createable, readOnly.Deletable = false, false
	problems, _ = pipeline.CheckMapping(pc, &readOnly, related)
	if len(problems) != 1 || problems[0].Kind != pipeline.ProblemModeNotAllowed || problems[0].Key != "mode" {
		t.Errorf("not deletable: %v", problems)
	}

	// A related object that cannot be read is an error, not a problem.
	boom := errors.New("boom")
	pc = parsePipeline(t, `
pipelines:
  - name: rel
    sobject: Account
    mapping: {p: Parent.Id}
`)
	if _, err := pipeline.CheckMapping(pc, acc, func(string) (*salesforce.SObjectDescribe, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("related error = %v", err)
	}
}

const refusedConfig = `
pipelines:
  - name: accounts
    sobject: Account
    mode: upsert
    external_id_field: AccountNumber
    mapping:
      key: External_Key__c
      company: Name
      tier: Customer_Tier__c
      emial: Emial__c
      created: CreatedDate
      parent: Parent.AccountNumber
`

// FromConfig reads describe through the client and refuses, before any
// record is sent, a pipeline that does not fit, listing every problem.
func TestFromConfigRefusesAPipelineThatDoesNotFit(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	pc := parsePipeline(t, refusedConfig)
	p, err := pipeline.FromConfig(pc, b.client)
	var se *pipeline.SchemaError
	if p != nil || !errors.As(err, &se) {
		t.Fatalf("FromConfig = %v, %v; want a *SchemaError", p, err)
	}
	if se.Pipeline != "accounts" || se.SObject != "Account" || len(se.Problems) != 4 {
		t.Fatalf("schema error = %+v", se)
	}
	got := keysOf(se.Problems)
	for _, w := range []problemKey{
		{"external_id_field", "", "AccountNumber", pipeline.ProblemNotExternalID},
		{"mapping.emial", "emial", "Emial__c", pipeline.ProblemUnknownField},
		{"mapping.created", "created", "CreatedDate", pipeline.ProblemNotCreateable},
		{"mapping.parent", "parent", "Parent.AccountNumber", pipeline.ProblemNotExternalID},
	} {
		if !got[w] {
			t.Errorf("missing problem %+v in %v", w, se.Problems)
		}
	}
	msg := err.Error()
	for _, line := range []string{
		`pipeline "accounts" does not fit Account (4 problems`,
		"\n  mapping.emial → Emial__c: Account has no field Emial__c",
		"\n  external_id_field: Account.AccountNumber is neither an External ID field nor an idLookup field",
	} {
		if !strings.Contains(msg, line) {
			t.Errorf("message lacks %q:\n%s", line, msg)
		}
	}
	if st := b.env.Server.Stats(); st.CallsByKind["collections"] != 0 || st.CallsByKind["describe"] != 1 {
		t.Errorf("calls = %v, want one describe and nothing else", st.CallsByKind)
	}
}

func TestCheckPipeline(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	// Fits: the schema holds the object and the objects references reach.
	pc := parsePipeline(t, `
pipelines:
  - name: contacts
    sobject: Contact
    mode: insert
    mapping: {last: LastName, acct: Account.Id}
`)
	s, err := pipeline.CheckPipeline(ctx, pc, b.client)
	if err != nil {
		t.Fatal(err)
	}
	if s.Object.Name != "Contact" || s.Related["account"] == nil || s.Related["account"].Name != "Account" {
		t.Errorf("schema = %+v", s)
	}
	// Unknown object: a problem of the pipeline.
	pc = parsePipeline(t, `
pipelines:
  - name: invoices
    sobject: Invoice__c
`)
	_, err = pipeline.CheckPipeline(ctx, pc, b.client)
	var se *pipeline.SchemaError
	if !errors.As(err, &se) || len(se.Problems) != 1 || se.Problems[0].Kind != pipeline.ProblemUnknownObject || se.Problems[0].Pipeline != "invoices" {
		t.Fatalf("unknown object: %v", err)
	}
}

// When Salesforce cannot be asked, the error is the describe call's, typed
// as the client types it: it is not a problem of the pipeline.
func TestDescribeFailuresAreNotSchemaProblems(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	bad, err := salesforce.New(salesforce.Config{AllowHTTP: true, LoginURL: b.env.URL, ClientID: "wrong", Username: b.env.Username,
		PrivateKey: string(b.env.PrivateKeyPEM), HTTPClient: b.env.HTTP.Client()})
	if err != nil {
		t.Fatal(err)
	}
	pc := parsePipeline(t, "pipelines: [{name: a, sobject: Account}]")
	_, err = pipeline.CheckPipeline(ctxT(t), pc, bad)
	var se *pipeline.SchemaError
	var auth *salesforce.AuthError
	if errors.As(err, &se) || !errors.As(err, &auth) || salesforce.Classify(err) != salesforce.ClassAuth {
		t.Errorf("auth failure: %v", err)
	}
	_, err = pipeline.New(pipeline.Options{Client: bad, SObject: "Account", Retry: pipeline.RetryPolicy{}.NoWait()})
	if errors.As(err, &se) || !errors.As(err, &auth) {
		t.Errorf("New with a refused token: %v", err)
	}

	// Transient failures are retried as the retry policy says, then given up.
	f := setup(t, sfsim.Config{Faults: sfsim.Faults{Rate503: 1}})
	_, err = pipeline.New(pipeline.Options{Client: f.client, SObject: "Account", Retry: pipeline.RetryPolicy{CallAttempts: 3}.NoWait()})
	var api *salesforce.APIError
	if !errors.As(err, &api) || api.HTTPStatus != 503 || salesforce.Classify(err) != salesforce.ClassTransient {
		t.Fatalf("503: %v", err)
	}
	if n := f.client.DescribeCalls(); n != 3 {
		t.Errorf("describe requests = %d, want 3 attempts", n)
	}
	cctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	if _, err := pipeline.NewContext(cctx, pipeline.Options{Client: f.client, SObject: "Account"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// A schema given in Options is used as it is: building the pipeline makes
// no describe call. SkipSchema makes none either.
func TestSchemaInOptionsAndSkipSchema(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	pc := parsePipeline(t, `
pipelines:
  - name: accounts
    sobject: Account
    mode: upsert
    external_id_field: External_Key__c
    mapping: {key: External_Key__c, company: Name, parent: Parent.External_Key__c}
`)
	s, err := pipeline.CheckPipeline(ctx, pc, b.client)
	if err != nil {
		t.Fatal(err)
	}
	b.client.ForgetDescribe("Account")
	before := b.client.DescribeCalls()
	opts := pc.Options(b.client)
	opts.Schema = s
	p, err := pipeline.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Schema() != nil && p.Schema().Object != s.Object {
		t.Error("the given schema was not used")
	}
	opts = pc.Options(b.client)
	opts.SkipSchema = true
	p, err = pipeline.New(opts)
	if err != nil || p.Schema() != nil {
		t.Fatalf("SkipSchema: %v %v", p, err)
	}
	if n := b.client.DescribeCalls(); n != before {
		t.Errorf("describe requests went from %d to %d", before, n)
	}
	// A given schema that does not fit is refused all the same.
	bad := parsePipeline(t, refusedConfig).Options(b.client)
	bad.Schema = s
	if _, err := pipeline.New(bad); !errors.As(err, new(*pipeline.SchemaError)) {
		t.Errorf("given schema, bad mapping: %v", err)
	}
}

// The example org's pipelines fit the example schema; a file with mistakes
// gets a report naming each.
func TestCheckConfig(t *testing.T) {
	t.Parallel()
	sch, err := sfsim.LoadSchemaFile("../../examples/schema.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, sfsim.Config{Schema: sch})
	ctx := ctxT(t)
	cfg, err := pipeline.LoadConfig("../../examples/pipelines.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.CheckConfig(ctx, cfg, b.client)
	if err != nil || !r.OK() || len(r.Pipelines) != len(cfg.Pipelines) {
		t.Fatalf("examples: %v\n%s", err, r)
	}
	if !strings.Contains(r.String(), "accounts (Account upsert): ok\n") {
		t.Errorf("report:\n%s", r)
	}
	// Each object was read once, however many pipelines use it.
	if st := b.env.Server.Stats(); st.CallsByKind["describe"] != 2 {
		t.Errorf("describe calls = %d, want 2 (Account, Contact)", st.CallsByKind["describe"])
	}

	cfg, err = pipeline.ParseConfig("broken.yaml", []byte(refusedConfig+`
  - name: invoices
    sobject: Invoice__c
  - name: contacts
    sobject: Contact
    mapping: {last: LastName}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err = pipeline.CheckConfig(ctx, cfg, b.client)
	if r.OK() || err == nil {
		t.Fatalf("broken config passed:\n%s", r)
	}
	if len(r.Pipelines) != 3 || len(r.Pipelines[0].Problems) != 4 || len(r.Pipelines[1].Problems) != 1 || !r.Pipelines[2].OK() {
		t.Fatalf("report = %+v", r.Pipelines)
	}
	var se *pipeline.SchemaError
	if !errors.As(err, &se) {
		t.Errorf("report error %v holds no *SchemaError", err)
	}
	out := r.String()
	for _, line := range []string{"accounts (Account upsert): 4 problem(s)\n", "invoices (Invoice__c insert): 1 problem(s)\n  sobject: Salesforce has no object Invoice__c",
		"contacts (Contact insert): ok\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("report lacks %q:\n%s", line, out)
		}
	}
}
