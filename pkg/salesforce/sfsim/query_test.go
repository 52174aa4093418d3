package sfsim

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type queryResult struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

func (f *fixture) query(path, soql string, hdr ...string) *response {
	f.t.Helper()
	return f.do("GET", path+"?q="+url.QueryEscape(soql), nil, hdr...)
}

// seedAccounts creates n accounts Name "A0000"… through collections.
func (f *fixture) seedAccounts(n int) {
	f.t.Helper()
	for start := 0; start < n; start += 200 {
		var recs []any
		for i := start; i < min(start+200, n); i++ {
			recs = append(recs, acct(map[string]any{"Name": fmt.Sprintf("A%04d", i), "Score__c": float64(i % 10),
				"External_Key__c": fmt.Sprintf("K%04d", i)}))
		}
		for _, r := range f.results(f.do("POST", "composite/sobjects", map[string]any{"records": recs})) {
			if !r.Success {
				f.t.Fatalf("seed: %+v", r)
			}
		}
	}
}

func TestQueryPaging(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.seedAccounts(450)
	r := f.query("query", "SELECT Id, Name FROM Account ORDER BY Name", "Sforce-Query-Options", "batchSize=200").expect(t, http.StatusOK)
	var page queryResult
	r.json(t, &page)
	if page.TotalSize != 450 || page.Done || len(page.Records) != 200 || page.Records[0]["Name"] != "A0000" {
		t.Fatalf("first page: total %d done %v n %d", page.TotalSize, page.Done, len(page.Records))
	}
	if !strings.HasPrefix(page.NextRecordsURL, "/services/data/v66.0/query/01g") || !strings.HasSuffix(page.NextRecordsURL, "-200") {
		t.Fatalf("nextRecordsUrl %q", page.NextRecordsURL)
	}
	var names []string
	for _, rec := range page.Records {
		names = append(names, rec["Name"].(string))
	}
	next := page.NextRecordsURL
	// New records do not change the snapshot.
	f.create("Account", map[string]any{"Name": "A9999"})
	for next != "" {
		r = f.do("GET", next, nil).expect(t, http.StatusOK)
		page = queryResult{}
		r.json(t, &page)
		for _, rec := range page.Records {
			names = append(names, rec["Name"].(string))
		}
		if page.TotalSize != 450 {
			t.Fatalf("totalSize %d on a later page", page.TotalSize)
		}
		next = page.NextRecordsURL
		if !page.Done && next == "" {
			t.Fatal("not done without nextRecordsUrl")
		}
	}
	if len(names) != 450 || names[449] != "A0449" {
		t.Fatalf("%d names, last %s", len(names), names[len(names)-1])
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Fatalf("not ordered at %d: %s %s", i, names[i-1], names[i])
		}
	}
	// batchSize is clamped to 200..2000; the default is 2000.
	r = f.query("query/", "SELECT Id FROM Account", "Sforce-Query-Options", "batchSize=10")
	page = queryResult{}
	r.expect(t, http.StatusOK).json(t, &page)
	if len(page.Records) != 200 {
		t.Errorf("batchSize=10 gave %d", len(page.Records))
	}
	page = queryResult{}
	f.query("query", "SELECT Id FROM Account").expect(t, http.StatusOK).json(t, &page)
	if !page.Done || len(page.Records) != 451 || page.NextRecordsURL != "" {
		t.Errorf("default page: %d done %v", len(page.Records), page.Done)
	}
	// Unknown locator.
	r = f.do("GET", "query/01gKn0000000000000-200", nil).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "INVALID_QUERY_LOCATOR" {
		t.Errorf("%s", r.body)
	}
}

func TestQueryCursorExpires(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	clock.set(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	f := setup(t, Config{Clock: clock.now, CursorTTL: 15 * time.Minute, MaxCursors: 2})
	f.seedAccounts(201)
	next := func() string {
		var page queryResult
		f.query("query", "SELECT Id FROM Account", "Sforce-Query-Options", "batchSize=200").expect(t, http.StatusOK).json(t, &page)
		return page.NextRecordsURL
	}
	n1 := next()
	clock.add(14 * time.Minute)
	f.do("GET", n1, nil).expect(t, http.StatusOK) // use keeps it alive
	f.do("GET", n1, nil).expect(t, http.StatusOK) // a page can be fetched again
	clock.add(16 * time.Minute)
	f.do("GET", n1, nil).expect(t, http.StatusBadRequest)
	// The cap drops the least recently used cursor.
	a, b, c := next(), next(), next()
	f.do("GET", a, nil).expect(t, http.StatusBadRequest)
	f.do("GET", b, nil).expect(t, http.StatusOK)
	f.do("GET", c, nil).expect(t, http.StatusOK)
	if n := f.env.Server.cursors.len(); n != 2 {
		t.Errorf("%d cursors", n)
	}
}

func TestQueryRelationshipsWhereCount(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	parent := f.create("Account", map[string]any{"Name": "Parent Co", "External_Key__c": "P"})
	f.create("Account", map[string]any{"Name": "Child Co", "Parent": map[string]any{"External_Key__c": "P"}, "Score__c": 7})
	f.create("Contact", map[string]any{"FirstName": "Ada", "LastName": "Lovelace", "AccountId": parent})
	f.create("Contact", map[string]any{"LastName": "Orphan"})
	inv := f.create("Invoice__c", map[string]any{"Name": "INV-1", "Account__c": parent, "Amount__c": 10})

	var page queryResult
	f.query("query", "SELECT Id, Name, Account.Name, Account.Parent.Name FROM Contact ORDER BY LastName").
		expect(t, http.StatusOK).json(t, &page)
	if page.TotalSize != 2 || !page.Done {
		t.Fatalf("%+v", page)
	}
	ada := page.Records[0]
	if ada["Name"] != "Ada Lovelace" {
		t.Errorf("Name %v", ada["Name"])
	}
	acc, ok := ada["Account"].(map[string]any)
	if !ok || acc["Name"] != "Parent Co" || acc["Parent"] != nil {
		t.Errorf("Account %v", ada["Account"])
	}
	if attrs := acc["attributes"].(map[string]any); attrs["type"] != "Account" || attrs["url"] != "/services/data/v66.0/sobjects/Account/"+parent {
		t.Errorf("relationship attributes %v", attrs)
	}
	if v, present := page.Records[1]["Account"]; !present || v != nil {
		t.Errorf("null relationship: %v %v", v, present)
	}

	r := f.query("query", "select name, parent.external_key__c from account where parent.name = 'parent co'").expect(t, http.StatusOK)
	page = queryResult{}
	r.json(t, &page)
	if page.TotalSize != 1 || page.Records[0]["Name"] != "Child Co" ||
		page.Records[0]["Parent"].(map[string]any)["External_Key__c"] != "P" {
		t.Errorf("case-insensitive relationship query %s", r.body)
	}
	page = queryResult{}
	f.query("query", "SELECT Name, Account__r.Name FROM Invoice__c WHERE Amount__c >= 10").expect(t, http.StatusOK).json(t, &page)
	if page.TotalSize != 1 || page.Records[0]["Account__r"].(map[string]any)["Name"] != "Parent Co" ||
		page.Records[0]["attributes"].(map[string]any)["url"] != "/services/data/v66.0/sobjects/Invoice__c/"+inv {
		t.Errorf("custom relationship %+v", page)
	}

	r = f.query("query", "SELECT COUNT() FROM Account WHERE Score__c = 7").expect(t, http.StatusOK)
	if string(r.body) != `{"totalSize":1,"done":true,"records":[]}` {
		t.Errorf("COUNT(): %s", r.body)
	}
	page = queryResult{}
	f.query("query", "SELECT Name FROM Account ORDER BY Name DESC LIMIT 1 OFFSET 1").expect(t, http.StatusOK).json(t, &page)
	if page.TotalSize != 1 || page.Records[0]["Name"] != "Child Co" {
		t.Errorf("order/limit/offset %+v", page)
	}
	if _, hasID := page.Records[0]["Id"]; hasID {
		t.Error("Id not selected but present")
	}
}

func TestQueryErrorsAndQueryAll(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	id := f.create("Account", map[string]any{"Name": "Gone"})
	f.create("Account", map[string]any{"Name": "Here"})
	f.do("DELETE", "sobjects/Account/"+id, nil).expect(t, http.StatusNoContent)

	var page queryResult
	f.query("query", "SELECT Name, IsDeleted FROM Account").expect(t, http.StatusOK).json(t, &page)
	if page.TotalSize != 1 || page.Records[0]["Name"] != "Here" {
		t.Errorf("query sees deleted: %+v", page)
	}
	page = queryResult{}
	f.query("queryAll", "SELECT Name, IsDeleted FROM Account ORDER BY Name").expect(t, http.StatusOK).json(t, &page)
	if page.TotalSize != 2 || page.Records[0]["Name"] != "Gone" || page.Records[0]["IsDeleted"] != true || page.Records[1]["IsDeleted"] != false {
		t.Errorf("queryAll %+v", page)
	}

	cases := []struct{ q, code, msg string }{
		{"SELECT Nope__c FROM Account", "INVALID_FIELD", "No such column 'Nope__c' on entity 'Account'"},
		{"SELECT Name FROM Account WHERE Bogus = 1", "INVALID_FIELD", "No such column 'Bogus' on entity 'Account'"},
		{"SELECT Name FROM Account ORDER BY Bogus", "INVALID_FIELD", "No such column 'Bogus'"},
		{"SELECT Owner.Name FROM Account", "INVALID_FIELD", "Didn't understand relationship 'Owner'"},
		{"SELECT Parent.Nope FROM Account", "INVALID_FIELD", "No such column 'Nope' on entity 'Account'"},
		{"SELECT Name FORM Account", "MALFORMED_QUERY", "unexpected token"},
		{"", "MALFORMED_QUERY", ""},
		{"SELECT Id FROM Nope__c", "INVALID_TYPE", "sObject type 'Nope__c' is not supported"},
	}
	for _, tc := range cases {
		r := f.query("query", tc.q).expect(t, http.StatusBadRequest)
		code, msg, _ := r.errorArray(t)
		if code != tc.code || !strings.HasPrefix(msg, tc.msg) {
			t.Errorf("%q: %s %q", tc.q, code, msg)
		}
	}
	if st := f.env.Server.Stats(); st.ErrorsByCode["INVALID_FIELD"] != 5 || st.ErrorsByCode["MALFORMED_QUERY"] != 2 {
		t.Errorf("stats %+v", st.ErrorsByCode)
	}
}
