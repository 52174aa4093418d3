package sfsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (f *fixture) admin(method, path, body string) *response {
	f.t.Helper()
	ct := ""
	if method != http.MethodGet {
		ct = "application/json"
	}
	return f.adminWith(method, path, body, "Content-Type", ct)
}

// adminWith sends an admin request with the given headers (name, value
// pairs; empty values are not sent).
func (f *fixture) adminWith(method, path, body string, hdr ...string) *response {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.env.URL+"/__admin/"+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

func TestAdminCountRecordsStats(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	ctx := t.Context()
	a := f.create("Account", map[string]any{"Name": "A"})
	f.create("Account", map[string]any{"Name": "B"})
	f.do("DELETE", "sobjects/Account/"+a, nil).expect(t, http.StatusNoContent)

	r := f.admin("GET", "count", "").expect(t, http.StatusOK)
	var counts map[string]ObjectCount
	r.json(t, &counts)
	if counts["Account"] != (ObjectCount{Live: 1, Deleted: 1}) || counts["Contact"] != (ObjectCount{}) || len(counts) != 5 {
		t.Errorf("count %s", r.body)
	}
	r = f.admin("GET", "count/account", "").expect(t, http.StatusOK)
	if string(r.body) != `{"Account":{"live":1,"deleted":1}}` {
		t.Errorf("count/account %s", r.body)
	}
	f.admin("GET", "count/Nope__c", "").expect(t, http.StatusNotFound)
	if c, err := f.env.Admin.Count(ctx, "Account"); err != nil || c.Live != 1 {
		t.Errorf("AdminClient.Count %+v %v", c, err)
	}

	recs, err := f.env.Admin.Records(ctx, "Account", false)
	if err != nil || len(recs) != 1 || recs[0]["Name"] != "B" {
		t.Errorf("records %v %v", recs, err)
	}
	recs, err = f.env.Admin.Records(ctx, "Account", true)
	if err != nil || len(recs) != 2 || recs[0]["IsDeleted"] != true {
		t.Errorf("records with deleted %v %v", recs, err)
	}
	if _, err := f.env.Admin.Records(ctx, "Nope__c", false); err == nil {
		t.Error("records of an unknown object")
	}

	r = f.admin("GET", "stats", "").expect(t, http.StatusOK)
	var raw map[string]any
	r.json(t, &raw)
	for _, k := range []string{"calls", "calls_by_kind", "records", "records_per_call", "errors_by_code", "status_codes", "api_usage", "api_limit"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("stats lack %q: %s", k, r.body)
		}
	}
	st, err := f.env.Admin.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// token + 2 creates + delete; the admin calls are not counted.
	if st.Calls != 4 || st.CallsByKind["token"] != 1 || st.CallsByKind["sobject_create"] != 2 || st.CallsByKind["sobject_delete"] != 1 ||
		st.Records != 3 || st.RecordsPerCall != 1 || st.StatusCodes["201"] != 2 || st.StatusCodes["204"] != 1 || st.APIUsage != 3 || st.APILimit != 5_000_000 {
		t.Errorf("stats %+v", st)
	}
	if err := f.env.Admin.ResetStats(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.env.Admin.Stats(ctx); st.Calls != 0 || st.APIUsage != 3 {
		t.Errorf("after stats reset %+v", st)
	}
	r = f.admin("GET", "nothing", "").expect(t, http.StatusNotFound)
	var e map[string]string
	r.json(t, &e)
	if e["error"] == "" {
		t.Errorf("%s", r.body)
	}
	r = f.admin("GET", "healthz", "").expect(t, http.StatusOK)
	if string(r.body) != "ok" {
		t.Errorf("healthz %q", r.body)
	}
	if err := f.env.Admin.Healthz(ctx); err != nil {
		t.Error(err)
	}
}

func TestAdminFaultsAndLimits(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	r := f.admin("PUT", "faults", `{"latency":"15ms","latency_per_record":"1ms","jitter":"0s","rate_503":0.5,"lock_row_rate":0.1,"session_expiry_every":9}`).
		expect(t, http.StatusOK)
	want := Faults{Latency: 15 * time.Millisecond, LatencyPerRecord: time.Millisecond, Rate503: 0.5, LockRowRate: 0.1, SessionExpiryEvery: 9}
	if got := f.env.Server.Faults(); got != want {
		t.Errorf("faults %+v", got)
	}
	var back map[string]any
	f.admin("GET", "faults", "").expect(t, http.StatusOK).json(t, &back)
	if back["latency"] != "15ms" || back["rate_503"] != 0.5 || back["session_expiry_every"] != 9.0 {
		t.Errorf("GET faults %v (%s)", back, r.body)
	}
	f.admin("PUT", "faults", `{"rate_503":2}`).expect(t, http.StatusBadRequest)
	f.admin("PUT", "faults", `{"latency":"soon"}`).expect(t, http.StatusBadRequest)
	f.admin("PUT", "faults", `{"bogus":1}`).expect(t, http.StatusBadRequest)
	if err := f.env.Admin.SetFaults(t.Context(), Faults{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.env.Admin.Faults(t.Context()); got != (Faults{}) {
		t.Errorf("faults after PUT {} %+v", got)
	}

	r = f.admin("PUT", "limits", `{"concurrent_limit":3}`).expect(t, http.StatusOK)
	var l Limits
	r.json(t, &l)
	if l != (Limits{DailyAPILimit: 5_000_000, ConcurrentLimit: 3, APIUsage: 0}) {
		t.Errorf("limits %s", r.body)
	}
	f.admin("PUT", "limits", `{"api_usage":4999999}`).expect(t, http.StatusOK)
	f.do("GET", "limits", nil).expect(t, http.StatusOK)
	f.do("GET", "limits", nil).expect(t, http.StatusForbidden)
	f.admin("PUT", "limits", `{"daily_api_limit":-5}`).expect(t, http.StatusBadRequest)

	f.admin("POST", "sessions/expire", "").expect(t, http.StatusOK)
	f.admin("PUT", "limits", `{"api_usage":0}`).expect(t, http.StatusOK)
	f.do("GET", "limits", nil).expect(t, http.StatusUnauthorized)
}

func TestAdminSchemaPatch(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	ctx := t.Context()
	body := map[string]any{"Name": "x", "Region__c": "EMEA"}
	r := f.do("POST", "sobjects/Account", body).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "INVALID_FIELD" {
		t.Fatalf("%s", r.body)
	}
	f.adminWith("PUT", "schema", "objects:\n  - name: Account\n    fields:\n      - {name: Region__c, type: picklist, values: [EMEA, APAC], restricted: true}\n",
		"Content-Type", "application/yaml").expect(t, http.StatusOK)
	f.create("Account", body)
	body["BillingCity"] = strings.Repeat("c", 60)
	r = f.do("POST", "sobjects/Account", body).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "STRING_TOO_LONG" {
		t.Fatalf("%s", r.body)
	}
	// Lengthen BillingCity (JSON works too), add an object with the client.
	f.admin("PUT", "schema", `{"objects":[{"name":"Account","fields":[{"name":"BillingCity","type":"string","length":80}]}]}`).expect(t, http.StatusOK)
	id := f.create("Account", body)
	err := f.env.Admin.ApplySchemaYAML(ctx, []byte("objects:\n  - name: Ticket__c\n    fields:\n      - {name: Account__c, type: reference, reference_to: Account}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tid := f.create("Ticket__c", map[string]any{"Account__c": id})
	// A later change may refer to an object added by an earlier one.
	if err := f.env.Admin.ApplySchemaYAML(ctx, []byte("objects:\n  - name: Note__c\n    fields:\n      - {name: Ticket__c, type: reference, reference_to: Ticket__c}\n")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tid, "a0A") {
		t.Errorf("custom key prefix %s", tid)
	}
	var page queryResult
	f.query("query", "SELECT Account__r.Region__c FROM Ticket__c").expect(t, http.StatusOK).json(t, &page)
	if page.Records[0]["Account__r"].(map[string]any)["Region__c"] != "EMEA" {
		t.Errorf("%+v", page)
	}
	// Bad schemas are refused and change nothing.
	r = f.admin("PUT", "schema", "objects:\n  - name: Account\n    fields:\n      - {name: X__c, type: money}\n").expect(t, http.StatusBadRequest)
	var e map[string]string
	r.json(t, &e)
	if !strings.Contains(e["error"], `unknown type "money"`) {
		t.Errorf("%s", r.body)
	}
	var ae *AdminError
	if err := f.env.Admin.ApplySchemaYAML(ctx, []byte("objects: [{name: Y__c, fields: [{name: R__c, type: reference, reference_to: Nope}]}]")); !errors.As(err, &ae) || ae.StatusCode != 400 {
		t.Errorf("bad reference: %v", err)
	}
	sch, err := f.env.Admin.Schema(ctx)
	if err != nil || len(sch.Objects) != 7 {
		t.Errorf("schema %v %v", sch, err)
	}
	// The change is visible to describe; existing records keep their values.
	recs, _ := f.env.Server.Records("Account")
	if recs[0]["Region__c"] != "EMEA" {
		t.Errorf("%v", recs[0])
	}
}

func TestAdminReset(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{Faults: Faults{LockRowRate: 0}, DailyAPILimit: 100})
	ctx := t.Context()
	f.create("Account", map[string]any{"Name": "A"})
	j := f.createJob(map[string]any{"object": "Account", "operation": "insert"})
	if err := f.env.Admin.ApplySchema(ctx, &Schema{Objects: []Object{{Name: "Extra__c", Fields: []Field{{Name: "Name", Type: TypeString}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.SetFaults(ctx, Faults{Rate503: 0.5}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.SetLimits(ctx, Limits{DailyAPILimit: 7}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Admin.SetAPIUsage(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if l, _ := f.env.Admin.Limits(ctx); l != (Limits{DailyAPILimit: 7, APIUsage: 5}) {
		t.Errorf("limits %+v, want daily 7 and usage 5", l)
	}
	if err := f.env.Admin.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := f.env.Admin.Counts(ctx)
	if err != nil || counts["Account"].Live != 0 || len(counts) != 5 {
		t.Errorf("counts after reset %v %v", counts, err)
	}
	if fl, _ := f.env.Admin.Faults(ctx); fl != (Faults{}) {
		t.Errorf("faults after reset %+v", fl)
	}
	if l, _ := f.env.Admin.Limits(ctx); l != (Limits{DailyAPILimit: 100}) {
		t.Errorf("limits after reset %+v", l)
	}
	if st, _ := f.env.Admin.Stats(ctx); st.Calls != 0 || st.APIUsage != 0 {
		t.Errorf("stats after reset %+v", st)
	}
	// Sessions survive; jobs and custom objects are gone.
	f.do("GET", "jobs/ingest/"+j.ID, nil).expect(t, http.StatusNotFound)
	f.do("POST", "sobjects/Extra__c", map[string]any{"Name": "x"}).expect(t, http.StatusNotFound)
	id := f.create("Account", map[string]any{"Name": "after"})
	var rec map[string]any
	if err := json.Unmarshal(f.do("GET", "sobjects/Account/"+id, nil).expect(t, http.StatusOK).body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec["Name"] != "after" {
		t.Errorf("%v", rec)
	}
}
