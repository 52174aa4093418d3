package pipeline_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// checkSchema is an object with a field of every checked type.
const checkSchema = `
objects:
  - name: Check__c
    fields:
      - {name: Ext__c, type: string, length: 20, external_id: true, unique: true}
      - {name: Num__c, type: double}
      - {name: Cur__c, type: currency}
      - {name: Int__c, type: int}
      - {name: Flag__c, type: boolean}
      - {name: Day__c, type: date}
      - {name: When__c, type: datetime}
      - {name: Text__c, type: string, length: 10}
      - {name: Mail__c, type: email, length: 80}
      - {name: Tier__c, type: picklist, values: [Gold, Silver], inactive_values: [Bronze], restricted: true}
      - {name: Parent__c, type: reference, reference_to: Check__c, relationship_name: Parent__r}
`

func checkSetup(t testing.TB) *bundle {
	t.Helper()
	s, err := sfsim.ParseSchema([]byte(checkSchema))
	if err != nil {
		t.Fatal(err)
	}
	return setup(t, sfsim.Config{Schema: s})
}

func checkMapper(t testing.TB) *pipeline.FieldMapper {
	t.Helper()
	var specs []pipeline.FieldSpec
	for _, f := range []string{"Ext__c", "Num__c", "Cur__c", "Int__c", "Flag__c", "Day__c", "When__c", "Text__c", "Mail__c", "Tier__c"} {
		specs = append(specs, pipeline.FieldSpec{Source: strings.ToLower(strings.TrimSuffix(f, "__c")), Target: f})
	}
	specs = append(specs, pipeline.FieldSpec{Source: "parent", Target: "Parent__r.Ext__c"})
	m, err := pipeline.NewFieldMapper(specs, pipeline.MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Each value Salesforce would refuse fails its record alone, before
// sending: the 194 good records of a 200-record batch go out in one call,
// and Salesforce never sees the 6 bad ones.
func TestValueCheckFailsBadRecordsAloneBeforeSending(t *testing.T) {
	t.Parallel()
	b := checkSetup(t)
	p := b.pipe(t, pipeline.Options{SObject: "Check__c", Mapper: checkMapper(t), API: pipeline.APICollections})
	recs := make([]map[string]any, 200)
	for i := range recs {
		recs[i] = map[string]any{
			"ext": fmt.Sprintf("K-%d", i), "num": "1e3", "cur": 12.5, "int": "42", "flag": "TRUE", "day": " 2024-07-30 ",
			"when": "2024-07-30T20:54:16.000+02:00", "text": "ten chars!", "mail": "a@b.example", "tier": "Gold",
		}
	}
	bad := map[int]struct {
		key   string
		value any
		code  string
		field string
	}{
		3:   {"num", "not disclosed", pipeline.CodeJSONParserError, "Num__c"},
		40:  {"day", "2024-07-30 20:54:16 UTC", pipeline.CodeJSONParserError, "Day__c"},
		41:  {"when", map[string]any{"at": "noon"}, pipeline.CodeJSONParserError, "When__c"},
		77:  {"text", "eleven chars", pipeline.CodeStringTooLong, "Text__c"},
		120: {"tier", "Bronze", pipeline.CodeRestrictedPicklist, "Tier__c"},
		199: {"mail", "nobody", pipeline.CodeInvalidEmailAddress, "Mail__c"},
	}
	for i, c := range bad {
		recs[i][c.key] = c.value
	}
	res, err := p.Sync(ctxT(t), recs)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 194 || res.ErrorCount != 6 || res.Metadata.APICalls != 1 {
		t.Fatalf("%v, %d API calls; errors %v", res, res.Metadata.APICalls, res.Errors)
	}
	for _, e := range res.Errors {
		c, ok := bad[e.Index]
		if !ok || e.Code != c.code || len(e.Fields) != 1 || e.Fields[0] != c.field || !e.PreCheck || e.Attempts != 0 ||
			!strings.HasSuffix(e.Message, pipeline.PreCheckNote) || e.Record == nil {
			t.Errorf("record %d: %+v, want %s on %s found before sending", e.Index, e, c.code, c.field)
		}
	}
	if n := b.live(t, "Check__c"); n != 194 {
		t.Errorf("records in the org = %d, want 194", n)
	}

	// With the check off, Salesforce finds the same records itself.
	b2 := checkSetup(t)
	p2 := b2.pipe(t, pipeline.Options{SObject: "Check__c", Mapper: checkMapper(t), API: pipeline.APICollections, SkipValueCheck: true})
	res, err = p2.Sync(ctxT(t), recs)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 194 || res.ErrorCount != 6 {
		t.Fatalf("check off: %v", res)
	}
	for _, e := range res.Errors {
		if _, ok := bad[e.Index]; !ok || e.PreCheck || e.Attempts == 0 {
			t.Errorf("check off, record %d: %+v", e.Index, e)
		}
	}
}

// The worker's path: Prepare gives the same error, with the record's index
// and its original (unmapped) record.
func TestPrepareChecksValues(t *testing.T) {
	t.Parallel()
	b := checkSetup(t)
	p := b.pipe(t, pipeline.Options{SObject: "Check__c", Mapper: checkMapper(t), Mode: pipeline.Upsert, ExternalIDField: "Ext__c"})
	src := map[string]any{"ext": "K-1", "int": "forty-two"}
	_, rerr := p.Prepare(7, src)
	if rerr == nil || rerr.Index != 7 || rerr.Record["int"] != "forty-two" || rerr.Code != pipeline.CodeJSONParserError || !rerr.PreCheck {
		t.Fatalf("Prepare = %+v", rerr)
	}
	want := "Cannot deserialize instance of int from VALUE_STRING value forty-two or request may be missing a required field (field Int__c)" + pipeline.PreCheckNote
	if rerr.Message != want {
		t.Errorf("message = %q\nwant      %q", rerr.Message, want)
	}
	// The relationship's key value is parsed against the referenced field.
	_, rerr = p.Prepare(8, map[string]any{"ext": "K-2", "parent": map[string]any{"nested": true}})
	if rerr == nil || rerr.Code != pipeline.CodeJSONParserError || rerr.Fields[0] != "Parent__r.Ext__c" {
		t.Errorf("relationship value: %+v", rerr)
	}
	// Values the rules leave to Salesforce pass.
	for _, src := range []map[string]any{
		{"ext": "K-3", "tier": "gold"},                       // picklist values compared ignoring case
		{"ext": "K-4", "int": 12.5, "flag": 1.0, "day": 3.0}, // numbers are left to Salesforce
		{"ext": "K-5", "day": "2024-07-30T00:00:00Z"},        // a datetime for a date: not documented either way
		{"ext": "K-6", "mail": "john.doe@(comment)example.com", "text": strings.Repeat("é", 10)},
		{"ext": "K-7", "num": " -1.5E3 ", "cur": "0x1p3", "text": " padded   "},
	} {
		if _, rerr := p.Prepare(0, src); rerr != nil {
			t.Errorf("%v: %+v", src, rerr)
		}
	}
	// Delete sends only Id: no value check.
	d := b.pipe(t, pipeline.Options{SObject: "Check__c", Mode: pipeline.Delete})
	if _, rerr := d.Prepare(0, map[string]any{"Id": "a0A000000000001", "Num__c": "x"}); rerr != nil {
		t.Errorf("delete: %+v", rerr)
	}
}

// Rules and messages, checked against a real Account describe. The records
// are sent unmapped, so fields Account lacks are reported too.
func TestValueCheckAgainstRealDescribe(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	acc := realAccount(t)
	p := b.pipe(t, pipeline.Options{SObject: "Account", Schema: &pipeline.Schema{Object: acc}})
	if p.Schema().Object != acc || b.client.DescribeCalls() != 0 {
		t.Fatal("the given describe was not used as it is")
	}
	note := pipeline.PreCheckNote
	cases := []struct {
		rec    map[string]any
		code   string
		fields []string
		msg    string
	}{
		{map[string]any{"AnnualRevenue": "1,000"}, pipeline.CodeJSONParserError, []string{"AnnualRevenue"},
			"Cannot deserialize instance of currency from VALUE_STRING value 1,000 or request may be missing a required field (field AnnualRevenue)"},
		{map[string]any{"IsPartner": "yes"}, pipeline.CodeJSONParserError, []string{"IsPartner"}, ""},
		{map[string]any{"LastActivityDate": "30/07/2024"}, pipeline.CodeJSONParserError, []string{"LastActivityDate"}, ""},
		{map[string]any{"CreatedDate": "2017-10-17 00:00:00"}, pipeline.CodeJSONParserError, []string{"CreatedDate"}, ""},
		{map[string]any{"Name": []any{"a"}}, pipeline.CodeJSONParserError, []string{"Name"},
			"Cannot deserialize instance of string from START_ARRAY or request may be missing a required field (field Name)"},
		{map[string]any{"Name": strings.Repeat("x", 256)}, pipeline.CodeStringTooLong, []string{"Name"},
			"Account Name: data value too large: " + strings.Repeat("x", 100) + "... (max length=255)"},
		{map[string]any{"DunsNumber": "1234567890"}, pipeline.CodeStringTooLong, []string{"DunsNumber"},
			"D-U-N-S Number: data value too large: 1234567890 (max length=9)"},
		{map[string]any{"CleanStatus": "In Sync"}, pipeline.CodeRestrictedPicklist, []string{"CleanStatus"},
			"Clean Status: bad value for restricted picklist field: In Sync"}, // a label is not a value
		{map[string]any{"Nope__c": 1}, pipeline.CodeInvalidField, []string{"Nope__c"},
			"No such column 'Nope__c' on sobject of type Account"},
		{map[string]any{"Parent": map[string]any{"AnnualRevenue": "n/a"}}, pipeline.CodeJSONParserError, []string{"Parent.AnnualRevenue"}, ""},
		// Several problems: the one that would fail the whole request first,
		// then by field name.
		{map[string]any{"Name": strings.Repeat("x", 300), "Nope__c": 1, "NumberOfEmployees": "many", "AnnualRevenue": "lots"},
			pipeline.CodeJSONParserError, []string{"AnnualRevenue"}, ""},
		{map[string]any{"Name": strings.Repeat("x", 300), "Nope__c": 1}, pipeline.CodeInvalidField, []string{"Nope__c"}, ""},
		// Values that pass.
		{map[string]any{"name": "Acme", "CLEANSTATUS": "matched", "Type": "Anything", "Rating": nil}, "", nil, ""},
		{map[string]any{"Name": strings.Repeat("é", 255), "Description": strings.Repeat("line\r\n", 6400)}, "", nil, ""},
		{map[string]any{"NumberOfEmployees": "12", "AnnualRevenue": 1e9, "BillingLatitude": "45.07", "IsPartner": false}, "", nil, ""},
		{map[string]any{"CreatedDate": "2024-07-30T20:54:16.000+0000", "LastActivityDate": "2024-07-30"}, "", nil, ""},
		{map[string]any{"attributes": map[string]any{"type": "Account"}, "Parent": map[string]any{"Id": "001000000000001AAA"}}, "", nil, ""},
		{map[string]any{"OwnerId": map[string]any{"not": "checked"}, "BillingAddress": "not checked"}, "", nil, ""},
	}
	for i, c := range cases {
		_, rerr := p.Prepare(i, c.rec)
		if c.code == "" {
			if rerr != nil {
				t.Errorf("case %d: %+v, want no error", i, rerr)
			}
			continue
		}
		if rerr == nil || rerr.Code != c.code || fmt.Sprint(rerr.Fields) != fmt.Sprint(c.fields) || !rerr.PreCheck || rerr.Index != i {
			t.Errorf("case %d: %+v, want %s on %v", i, rerr, c.code, c.fields)
			continue
		}
		if c.msg != "" && rerr.Message != c.msg+note {
			t.Errorf("case %d: message %q\nwant %q", i, rerr.Message, c.msg+note)
		}
		if !strings.Contains(rerr.Error(), "found by Kinetic before sending") {
			t.Errorf("case %d: Error() = %q does not say it was found before sending", i, rerr.Error())
		}
	}
}

// REQUIRED_FIELD_MISSING is checked only when asked, and only for inserts.
func TestRequiredFieldsCheckedOnInsertWhenAsked(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	m, err := pipeline.NewFieldMapper([]pipeline.FieldSpec{{Source: "city", Target: "BillingCity"}, {Source: "name", Target: "Name"}}, pipeline.MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: m, CheckRequired: true})
	_, rerr := p.Prepare(0, map[string]any{"city": "Turin"})
	if rerr == nil || rerr.Code != pipeline.CodeRequiredFieldMissing || fmt.Sprint(rerr.Fields) != "[Name]" ||
		rerr.Message != "Required fields are missing: [Name]"+pipeline.PreCheckNote {
		t.Fatalf("missing Name: %+v", rerr)
	}
	for _, blank := range []map[string]any{{"name": nil}, {"name": ""}} {
		if _, rerr := p.Prepare(0, blank); rerr == nil || rerr.Code != pipeline.CodeRequiredFieldMissing {
			t.Errorf("%v: %+v", blank, rerr)
		}
	}
	if _, rerr := p.Prepare(0, map[string]any{"name": "Acme"}); rerr != nil {
		t.Errorf("with Name: %+v", rerr)
	}
	// Not asked: Salesforce answers for itself.
	off := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: m})
	if _, rerr := off.Prepare(0, map[string]any{"city": "Turin"}); rerr != nil {
		t.Errorf("check_required off: %+v", rerr)
	}
	res, _ := off.Sync(ctxT(t), []map[string]any{{"city": "Turin"}})
	if res.ErrorCount != 1 || res.Errors[0].Code != "REQUIRED_FIELD_MISSING" || res.Errors[0].PreCheck {
		t.Errorf("Salesforce's own answer: %+v", res.Errors)
	}
	// Upsert and update may update an existing record: never checked.
	for _, mode := range []pipeline.SyncMode{pipeline.Upsert, pipeline.Update} {
		o := pipeline.Options{SObject: "Contact", Mode: mode, CheckRequired: true}
		if mode == pipeline.Upsert {
			o.SObject, o.ExternalIDField = "Account", "External_Key__c"
		}
		q := b.pipe(t, o)
		rec := map[string]any{"Id": "003000000000001"}
		if mode == pipeline.Upsert {
			rec = map[string]any{"External_Key__c": "K"}
		}
		if _, rerr := q.Prepare(0, rec); rerr != nil {
			t.Errorf("%s: %+v", mode, rerr)
		}
	}
	// A checkbox (not nillable, but always defaulted) is never required.
	c := b.pipe(t, pipeline.Options{SObject: "Contact", CheckRequired: true})
	if _, rerr := c.Prepare(0, map[string]any{"LastName": "Doe"}); rerr != nil {
		t.Errorf("Contact with LastName: %+v", rerr)
	}
	// Every missing field is listed; a required field with a default
	// (Lead.Status, defaultedOnCreate) is not.
	l := b.pipe(t, pipeline.Options{SObject: "Lead", CheckRequired: true})
	_, rerr = l.Prepare(0, map[string]any{"FirstName": "Ada"})
	if rerr == nil || fmt.Sprint(rerr.Fields) != "[Company LastName]" || !strings.HasPrefix(rerr.Message, "Required fields are missing: [Company, LastName]") {
		t.Errorf("Lead: %+v", rerr)
	}
}

func TestCheckValuesConfigKeys(t *testing.T) {
	t.Parallel()
	b := checkSetup(t)
	pc := parsePipeline(t, `
pipelines:
  - name: loose
    sobject: Check__c
    check_values: false
    mapping: {num: Num__c}
  `)
	if !pc.SkipValueCheck || pc.CheckRequired || !pc.Options(b.client).SkipValueCheck {
		t.Fatalf("check_values: false gave %+v", pc)
	}
	p, err := pipeline.FromConfig(pc, b.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, rerr := p.Prepare(0, map[string]any{"num": "not a number"}); rerr != nil {
		t.Errorf("check_values: false still checks: %+v", rerr)
	}
	pc = parsePipeline(t, `
pipelines:
  - name: strict
    sobject: Account
    check_values: true
    check_required: true
`)
	if pc.SkipValueCheck || !pc.CheckRequired || !pc.Options(b.client).CheckRequired {
		t.Errorf("check_required: true gave %+v", pc)
	}
	for _, bad := range []string{"check_values: maybe", "check_required: 1"} {
		_, err := pipeline.ParseConfig("x.yaml", []byte("pipelines:\n  - name: a\n    sobject: Account\n    "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), strings.Split(bad, ":")[0]) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// A record error found before sending is a plain *RecordError: callers
// classify it by its code and PreCheck, not its text.
func TestPreCheckErrorsAreRecordErrors(t *testing.T) {
	t.Parallel()
	b := checkSetup(t)
	p := b.pipe(t, pipeline.Options{SObject: "Check__c", Mapper: checkMapper(t), StopOnError: true})
	res, err := p.Sync(ctxT(t), []map[string]any{{"ext": "A", "text": "far too long a text"}, {"ext": "B"}})
	var rerr *pipeline.RecordError
	if !errors.Is(err, pipeline.ErrStopped) || !errors.As(err, &rerr) || rerr.Code != pipeline.CodeStringTooLong || !rerr.PreCheck {
		t.Fatalf("stop on a pre-check error: %v", err)
	}
	if res.ErrorCount != 1 || res.SkippedCount != 1 || res.Metadata.APICalls != 0 {
		t.Errorf("%v, %d calls", res, res.Metadata.APICalls)
	}
}
