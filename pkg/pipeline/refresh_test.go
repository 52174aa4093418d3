package pipeline_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// After the org changes, RefreshSchema makes the value check follow at once:
// the fix-then-replay flow of dead letters.
func TestRefreshSchemaFollowsOrgChanges(t *testing.T) {
	t.Parallel()
	b := checkSetup(t)
	ctx := ctxT(t)
	p := b.pipe(t, pipeline.Options{SObject: "Check__c", Mapper: checkMapper(t)})
	bronze := map[string]any{"ext": "B-1", "tier": "Bronze", "num": 1.0}
	if _, rerr := p.Prepare(0, bronze); rerr == nil || rerr.Code != pipeline.CodeRestrictedPicklist {
		t.Fatalf("inactive value: %+v", rerr)
	}
	err := b.env.Admin.ApplySchemaYAML(ctx, []byte(`objects: [{name: Check__c, fields: [{name: Tier__c, type: picklist, values: [Gold, Silver, Bronze], restricted: true}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, rerr := p.Prepare(0, bronze); rerr == nil {
		t.Fatal("the describe changed before it was read again")
	}
	if err := p.RefreshSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if _, rerr := p.Prepare(0, bronze); rerr != nil {
		t.Fatalf("after RefreshSchema: %+v", rerr)
	}
	// An org change that breaks the mapping: refused, the last good
	// describe stays in use.
	err = b.env.Admin.ApplySchemaYAML(ctx, []byte(`objects: [{name: Check__c, fields: [{name: Num__c, type: double, read_only: true}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	before := p.Schema()
	err = p.RefreshSchema(ctx)
	var se *pipeline.SchemaError
	if !errors.As(err, &se) || se.Problems[0].Field != "Num__c" || se.Problems[0].Kind != pipeline.ProblemNotCreateable {
		t.Fatalf("read-only field after refresh: %v", err)
	}
	if p.Schema() != before {
		t.Error("a describe the pipeline does not fit replaced the good one")
	}
}

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Without RefreshSchema, a describe older than the client's DescribeTTL is
// read again by Prepare; while Salesforce cannot be asked, the old one stays
// in use and Prepare tries again a minute later.
func TestStaleDescribeIsReadAgain(t *testing.T) {
	t.Parallel()
	sch, err := sfsim.ParseSchema([]byte(checkSchema))
	if err != nil {
		t.Fatal(err)
	}
	env := sfsim.StartTest(t, sfsim.Config{Schema: sch})
	clk := &clock{}
	clk.ns.Store(time.Now().UnixNano())
	client, err := salesforce.New(salesforce.Config{AllowHTTP: true, LoginURL: env.URL, ClientID: env.ClientID, Username: env.Username,
		PrivateKey: string(env.PrivateKeyPEM), HTTPClient: env.HTTP.Client(), Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	p, err := pipeline.New(pipeline.Options{Client: client, SObject: "Check__c", Mapper: checkMapper(t), Now: clk.Now,
		Retry: pipeline.RetryPolicy{CallAttempts: 1}.NoWait()})
	if err != nil {
		t.Fatal(err)
	}
	bronze := map[string]any{"ext": "B-1", "tier": "Bronze"}
	if err := env.Admin.ApplySchemaYAML(ctx, []byte(`objects: [{name: Check__c, fields: [{name: Tier__c, type: picklist, values: [Gold, Silver, Bronze], restricted: true}]}]`)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(14 * time.Minute)
	if _, rerr := p.Prepare(0, bronze); rerr == nil || client.DescribeCalls() != 1 {
		t.Fatalf("within the TTL: %+v, %d describe calls", rerr, client.DescribeCalls())
	}
	clk.Advance(2 * time.Minute)
	if _, rerr := p.Prepare(0, bronze); rerr != nil || client.DescribeCalls() != 2 {
		t.Fatalf("past the TTL: %+v, %d describe calls", rerr, client.DescribeCalls())
	}

	// Salesforce unavailable when the describe is stale again.
	if err := env.Server.SetFaults(sfsim.Faults{Rate503: 1}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(16 * time.Minute)
	if _, rerr := p.Prepare(0, bronze); rerr != nil || client.DescribeCalls() != 3 {
		t.Fatalf("describe failing: %+v, %d describe calls", rerr, client.DescribeCalls())
	}
	if _, rerr := p.Prepare(0, map[string]any{"ext": "B-2", "tier": "Copper"}); rerr == nil || client.DescribeCalls() != 3 {
		t.Fatalf("within the minute: %+v, %d describe calls (the old describe still checks values)", rerr, client.DescribeCalls())
	}
	clk.Advance(61 * time.Second)
	if _, rerr := p.Prepare(0, bronze); rerr != nil || client.DescribeCalls() != 4 {
		t.Fatalf("a minute later: %+v, %d describe calls", rerr, client.DescribeCalls())
	}
}
