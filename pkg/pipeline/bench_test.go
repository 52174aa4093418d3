package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// seedStyleSync is the original SyncPipeline's loading loop, for comparison
// only: one sequential single-record REST call per record, no batching.
func seedStyleSync(ctx context.Context, c *salesforce.Client, sobject string, records []map[string]any) (ok int) {
	for _, r := range records {
		if res, err := c.CreateRecord(ctx, sobject, r); err == nil && res.Success {
			ok++
		}
	}
	return ok
}

// BenchmarkLatencyBound measures Sync against a simulator that adds 200 ms
// to every call, with 8 calls in flight, next to the seed-style loop on the
// same simulator, in the same run:
//
//	go test ./pkg/pipeline -run '^$' -bench LatencyBound -benchtime 1x
//
// sync_rec/s is Sync's throughput; bound_ratio divides it by the bound
// concurrency × 200 / latency = 8000 records/s. seed_rec/s is the
// baseline's throughput, measured on 40 records (at 5 records/s it would
// need over half an hour for 10,000); speedup divides the two.
//
// 10,000 records are 50 calls, which 8 slots serve in 7 rounds of 200 ms:
// 1.4 s at best, so bound_ratio cannot exceed 0.893 there; with 50,000
// records (32 rounds for 31.25 rounds' work) the ceiling is 0.977.
func BenchmarkLatencyBound(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) { benchLatencyBound(b, n) })
	}
}

func benchLatencyBound(b *testing.B, n int) {
	const (
		latency     = 200 * time.Millisecond
		concurrency = 8
		seedN       = 40
	)
	env := setup(b, sfsim.Config{Faults: sfsim.Faults{Latency: latency}})
	p := env.pipe(b, pipeline.Options{SObject: "Account", Mapper: accountMapper(b), Mode: pipeline.Insert,
		Concurrency: concurrency, API: pipeline.APICollections})
	ctx := context.Background()
	recs := sourceAccounts(n, "L")
	seedRecs := make([]map[string]any, seedN)
	for i := range seedRecs {
		seedRecs[i] = map[string]any{"Name": recs[i]["company"]}
	}
	if _, err := env.client.InstanceURL(ctx); err != nil {
		b.Fatal(err)
	}
	var syncRate, seedRate float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		env.env.Server.Reset()
		start := time.Now()
		res, err := p.Sync(ctx, recs)
		if err != nil || res.SuccessCount != n {
			b.Fatal(res, err)
		}
		syncRate = float64(n) / time.Since(start).Seconds()

		start = time.Now()
		if ok := seedStyleSync(ctx, env.client, "Account", seedRecs); ok != seedN {
			b.Fatalf("baseline loaded %d of %d", ok, seedN)
		}
		seedRate = seedN / time.Since(start).Seconds()
	}
	b.StopTimer()
	bound := float64(concurrency*200) / latency.Seconds()
	b.ReportMetric(syncRate, "sync_rec/s")
	b.ReportMetric(syncRate/bound, "bound_ratio")
	b.ReportMetric(seedRate, "seed_rec/s")
	b.ReportMetric(syncRate/seedRate, "speedup")
}
