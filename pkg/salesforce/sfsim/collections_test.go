package sfsim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func acct(fields map[string]any) map[string]any {
	fields["attributes"] = map[string]any{"type": "Account"}
	return fields
}

func (f *fixture) results(r *response) []saveResult {
	f.t.Helper()
	r.expect(f.t, http.StatusOK)
	var out []saveResult
	r.json(f.t, &out)
	return out
}

func TestCollectionsCreatePartialFailure(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.create("Account", map[string]any{"Name": "Parent", "External_Key__c": "P-1"})
	res := f.results(f.do("POST", "composite/sobjects", map[string]any{"allOrNone": false, "records": []any{
		acct(map[string]any{"Name": "A", "External_Key__c": "C-1"}),
		acct(map[string]any{"External_Key__c": "C-2"}),
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "Mixed", "Account": map[string]any{"External_Key__c": "P-1"}},
		map[string]any{"Name": "no type"},
		map[string]any{"attributes": map[string]any{"type": "Nope__c"}, "Name": "x"},
	}}))
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	if !res[0].Success || res[0].ID == nil || !strings.HasPrefix(*res[0].ID, "001") {
		t.Errorf("0: %+v", res[0])
	}
	if res[1].Success || res[1].ID != nil || res[1].Errors[0].StatusCode != "REQUIRED_FIELD_MISSING" || res[1].Errors[0].Fields[0] != "Name" {
		t.Errorf("1: %+v", res[1])
	}
	if !res[2].Success || !strings.HasPrefix(*res[2].ID, "003") {
		t.Errorf("2: %+v", res[2])
	}
	if res[3].Errors[0].StatusCode != "INVALID_TYPE" || res[3].Errors[0].Message != "Must send a concrete entity type." {
		t.Errorf("3: %+v", res[3])
	}
	if res[4].Errors[0].StatusCode != "INVALID_TYPE" {
		t.Errorf("4: %+v", res[4])
	}
	if res[0].Created != nil {
		t.Error("create results carry created")
	}
	st := f.env.Server.Stats()
	if st.ErrorsByCode["INVALID_TYPE"] != 2 || st.ErrorsByCode["REQUIRED_FIELD_MISSING"] != 1 || st.Records != 6 ||
		st.RecordsPerCall != 3 || st.CallsByKind["collections_create"] != 1 || st.CallsByKind["sobject_create"] != 1 ||
		len(st.CollectionsCallSizes) != 1 || st.CollectionsCallSizes[5] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestCollectionsAllOrNoneRollsBack(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	keep := f.create("Account", map[string]any{"Name": "Keep", "External_Key__c": "KEEP"})
	res := f.results(f.do("POST", "composite/sobjects", map[string]any{"allOrNone": true, "records": []any{
		acct(map[string]any{"Name": "A1", "External_Key__c": "N-1"}),
		acct(map[string]any{"Name": "A2", "External_Key__c": "KEEP"}),
		acct(map[string]any{"Name": "A3"}),
	}}))
	if res[1].Errors[0].StatusCode != "DUPLICATE_VALUE" {
		t.Errorf("1: %+v", res[1])
	}
	for _, i := range []int{0, 2} {
		if res[i].Success || res[i].ID != nil || res[i].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" ||
			res[i].Errors[0].Message != "Record rolled back because not all records were valid and the request was using AllOrNone header" {
			t.Errorf("%d: %+v", i, res[i])
		}
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 1 {
		t.Errorf("%d accounts after rollback", n.Live)
	}
	// The rolled-back external id is free again; indexes were restored.
	f.create("Account", map[string]any{"Name": "again", "External_Key__c": "N-1"})

	// Update and delete roll back too. (Two different records: the same id
	// twice would fail both with DUPLICATE_VALUE.)
	res = f.results(f.do("PATCH", "composite/sobjects", map[string]any{"allOrNone": true, "records": []any{
		acct(map[string]any{"id": keep, "Name": "Changed", "External_Key__c": "MOVED"}),
		acct(map[string]any{"id": f.create("Account", map[string]any{"Name": "Other"}), "BillingCity": strings.Repeat("c", 41)}),
	}}))
	if res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || res[1].Errors[0].StatusCode != "STRING_TOO_LONG" {
		t.Errorf("update: %+v", res)
	}
	r := f.do("GET", "sobjects/Account/External_Key__c/KEEP?fields=Name", nil).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"Name":"Keep"`) {
		t.Errorf("update not rolled back: %s", r.body)
	}
	bad := makeID("001", 777777)
	res = f.results(f.do("DELETE", "composite/sobjects?allOrNone=true&ids="+keep+","+bad, nil))
	if res[0].Errors[0].StatusCode != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || res[1].Errors[0].StatusCode != "INVALID_CROSS_REFERENCE_KEY" {
		t.Errorf("delete: %+v", res)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 3 || n.Deleted != 0 {
		t.Errorf("after delete rollback %+v", n)
	}
	f.do("GET", "sobjects/Account/External_Key__c/KEEP", nil).expect(t, http.StatusOK)
}

func TestCollectionsUpdateDeleteRetrieve(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	a := f.create("Account", map[string]any{"Name": "A"})
	b := f.create("Account", map[string]any{"Name": "B"})
	c := f.create("Contact", map[string]any{"LastName": "C"})
	f.do("DELETE", "sobjects/Account/"+b, nil).expect(t, http.StatusNoContent)
	res := f.results(f.do("PATCH", "composite/sobjects", map[string]any{"records": []any{
		acct(map[string]any{"id": a, "Name": "A2"}),
		acct(map[string]any{"Name": "no id"}),
		acct(map[string]any{"Id": "garbage", "Name": "x"}),
		acct(map[string]any{"Id": makeID("001", 888888), "Name": "x"}),
		acct(map[string]any{"Id": b, "Name": "x"}),
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Id": c, "Title": "Boss"},
	}}))
	want := []string{"", "MISSING_ARGUMENT", "MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED", ""}
	for i, w := range want {
		got := ""
		if !res[i].Success {
			got = res[i].Errors[0].StatusCode
		}
		if got != w {
			t.Errorf("update %d: %s, want %q", i, got, w)
		}
	}
	if *res[0].ID != a || *res[5].ID != c || res[1].Errors[0].Message != "Id not specified in an update call" {
		t.Errorf("update results %+v", res)
	}

	// Retrieve: GET and POST forms; unknown, deleted and malformed ids give null.
	r := f.do("GET", "composite/sobjects/Account?ids="+a+","+b+",bogus,"+makeID("001", 999)+"&fields=Name,Id", nil).expect(t, http.StatusOK)
	var recs []map[string]any
	r.json(t, &recs)
	if len(recs) != 4 || recs[0]["Name"] != "A2" || recs[1] != nil || recs[2] != nil || recs[3] != nil {
		t.Errorf("retrieve %s", r.body)
	}
	if attrs, _ := recs[0]["attributes"].(map[string]any); attrs["type"] != "Account" {
		t.Errorf("retrieve attributes %v", recs[0])
	}
	r = f.do("POST", "composite/sobjects/Account", map[string]any{"ids": []string{a}, "fields": []string{"Name"}}).expect(t, http.StatusOK)
	recs = nil
	r.json(t, &recs)
	if len(recs) != 1 || recs[0]["Name"] != "A2" || recs[0]["Id"] != a {
		t.Errorf("retrieve POST %s", r.body)
	}
	r = f.do("GET", "composite/sobjects/Account?ids="+a+"&fields=Nope__c", nil).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "INVALID_FIELD" {
		t.Errorf("%s", r.body)
	}

	// Delete: mixed types, partial failure.
	res = f.results(f.do("DELETE", "composite/sobjects?ids="+a+","+c+","+b+",nope", nil))
	if !res[0].Success || *res[0].ID != a || !res[1].Success || *res[1].ID != c ||
		res[2].Errors[0].StatusCode != "ENTITY_IS_DELETED" || res[3].Errors[0].StatusCode != "MALFORMED_ID" {
		t.Errorf("delete %+v", res)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 0 || n.Deleted != 2 {
		t.Errorf("count %+v", n)
	}
}

func TestCollectionsUpsert(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	existing := f.create("Account", map[string]any{"Name": "Old", "External_Key__c": "E-1"})
	r := f.do("PATCH", "composite/sobjects/Account/External_Key__c", map[string]any{"allOrNone": false, "records": []any{
		acct(map[string]any{"Name": "Updated", "External_Key__c": "e-1"}),
		map[string]any{"Name": "New", "External_Key__c": "E-2"},
		acct(map[string]any{"Name": "No key"}),
		acct(map[string]any{"Name": "Child", "External_Key__c": "E-3", "Parent": map[string]any{"External_Key__c": "E-1"}}),
	}})
	res := f.results(r)
	if !strings.Contains(string(r.body), `"created":false`) || !strings.Contains(string(r.body), `"created":true`) {
		t.Errorf("no created flags: %s", r.body)
	}
	if !res[0].Success || *res[0].ID != existing || *res[0].Created {
		t.Errorf("0 %+v", res[0])
	}
	if !res[1].Success || !*res[1].Created {
		t.Errorf("1 %+v", res[1])
	}
	if res[2].Success || res[2].Errors[0].StatusCode != "MISSING_ARGUMENT" || res[2].Errors[0].Message != "External_Key__c not specified" {
		t.Errorf("2 %+v", res[2])
	}
	if !res[3].Success || !*res[3].Created {
		t.Errorf("3 %+v", res[3])
	}
	recs, _ := f.env.Server.Records("Account")
	if len(recs) != 3 || recs[0]["Name"] != "Updated" || recs[2]["ParentId"] != existing {
		t.Errorf("records %v", recs)
	}
	// Several matches → DUPLICATE_EXTERNAL_ID per record.
	f.create("Account", map[string]any{"Name": "L1", "Loose_Key__c": "x"})
	f.create("Account", map[string]any{"Name": "L2", "Loose_Key__c": "x"})
	res = f.results(f.do("PATCH", "composite/sobjects/Account/Loose_Key__c", map[string]any{"records": []any{
		acct(map[string]any{"Name": "L", "Loose_Key__c": "X"})}}))
	if res[0].Errors[0].StatusCode != "DUPLICATE_EXTERNAL_ID" {
		t.Errorf("dup %+v", res[0])
	}
	// updateOnly.
	res = f.results(f.do("PATCH", "composite/sobjects/Account/External_Key__c?updateOnly=true", map[string]any{"records": []any{
		acct(map[string]any{"Name": "U", "External_Key__c": "E-404"}), acct(map[string]any{"Name": "U2", "External_Key__c": "E-2"})}}))
	if res[0].Errors[0].StatusCode != "NOT_FOUND" || !res[1].Success || *res[1].Created {
		t.Errorf("updateOnly %+v", res)
	}
	// Unknown / non-external field: 400.
	for _, field := range []string{"Nope__c", "Name"} {
		r := f.do("PATCH", "composite/sobjects/Account/"+field, map[string]any{"records": []any{}}).expect(t, http.StatusBadRequest)
		if code, _, _ := r.errorArray(t); code != "INVALID_FIELD" {
			t.Errorf("%s: %s", field, r.body)
		}
	}
}

func TestCollectionsLimits(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	recs := make([]any, 201)
	for i := range recs {
		recs[i] = acct(map[string]any{"Name": fmt.Sprint(i)})
	}
	for _, call := range []struct{ method, path string }{{"POST", "composite/sobjects"}, {"PATCH", "composite/sobjects"},
		{"PATCH", "composite/sobjects/Account/External_Key__c"}} {
		r := f.do(call.method, call.path, map[string]any{"records": recs}).expect(t, http.StatusBadRequest)
		code, msg, _ := r.errorArray(t)
		if code != "EXCEEDED_ID_LIMIT" || msg != "record limit reached. cannot submit more than 200 records into this call" {
			t.Errorf("%s %s: %s", call.method, call.path, r.body)
		}
	}
	ids := make([]string, 201)
	for i := range ids {
		ids[i] = makeID("001", uint64(i+1))
	}
	r := f.do("DELETE", "composite/sobjects?ids="+strings.Join(ids, ","), nil).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "EXCEEDED_ID_LIMIT" {
		t.Errorf("delete: %s", r.body)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 0 {
		t.Errorf("%d accounts", n.Live)
	}
	// Exactly 200 is fine.
	res := f.results(f.do("POST", "composite/sobjects", map[string]any{"records": recs[:200]}))
	if len(res) != 200 || !res[199].Success {
		t.Errorf("200 records: %d results", len(res))
	}
	r = f.do("POST", "composite/sobjects", `{"records": [`).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "JSON_PARSER_ERROR" {
		t.Errorf("%s", r.body)
	}
}
