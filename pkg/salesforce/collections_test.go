package salesforce_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestInsertChunksOver200AndKeepsOrder(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{}, func(c *salesforce.Config) { c.MaxConcurrency = 3 })
	recs := accounts(450, "chunk")
	recs[321]["Name"] = nil // one bad record in the middle
	res, err := c.Insert(ctxT(t), "Account", recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 450 {
		t.Fatalf("%d results for 450 records", len(res))
	}
	st := env.Server.Stats()
	if got := st.CallsByKind["collections_create"]; got != 3 {
		t.Errorf("collections calls = %d, want 3 (200+200+50)", got)
	}
	for i, r := range res {
		if i == 321 {
			if r.Success || r.Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" {
				t.Errorf("record 321 = %+v, want REQUIRED_FIELD_MISSING", r)
			}
			continue
		}
		if !r.Success || !salesforce.ValidID(r.ID) {
			t.Fatalf("record %d = %+v", i, r)
		}
	}
	// Results are correlated to their input: read a few back by id.
	for _, i := range []int{0, 199, 200, 449} {
		got, err := c.GetRecord(ctxT(t), "Account", res[i].ID, "Name")
		if err != nil || got["Name"] != recs[i]["Name"] {
			t.Errorf("record %d: got %v, %v; want Name %v", i, got, err, recs[i]["Name"])
		}
	}
	if n := liveCount(t, env, "Account"); n != 449 {
		t.Errorf("accounts = %d, want 449", n)
	}
}

func TestChunkFailureReportsTheRange(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, sfsim.Config{Faults: sfsim.Faults{Rate503: 1}})
	res, err := c.Insert(ctxT(t), "Account", accounts(250, "f"))
	if len(res) != 250 {
		t.Fatalf("%d results, want 250 zero values", len(res))
	}
	var ce *salesforce.ChunkError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ChunkError", err)
	}
	if salesforce.Classify(err) != salesforce.ClassTransient {
		t.Errorf("Classify = %v", salesforce.Classify(err))
	}
	if joined, ok := err.(interface{ Unwrap() []error }); !ok || len(joined.Unwrap()) != 2 {
		t.Errorf("want one ChunkError per failed call (2), got %v", err)
	}
}

func TestAllOrNoneRollsBack(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	recs := accounts(3, "aon")
	delete(recs[1], "Name")
	res, err := c.Insert(ctxT(t), "Account", recs, salesforce.AllOrNone(true))
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Success || res[1].Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" {
		t.Errorf("bad record: %+v", res[1])
	}
	for _, i := range []int{0, 2} {
		if res[i].Success || res[i].Errors[0].StatusCode != salesforce.CodeAllOrNoneRolledBack {
			t.Errorf("record %d: %+v, want ALL_OR_NONE_OPERATION_ROLLED_BACK", i, res[i])
		}
	}
	if n := liveCount(t, env, "Account"); n != 0 {
		t.Errorf("allOrNone applied %d records", n)
	}
}

func TestUpsertCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	recs := accounts(250, "up")
	first, err := c.Upsert(ctx, "Account", "External_Key__c", recs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i]["Name"] = fmt.Sprint("renamed ", i)
	}
	second, err := c.Upsert(ctx, "Account", "External_Key__c", recs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if !first[i].Success || !first[i].Created {
			t.Fatalf("first upsert %d: %+v, want created", i, first[i])
		}
		if !second[i].Success || second[i].Created || second[i].ID != first[i].ID {
			t.Fatalf("second upsert %d: %+v, want updated %s", i, second[i], first[i].ID)
		}
	}
	if n := liveCount(t, env, "Account"); n != 250 {
		t.Errorf("accounts = %d, want 250 (no duplicates)", n)
	}
	got, _ := c.GetRecord(ctx, "Account", first[7].ID, "Name")
	if got["Name"] != "renamed 7" {
		t.Errorf("record 7 Name = %v", got["Name"])
	}
}

func TestUpdateDeleteRetrieve(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	created, err := c.Insert(ctx, "Account", accounts(5, "u"))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(created))
	upd := make([]salesforce.Record, len(created))
	for i, r := range created {
		ids[i] = r.ID
		upd[i] = salesforce.Record{"Id": r.ID, "Score__c": float64(i) * 1.5}
	}
	if res, err := c.Update(ctx, "Account", upd); err != nil || !res[4].Success {
		t.Fatalf("update: %v %+v", err, res)
	}
	got, err := c.Retrieve(ctx, "Account", append(ids, "001000000000000AAA"), []string{"Name", "Score__c"})
	if err != nil {
		t.Fatal(err)
	}
	if got[4]["Score__c"] != 6.0 || got[5] != nil {
		t.Errorf("retrieve = %v", got)
	}
	del, err := c.Delete(ctx, ids[:3])
	if err != nil || !del[0].Success || del[0].ID != ids[0] {
		t.Fatalf("delete: %v %+v", err, del)
	}
	if n := liveCount(t, env, "Account"); n != 2 {
		t.Errorf("accounts = %d, want 2", n)
	}
}

func TestSingleRecordCalls(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	res, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": "Single"})
	if err != nil || !res.Success || !res.Created {
		t.Fatalf("create: %+v %v", res, err)
	}
	if err := c.UpdateRecord(ctx, "Account", res.ID, salesforce.Record{"Id": res.ID, "Name": "Renamed"}); err != nil {
		t.Fatalf("update: %v", err)
	}
	got, err := c.GetRecord(ctx, "Account", res.ID)
	if err != nil || got["Name"] != "Renamed" || got["Id"] != res.ID {
		t.Fatalf("get: %v %v", got, err)
	}
	if _, ok := got["attributes"]; ok {
		t.Error("attributes were not stripped")
	}

	up, err := c.UpsertRecord(ctx, "Account", "External_Key__c", "S-1", salesforce.Record{"Name": "Upserted", "External_Key__c": "S-1"})
	if err != nil || !up.Created || !salesforce.ValidID(up.ID) {
		t.Fatalf("upsert insert: %+v %v", up, err)
	}
	up2, err := c.UpsertRecord(ctx, "Account", "External_Key__c", "S-1", salesforce.Record{"Name": "Again"})
	if err != nil || up2.Created || up2.ID != up.ID {
		t.Fatalf("upsert update: %+v %v, want created=false id %s", up2, err, up.ID)
	}

	// Two records sharing a non-unique external id: 300 Multiple Choices.
	for i := 0; i < 2; i++ {
		if _, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": fmt.Sprint("L", i), "Legacy_Key__c": "L-1"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.UpsertRecord(ctx, "Account", "Legacy_Key__c", "L-1", salesforce.Record{"Name": "which?"})
	var mm *salesforce.MultipleMatchesError
	if !errors.As(err, &mm) || len(mm.Matches) != 2 {
		t.Fatalf("upsert on 2 matches: %v, want *MultipleMatchesError with 2 matches", err)
	}

	if err := c.DeleteRecord(ctx, "Account", res.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRecord(ctx, "Account", res.ID)
	var api *salesforce.APIError
	if !errors.As(err, &api) || api.HTTPStatus != 404 {
		t.Fatalf("get deleted: %v, want 404", err)
	}
	_, err = c.CreateRecord(ctx, "Account", salesforce.Record{"Id": res.ID, "Name": "x"})
	if !errors.As(err, &api) || api.HTTPStatus != 400 || api.Code != "INVALID_FIELD" {
		t.Fatalf("create with Id: %v, want 400 INVALID_FIELD", err)
	}
	if n := liveCount(t, env, "Account"); n != 3 {
		t.Errorf("accounts = %d, want 3", n)
	}
	vs, err := c.Versions(ctx)
	if err != nil || len(vs) == 0 || vs[len(vs)-1].Version == "" {
		t.Fatalf("versions: %v %v", vs, err)
	}
}
