package salesforce_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

var fastPoll = salesforce.PollPolicy{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}

func TestBulkIngestMixedSuccessAndFailure(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	if _, err := c.Insert(ctx, "Account", []salesforce.Record{{"Name": "taken", "External_Key__c": "B-7"}, {"Name": "parent", "External_Key__c": "P-1"}}); err != nil {
		t.Fatal(err)
	}
	recs := accounts(1000, "B")
	recs[3]["AnnualRevenue"] = "not a number"
	delete(recs[500], "Name")
	recs[999]["Description"] = nil // #N/A: sets null, fine on insert
	recs[10]["Parent"] = salesforce.Record{"External_Key__c": "P-1"}
	// recs[7] collides with the pre-existing B-7.
	out, err := c.BulkIngest(ctx, salesforce.BulkRequest{Object: "Account", Operation: salesforce.BulkInsert, Records: recs, Poll: fastPoll})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{3: "INVALID_FIELD", 7: "DUPLICATE_VALUE", 500: "REQUIRED_FIELD_MISSING"} // 3: a value Bulk cannot convert
	for i, r := range out.Results {
		if code, bad := want[i]; bad {
			if r.Success || r.Error == nil || r.Error.StatusCode != code {
				t.Errorf("record %d: %+v, want %s", i, r, code)
			}
			continue
		}
		if !r.Success || !r.Created || !salesforce.ValidID(r.ID) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if len(out.Jobs) != 1 || out.Jobs[0].State != salesforce.JobComplete || out.Jobs[0].NumberRecordsFailed != 3 || out.Jobs[0].NumberRecordsProcessed != 1000 {
		t.Errorf("job = %+v", out.Jobs[0])
	}
	it := c.Query(ctx, "SELECT Id FROM Account WHERE External_Key__c = 'P-1'")
	if !it.Next() {
		t.Fatalf("parent not found: %v", it.Err())
	}
	parentID := it.Record()["Id"]
	// The ids were correlated to the right input rows.
	for _, i := range []int{0, 10, 999} {
		got, err := c.GetRecord(ctx, "Account", out.Results[i].ID, "External_Key__c", "ParentId")
		if err != nil || got["External_Key__c"] != recs[i]["External_Key__c"] {
			t.Errorf("record %d read back as %v, %v", i, got, err)
		}
		if i == 10 && got["ParentId"] != parentID {
			t.Errorf("record 10 parent = %v, want %s", got["ParentId"], parentID)
		}
	}
	if n := liveCount(t, env, "Account"); n != 2+997 {
		t.Errorf("accounts = %d, want 999", n)
	}
	if out.APICalls < 7 || out.APICalls > 40 {
		t.Errorf("API calls = %d; want create+upload+close+polls+3 result sets", out.APICalls)
	}
}

func TestBulkIngestSplitsIntoJobsAndUpserts(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	recs := accounts(300, "S")
	out, err := c.BulkIngest(ctx, salesforce.BulkRequest{Object: "Account", Operation: salesforce.BulkUpsert, ExternalIDField: "External_Key__c", Records: recs, MaxJobBytes: 1000, Poll: fastPoll})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Jobs) < 3 {
		t.Errorf("%d jobs for ~3.4 KB of CSV under a 1 KB limit; want ≥ 3", len(out.Jobs))
	}
	for i, r := range out.Results {
		if !r.Success || !r.Created {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	for i := range recs {
		recs[i]["Name"] = "second pass"
	}
	out2, err := c.BulkIngest(ctx, salesforce.BulkRequest{Object: "Account", Operation: salesforce.BulkUpsert, ExternalIDField: "External_Key__c", Records: recs, Poll: fastPoll})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out2.Results {
		if !r.Success || r.Created || r.ID != out.Results[i].ID {
			t.Fatalf("second pass record %d: %+v, want updated %s", i, r, out.Results[i].ID)
		}
	}
	if n := liveCount(t, env, "Account"); n != 300 {
		t.Errorf("accounts = %d, want 300", n)
	}
	// Delete them through bulk as well.
	del := make([]salesforce.Record, 300)
	for i, r := range out2.Results {
		del[i] = salesforce.Record{"Id": r.ID}
	}
	del[5] = salesforce.Record{"Id": "001000000000000AAA"} // unknown id
	out3, err := c.BulkIngest(ctx, salesforce.BulkRequest{Object: "Account", Operation: salesforce.BulkDelete, Records: del, Poll: fastPoll})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out3.Results {
		if (i == 5) == r.Success {
			t.Errorf("delete %d: %+v", i, r)
		}
	}
	if n := liveCount(t, env, "Account"); n != 1 {
		t.Errorf("accounts after bulk delete = %d, want 1 (the one whose id was replaced)", n)
	}
}

func TestBulkJobLifecycleCalls(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	job, err := c.CreateIngestJob(ctx, salesforce.JobRequest{Object: "Account", Operation: salesforce.BulkInsert})
	if err != nil || job.State != salesforce.JobOpen || job.APIVersion == 0 || strings.HasPrefix(job.ContentURL, "/") {
		t.Fatalf("create: %+v %v", job, err)
	}
	if err := c.UploadJobData(ctx, job.ID, []byte("Name\nOne\nTwo\n"), 2); err != nil {
		t.Fatal(err)
	}
	aborted, err := c.AbortJob(ctx, job.ID)
	if err != nil || aborted.State != salesforce.JobAborted {
		t.Fatalf("abort: %+v %v", aborted, err)
	}
	rc, err := c.JobResults(ctx, job.ID, salesforce.UnprocessedResult)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.HasPrefix(string(body), "Name") {
		t.Errorf("unprocessed records = %q", body)
	}
	if err := c.DeleteJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetJob(ctx, job.ID); salesforce.Classify(err) != salesforce.ClassPermanentRequest {
		t.Errorf("get deleted job: %v, want a 404", err)
	}
}

func TestParseBulkError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want salesforce.SaveError
	}{
		{"INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--", salesforce.SaveError{StatusCode: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id"}},
		{"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name", salesforce.SaveError{StatusCode: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [Name]", Fields: []string{"Name"}}},
		{"STRING_TOO_LONG:too long:Name,Site", salesforce.SaveError{StatusCode: "STRING_TOO_LONG", Message: "too long", Fields: []string{"Name", "Site"}}},
		{"something odd", salesforce.SaveError{StatusCode: "UNKNOWN_EXCEPTION", Message: "something odd"}},
	}
	for _, tc := range cases {
		got := salesforce.ParseBulkError(tc.in)
		if fmt.Sprint(*got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseBulkError(%q) = %+v, want %+v", tc.in, *got, tc.want)
		}
	}
}

func TestParseLimitInfo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want salesforce.LimitInfo
		ok   bool
	}{
		{"api-usage=18/5000", salesforce.LimitInfo{Used: 18, Limit: 5000}, true},
		{"api-usage=25/15000; per-app-api-usage=17/250(appName=sample)", salesforce.LimitInfo{Used: 25, Limit: 15000}, true},
		{"per-app-api-usage=1/2(appName=x), api-usage=3/4", salesforce.LimitInfo{Used: 3, Limit: 4}, true},
		{"api-usage=x/5000", salesforce.LimitInfo{}, false},
		{"", salesforce.LimitInfo{}, false},
	}
	for _, tc := range cases {
		got, ok := salesforce.ParseLimitInfo(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseLimitInfo(%q) = %+v, %v", tc.in, got, ok)
		}
	}
	if f := (salesforce.LimitInfo{Used: 50, Limit: 200}).Fraction(); f != 0.25 {
		t.Errorf("Fraction = %v", f)
	}
}
