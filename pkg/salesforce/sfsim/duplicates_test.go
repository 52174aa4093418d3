package sfsim

import (
	"net/http"
	"strings"
	"testing"
)

// dupSchema adds a case-sensitive external id to the test schema.
func dupSchema(t *testing.T) *Schema {
	t.Helper()
	s := testSchema(t)
	extra, err := ParseSchema([]byte(`
objects:
  - name: Account
    fields:
      - {name: Exact_Key__c, type: string, length: 40, external_id: true, unique: true, case_sensitive: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	return s.Merge(extra)
}

// wantDup checks that a result failed with DUPLICATE_VALUE and the message.
func wantDup(t *testing.T, what string, r saveResult, msg string, fields ...string) {
	t.Helper()
	if r.Success || len(r.Errors) != 1 || r.Errors[0].StatusCode != "DUPLICATE_VALUE" || r.Errors[0].Message != msg ||
		strings.Join(r.Errors[0].Fields, ",") != strings.Join(fields, ",") {
		t.Errorf("%s: %+v, want DUPLICATE_VALUE %q %v", what, r, msg, fields)
	}
}

func TestCollectionsUpsertDuplicateExternalIDs(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{Schema: dupSchema(t)})
	existing := f.create("Account", map[string]any{"Name": "Existing", "External_Key__c": "E-1"})
	res := f.results(f.do("PATCH", "composite/sobjects/Account/External_Key__c", map[string]any{"allOrNone": false, "records": []any{
		acct(map[string]any{"Name": "first", "External_Key__c": "K-1"}),
		acct(map[string]any{"Name": "new", "External_Key__c": "K-2"}),
		acct(map[string]any{"Name": "same key in lower case", "External_Key__c": "k-1"}),
		acct(map[string]any{"Name": "existing key", "External_Key__c": "E-1"}),
		// A record whose other field is invalid still counts as a copy.
		acct(map[string]any{"Name": strings.Repeat("n", 300), "External_Key__c": "e-1"}),
	}}))
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	wantDup(t, "0", res[0], "Duplicate external id specified: K-1", "External_Key__c")
	wantDup(t, "2", res[2], "Duplicate external id specified: k-1", "External_Key__c")
	wantDup(t, "3", res[3], "Duplicate external id specified: E-1", "External_Key__c")
	wantDup(t, "4", res[4], "Duplicate external id specified: e-1", "External_Key__c")
	if !res[1].Success || !*res[1].Created {
		t.Errorf("1: %+v", res[1])
	}
	for _, i := range []int{0, 2, 3, 4} {
		if res[i].ID != nil || res[i].Created == nil || *res[i].Created {
			t.Errorf("%d: failed upsert carries an id or created: %+v", i, res[i])
		}
	}
	recs, _ := f.env.Server.Records("Account")
	if len(recs) != 2 || recs[0]["Id"] != existing || recs[0]["Name"] != "Existing" || recs[1]["External_Key__c"] != "K-2" {
		t.Errorf("records %v", recs)
	}
	if st := f.env.Server.Stats(); st.ErrorsByCode["DUPLICATE_VALUE"] != 4 {
		t.Errorf("stats %v", st.ErrorsByCode)
	}

	// allOrNone: the copies fail, every other record is rolled back.
	res = f.results(f.do("PATCH", "composite/sobjects/Account/External_Key__c", map[string]any{"allOrNone": true, "records": []any{
		acct(map[string]any{"Name": "a", "External_Key__c": "A-1"}),
		acct(map[string]any{"Name": "b", "External_Key__c": "A-2"}),
		acct(map[string]any{"Name": "c", "External_Key__c": "a-2"}),
	}}))
	wantDup(t, "aon 1", res[1], "Duplicate external id specified: A-2", "External_Key__c")
	wantDup(t, "aon 2", res[2], "Duplicate external id specified: a-2", "External_Key__c")
	if res[0].Success || res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" {
		t.Errorf("aon 0: %+v", res[0])
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 2 {
		t.Errorf("%d accounts after the rolled-back call", n.Live)
	}

	// A case-sensitive external id: "X" and "x" are two keys, matched exactly.
	res = f.results(f.do("PATCH", "composite/sobjects/Account/Exact_Key__c", map[string]any{"records": []any{
		acct(map[string]any{"Name": "upper", "Exact_Key__c": "X"}),
		acct(map[string]any{"Name": "lower", "Exact_Key__c": "x"}),
		acct(map[string]any{"Name": "y1", "Exact_Key__c": "Y"}),
		acct(map[string]any{"Name": "y2", "Exact_Key__c": "Y"}),
	}}))
	if !res[0].Success || !res[1].Success || !*res[0].Created || !*res[1].Created || *res[0].ID == *res[1].ID {
		t.Errorf("X and x: %+v %+v", res[0], res[1])
	}
	wantDup(t, "Y 1", res[2], "Duplicate external id specified: Y", "Exact_Key__c")
	wantDup(t, "Y 2", res[3], "Duplicate external id specified: Y", "Exact_Key__c")
	res = f.results(f.do("PATCH", "composite/sobjects/Account/Exact_Key__c", map[string]any{"records": []any{
		acct(map[string]any{"Name": "lower again", "Exact_Key__c": "x"}),
	}}))
	if !res[0].Success || *res[0].Created {
		t.Errorf("exact match of x: %+v", res[0])
	}
	r := f.do("GET", "sobjects/Account/Exact_Key__c/X?fields=Name", nil).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"Name":"upper"`) {
		t.Errorf("X was changed by an upsert of x: %s", r.body)
	}

	// The single-record upsert is one record: no duplicate check.
	f.do("PATCH", "sobjects/Account/External_Key__c/E-1", map[string]any{"Name": "single"}).expect(t, http.StatusOK)
}

func TestCollectionsSameIDTwice(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	a := f.create("Account", map[string]any{"Name": "A"})
	b := f.create("Account", map[string]any{"Name": "B"})
	res := f.results(f.do("PATCH", "composite/sobjects", map[string]any{"records": []any{
		acct(map[string]any{"id": a, "Name": "A1"}),
		acct(map[string]any{"id": b, "Name": "B1"}),
		acct(map[string]any{"Id": a[:15], "Name": "A2"}), // the 15-character form names the same record
	}}))
	wantDup(t, "update 0", res[0], "Duplicate id specified: "+a)
	wantDup(t, "update 2", res[2], "Duplicate id specified: "+a[:15])
	if res[0].ID == nil || *res[0].ID != a || !res[1].Success {
		t.Errorf("update results %+v", res)
	}
	recs, _ := f.env.Server.Records("Account")
	if recs[0]["Name"] != "A" || recs[1]["Name"] != "B1" {
		t.Errorf("records %v", recs)
	}
	// allOrNone rolls the other record back.
	res = f.results(f.do("PATCH", "composite/sobjects", map[string]any{"allOrNone": true, "records": []any{
		acct(map[string]any{"id": b, "Name": "B2"}),
		acct(map[string]any{"id": a, "Name": "A3"}),
		acct(map[string]any{"id": a, "Name": "A4"}),
	}}))
	if res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" {
		t.Errorf("aon %+v", res)
	}
	wantDup(t, "aon update 1", res[1], "Duplicate id specified: "+a)

	// Delete: both copies fail, the record stays; the other id is deleted.
	res = f.results(f.do("DELETE", "composite/sobjects?ids="+a+","+b+","+a, nil))
	wantDup(t, "delete 0", res[0], "Duplicate id specified: "+a)
	wantDup(t, "delete 2", res[2], "Duplicate id specified: "+a)
	if !res[1].Success {
		t.Errorf("delete 1 %+v", res[1])
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 1 || n.Deleted != 1 {
		t.Errorf("count %+v", n)
	}
}

func TestBulkDuplicateKeysPerBatch(t *testing.T) {
	t.Parallel()
	// Batches of 4 rows: a key twice in one batch fails both copies, the
	// same key in two batches is applied batch by batch.
	f := setup(t, Config{BulkBatchSize: 4})
	j := f.createJob(map[string]any{"object": "Account", "operation": "upsert", "externalIdFieldName": "External_Key__c"})
	data := "External_Key__c,Name\n" +
		"D-1,one\n" + // batch 1
		"d-1,one again\n" + // batch 1: duplicate of row 1
		"D-2,two\n" + // batch 1
		"D-3,three\n" + // batch 1
		"D-2,two updated\n" + // batch 2: updates the record of row 3
		"D-4,four\n" // batch 2
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte(data)).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	done := f.waitJob(j.ID, "JobComplete", "Failed")
	if done.State != "JobComplete" || done.NumberRecordsProcessed != 6 || done.NumberRecordsFailed != 2 {
		t.Fatalf("job %+v", done)
	}
	rows := parseCSV(t, f.do("GET", "jobs/ingest/"+j.ID+"/failedResults/", nil).expect(t, http.StatusOK).body)
	if len(rows) != 3 || rows[1][1] != "DUPLICATE_VALUE:Duplicate external id specified: D-1:External_Key__c --" ||
		rows[2][1] != "DUPLICATE_VALUE:Duplicate external id specified: d-1:External_Key__c --" {
		t.Errorf("failed rows %q", rows)
	}
	recs, _ := f.env.Server.Records("Account")
	if len(recs) != 3 || recs[0]["Name"] != "two updated" || recs[2]["External_Key__c"] != "D-4" {
		t.Errorf("records %v", recs)
	}

	// Update and delete jobs: the same Id twice in a batch fails both rows.
	ids := []string{recs[0]["Id"].(string), recs[1]["Id"].(string)}
	j = f.createJob(map[string]any{"object": "Account", "operation": "update"})
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte("Id,Name\n"+ids[0]+",x\n"+ids[1]+",y\n"+ids[0]+",z\n")).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	if done := f.waitJob(j.ID, "JobComplete", "Failed"); done.NumberRecordsFailed != 2 {
		t.Fatalf("update job %+v", done)
	}
	rows = parseCSV(t, f.do("GET", "jobs/ingest/"+j.ID+"/failedResults/", nil).expect(t, http.StatusOK).body)
	if len(rows) != 3 || rows[1][0] != ids[0] || rows[1][1] != "DUPLICATE_VALUE:Duplicate id specified: "+ids[0]+":--" {
		t.Errorf("update failed rows %q", rows)
	}
	j = f.createJob(map[string]any{"object": "Account", "operation": "delete"})
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte("Id\n"+ids[1]+"\n"+ids[1]+"\n"+ids[0]+"\n")).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	if done := f.waitJob(j.ID, "JobComplete", "Failed"); done.NumberRecordsFailed != 2 || done.NumberRecordsProcessed != 3 {
		t.Fatalf("delete job %+v", done)
	}
	recs, _ = f.env.Server.Records("Account")
	if len(recs) != 2 || recs[0]["Id"] != ids[1] || recs[0]["Name"] != "y" {
		t.Errorf("after delete job %v", recs)
	}
}
