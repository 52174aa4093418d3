package sfsim

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/testutil"
)

type jobInfo struct {
	ID                     string  `json:"id"`
	Operation              string  `json:"operation"`
	Object                 string  `json:"object"`
	State                  string  `json:"state"`
	ExternalIDFieldName    string  `json:"externalIdFieldName"`
	APIVersion             float64 `json:"apiVersion"`
	ContentURL             string  `json:"contentUrl"`
	ContentType            string  `json:"contentType"`
	LineEnding             string  `json:"lineEnding"`
	ColumnDelimiter        string  `json:"columnDelimiter"`
	ConcurrencyMode        string  `json:"concurrencyMode"`
	CreatedByID            string  `json:"createdById"`
	JobType                string  `json:"jobType"`
	NumberRecordsProcessed int     `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int     `json:"numberRecordsFailed"`
	ErrorMessage           string  `json:"errorMessage"`
}

func (f *fixture) createJob(body map[string]any) jobInfo {
	f.t.Helper()
	var j jobInfo
	f.do("POST", "jobs/ingest", body).expect(f.t, http.StatusOK).json(f.t, &j)
	return j
}

func (f *fixture) job(id string) jobInfo {
	f.t.Helper()
	var j jobInfo
	f.do("GET", "jobs/ingest/"+id, nil).expect(f.t, http.StatusOK).json(f.t, &j)
	return j
}

func (f *fixture) waitJob(id string, states ...string) jobInfo {
	f.t.Helper()
	var j jobInfo
	testutil.WaitFor(f.t, 10*time.Second, "job "+id+" to reach "+strings.Join(states, "/"), func() bool {
		j = f.job(id)
		for _, s := range states {
			if j.State == s {
				return true
			}
		}
		return false
	})
	return j
}

func (f *fixture) closeJob(id string) *response {
	f.t.Helper()
	return f.do("PATCH", "jobs/ingest/"+id, map[string]any{"state": "UploadComplete"})
}

func parseCSV(t testing.TB, body []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("csv %q: %v", body, err)
	}
	return rows
}

func TestBulkLifecycle(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	parent := f.create("Account", map[string]any{"Name": "Parent", "External_Key__c": "P-1", "Phone": "111"})
	raw := f.do("POST", "jobs/ingest", map[string]any{"object": "account", "operation": "upsert",
		"externalIdFieldName": "external_key__c", "lineEnding": "LF"}).expect(t, http.StatusOK)
	var j jobInfo
	raw.json(t, &j)
	if j.State != "Open" || j.Object != "Account" || j.Operation != "upsert" || j.ExternalIDFieldName != "External_Key__c" ||
		j.APIVersion != 66 || j.ContentURL != "services/data/v66.0/jobs/ingest/"+j.ID+"/batches" || j.ContentType != "CSV" ||
		j.ColumnDelimiter != "COMMA" || j.ConcurrencyMode != "Parallel" || !strings.HasPrefix(j.ID, "750") || !strings.HasPrefix(j.CreatedByID, "005") {
		t.Fatalf("job info %s", raw.body)
	}
	if !bytes.Contains(raw.body, []byte(`"apiVersion":66.0`)) {
		t.Errorf("apiVersion is not written as 66.0: %s", raw.body)
	}
	data := "External_Key__c,Name,Phone,Score__c,Parent.External_Key__c\n" +
		"P-1,Parent renamed,#N/A,,\n" + // update: Phone cleared, Score untouched
		"N-1,\"New, Inc\",222,1.5,P-1\n" + // insert with relationship
		"N-2,Bad score,333,abc,\n" + // type error
		"N-3,Orphan,,,NOPE\n" + // unknown parent
		",No key,,,\n" // missing external id
	r := f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte(data)).expect(t, http.StatusCreated)
	if len(r.body) != 0 {
		t.Errorf("upload answered %q", r.body)
	}
	r = f.closeJob(j.ID).expect(t, http.StatusOK)
	var closed jobInfo
	r.json(t, &closed)
	if closed.State != "UploadComplete" {
		t.Errorf("close state %s", closed.State)
	}
	done := f.waitJob(j.ID, "JobComplete", "Failed")
	if done.State != "JobComplete" || done.NumberRecordsProcessed != 5 || done.NumberRecordsFailed != 3 || done.JobType != "V2Ingest" {
		t.Fatalf("final job %+v", done)
	}

	// Successful results, asking for JSON: still CSV.
	r = f.do("GET", "jobs/ingest/"+j.ID+"/successfulResults/", nil, "Accept", "application/json").expect(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("content type %q", ct)
	}
	if !strings.HasPrefix(string(r.body), `"sf__Id","sf__Created",External_Key__c,Name,Phone,Score__c,Parent.External_Key__c`+"\n") {
		t.Errorf("success header: %s", r.body)
	}
	rows := parseCSV(t, r.body)
	if len(rows) != 3 || rows[1][0] != parent || rows[1][1] != "false" || rows[1][3] != "Parent renamed" ||
		rows[2][1] != "true" || !strings.HasPrefix(rows[2][0], "001") || rows[2][3] != "New, Inc" {
		t.Errorf("success rows %q", rows)
	}
	r = f.do("GET", "jobs/ingest/"+j.ID+"/failedResults/", nil).expect(t, http.StatusOK)
	rows = parseCSV(t, r.body)
	if len(rows) != 4 || rows[0][0] != "sf__Id" || rows[0][1] != "sf__Error" {
		t.Fatalf("failed rows %q", rows)
	}
	wantErr := []string{
		"INVALID_FIELD:Failed to deserialize field at col 3. Due to, 'abc' is not a valid value for the type xsd:double:Score__c --",
		"INVALID_CROSS_REFERENCE_KEY:Foreign key external ID: NOPE not found for field External_Key__c in entity Account:ParentId --",
		"MISSING_ARGUMENT:External_Key__c not specified:External_Key__c --",
	}
	for i, w := range wantErr {
		if rows[i+1][1] != w || rows[i+1][0] != "" {
			t.Errorf("failed row %d: %q, want %q", i, rows[i+1][:2], w)
		}
	}
	if rows[1][2] != "N-2" {
		t.Errorf("original columns not echoed: %q", rows[1])
	}
	r = f.do("GET", "jobs/ingest/"+j.ID+"/unprocessedrecords/", nil).expect(t, http.StatusOK)
	if string(r.body) != "External_Key__c,Name,Phone,Score__c,Parent.External_Key__c\n" {
		t.Errorf("unprocessed %q", r.body)
	}

	// The org reflects the rows: #N/A cleared Phone, an empty value left Score alone.
	recs, _ := f.env.Server.Records("Account")
	if len(recs) != 2 || recs[0]["Phone"] != nil || recs[0]["Name"] != "Parent renamed" || recs[1]["ParentId"] != parent || recs[1]["Score__c"] != 1.5 {
		t.Errorf("records %v", recs)
	}

	// gzip when asked (the raw transport does not decompress for us).
	req, _ := http.NewRequest("GET", f.env.DataURL("jobs/ingest/"+j.ID+"/successfulResults/"), nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := f.hc.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !strings.HasPrefix(string(unz), `"sf__Id","sf__Created"`) {
		t.Errorf("gunzipped %q", unz)
	}

	// List, delete, then 404.
	var list struct {
		Done    bool      `json:"done"`
		Records []jobInfo `json:"records"`
	}
	f.do("GET", "jobs/ingest", nil).expect(t, http.StatusOK).json(t, &list)
	if !list.Done || len(list.Records) != 1 || list.Records[0].ID != j.ID {
		t.Errorf("list %+v", list)
	}
	f.do("DELETE", "jobs/ingest/"+j.ID, nil).expect(t, http.StatusNoContent)
	r = f.do("GET", "jobs/ingest/"+j.ID, nil).expect(t, http.StatusNotFound)
	if code, msg, _ := r.errorArray(t); code != "NOT_FOUND" || msg != "The requested resource does not exist" {
		t.Errorf("%s", r.body)
	}
}

func TestBulkInsertDeleteGzipUpload(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	j := f.createJob(map[string]any{"object": "Contact", "operation": "insert", "externalIdFieldName": "", "columnDelimiter": "PIPE"})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte("LastName|Email|Birthdate\r\nOne|one@example.com|1990-01-02\r\nTwo|bad|\r\n"))
	_ = zw.Close()
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", buf.Bytes(), "Content-Encoding", "gzip").expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	done := f.waitJob(j.ID, "JobComplete")
	if done.NumberRecordsProcessed != 2 || done.NumberRecordsFailed != 1 {
		t.Fatalf("%+v", done)
	}
	r := f.do("GET", "jobs/ingest/"+j.ID+"/successfulResults/", nil).expect(t, http.StatusOK)
	if !strings.HasPrefix(string(r.body), `"sf__Id"|"sf__Created"|LastName|Email|Birthdate`) {
		t.Errorf("pipe-delimited results %q", r.body)
	}
	recs, _ := f.env.Server.Records("Contact")
	if len(recs) != 1 || recs[0]["Birthdate"] != "1990-01-02" {
		t.Fatalf("%v", recs)
	}
	id := recs[0]["Id"].(string)

	u := f.createJob(map[string]any{"object": "Contact", "operation": "update"})
	f.do("PUT", "jobs/ingest/"+u.ID+"/batches", []byte("Id,Title,Email\n"+id[:15]+",Boss,#N/A\n,Nobody,\n")).expect(t, http.StatusCreated)
	f.closeJob(u.ID).expect(t, http.StatusOK)
	if done := f.waitJob(u.ID, "JobComplete"); done.NumberRecordsProcessed != 2 || done.NumberRecordsFailed != 1 {
		t.Errorf("update job %+v", done)
	}
	r = f.do("GET", "jobs/ingest/"+u.ID+"/failedResults/", nil).expect(t, http.StatusOK)
	if rows := parseCSV(t, r.body); len(rows) != 2 || rows[1][1] != "MISSING_ARGUMENT:Id not specified in an update call:Id --" {
		t.Errorf("update failures %q", rows)
	}
	recs, _ = f.env.Server.Records("Contact")
	if recs[0]["Title"] != "Boss" || recs[0]["Email"] != nil {
		t.Errorf("after update job %v", recs[0])
	}

	d := f.createJob(map[string]any{"object": "Contact", "operation": "delete"})
	f.do("PUT", "jobs/ingest/"+d.ID+"/batches", []byte("Id\n"+id+"\n"+makeID("003", 99999)+"\n")).expect(t, http.StatusCreated)
	f.closeJob(d.ID).expect(t, http.StatusOK)
	if done := f.waitJob(d.ID, "JobComplete"); done.NumberRecordsFailed != 1 {
		t.Errorf("delete job %+v", done)
	}
	if n, _ := f.env.Server.Count("Contact"); n.Live != 0 || n.Deleted != 1 {
		t.Errorf("count %+v", n)
	}
	// hardDelete skips the recycle bin.
	id2 := f.create("Contact", map[string]any{"LastName": "Temp"})
	h := f.createJob(map[string]any{"object": "Contact", "operation": "hardDelete"})
	f.do("PUT", "jobs/ingest/"+h.ID+"/batches", []byte("Id\n"+id2+"\n")).expect(t, http.StatusCreated)
	f.closeJob(h.ID).expect(t, http.StatusOK)
	f.waitJob(h.ID, "JobComplete")
	if n, _ := f.env.Server.Count("Contact"); n.Live != 0 || n.Deleted != 1 {
		t.Errorf("after hardDelete %+v", n)
	}
	f.do("GET", "sobjects/Contact/"+id2, nil).expect(t, http.StatusNotFound)
}

func TestBulkFailuresAndStates(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	// Unknown header → Failed with errorMessage.
	j := f.createJob(map[string]any{"object": "Account", "operation": "insert"})
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte("Name,Bogus__c\nx,y\n")).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	failed := f.waitJob(j.ID, "Failed", "JobComplete")
	if failed.State != "Failed" || failed.ErrorMessage != "InvalidBatch : Field name not found : Bogus__c" {
		t.Errorf("%+v", failed)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 0 {
		t.Errorf("%d accounts", n.Live)
	}
	r := f.do("GET", "jobs/ingest/"+j.ID+"/unprocessedrecords/", nil).expect(t, http.StatusOK)
	if string(r.body) != "Name,Bogus__c\n\"x\",\"y\"\n" {
		t.Errorf("unprocessed rows of a failed job: %q", r.body)
	}

	// Two uploads → closing fails with INVALIDJOB; the job stays Open and can be aborted.
	j = f.createJob(map[string]any{"object": "Account", "operation": "insert"})
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte("Name\na\n")).expect(t, http.StatusCreated)
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte("Name\nb\n")).expect(t, http.StatusCreated)
	r = f.closeJob(j.ID).expect(t, http.StatusBadRequest)
	if code, msg, _ := r.errorArray(t); code != "INVALIDJOB" || !strings.HasPrefix(msg, "Found multiple contents for job: <"+j.ID+">") {
		t.Errorf("%s", r.body)
	}
	if s := f.job(j.ID).State; s != "Open" {
		t.Errorf("state %s", s)
	}
	// Deleting an open job is refused.
	r = f.do("DELETE", "jobs/ingest/"+j.ID, nil).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "INVALIDJOBSTATE" {
		t.Errorf("%s", r.body)
	}
	r = f.do("PATCH", "jobs/ingest/"+j.ID, map[string]any{"state": "Aborted"}).expect(t, http.StatusOK)
	var ab jobInfo
	r.json(t, &ab)
	if ab.State != "Aborted" {
		t.Errorf("abort %+v", ab)
	}
	r = f.do("GET", "jobs/ingest/"+j.ID+"/unprocessedrecords/", nil).expect(t, http.StatusOK)
	if string(r.body) != "Name\n\"a\"\n" {
		t.Errorf("unprocessed rows of an aborted open job: %q", r.body)
	}
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte("Name\nc\n")).expect(t, http.StatusBadRequest)
	f.do("PATCH", "jobs/ingest/"+j.ID, map[string]any{"state": "Aborted"}).expect(t, http.StatusBadRequest)
	f.do("DELETE", "jobs/ingest/"+j.ID, nil).expect(t, http.StatusNoContent)
	if n, _ := f.env.Server.Count("Account"); n.Live != 0 {
		t.Errorf("aborted job wrote %d accounts", n.Live)
	}

	// Create errors.
	for _, body := range []map[string]any{
		{"object": "Nope__c", "operation": "insert"},
		{"object": "Account", "operation": "merge"},
		{"object": "Account", "operation": "upsert"},
		{"object": "Account", "operation": "upsert", "externalIdFieldName": "Name"},
		{"object": "Account", "operation": "insert", "columnDelimiter": "SPACE"},
		{"operation": "insert"},
	} {
		r := f.do("POST", "jobs/ingest", body).expect(t, http.StatusBadRequest)
		if code, _, _ := r.errorArray(t); code != "INVALIDJOB" {
			t.Errorf("%v: %s", body, r.body)
		}
	}
	f.do("GET", "jobs/ingest/750Kn0000000000AAA", nil).expect(t, http.StatusNotFound)
}

func TestBulkAbortInProgress(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	j := f.createJob(map[string]any{"object": "Account", "operation": "insert"})
	var data strings.Builder
	data.WriteString("Name\n")
	for i := 0; i < 450; i++ {
		data.WriteString("acc\n")
	}
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte(data.String())).expect(t, http.StatusCreated)
	// Pause the worker after its first chunk, abort, then let it go on.
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.env.Server.bulk.afterChunk = func(*bulkJob) {
		once.Do(func() {
			close(reached)
			<-release
		})
	}
	f.closeJob(j.ID).expect(t, http.StatusOK)
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never finished a chunk")
	}
	r := f.do("PATCH", "jobs/ingest/"+j.ID, map[string]any{"state": "Aborted"}).expect(t, http.StatusOK)
	var ab jobInfo
	r.json(t, &ab)
	if ab.State != "Aborted" {
		t.Errorf("abort of a running job answered state %s", ab.State)
	}
	close(release)
	r = f.do("GET", "jobs/ingest/"+j.ID+"/unprocessedrecords/", nil).expect(t, http.StatusOK) // waits for the worker
	done := f.waitJob(j.ID, "Aborted")
	if done.NumberRecordsProcessed != 200 {
		t.Errorf("processed %d, want the first chunk of 200", done.NumberRecordsProcessed)
	}
	rows := parseCSV(t, r.body)
	if len(rows) != 251 || rows[0][0] != "Name" || rows[1][0] != "acc" {
		t.Errorf("%d unprocessed rows", len(rows))
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 200 {
		t.Errorf("%d accounts", n.Live)
	}
}

// TestBulkResultCSVBytes pins the result CSVs byte for byte: sf__ columns
// and values always quoted, header names quoted only when they must be, the
// job's delimiter and line ending.
func TestBulkResultCSVBytes(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	j := f.createJob(map[string]any{"object": "Account", "operation": "insert", "columnDelimiter": "PIPE", "lineEnding": "CRLF"})
	data := "Name|Description\r\n\"a|b\"|\"say \"\"hi\"\"\r\nbye\"\r\n|no name\r\n"
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte(data)).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	f.waitJob(j.ID, "JobComplete")
	recs, _ := f.env.Server.Records("Account")
	if len(recs) != 1 {
		t.Fatalf("records %v", recs)
	}
	got := string(f.do("GET", "jobs/ingest/"+j.ID+"/successfulResults/", nil).expect(t, http.StatusOK).body)
	// (encoding/csv's Reader turns the \r\n inside the quoted value into \n.)
	want := "\"sf__Id\"|\"sf__Created\"|Name|Description\r\n\"" + recs[0]["Id"].(string) + "\"|\"true\"|\"a|b\"|\"say \"\"hi\"\"\nbye\"\r\n"
	if got != want {
		t.Errorf("successfulResults\n%q\nwant\n%q", got, want)
	}
	got = string(f.do("GET", "jobs/ingest/"+j.ID+"/failedResults/", nil).expect(t, http.StatusOK).body)
	want = "\"sf__Id\"|\"sf__Error\"|Name|Description\r\n\"\"|\"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --\"|\"\"|\"no name\"\r\n"
	if got != want {
		t.Errorf("failedResults\n%q\nwant\n%q", got, want)
	}
	got = string(f.do("GET", "jobs/ingest/"+j.ID+"/unprocessedrecords/", nil).expect(t, http.StatusOK).body)
	if got != "Name|Description\r\n" {
		t.Errorf("unprocessedrecords %q", got)
	}
	// A header name that needs quoting is quoted (the job fails on it).
	j = f.createJob(map[string]any{"object": "Account", "operation": "insert"})
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte("Name,\"Odd, \"\"name\"\"\"\nx,y\n")).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	f.waitJob(j.ID, "Failed")
	got = string(f.do("GET", "jobs/ingest/"+j.ID+"/unprocessedrecords/", nil).expect(t, http.StatusOK).body)
	if want := "Name,\"Odd, \"\"name\"\"\"\n\"x\",\"y\"\n"; got != want {
		t.Errorf("unprocessed with an odd header\n%q\nwant\n%q", got, want)
	}
}
