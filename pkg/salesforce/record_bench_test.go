package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkCollectionBody encodes a 200-record sObject Collections upsert
// body, the production request, with the hand-written encoder and with
// encoding/json (the records copied to add "attributes", HTML escaping off).
//
//	go test ./pkg/salesforce -run '^$' -bench CollectionBody -benchmem -count 3
func BenchmarkCollectionBody(b *testing.B) {
	recs := make([]Record, 200)
	for i := range recs {
		recs[i] = Record{"External_Key__c": fmt.Sprint("K-", 10000+i), "Name": fmt.Sprint("Company ", i, " Holdings"),
			"Email__c": fmt.Sprint("contact", i, "@example.com"), "AnnualRevenue": float64(13345 + i), "NumberOfEmployees": float64(i), "Industry": "Technology"}
	}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			bp := getBuf()
			if _, err := appendCollectionBody((*bp)[:0], "Account", recs, false); err != nil {
				b.Fatal(err)
			}
			putBuf(bp)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := stdCollectionBody("Account", recs, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// stdCollectionBody is the body on encoding/json, for comparison.
func stdCollectionBody(sobject string, recs []Record, allOrNone bool) ([]byte, error) {
	type body struct {
		AllOrNone bool     `json:"allOrNone"`
		Records   []Record `json:"records"`
	}
	attrs := map[string]string{"type": sobject}
	tagged := make([]Record, len(recs))
	for i, r := range recs {
		t := make(Record, len(r)+1)
		for k, v := range r {
			t[k] = v
		}
		t["attributes"] = attrs
		tagged[i] = t
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body{allOrNone, tagged}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
