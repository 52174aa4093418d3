package salesforce_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// The fixture is real describe output (see testdata/describe_account_v48.md):
// the decoder must read every property Kinetic uses and ignore the rest.
func TestDescribeDecodesRealSalesforceOutput(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/describe_account_v48.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := salesforce.ParseSObjectDescribe(data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Account" || d.Label != "Account" || d.LabelPlural != "Accounts" || d.KeyPrefix != "001" ||
		d.Custom || !d.Createable || !d.Updateable || !d.Deletable || !d.Queryable || !d.Undeletable || !d.Mergeable {
		t.Errorf("object properties = %+v", d)
	}
	if len(d.Fields) != 25 || len(d.ChildRelationships) != 4 || len(d.RecordTypeInfos) != 2 {
		t.Fatalf("%d fields, %d child relationships, %d record types", len(d.Fields), len(d.ChildRelationships), len(d.RecordTypeInfos))
	}
	if cr := d.ChildRelationships[2]; cr.ChildSObject != "AccountChangeEvent" || cr.Field != "ParentId" || cr.RelationshipName != "" {
		t.Errorf("child relationship with a null name = %+v", cr)
	}
	if rt := d.RecordTypeInfos[0]; rt.DeveloperName != "Household" || rt.RecordTypeID != "01254000001upcKAAQ" || !rt.DefaultRecordTypeMapping || rt.Master {
		t.Errorf("record type = %+v", rt)
	}
	if d.URLs["describe"] != "/services/data/v48.0/sobjects/Account/describe" {
		t.Errorf("urls = %v", d.URLs)
	}

	id, ok := d.Field("ID") // names match case-insensitively
	if !ok || id.Name != "Id" || id.Type != salesforce.FieldID || id.SoapType != "tns:ID" || !id.IDLookup || id.ExternalID ||
		id.Createable || id.Updateable || id.Nillable || !id.DefaultedOnCreate || id.Length != 18 {
		t.Errorf("Id = %+v", id)
	}
	name, _ := d.Field("name")
	if name.Type != salesforce.FieldString || name.Length != 255 || name.ByteLength != 765 || name.Nillable || name.DefaultedOnCreate ||
		!name.Createable || !name.Updateable || !name.NameField || name.ExtraTypeInfo != "switchablepersonname" || name.CompoundFieldName != "Name" {
		t.Errorf("Name = %+v", name)
	}
	rev, _ := d.Field("AnnualRevenue")
	if rev.Type != salesforce.FieldCurrency || rev.SoapType != "xsd:double" || rev.Precision != 18 || rev.Scale != 0 || !rev.Nillable {
		t.Errorf("AnnualRevenue = %+v", rev)
	}
	emp, _ := d.Field("NumberOfEmployees")
	if emp.Type != salesforce.FieldInt || emp.Digits != 8 || emp.SoapType != "xsd:int" {
		t.Errorf("NumberOfEmployees = %+v", emp)
	}
	lat, _ := d.Field("BillingLatitude")
	if lat.Type != salesforce.FieldDouble || lat.Precision != 18 || lat.Scale != 15 {
		t.Errorf("BillingLatitude = %+v", lat)
	}
	desc, _ := d.Field("Description")
	if desc.Type != salesforce.FieldTextarea || desc.Length != 32000 || desc.ExtraTypeInfo != "plaintextarea" {
		t.Errorf("Description = %+v", desc)
	}
	deleted, _ := d.Field("IsDeleted")
	if deleted.Type != salesforce.FieldBoolean || deleted.DefaultValue != false || !deleted.DefaultedOnCreate {
		t.Errorf("IsDeleted = %+v (default %#v)", deleted, deleted.DefaultValue)
	}
	clean, _ := d.Field("CleanStatus")
	if clean.Type != salesforce.FieldPicklist || !clean.RestrictedPicklist || len(clean.PicklistValues) != 8 {
		t.Fatalf("CleanStatus = %+v", clean)
	}
	if pv := clean.PicklistValues[0]; pv.Value != "Matched" || pv.Label != "In Sync" || !pv.Active || pv.DefaultValue || pv.ValidFor != "" {
		t.Errorf("first CleanStatus value = %+v", pv)
	}
	typ, _ := d.Field("Type")
	if typ.RestrictedPicklist || len(typ.PicklistValues) != 7 {
		t.Errorf("Type = %+v", typ)
	}
	for _, c := range []struct{ field, typ string }{
		{"Phone", "phone"}, {"Website", "url"}, {"BillingStreet", "textarea"}, {"BillingAddress", "address"},
		{"CreatedDate", "datetime"}, {"LastActivityDate", "date"}, {"OwnerId", "reference"}, {"DunsNumber", "string"},
	} {
		if f, ok := d.Field(c.field); !ok || string(f.Type) != c.typ {
			t.Errorf("%s: %+v, want type %s", c.field, f, c.typ)
		}
	}
	addr, _ := d.Field("BillingAddress")
	if addr.Createable || addr.Updateable || addr.SoapType != "urn:address" {
		t.Errorf("BillingAddress = %+v", addr)
	}
	if _, ok := d.Field("NoSuchField__c"); ok {
		t.Error("an unknown field was found")
	}

	parent, ok := d.Relationship("parent")
	if !ok || parent.Name != "ParentId" || len(parent.ReferenceTo) != 1 || parent.ReferenceTo[0] != "Account" || parent.RelationshipName != "Parent" {
		t.Errorf("relationship Parent = %+v", parent)
	}
	if f, ok := d.Relationship("Owner"); !ok || f.Name != "OwnerId" || f.Nillable || !f.DefaultedOnCreate {
		t.Errorf("relationship Owner = %+v", f)
	}
	if f, ok := d.Relationship("LinkedAccount"); !ok || f.Name != "ns__LinkedAccount__c" {
		t.Errorf("relationship LinkedAccount = %+v", f)
	}
	if _, ok := d.Relationship("ParentId"); ok {
		t.Error("a field name was taken for a relationship name")
	}
	if _, err := salesforce.ParseSObjectDescribe([]byte(`{"name":"Account","fields":{}}`)); err == nil {
		t.Error("fields as an object decoded")
	}
}

// A describe built by hand (no decoder) still finds its fields.
func TestDescribeLookupWithoutIndex(t *testing.T) {
	t.Parallel()
	d := &salesforce.SObjectDescribe{Name: "X__c", Fields: []salesforce.FieldDescribe{
		{Name: "Name", Type: salesforce.FieldString},
		{Name: "Parent__c", Type: salesforce.FieldReference, RelationshipName: "Parent__r", ReferenceTo: []string{"X__c"}},
	}}
	if f, ok := d.Field("NAME"); !ok || f.Name != "Name" {
		t.Errorf("Field(NAME) = %v %v", f, ok)
	}
	if f, ok := d.Relationship("parent__R"); !ok || f.Name != "Parent__c" {
		t.Errorf("Relationship(parent__R) = %v %v", f, ok)
	}
	if _, ok := d.Field("Parent__r"); ok {
		t.Error("relationship name found as a field")
	}
}

// fakeClock is a settable Config.Clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func describeCalls(env *sfsim.TestEnv) int64 { return env.Server.Stats().CallsByKind["describe"] }

func TestDescribeOverHTTPIsCachedAndExpires(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	c, env := setup(t, sfsim.Config{}, func(cfg *salesforce.Config) { cfg.Clock = clock.Now })
	ctx := ctxT(t)
	if c.Config().DescribeTTL != salesforce.DefaultDescribeTTL || salesforce.DefaultDescribeTTL != 15*time.Minute {
		t.Fatalf("default TTL = %v", c.Config().DescribeTTL)
	}
	d, err := c.Describe(ctx, "Account")
	if err != nil {
		t.Fatal(err)
	}
	ext, ok := d.Field("External_Key__c")
	if !ok || !ext.ExternalID || !ext.IDLookup || !ext.Unique || ext.Type != salesforce.FieldString || ext.Length != 40 || !ext.Createable || !ext.Updateable {
		t.Errorf("External_Key__c = %+v", ext)
	}
	if f, ok := d.Field("Score__c"); !ok || f.Type != salesforce.FieldDouble {
		t.Errorf("Score__c = %+v", f)
	}
	if f, ok := d.Field("Id"); !ok || f.Type != salesforce.FieldID || f.Createable || !f.IDLookup {
		t.Errorf("Id = %+v", f)
	}
	if f, ok := d.Relationship("Parent"); !ok || f.Name != "ParentId" || f.ReferenceTo[0] != "Account" {
		t.Errorf("Parent = %+v", f)
	}

	// Within the TTL, under any spelling of the name: no new request.
	clock.Advance(14 * time.Minute)
	d2, err := c.Describe(ctx, "account")
	if err != nil || d2 != d {
		t.Fatalf("cached describe = %p %v, want %p", d2, err, d)
	}
	if n := describeCalls(env); n != 1 || c.DescribeCalls() != 1 {
		t.Fatalf("describe requests = %d (client %d), want 1", n, c.DescribeCalls())
	}
	// Past the TTL: read again.
	clock.Advance(2 * time.Minute)
	d3, err := c.Describe(ctx, "Account")
	if err != nil || d3 == d {
		t.Fatalf("expired describe = %p %v", d3, err)
	}
	if n := describeCalls(env); n != 2 {
		t.Fatalf("describe requests = %d, want 2", n)
	}
	// ForgetDescribe drops it; other objects have their own entries.
	c.ForgetDescribe("ACCOUNT")
	if _, err := c.Describe(ctx, "Account"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Describe(ctx, "Contact"); err != nil {
		t.Fatal(err)
	}
	if n := describeCalls(env); n != 4 || c.DescribeCalls() != 4 {
		t.Fatalf("describe requests = %d (client %d), want 4", n, c.DescribeCalls())
	}
}

// RefreshDescribe reads the object again at once and caches the answer: a
// field added to the org shows.
func TestRefreshDescribeSeesSchemaChanges(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	if _, err := c.Describe(ctx, "Account"); err != nil {
		t.Fatal(err)
	}
	err := env.Admin.ApplySchemaYAML(ctx, []byte(`objects: [{name: Account, fields: [{name: Region__c, type: picklist, values: [EMEA, APAC], restricted: true}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Describe(ctx, "Account")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Field("Region__c"); ok {
		t.Fatal("the cached describe changed by itself")
	}
	d, err = c.RefreshDescribe(ctx, "Account")
	if err != nil {
		t.Fatal(err)
	}
	f, ok := d.Field("Region__c")
	if !ok || !f.RestrictedPicklist || len(f.PicklistValues) != 2 || f.PicklistValues[1].Value != "APAC" || !f.PicklistValues[1].Active {
		t.Fatalf("Region__c after refresh = %+v", f)
	}
	if again, _ := c.Describe(ctx, "Account"); again != d {
		t.Error("the refreshed describe was not cached")
	}
	if n := describeCalls(env); n != 2 {
		t.Errorf("describe requests = %d, want 2", n)
	}
}

func TestDescribeUnknownObjectIsNotFoundAndNotCached(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	for range 2 {
		_, err := c.Describe(ctx, "Nope__c")
		var api *salesforce.APIError
		if !errors.As(err, &api) || api.HTTPStatus != http.StatusNotFound || api.Code != salesforce.CodeNotFound || api.Op != "describe" {
			t.Fatalf("err = %#v", err)
		}
		if salesforce.Classify(err) != salesforce.ClassPermanentRequest {
			t.Errorf("class = %v", salesforce.Classify(err))
		}
	}
	if n := c.DescribeCalls(); n != 2 {
		t.Errorf("describe requests = %d, want 2 (errors are not cached)", n)
	}
}

func TestDescribeCacheOff(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{}, func(cfg *salesforce.Config) { cfg.DescribeTTL = -1 })
	ctx := ctxT(t)
	for range 3 {
		if _, err := c.Describe(ctx, "Account"); err != nil {
			t.Fatal(err)
		}
	}
	if n := describeCalls(env); n != 3 {
		t.Errorf("describe requests = %d, want 3", n)
	}
}

// gate holds describe requests at the transport until it is opened.
type gate struct {
	base    http.RoundTripper
	arrived chan struct{}
	open    chan struct{}
	once    sync.Once
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/describe") {
		g.once.Do(func() { close(g.arrived) })
		<-g.open
	}
	return g.base.RoundTrip(r)
}

// Goroutines asking for one object while its describe is on the way share
// that request; one whose context ends stops waiting, the others are not
// affected.
func TestConcurrentDescribesShareOneRequest(t *testing.T) {
	t.Parallel()
	env := sfsim.StartTest(t, sfsim.Config{Schema: schema(t)})
	g := &gate{base: env.HTTP.Client().Transport, arrived: make(chan struct{}), open: make(chan struct{})}
	c, err := salesforce.New(clientConfig(env, func(cfg *salesforce.Config) { cfg.HTTPClient = &http.Client{Transport: g} }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	const n = 20
	results := make([]*salesforce.SObjectDescribe, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Describe(ctx, "Account")
		}()
	}
	<-g.arrived // the first request is held at the transport
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Describe(cctx, "Account"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(g.open)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i] != results[0] {
			t.Fatalf("caller %d: %p %v, caller 0: %p", i, results[i], errs[i], results[0])
		}
	}
	if got := describeCalls(env); got != 1 || c.DescribeCalls() != 1 {
		t.Errorf("describe requests = %d (client %d), want 1", got, c.DescribeCalls())
	}
}

func TestDescribeGlobal(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	g, err := c.DescribeGlobal(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if g.Encoding != "UTF-8" || g.MaxBatchSize != 200 || len(g.SObjects) < 4 {
		t.Fatalf("global describe = %+v", g)
	}
	acc, ok := g.SObject("account")
	if !ok || acc.Name != "Account" || acc.KeyPrefix != "001" || !acc.Createable || !acc.Queryable || acc.URLs["describe"] == "" {
		t.Errorf("Account = %+v", acc)
	}
	if _, ok := g.SObject("Nope__c"); ok {
		t.Error("unknown object listed")
	}
	if n := describeCalls(env); n != 1 {
		t.Errorf("describe requests = %d", n)
	}
}

func TestDescribeTTLFromEnvAndFlag(t *testing.T) {
	t.Setenv("SF_DESCRIBE_TTL", "90s")
	if got := salesforce.ConfigFromEnv().DescribeTTL; got != 90*time.Second {
		t.Errorf("SF_DESCRIBE_TTL=90s gave %v", got)
	}
	var cfg salesforce.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--sf-describe-ttl", "-1s"}); err != nil {
		t.Fatal(err)
	}
	if cfg.DescribeTTL != -time.Second || cfg.WithDefaults().DescribeTTL != -time.Second {
		t.Errorf("--sf-describe-ttl -1s gave %v", cfg.DescribeTTL)
	}
}
