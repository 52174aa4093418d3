package salesforce_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// reportPerRecord adds records/s and allocs/record (client and simulator
// together: they share the process) to a benchmark that moved n records.
func reportPerRecord(b *testing.B, n int, before runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/record")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n), "B/record")
}

// BenchmarkUpsert200 is one 200-record sObject Collections upsert, client
// and simulator in one process over loopback HTTP.
//
//	go test ./pkg/salesforce -run '^$' -bench Upsert200 -benchtime 200x
func BenchmarkUpsert200(b *testing.B) {
	c, _ := setup(b, sfsim.Config{})
	ctx := ctxT(b)
	recs := make([]salesforce.Record, 200)
	for i := range recs {
		recs[i] = salesforce.Record{"External_Key__c": fmt.Sprint("K-", i), "Name": fmt.Sprint("Account ", i), "Score__c": float64(i)}
	}
	if _, err := c.Upsert(ctx, "Account", "External_Key__c", recs); err != nil {
		b.Fatal(err) // warm up: token, connections, records exist
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := c.Upsert(ctx, "Account", "External_Key__c", recs)
		if err != nil || !res[199].Success {
			b.Fatal(err, res[199])
		}
	}
	b.StopTimer()
	reportPerRecord(b, b.N*200, before)
}

// BenchmarkBulkIngest10k is one 10,000-record Bulk API 2.0 insert job: CSV
// build, upload, close, polls, three result sets and correlation.
//
//	go test ./pkg/salesforce -run '^$' -bench BulkIngest10k -benchtime 10x
func BenchmarkBulkIngest10k(b *testing.B) {
	c, env := setup(b, sfsim.Config{})
	ctx := ctxT(b)
	recs := make([]salesforce.Record, 10_000)
	for i := range recs {
		recs[i] = salesforce.Record{"Name": fmt.Sprint("Account ", i), "Score__c": float64(i)}
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := c.BulkIngest(ctx, salesforce.BulkRequest{Object: "Account", Operation: salesforce.BulkInsert, Records: recs, Poll: fastPoll})
		if err != nil || !out.Results[9999].Success {
			b.Fatal(err)
		}
		b.StopTimer()
		env.Server.Reset()
		b.StartTimer()
	}
	b.StopTimer()
	reportPerRecord(b, b.N*10_000, before)
}
