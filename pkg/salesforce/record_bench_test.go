package salesforce

import (
	"fmt"
	"testing"
)

// BenchmarkCollectionBody encodes a 200-record sObject Collections upsert
// body, the production request. The hand-written encoder it replaced is
// compared with it at commit 5de1528 (docs/performance.md, "Hand-written
// codecs").
//
//	go test ./pkg/salesforce -run '^$' -bench CollectionBody -benchmem -count 3
func BenchmarkCollectionBody(b *testing.B) {
	recs := make([]Record, 200)
	for i := range recs {
		recs[i] = Record{"External_Key__c": fmt.Sprint("K-", 10000+i), "Name": fmt.Sprint("Company ", i, " Holdings"),
			"Email__c": fmt.Sprint("contact", i, "@example.com"), "AnnualRevenue": float64(13345 + i), "NumberOfEmployees": float64(i), "Industry": "Technology"}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := marshalCollectionBody("Account", recs, false); err != nil {
			b.Fatal(err)
		}
	}
}
