package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestMarshalCollectionBody(t *testing.T) {
	t.Parallel()
	recs := []Record{
		{"Name": "A \"quoted\"", "AnnualRevenue": 1.5e6, "NumberOfEmployees": 42, "Big": 1e21, "Active__c": true, "Description": nil,
			"Parent": map[string]any{"External_Key__c": "P-1", "attributes": map[string]any{"type": "Parent"}}, "attributes": map[string]any{"type": "ignored"}},
	}
	b, err := marshalCollectionBody("Account", recs, true)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	r := got.Records[0]
	if !got.AllOrNone || r["attributes"].(map[string]any)["type"] != "Account" || r["Name"] != `A "quoted"` ||
		r["AnnualRevenue"] != 1.5e6 || r["NumberOfEmployees"] != 42.0 || r["Big"] != 1e21 || r["Active__c"] != true ||
		r["Description"] != nil || r["Parent"].(map[string]any)["External_Key__c"] != "P-1" {
		t.Errorf("decoded body = %v", got)
	}
	if bytes.Count(b, []byte(`"attributes"`)) != 1 {
		t.Errorf("the record's own attributes entry and its relationship's must be dropped: %s", b)
	}
	if _, err := marshalCollectionBody("Account", []Record{{"X": math.NaN()}}, false); err == nil {
		t.Error("NaN must be refused: JSON has no NaN")
	}
}

// FuzzParseBulkError: a cell written the way Salesforce writes it
// ("CODE:message:field1,field2", "--" for no fields) parses back to what
// was written, and any cell parses without losing text.
//
//	go test ./pkg/salesforce -run '^$' -fuzz FuzzParseBulkError -fuzztime 60s
func FuzzParseBulkError(f *testing.F) {
	for _, s := range []string{"A:b:--", "A:b:c,d", "", ":", "::", "no colon", "A:b:c:d:e"} {
		f.Add(s, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", "Name,Phone")
	}
	f.Fuzz(func(t *testing.T, s, code, msg, fields string) {
		e := ParseBulkError(s)
		switch {
		case e == nil || e.StatusCode == "":
			t.Fatalf("ParseBulkError(%q) = %+v: every cell gives a code", s, e)
		case e.StatusCode == "UNKNOWN_EXCEPTION" && e.Message == s:
		case len(e.Fields) > 0:
			if got := e.StatusCode + ":" + e.Message + ":" + strings.Join(e.Fields, ","); got != s {
				t.Fatalf("ParseBulkError(%q) = %+v, which reads %q", s, e, got)
			}
		default:
			if got := e.StatusCode + ":" + e.Message; got != s && got+":--" != s && got+":" != s {
				t.Fatalf("ParseBulkError(%q) = %+v, which reads %q", s, e, got)
			}
		}

		// The round trip, for what Salesforce can write: a code without
		// colons or blanks, fields without commas or colons.
		if code == "" || strings.ContainsAny(code, ": \t") || strings.Contains(fields, ":") {
			return
		}
		var want []string
		cell := code + ":" + msg + ":--"
		if fields != "" && fields != "--" {
			want = strings.Split(fields, ",")
			if slices.Contains(want, "") {
				return
			}
			cell = code + ":" + msg + ":" + fields
		}
		got := ParseBulkError(cell)
		if got.StatusCode != code || got.Message != msg || !slices.Equal(got.Fields, want) {
			t.Fatalf("ParseBulkError(%q) = %+v, want %s / %q / %q", cell, got, code, msg, want)
		}
	})
}

// FuzzParseLimitInfo: the api-usage entry is found among any others and its
// numbers read back; whatever is accepted reads the same alone.
//
//	go test ./pkg/salesforce -run '^$' -fuzz FuzzParseLimitInfo -fuzztime 60s
func FuzzParseLimitInfo(f *testing.F) {
	for _, s := range []string{"api-usage=1/2", "api-usage=1/2; per-app-api-usage=3/4(appName=x)", "", "api-usage=/", "api-usage=-1/2"} {
		f.Add(s, uint32(25), uint32(15000), true)
	}
	f.Fuzz(func(t *testing.T, s string, used, limit uint32, semicolon bool) {
		l, ok := ParseLimitInfo(s)
		if ok {
			if l.Used < 0 || l.Limit < 0 {
				t.Fatalf("ParseLimitInfo(%q) = %+v", s, l)
			}
			alone, ok2 := ParseLimitInfo(fmt.Sprintf("api-usage=%d/%d", l.Used, l.Limit))
			if !ok2 || alone != l || !strings.Contains(s, "api-usage") {
				t.Fatalf("ParseLimitInfo(%q) = %+v, alone %+v", s, l, alone)
			}
		}

		// The entry after other entries (none of them api-usage).
		if strings.Contains(s, "api-usage") {
			return
		}
		sep := ","
		if semicolon {
			sep = "; "
		}
		h := s + sep + fmt.Sprintf("api-usage=%d/%d", used, limit)
		got, ok := ParseLimitInfo(h)
		if !ok || got.Used != int(used) || got.Limit != int(limit) {
			t.Fatalf("ParseLimitInfo(%q) = %+v, %v; want %d/%d", h, got, ok, used, limit)
		}
	})
}
