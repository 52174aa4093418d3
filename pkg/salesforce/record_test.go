package salesforce

import (
	"bytes"
	"encoding/json"
	"math"
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

func FuzzParseBulkError(f *testing.F) {
	for _, s := range []string{"A:b:--", "A:b:c,d", "", ":", "::", "no colon", "A:b:c:d:e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := ParseBulkError(s)
		if e == nil || e.StatusCode == "" {
			t.Fatalf("ParseBulkError(%q) = %+v: every cell gives a code", s, e)
		}
	})
}

func FuzzParseLimitInfo(f *testing.F) {
	for _, s := range []string{"api-usage=1/2", "api-usage=1/2; per-app-api-usage=3/4(appName=x)", "", "api-usage=/", "api-usage=-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := ParseLimitInfo(s)
		if ok && (l.Used < 0 || l.Limit < 0) {
			t.Fatalf("ParseLimitInfo(%q) = %+v", s, l)
		}
	})
}
