package sfsim

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// loaderFieldKeys are the field keys a loader reads from describe.
var loaderFieldKeys = []string{"name", "label", "type", "soapType", "length", "byteLength", "precision", "scale",
	"digits", "nillable", "createable", "updateable", "defaultedOnCreate", "defaultValue", "externalId", "idLookup",
	"unique", "caseSensitive", "calculated", "autoNumber", "picklistValues", "restrictedPicklist", "referenceTo",
	"relationshipName", "custom"}

// loaderObjectKeys are the object keys a loader reads.
var loaderObjectKeys = []string{"name", "label", "custom", "createable", "updateable", "deletable", "queryable",
	"keyPrefix", "fields", "childRelationships", "urls"}

// kind is a JSON value's type; nullable keys compare null with anything.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

var nullableKeys = map[string]bool{"relationshipName": true, "defaultValue": true, "validFor": true}

func byName(fields []any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, f := range fields {
		m := f.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

func TestDescribeMatchesRealDescribe(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "describe_TestObject15__c.json"))
	if err != nil {
		t.Fatal(err)
	}
	var real map[string]any
	if err := json.Unmarshal(raw, &real); err != nil {
		t.Fatal(err)
	}
	// The same object in the simulator's schema (a multi-select picklist
	// becomes a picklist).
	s, err := ParseSchema([]byte(`
objects:
  - name: TestObject15__c
    label: Test Object 15
    fields:
      - {name: Name, type: string, length: 80, label: Test Object Name}
      - {name: Birthday__c, type: string, length: 30, required: true}
      - {name: Interests__c, type: picklist, values: [art, swimming, travel], restricted: true, default: art, required: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := setup(t, Config{Schema: s})
	var sim map[string]any
	f.do("GET", "sobjects/TestObject15__c/describe", nil).expect(t, http.StatusOK).json(t, &sim)

	for _, k := range loaderObjectKeys {
		rv, ok1 := real[k]
		sv, ok2 := sim[k]
		if !ok1 || !ok2 || kind(rv) != kind(sv) {
			t.Errorf("object key %s: real %v (%s), simulator %v (%s)", k, rv, kind(rv), sv, kind(sv))
		}
	}
	for _, k := range []string{"name", "label", "custom", "createable", "updateable", "deletable", "queryable"} {
		if real[k] != sim[k] {
			t.Errorf("object %s: real %v, simulator %v", k, real[k], sim[k])
		}
	}
	realFields, simFields := byName(real["fields"].([]any)), byName(sim["fields"].([]any))
	for name, rf := range realFields {
		sf := simFields[name]
		if sf == nil {
			t.Errorf("simulator has no field %s", name)
			continue
		}
		for _, k := range loaderFieldKeys {
			rv, ok1 := rf[k]
			sv, ok2 := sf[k]
			if !ok1 || !ok2 || kind(rv) != kind(sv) && !(nullableKeys[k] && (rv == nil || sv == nil)) {
				t.Errorf("%s.%s: real %v (%s), simulator %v (%s)", name, k, rv, kind(rv), sv, kind(sv))
			}
		}
	}
	// Where the schemas agree, so do the values.
	same := map[string][]string{
		"Id": loaderFieldKeys,
		"Birthday__c": {"name", "label", "type", "soapType", "length", "byteLength", "precision", "scale", "digits",
			"nillable", "createable", "updateable", "defaultedOnCreate", "defaultValue", "externalId", "idLookup", "unique",
			"caseSensitive", "calculated", "autoNumber", "picklistValues", "restrictedPicklist", "referenceTo",
			"relationshipName", "custom"},
		"Name":         {"name", "label", "type", "soapType", "length", "byteLength", "createable", "updateable", "idLookup", "custom", "caseSensitive"},
		"Interests__c": {"picklistValues", "restrictedPicklist", "defaultValue", "defaultedOnCreate", "nillable", "custom", "createable", "updateable", "soapType"},
	}
	for name, keys := range same {
		for _, k := range keys {
			if rv, sv := realFields[name][k], simFields[name][k]; !reflect.DeepEqual(rv, sv) {
				t.Errorf("%s.%s: real %v, simulator %v", name, k, rv, sv)
			}
		}
	}
	// Picklist entries have the same keys.
	rp := realFields["Interests__c"]["picklistValues"].([]any)[0].(map[string]any)
	sp := simFields["Interests__c"]["picklistValues"].([]any)[0].(map[string]any)
	for k := range rp {
		if _, ok := sp[k]; !ok {
			t.Errorf("picklist value key %s missing", k)
		}
	}
}

func TestDescribeValues(t *testing.T) {
	t.Parallel()
	s := testSchema(t).Merge(mustSchema(t, `
objects:
  - name: Account
    fields:
      - {name: Origin__c, type: string, createable: true, updateable: false}
      - {name: Legacy_Code__c, type: string, createable: false}
      - {name: Region__c, type: picklist, values: [North, South], inactive_values: [West], restricted: true}
      - {name: Margin__c, type: percent, precision: 5, scale: 2}
      - {name: Token__c, type: string, length: 20, external_id: true, unique: true, case_sensitive: true}
`))
	f := setup(t, Config{Schema: s})
	var d map[string]any
	f.do("GET", "sobjects/Account/describe", nil).expect(t, http.StatusOK).json(t, &d)
	fields := byName(d["fields"].([]any))
	check := func(field string, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if got := fields[field][k]; !reflect.DeepEqual(got, v) {
				t.Errorf("%s.%s = %v, want %v", field, k, got, v)
			}
		}
	}
	check("Id", map[string]any{"createable": false, "updateable": false, "idLookup": true, "nillable": false,
		"defaultedOnCreate": true, "soapType": "tns:ID", "type": "id", "length": 18.0, "byteLength": 18.0})
	check("Name", map[string]any{"createable": true, "updateable": true, "nillable": false, "defaultedOnCreate": false,
		"idLookup": true, "soapType": "xsd:string", "length": 255.0, "byteLength": 765.0})
	check("CreatedDate", map[string]any{"createable": false, "updateable": false, "nillable": false,
		"defaultedOnCreate": true, "soapType": "xsd:dateTime", "type": "datetime"})
	check("Active__c", map[string]any{"nillable": false, "defaultedOnCreate": true, "defaultValue": false, "soapType": "xsd:boolean"})
	check("AnnualRevenue", map[string]any{"soapType": "xsd:double", "precision": 18.0, "scale": 0.0, "nillable": true})
	check("Margin__c", map[string]any{"precision": 5.0, "scale": 2.0})
	check("NumberOfEmployees", map[string]any{"soapType": "xsd:int", "digits": 9.0})
	check("ParentId", map[string]any{"referenceTo": []any{"Account"}, "relationshipName": "Parent", "soapType": "tns:ID"})
	check("External_Key__c", map[string]any{"externalId": true, "unique": true, "idLookup": true, "caseSensitive": false})
	check("Token__c", map[string]any{"caseSensitive": true})
	check("Origin__c", map[string]any{"createable": true, "updateable": false})
	check("Legacy_Code__c", map[string]any{"createable": false, "updateable": true})
	check("Region__c", map[string]any{"restrictedPicklist": true, "picklistValues": []any{
		map[string]any{"active": true, "defaultValue": false, "label": "North", "validFor": nil, "value": "North"},
		map[string]any{"active": true, "defaultValue": false, "label": "South", "validFor": nil, "value": "South"},
		map[string]any{"active": false, "defaultValue": false, "label": "West", "validFor": nil, "value": "West"},
	}})
	children := map[string]bool{}
	for _, c := range d["childRelationships"].([]any) {
		m := c.(map[string]any)
		children[m["childSObject"].(string)+"."+m["field"].(string)+"="+m["relationshipName"].(string)] = true
	}
	for _, want := range []string{"Contact.AccountId=Contacts", "Account.ParentId=ChildAccounts", "Invoice__c.Account__c=Invoices__r"} {
		if !children[want] {
			t.Errorf("child relationship %s missing: %v", want, children)
		}
	}
	if urls := d["urls"].(map[string]any); urls["sobject"] != "/services/data/v66.0/sobjects/Account" || urls["describe"] == nil {
		t.Errorf("urls %v", urls)
	}

	// The overrides and inactive values govern writes.
	id := f.create("Account", map[string]any{"Name": "a", "Origin__c": "web", "Region__c": "North"})
	r := f.do("PATCH", "sobjects/Account/"+id, map[string]any{"Origin__c": "phone"}).expect(t, http.StatusBadRequest)
	if code, _, fields := r.errorArray(t); code != "INVALID_FIELD_FOR_INSERT_UPDATE" || len(fields) != 1 || fields[0] != "Origin__c" {
		t.Errorf("update of a non-updateable field: %s", r.body)
	}
	r = f.do("POST", "sobjects/Account", map[string]any{"Name": "b", "Legacy_Code__c": "x"}).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "INVALID_FIELD_FOR_INSERT_UPDATE" {
		t.Errorf("insert of a non-createable field: %s", r.body)
	}
	f.do("PATCH", "sobjects/Account/"+id, map[string]any{"Legacy_Code__c": "x"}).expect(t, http.StatusNoContent)
	r = f.do("PATCH", "sobjects/Account/"+id, map[string]any{"Region__c": "West"}).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" {
		t.Errorf("inactive value of a restricted picklist: %s", r.body)
	}

	// describeGlobal lists every object with the object keys.
	var g struct {
		SObjects []map[string]any `json:"sobjects"`
	}
	f.do("GET", "sobjects", nil).expect(t, http.StatusOK).json(t, &g)
	for _, o := range g.SObjects {
		for _, k := range []string{"name", "label", "custom", "createable", "updateable", "deletable", "queryable", "keyPrefix", "urls"} {
			if _, ok := o[k]; !ok {
				t.Errorf("describeGlobal %v lacks %s", o["name"], k)
			}
		}
	}
}

func mustSchema(t *testing.T, doc string) *Schema {
	t.Helper()
	s, err := ParseSchema([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
