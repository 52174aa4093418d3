package sfsim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

type saveResult struct {
	ID      *string `json:"id"`
	Success bool    `json:"success"`
	Errors  []struct {
		StatusCode string   `json:"statusCode"`
		Message    string   `json:"message"`
		Fields     []string `json:"fields"`
	} `json:"errors"`
	Created *bool `json:"created"`
}

func TestCreateGetUpdateDelete(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	r := f.do("POST", "sobjects/account/", map[string]any{"name": "Acme", "AnnualRevenue": "1500.5",
		"NumberOfEmployees": 12, "External_Key__c": "K-1", "Signed__c": "2024-03-01T10:00:00+02:00", "active__c": "true"}).
		expect(t, http.StatusCreated)
	if r.header.Get("Sforce-Limit-Info") != "api-usage=1/5000000" {
		t.Errorf("Sforce-Limit-Info %q", r.header.Get("Sforce-Limit-Info"))
	}
	var res saveResult
	r.json(t, &res)
	if !res.Success || res.ID == nil || len(res.Errors) != 0 || res.Created != nil || string(r.body[:6]) != `{"id":` {
		t.Fatalf("create result %s", r.body)
	}
	id := *res.ID
	if len(id) != 18 || !strings.HasPrefix(id, "001") || !salesforce.ValidID(id) {
		t.Fatalf("id %q", id)
	}

	r = f.do("GET", "sobjects/Account/"+id, nil).expect(t, http.StatusOK)
	var rec map[string]any
	r.json(t, &rec)
	attrs := rec["attributes"].(map[string]any)
	if attrs["type"] != "Account" || attrs["url"] != "/services/data/v66.0/sobjects/Account/"+id {
		t.Errorf("attributes %v", attrs)
	}
	want := map[string]any{"Id": id, "Name": "Acme", "AnnualRevenue": 1500.5, "NumberOfEmployees": 12.0,
		"External_Key__c": "K-1", "Signed__c": "2024-03-01T08:00:00.000+0000", "Active__c": true, "Phone": nil, "IsDeleted": false}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %#v, want %#v", k, rec[k], v)
		}
	}
	if cd, _ := rec["CreatedDate"].(string); len(cd) != len("2006-01-02T15:04:05.000+0000") {
		t.Errorf("CreatedDate %q", cd)
	}
	// 15-character id and ?fields=.
	r = f.do("GET", "sobjects/Account/"+id[:15]+"?fields=Name,external_key__c", nil).expect(t, http.StatusOK)
	rec = nil
	r.json(t, &rec)
	if len(rec) != 4 || rec["Name"] != "Acme" || rec["External_Key__c"] != "K-1" || rec["Id"] != id {
		t.Errorf("fields= record %s", r.body)
	}
	r = f.do("GET", "sobjects/Account/"+id+"?fields=Nope__c", nil).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "INVALID_FIELD" {
		t.Errorf("%s", r.body)
	}

	r = f.do("PATCH", "sobjects/Account/"+id, map[string]any{"Name": "Acme 2", "Phone": "555", "AnnualRevenue": nil}).
		expect(t, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with body %q", r.body)
	}
	r = f.do("GET", "sobjects/Account/"+id+"?fields=Name,Phone,AnnualRevenue", nil).expect(t, http.StatusOK)
	rec = nil
	r.json(t, &rec)
	if rec["Name"] != "Acme 2" || rec["Phone"] != "555" || rec["AnnualRevenue"] != nil {
		t.Errorf("after update %s", r.body)
	}

	f.do("DELETE", "sobjects/Account/"+id, nil).expect(t, http.StatusNoContent)
	for _, m := range []string{"GET", "DELETE"} {
		r = f.do(m, "sobjects/Account/"+id, nil).expect(t, http.StatusNotFound)
		if code, msg, _ := r.errorArray(t); code != "ENTITY_IS_DELETED" || msg != "entity is deleted" {
			t.Errorf("%s deleted: %s", m, r.body)
		}
	}
	r = f.do("PATCH", "sobjects/Account/"+id, map[string]any{"Name": "x"}).expect(t, http.StatusNotFound)
	if code, _, _ := r.errorArray(t); code != "ENTITY_IS_DELETED" {
		t.Errorf("update deleted: %s", r.body)
	}
	// Unknown and malformed ids.
	unknown := makeID("001", 999999)
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		r = f.do(m, "sobjects/Account/"+unknown, map[string]any{"Name": "x"}).expect(t, http.StatusNotFound)
		if code, msg, _ := r.errorArray(t); code != "NOT_FOUND" || msg != "The requested resource does not exist" {
			t.Errorf("%s unknown: %s", m, r.body)
		}
		r = f.do(m, "sobjects/Account/001Kn0000000001XXX", map[string]any{"Name": "x"}).expect(t, http.StatusBadRequest)
		if code, _, _ := r.errorArray(t); code != "MALFORMED_ID" {
			t.Errorf("%s malformed: %s", m, r.body)
		}
	}
	// An id of another object.
	cid := f.create("Contact", map[string]any{"LastName": "Doe"})
	f.do("GET", "sobjects/Account/"+cid, nil).expect(t, http.StatusNotFound)
	// Unknown object and unknown path.
	r = f.do("GET", "sobjects/Nope__c/"+cid, nil).expect(t, http.StatusNotFound)
	if code, _, _ := r.errorArray(t); code != "NOT_FOUND" {
		t.Errorf("%s", r.body)
	}
	f.do("GET", "nothing/here", nil).expect(t, http.StatusNotFound)
	r = f.do("PUT", "sobjects/Account/"+cid, nil).expect(t, http.StatusMethodNotAllowed)
	if code, _, _ := r.errorArray(t); code != "METHOD_NOT_ALLOWED" {
		t.Errorf("%s", r.body)
	}
}

func TestCreateIDInBodyAndBadJSON(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	r := f.do("POST", "sobjects/Account", map[string]any{"Id": makeID("001", 5), "Name": "x"}).expect(t, http.StatusBadRequest)
	code, msg, _ := r.errorArray(t)
	if code != "INVALID_FIELD" || msg != "The Id field should not be specified in the sobject data." {
		t.Errorf("%s", r.body)
	}
	r = f.do("POST", "sobjects/Account", "{not json").expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "JSON_PARSER_ERROR" {
		t.Errorf("%s", r.body)
	}
	if r.body[0] != '[' {
		t.Errorf("REST error is not an array: %s", r.body)
	}
	// POST /sobjects/{o}/Id inserts.
	r = f.do("POST", "sobjects/Account/Id", map[string]any{"Name": "via Id"}).expect(t, http.StatusCreated)
	var res saveResult
	r.json(t, &res)
	if !res.Success || res.ID == nil || !strings.HasPrefix(*res.ID, "001") {
		t.Errorf("POST /sobjects/Account/Id: %s", r.body)
	}
}

func TestRecordErrorCodes(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	existing := f.create("Account", map[string]any{"Name": "Dup", "External_Key__c": "DUP-1"})
	cases := []struct {
		name   string
		object string
		body   map[string]any
		code   string
		msg    string
		fields []string
	}{
		{"required", "Contact", map[string]any{"FirstName": "A"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", []string{"LastName"}},
		{"required several", "Opportunity", map[string]any{"Name": "O"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [StageName, CloseDate]", []string{"StageName", "CloseDate"}},
		{"required null", "Account", map[string]any{"Name": nil}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", []string{"Name"}},
		{"too long", "Account", map[string]any{"Name": "x", "BillingCity": strings.Repeat("c", 41)}, "STRING_TOO_LONG", "Billing City: data value too large: " + strings.Repeat("c", 41) + " (max length=40)", []string{"BillingCity"}},
		// Values the JSON reader cannot convert fail the request (keys are sent sorted).
		{"double", "Account", map[string]any{"Name": "x", "AnnualRevenue": "abc"}, "JSON_PARSER_ERROR", "Cannot deserialize instance of double from VALUE_STRING value abc or request may be missing a required field at [line:1, column:23]", nil},
		{"int fraction", "Account", map[string]any{"Name": "x", "NumberOfEmployees": 1.5}, "JSON_PARSER_ERROR", "Cannot deserialize instance of int from VALUE_NUMBER_FLOAT value 1.5 or request may be missing a required field at [line:1, column:36]", nil},
		{"boolean", "Account", map[string]any{"Name": "x", "Active__c": "yes"}, "JSON_PARSER_ERROR", "Cannot deserialize instance of boolean from VALUE_STRING value yes or request may be missing a required field at [line:1, column:19]", nil},
		{"date", "Contact", map[string]any{"LastName": "x", "Birthdate": "01/02/2000"}, "JSON_PARSER_ERROR", "Cannot deserialize instance of date from VALUE_STRING value 01/02/2000 or request may be missing a required field at [line:1, column:26]", nil},
		{"datetime", "Account", map[string]any{"Name": "x", "Signed__c": "yesterday"}, "JSON_PARSER_ERROR", "Cannot deserialize instance of datetime from VALUE_STRING value yesterday or request may be missing a required field at [line:1, column:36]", nil},
		{"email", "Contact", map[string]any{"LastName": "x", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: not-an-email", []string{"Email"}},
		{"picklist", "Account", map[string]any{"Name": "x", "Customer_Tier__c": "Bronze"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Customer Tier: bad value for restricted picklist field: Bronze", []string{"Customer_Tier__c"}},
		{"unknown field", "Account", map[string]any{"Name": "x", "Foo__c": 1}, "INVALID_FIELD", "No such column 'Foo__c' on sobject of type Account", nil},
		{"read-only", "Account", map[string]any{"Name": "x", "CreatedDate": "2024-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "", []string{"CreatedDate"}},
		{"computed name", "Contact", map[string]any{"LastName": "x", "Name": "y"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "", []string{"Name"}},
		{"duplicate", "Account", map[string]any{"Name": "x", "External_Key__c": "dup-1"}, "DUPLICATE_VALUE", "duplicate value found: External_Key__c duplicates value on record with id: " + existing, []string{"External_Key__c"}},
		{"cross ref ext", "Contact", map[string]any{"LastName": "x", "Account": map[string]any{"External_Key__c": "NOPE"}}, "INVALID_CROSS_REFERENCE_KEY", "Foreign key external ID: NOPE not found for field External_Key__c in entity Account", []string{"AccountId"}},
		{"cross ref id", "Contact", map[string]any{"LastName": "x", "AccountId": makeID("001", 424242)}, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []string{"AccountId"}},
		{"cross ref wrong object", "Contact", map[string]any{"LastName": "x", "AccountId": makeID("003", 1)}, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []string{"AccountId"}},
		{"malformed reference", "Contact", map[string]any{"LastName": "x", "AccountId": "001xyz"}, "MALFORMED_ID", "Account ID: id value of incorrect type: 001xyz", []string{"AccountId"}},
	}
	for _, tc := range cases {
		r := f.do("POST", "sobjects/"+tc.object, tc.body).expect(t, http.StatusBadRequest)
		code, msg, fields := r.errorArray(t)
		if code != tc.code || tc.msg != "" && msg != tc.msg || strings.Join(fields, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("%s: got %s %q %v, want %s %q %v", tc.name, code, msg, fields, tc.code, tc.msg, tc.fields)
		}
	}
	// Nothing was created by the failures.
	if n, _ := f.env.Server.Count("Account"); n.Live != 1 {
		t.Errorf("%d accounts", n.Live)
	}
	if n, _ := f.env.Server.Count("Contact"); n.Live != 0 {
		t.Errorf("%d contacts", n.Live)
	}
	// Update colliding with another record's unique value.
	other := f.create("Account", map[string]any{"Name": "Other", "External_Key__c": "OTHER"})
	r := f.do("PATCH", "sobjects/Account/"+other, map[string]any{"External_Key__c": "DUP-1"}).expect(t, http.StatusBadRequest)
	if code, msg, _ := r.errorArray(t); code != "DUPLICATE_VALUE" || !strings.HasSuffix(msg, existing) {
		t.Errorf("update duplicate: %s", r.body)
	}
	// Updating a record to its own value is fine.
	f.do("PATCH", "sobjects/Account/"+other, map[string]any{"External_Key__c": "other"}).expect(t, http.StatusNoContent)
	// Nested reference by external id and by id work.
	f.create("Contact", map[string]any{"LastName": "Ok", "Account": map[string]any{"attributes": map[string]any{"type": "Account"}, "External_Key__c": "dup-1"}})
	f.create("Contact", map[string]any{"LastName": "Ok2", "AccountId": existing[:15]})
	recs, _ := f.env.Server.Records("Contact")
	for _, rec := range recs {
		if rec["AccountId"] != existing {
			t.Errorf("contact %v AccountId %v, want %s", rec["LastName"], rec["AccountId"], existing)
		}
	}
	if recs[0]["Name"] != "Ok" {
		t.Errorf("computed Name %v", recs[0]["Name"])
	}
}

func TestSingleUpsert(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	r := f.do("PATCH", "sobjects/Account/External_Key__c/U-1", map[string]any{"Name": "Up"}).expect(t, http.StatusCreated)
	var res saveResult
	r.json(t, &res)
	if !res.Success || res.Created == nil || !*res.Created || res.ID == nil {
		t.Fatalf("insert upsert %s", r.body)
	}
	id := *res.ID
	r = f.do("PATCH", "sobjects/Account/external_key__c/u-1", map[string]any{"Name": "Up 2"}).expect(t, http.StatusOK)
	res = saveResult{}
	r.json(t, &res)
	if !res.Success || res.Created == nil || *res.Created || *res.ID != id {
		t.Fatalf("update upsert %s", r.body)
	}
	recs, _ := f.env.Server.Records("Account")
	if len(recs) != 1 || recs[0]["Name"] != "Up 2" || recs[0]["External_Key__c"] != "u-1" {
		t.Fatalf("records %v", recs)
	}
	// API 45 answers 204 for an update.
	f.do("PATCH", "/services/data/v45.0/sobjects/Account/External_Key__c/U-1", map[string]any{"Name": "Up 3"}).expect(t, http.StatusNoContent)
	// updateOnly refuses creation.
	r = f.do("PATCH", "sobjects/Account/External_Key__c/U-2?updateOnly=true", map[string]any{"Name": "x"}).expect(t, http.StatusNotFound)
	if code, _, _ := r.errorArray(t); code != "NOT_FOUND" {
		t.Errorf("%s", r.body)
	}
	// Unknown or non-external field.
	for _, field := range []string{"Nope__c", "Name"} {
		r = f.do("PATCH", "sobjects/Account/"+field+"/x", map[string]any{"Name": "x"}).expect(t, http.StatusNotFound)
		if code, msg, _ := r.errorArray(t); code != "NOT_FOUND" || msg != "The requested resource does not exist" {
			t.Errorf("%s: %s", field, r.body)
		}
	}
	// Several matches on a non-unique external id → 300 with the URLs.
	a := f.create("Account", map[string]any{"Name": "L1", "Loose_Key__c": "same"})
	b := f.create("Account", map[string]any{"Name": "L2", "Loose_Key__c": "SAME"})
	r = f.do("PATCH", "sobjects/Account/Loose_Key__c/Same", map[string]any{"Name": "x"}).expect(t, http.StatusMultipleChoices)
	var urls []string
	r.json(t, &urls)
	if len(urls) != 2 || urls[0] != "/services/data/v66.0/sobjects/Account/"+a || urls[1] != "/services/data/v66.0/sobjects/Account/"+b {
		t.Errorf("300 body %s", r.body)
	}
	// Upsert on Id.
	r = f.do("PATCH", "sobjects/Account/Id/"+id, map[string]any{"Name": "By Id"}).expect(t, http.StatusOK)
	res = saveResult{}
	r.json(t, &res)
	if !res.Success || *res.ID != id || *res.Created {
		t.Errorf("upsert on Id: %s", r.body)
	}
	// GET by external id.
	r = f.do("GET", "sobjects/Account/External_Key__c/U-1?fields=Name", nil).expect(t, http.StatusOK)
	var rec map[string]any
	r.json(t, &rec)
	if rec["Name"] != "By Id" || rec["Id"] != id {
		t.Errorf("get by external id %s", r.body)
	}
	// Validation errors surface as 400.
	r = f.do("PATCH", "sobjects/Account/External_Key__c/U-9", map[string]any{"Name": "x", "Score__c": "high"}).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "JSON_PARSER_ERROR" {
		t.Errorf("%s", r.body)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	r := f.do("GET", "sobjects/Invoice__c/describe", nil).expect(t, http.StatusOK)
	var d struct {
		Name      string `json:"name"`
		KeyPrefix string `json:"keyPrefix"`
		Custom    bool   `json:"custom"`
		Fields    []struct {
			Name             string   `json:"name"`
			Type             string   `json:"type"`
			Length           int      `json:"length"`
			Nillable         bool     `json:"nillable"`
			Createable       bool     `json:"createable"`
			Updateable       bool     `json:"updateable"`
			ExternalID       bool     `json:"externalId"`
			Unique           bool     `json:"unique"`
			ReferenceTo      []string `json:"referenceTo"`
			RelationshipName *string  `json:"relationshipName"`
			PicklistValues   []any    `json:"picklistValues"`
		} `json:"fields"`
	}
	r.json(t, &d)
	if d.Name != "Invoice__c" || d.KeyPrefix != "a01" || !d.Custom {
		t.Fatalf("%s", r.body)
	}
	byName := map[string]int{}
	for i, fd := range d.Fields {
		byName[fd.Name] = i
	}
	if d.Fields[0].Name != "Id" || d.Fields[0].Type != "id" || d.Fields[0].Createable {
		t.Errorf("Id field %+v", d.Fields[0])
	}
	n := d.Fields[byName["Number__c"]]
	if !n.ExternalID || !n.Unique || n.Length != 20 || !n.Nillable || !n.Createable {
		t.Errorf("Number__c %+v", n)
	}
	ref := d.Fields[byName["Account__c"]]
	if ref.Type != "reference" || len(ref.ReferenceTo) != 1 || ref.ReferenceTo[0] != "Account" || *ref.RelationshipName != "Account__r" {
		t.Errorf("Account__c %+v", ref)
	}
	if name := d.Fields[byName["Name"]]; name.Nillable {
		t.Errorf("required Name is nillable")
	}
	if _, ok := byName["SystemModstamp"]; !ok {
		t.Error("no SystemModstamp")
	}
	r = f.do("GET", "sobjects/Account/describe", nil).expect(t, http.StatusOK)
	var acc struct {
		Fields []struct {
			Name           string `json:"name"`
			PicklistValues []struct {
				Value string `json:"value"`
			} `json:"picklistValues"`
		} `json:"fields"`
	}
	r.json(t, &acc)
	found := false
	for _, fd := range acc.Fields {
		if fd.Name == "Customer_Tier__c" {
			found = len(fd.PicklistValues) == 3 && fd.PicklistValues[0].Value == "Platinum"
		}
	}
	if !found {
		t.Errorf("Customer_Tier__c picklist values missing")
	}
	r = f.do("GET", "sobjects", nil).expect(t, http.StatusOK)
	var global struct {
		SObjects []struct{ Name, KeyPrefix string } `json:"sobjects"`
	}
	r.json(t, &global)
	if len(global.SObjects) != 5 {
		t.Errorf("global describe %s", r.body)
	}
	r = f.do("GET", "limits", nil).expect(t, http.StatusOK)
	var lim struct {
		DailyApiRequests struct{ Max, Remaining int64 }
	}
	r.json(t, &lim)
	if lim.DailyApiRequests.Max != 5_000_000 || lim.DailyApiRequests.Remaining != 5_000_000-4 {
		t.Errorf("limits %s", r.body)
	}
}
