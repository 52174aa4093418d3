package sfsim

import (
	"net/http"
	"strings"
	"testing"
)

// parserErrorBody is the exact body of a JSON_PARSER_ERROR answer.
func parserErrorBody(msg string, line, col int) string {
	return `[{"message":"` + msg + ` or request may be missing a required field at [line:` + itoa(line) + `, column:` + itoa(col) + `]","errorCode":"JSON_PARSER_ERROR"}]`
}

func TestRequestLevelParseErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	usage := func() int64 { return f.env.Server.Limits().APIUsage }

	// A wrongly typed value in the second record fails the whole create.
	body := `{"allOrNone":false,"records":[` +
		`{"attributes":{"type":"Account"},"Name":"ok"},` +
		`{"attributes":{"type":"Account"},"Name":"bad","AnnualRevenue":"abc"}]}`
	col := strings.Index(body, `"abc"`) + len(`"abc"`) + 1 // the column after the value
	before := usage()
	r := f.do("POST", "composite/sobjects", body).expect(t, http.StatusBadRequest)
	if want := parserErrorBody("Cannot deserialize instance of double from VALUE_STRING value abc", 1, col); string(r.body) != want {
		t.Errorf("body\n%s\nwant\n%s", r.body, want)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 0 {
		t.Errorf("%d accounts written by a failed request", n.Live)
	}
	if got := usage(); got != before+1 {
		t.Errorf("API usage %d → %d, want one call counted", before, got)
	}
	if st := f.env.Server.Stats(); st.ErrorsByCode["JSON_PARSER_ERROR"] != 1 || st.StatusCodes["400"] != 1 {
		t.Errorf("stats %+v", st)
	}

	// Lines and columns follow the body as sent (pretty-printed here).
	pretty := "{\n  \"records\": [\n    {\"attributes\": {\"type\": \"Account\"},\n     \"Name\": \"x\", \"NumberOfEmployees\": 2.5}\n  ]\n}"
	lines := strings.Split(pretty, "\n")
	r = f.do("POST", "composite/sobjects", pretty).expect(t, http.StatusBadRequest)
	if want := parserErrorBody("Cannot deserialize instance of int from VALUE_NUMBER_FLOAT value 2.5", 4, strings.Index(lines[3], "2.5")+4); string(r.body) != want {
		t.Errorf("pretty body\n%s\nwant\n%s", r.body, want)
	}

	// Tokens other than strings, on update and upsert; the first problem in
	// document order wins, before any per-record check (Name is too long).
	id := f.create("Account", map[string]any{"Name": "target", "External_Key__c": "T-1"})
	for _, tc := range []struct {
		method, path, body, msg, after string
	}{
		{"PATCH", "composite/sobjects", `{"records":[{"attributes":{"type":"Account"},"id":"` + id + `","Name":"` + strings.Repeat("n", 300) + `","Active__c":1,"Foo__c":"x"}]}`,
			"Cannot deserialize instance of boolean from VALUE_NUMBER_INT value 1", `"Active__c":1`},
		{"PATCH", "composite/sobjects/Account/External_Key__c", `{"records":[{"External_Key__c":"T-1","Score__c":true}]}`,
			"Cannot deserialize instance of double from VALUE_TRUE value true", `"Score__c":true`},
		{"PATCH", "composite/sobjects/Account/External_Key__c", `{"records":[{"External_Key__c":"T-1","Score__c":{"a":1}}]}`,
			"Cannot deserialize instance of double from START_OBJECT value {", `"Score__c":{`},
		{"POST", "sobjects/Contact", `{"LastName":"x","Birthdate":20240101}`,
			"Cannot deserialize instance of date from VALUE_NUMBER_INT value 20240101", `"Birthdate":20240101`},
		{"PATCH", "sobjects/Account/" + id, `{"Signed__c":"2024-07-30 20:54:16 UTC"}`,
			"Cannot deserialize instance of datetime from VALUE_STRING value 2024-07-30 20:54:16 UTC", `"Signed__c":"2024-07-30 20:54:16 UTC"`},
		{"PATCH", "sobjects/Account/External_Key__c/T-2", `{"Name":"n","ParentId":["x"]}`,
			"Cannot deserialize instance of id from START_ARRAY value [", `"ParentId":[`},
	} {
		r := f.do(tc.method, tc.path, tc.body).expect(t, http.StatusBadRequest)
		want := parserErrorBody(tc.msg, 1, strings.Index(tc.body, tc.after)+len(tc.after)+1)
		if string(r.body) != want {
			t.Errorf("%s %s:\n%s\nwant\n%s", tc.method, tc.path, r.body, want)
		}
	}
	recs, _ := f.env.Server.Records("Account")
	if len(recs) != 1 || recs[0]["Name"] != "target" {
		t.Errorf("records after failed requests %v", recs)
	}

	// What Salesforce's reader accepts: numeric strings for numbers,
	// "true"/"false" for checkboxes, numbers and booleans for text.
	res := f.results(f.do("POST", "composite/sobjects", `{"records":[{"attributes":{"type":"Account"},`+
		`"Name":12,"AnnualRevenue":"12.5","NumberOfEmployees":"42","Active__c":"TRUE","Score__c":"-1e3","Seats__c":7.0}]}`))
	if !res[0].Success {
		t.Fatalf("lenient values refused: %+v", res[0])
	}
	rec := map[string]any{}
	for _, x := range mustRecords(t, f, "Account") {
		if x["Id"] == *res[0].ID {
			rec = x
		}
	}
	if rec["Name"] != "12" || rec["AnnualRevenue"] != 12.5 || rec["NumberOfEmployees"] != 42.0 || rec["Active__c"] != true || rec["Score__c"] != -1000.0 {
		t.Errorf("stored %v", rec)
	}
}

func TestUnknownFieldFailsRequest(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	const want = `[{"message":"No such column 'Foo__c' on sobject of type Account","errorCode":"INVALID_FIELD"}]`
	for _, call := range []struct{ method, path, body string }{
		{"POST", "composite/sobjects", `{"records":[{"attributes":{"type":"Account"},"Name":"a"},{"attributes":{"type":"Account"},"Name":"b","Foo__c":1}]}`},
		{"PATCH", "composite/sobjects/Account/External_Key__c", `{"records":[{"External_Key__c":"K","Name":"a"},{"External_Key__c":"L","foo__c":1}]}`},
		{"POST", "sobjects/Account", `{"Name":"a","Foo__c":1}`},
	} {
		r := f.do(call.method, call.path, call.body).expect(t, http.StatusBadRequest)
		got := string(r.body)
		if call.path != "sobjects/Account" && strings.Contains(call.body, "foo__c") {
			got = strings.Replace(got, "'foo__c'", "'Foo__c'", 1) // named as sent
		}
		if got != want {
			t.Errorf("%s %s: %s", call.method, call.path, r.body)
		}
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 0 {
		t.Errorf("%d accounts written", n.Live)
	}
	// A relationship reference is not an unknown field; a relationship name
	// with a scalar value is.
	parent := f.create("Account", map[string]any{"Name": "P", "External_Key__c": "P-1"})
	res := f.results(f.do("POST", "composite/sobjects", `{"records":[{"attributes":{"type":"Account"},"Name":"c","Parent":{"External_Key__c":"P-1"}}]}`))
	if !res[0].Success {
		t.Errorf("relationship reference refused: %+v", res[0])
	}
	r := f.do("POST", "composite/sobjects", `{"records":[{"attributes":{"type":"Account"},"Name":"c","Parent":"`+parent+`"}]}`).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "INVALID_FIELD" {
		t.Errorf("%s", r.body)
	}
}

func TestBulkUnconvertibleValuesPerRow(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	j := f.createJob(map[string]any{"object": "Contact", "operation": "insert"})
	data := "LastName,Birthdate,DoNotCall\nok,2024-01-31,true\nbad date,6/15/19,false\nbad flag,,maybe\n"
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte(data)).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	if done := f.waitJob(j.ID, "JobComplete"); done.NumberRecordsFailed != 2 {
		t.Fatalf("job %+v", done)
	}
	rows := parseCSV(t, f.do("GET", "jobs/ingest/"+j.ID+"/failedResults/", nil).expect(t, http.StatusOK).body)
	want := []string{
		"INVALID_FIELD:Failed to deserialize field at col 1. Due to, '6/15/19' is not a valid value for the type xsd:date:Birthdate --",
		"INVALID_FIELD:Failed to deserialize field at col 2. Due to, 'maybe' is not a valid value for the type xsd:boolean:DoNotCall --",
	}
	if len(rows) != 3 || rows[1][1] != want[0] || rows[2][1] != want[1] {
		t.Errorf("failed rows %q", rows)
	}
}

func mustRecords(t *testing.T, f *fixture, object string) []map[string]any {
	t.Helper()
	recs, err := f.env.Server.Records(object)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
