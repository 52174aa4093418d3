package pipeline

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMappingForms(t *testing.T) {
	t.Parallel()
	src := map[string]any{
		"name":    "  Acme  ",
		"email":   "INFO@ACME.COM",
		"revenue": "1234.5",
		"address": map[string]any{"city": "Milano", "geo": map[string]any{"lat": 45.46}},
		"parent":  "P-1",
		"score":   0.42,
		"nothing": nil,
	}
	cases := []struct {
		name string
		spec FieldSpec
		want map[string]any // nil: the target is omitted
	}{
		{"rename", FieldSpec{Source: "name", Target: "Name"}, map[string]any{"Name": "  Acme  "}},
		{"transform", FieldSpec{Source: "email", Target: "Email", Transform: "lower"}, map[string]any{"Email": "info@acme.com"}},
		{"original alias", FieldSpec{Source: "email", Target: "Email", Transform: "lowercase"}, map[string]any{"Email": "info@acme.com"}},
		{"nested source", FieldSpec{Source: "address.city", Target: "BillingCity"}, map[string]any{"BillingCity": "Milano"}},
		{"deeply nested source", FieldSpec{Source: "address.geo.lat", Target: "Lat__c"}, map[string]any{"Lat__c": 45.46}},
		{"nested source through a non-object", FieldSpec{Source: "name.first", Target: "FirstName"}, nil},
		{"relationship target", FieldSpec{Source: "parent", Target: "Parent.External_Key__c"}, map[string]any{"Parent": map[string]any{"External_Key__c": "P-1"}}},
		{"default when missing", FieldSpec{Source: "status", Target: "Status__c", Default: "New", HasDefault: true}, map[string]any{"Status__c": "New"}},
		{"default transformed", FieldSpec{Source: "status", Target: "Status__c", Default: "NEW", HasDefault: true, Transform: "lower"}, map[string]any{"Status__c": "new"}},
		{"default not used for null", FieldSpec{Source: "nothing", Target: "X__c", Default: "d", HasDefault: true}, nil},
		{"missing without default", FieldSpec{Source: "absent", Target: "X__c"}, nil},
		{"null omitted", FieldSpec{Source: "nothing", Target: "X__c"}, nil},
		{"expression", FieldSpec{Source: "score", Target: "Score__c", Expr: "value * 100"}, map[string]any{"Score__c": 42.0}},
		{"expression reading the record", FieldSpec{Source: "name", Target: "Label__c", Expr: `trim(value) + " (" + record.address.city + ")"`}, map[string]any{"Label__c": "Acme (Milano)"}},
		{"const", FieldSpec{Source: "anything", Target: "LeadSource", Transform: "const", Value: "Kinetic"}, map[string]any{"LeadSource": "Kinetic"}},
		{"float", FieldSpec{Source: "revenue", Target: "AnnualRevenue", Transform: "float"}, map[string]any{"AnnualRevenue": 1234.5}},
	}
	for _, tc := range cases {
		m, err := NewFieldMapper([]FieldSpec{tc.spec}, MapperOptions{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got, err := m.Map(src)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := tc.want
		if want == nil {
			want = map[string]any{}
		}
		if !reflect.DeepEqual(map[string]any(got), want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}
}

func TestTransforms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		transform, layout string
		in                any
		want              any
		err               string // a substring of the error, empty for success
	}{
		{"lower", "", "MiXeD", "mixed", ""},
		{"lower", "", 12.0, nil, "expects text"},
		{"upper", "", "abc", "ABC", ""},
		{"trim", "", "  x \t", "x", ""},
		{"strip", "", " y ", "y", ""},
		{"int", "", "42", int64(42), ""},
		{"int", "", " -7 ", int64(-7), ""},
		{"int", "", "12.0", int64(12), ""},
		{"int", "", 9.0, int64(9), ""},
		{"int", "", "12.5", nil, "not a whole number"},
		{"int", "", 1.5, nil, "not a whole number"},
		{"int", "", "abc", nil, "not a whole number"},
		{"int", "", true, nil, "expects a number"},
		{"float", "", "3.25", 3.25, ""},
		{"float", "", 2.0, 2.0, ""},
		{"float", "", "1e3", 1000.0, ""},
		{"float", "", "NaN", nil, "not a number"},
		{"float", "", "x", nil, "not a number"},
		{"bool", "", "false", false, ""},
		{"bool", "", "FALSE", false, ""},
		{"bool", "", "0", false, ""},
		{"bool", "", "no", false, ""},
		{"bool", "", "off", false, ""},
		{"bool", "", "n", false, ""},
		{"bool", "", "true", true, ""},
		{"bool", "", "Yes", true, ""},
		{"bool", "", "1", true, ""},
		{"bool", "", 0.0, false, ""},
		{"bool", "", 1.0, true, ""},
		{"bool", "", false, false, ""},
		{"bool", "", 2.0, nil, "neither 0 nor 1"},
		{"bool", "", "maybe", nil, "not true/false"},
		{"string", "", 12.5, "12.5", ""},
		{"string", "", 1e21, "1000000000000000000000", ""},
		{"string", "", true, "true", ""},
		{"string", "", map[string]any{}, nil, "cannot turn"},
		{"date", "", "2024-03-05", "2024-03-05", ""},
		{"date", "", "2024-03-05T23:30:00Z", "2024-03-05", ""},
		{"date", "02/01/2006", "05/03/2024", "2024-03-05", ""},
		{"date", "02/01/2006", "2024-03-05", nil, `does not match layout "02/01/2006"`},
		{"date", "", "yesterday", nil, "not an ISO date"},
		{"datetime", "", "2024-03-05T10:20:30+02:00", "2024-03-05T08:20:30.000Z", ""},
		{"datetime", "", "2024-03-05 10:20:30", "2024-03-05T10:20:30.000Z", ""},
		{"datetime", "02/01/2006 15:04", "05/03/2024 10:20", "2024-03-05T10:20:00.000Z", ""},
		{"datetime", "", 5.0, nil, "expects text"},
	}
	for _, tc := range cases {
		f, err := newTransform(tc.transform, tc.layout, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.transform, err)
		}
		got, err := f(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s(%v): err = %v, want %q", tc.transform, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s(%#v) = %#v, %v; want %#v", tc.transform, tc.in, got, err, tc.want)
		}
	}
}

func TestDatetimeTimezone(t *testing.T) {
	t.Parallel()
	m, err := NewFieldMapper([]FieldSpec{{Source: "at", Target: "At__c", Transform: "datetime", Layout: "2006-01-02 15:04", Timezone: "Europe/Rome"}}, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Map(map[string]any{"at": "2024-07-01 12:00"})
	if err != nil || got["At__c"] != "2024-07-01T10:00:00.000Z" {
		t.Errorf("got %v, %v; want 10:00 UTC (Rome is UTC+2 in July)", got, err)
	}
}

// Null and missing are different, and insert_nulls sends null.
func TestNullVersusMissing(t *testing.T) {
	t.Parallel()
	specs := []FieldSpec{
		{Source: "phone", Target: "Phone"},
		{Source: "revenue", Target: "AnnualRevenue", Transform: "float"},
		{Source: "status", Target: "Status__c", Default: "New", HasDefault: true},
	}
	cases := []struct {
		name        string
		insertNulls bool
		src         map[string]any
		want        map[string]any
	}{
		{"missing: omitted or default", false, map[string]any{}, map[string]any{"Status__c": "New"}},
		{"null: omitted", false, map[string]any{"phone": nil, "revenue": nil, "status": nil}, map[string]any{}},
		{"null with insert_nulls: sent as null", true, map[string]any{"phone": nil, "revenue": nil, "status": nil}, map[string]any{"Phone": nil, "AnnualRevenue": nil, "Status__c": nil}},
		{"missing with insert_nulls: still omitted", true, map[string]any{}, map[string]any{"Status__c": "New"}},
		{"blank number is null", false, map[string]any{"revenue": "  "}, map[string]any{"Status__c": "New"}},
		{"blank number with insert_nulls", true, map[string]any{"revenue": ""}, map[string]any{"AnnualRevenue": nil, "Status__c": "New"}},
		{"blank text is kept", false, map[string]any{"phone": ""}, map[string]any{"Phone": "", "Status__c": "New"}},
	}
	for _, tc := range cases {
		m, err := NewFieldMapper(specs, MapperOptions{InsertNulls: tc.insertNulls})
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Map(tc.src)
		if err != nil || !reflect.DeepEqual(map[string]any(got), tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestMappingFailureIsAnError(t *testing.T) {
	t.Parallel()
	m, err := NewFieldMapper([]FieldSpec{{Source: "n", Target: "NumberOfEmployees", Transform: "int"}}, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Map(map[string]any{"n": "many"})
	var me *MappingError
	if !errors.As(err, &me) || me.Source != "n" || me.Target != "NumberOfEmployees" {
		t.Fatalf("err = %v, want a MappingError naming n and NumberOfEmployees", err)
	}
	m, err = NewFieldMapper([]FieldSpec{{Source: "x", Target: "Y__c", Expr: "value / 0 > 1 ? 'a' : 'b'"}}, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Map(map[string]any{"x": "text"}); err == nil {
		t.Error("an expression failing at run time must be a mapping error")
	}
}

func TestMapperDoesNotModifyTheSource(t *testing.T) {
	t.Parallel()
	m, err := NewFieldMapper([]FieldSpec{
		{Source: "a.b", Target: "Rel.Ext__c"},
		{Source: "e", Target: "Email", Transform: "lower"},
	}, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]any{"a": map[string]any{"b": "X"}, "e": "UP"}
	before, _ := json.Marshal(src)
	out, err := m.Map(src)
	if err != nil {
		t.Fatal(err)
	}
	out["Rel"].(map[string]any)["Ext__c"] = "changed"
	after, _ := json.Marshal(src)
	if string(before) != string(after) {
		t.Errorf("source changed: %s → %s", before, after)
	}
}

func TestMapperBuildErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		specs []FieldSpec
		want  string
	}{
		{[]FieldSpec{{Source: "a", Target: "A", Transform: "lowr"}}, `mapping.a: unknown transform "lowr" (known: lower, upper`},
		{[]FieldSpec{{Source: "a", Target: "A", Expr: "value +"}}, `mapping.a: expr "value +"`},
		{[]FieldSpec{{Source: "a", Target: "A", Expr: "nosuchvar * 2"}}, "unknown name nosuchvar"},
		{[]FieldSpec{{Source: "a", Target: "A", Transform: "lower", Expr: "value"}}, "cannot be combined"},
		{[]FieldSpec{{Source: "a", Target: "Bad Field"}}, "not a valid Salesforce field name"},
		{[]FieldSpec{{Source: "a", Target: "A.B.C"}}, "only Field or Relationship.Field"},
		{[]FieldSpec{{Source: "a", Target: ""}}, "target is required"},
		{[]FieldSpec{{Source: "", Target: "A"}}, "empty source key"},
		{[]FieldSpec{{Source: "a..b", Target: "A"}}, "empty part"},
		{[]FieldSpec{{Source: "a", Target: "A", Transform: "const"}}, "needs a value"},
		{[]FieldSpec{{Source: "a", Target: "A", Value: 1}}, "only used by the const transform"},
		{[]FieldSpec{{Source: "a", Target: "A", Layout: "2006"}}, "need the date or datetime transform"},
		{[]FieldSpec{{Source: "a", Target: "A", Transform: "date", Timezone: "Mars/Olympus"}}, `timezone "Mars/Olympus"`},
		{[]FieldSpec{{Source: "a", Target: "Name"}, {Source: "b", Target: "name"}}, `target "name" is also written by mapping.a`},
	}
	for _, tc := range cases {
		_, err := NewFieldMapper(tc.specs, MapperOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.specs, err, tc.want)
		}
	}
}
