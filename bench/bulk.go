package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// bulkConcurrency is the concurrency budget of the Bulk vs Collections
// comparison: Collections calls in flight. A Bulk job uses one call at a
// time (create, upload, close, polls, results); its parallelism is
// Salesforce's (BulkParallelism internal batches).
const bulkConcurrency = 16

// (G) Time to drain N records through Pipeline.Sync with Bulk API 2.0 and
// with Collections (16 calls), on the realistic model: Collections calls
// log-normal (p50 300 ms, p99 2 s) + 2.5 ms a record; Bulk jobs queue 5 s,
// then run 10,000-row internal batches of 2 s + 0.7 ms a row, 4 at a time;
// 5% row locks and 1% 503s on both paths.
//
// Time compression: every duration of the model, and the client's poll and
// retry pauses, is divided by BulkSpeed (S); measured times are multiplied
// by S. Emulation of the largest N: above BulkEmul records, N/m records are
// loaded (m = BulkShrink) with the Bulk internal batch size divided by m,
// the Bulk per-row time and the Collections call latency multiplied by m:
// the number of internal batches, their duration, the queueing and the
// number of Collections rounds are exactly N's, each round of Collections
// calls m times longer; measured times are multiplied by S (not m). What it
// leaves out: per-record CPU at N (a tenth of it), and a Collections call
// carries 200 records, so its 503s and row locks are drawn N/m/200 times.
func (h *harness) measureBulk(ctx context.Context, r *Report, t *trial) error {
	S := h.o.sizes.BulkSpeed
	for _, N := range h.o.sizes.Bulk {
		m := 1
		if N > h.o.sizes.BulkEmul {
			m = h.o.sizes.BulkShrink
		}
		n := N / m
		f := h.bulkFaults(S, m)
		recs := make([]map[string]any, n)
		for i := range recs {
			recs[i] = record(i, 0)
		}
		h.printf("(G) Bulk vs Collections: N = %d (%d records loaded, time ÷%d, emulation ×%d)", N, n, S, m)
		sec := map[pipeline.API]float64{}
		for _, api := range []pipeline.API{pipeline.APICollections, pipeline.APIBulk} {
			d, calls, err := h.syncRun(ctx, recs, api, f, S, m)
			if err != nil {
				return fmt.Errorf("N=%d, %s: %w", N, api, err)
			}
			sec[api] = d.Seconds() * float64(S)
			h.printf("    %s: %.1f s at Salesforce's pace (%.1f s measured), %d API calls", api, sec[api], d.Seconds(), calls)
			t.set(fmt.Sprintf("bulk.%d.%s", N, api), sec[api])
		}
		// auto's rule (pkg/pipeline, Loader.chooseAPIFor): Bulk when a load
		// has more than BulkThreshold records (default 10,000).
		auto := sec[pipeline.APICollections]
		if N > pipeline.DefaultBulkThreshold {
			auto = sec[pipeline.APIBulk]
		}
		t.set(fmt.Sprintf("bulk.%d.auto_ratio", N), auto/math.Min(sec[pipeline.APICollections], sec[pipeline.APIBulk]))
	}
	if sw, ok := switchPoint(t, h.o.sizes.Bulk); ok {
		t.set("bulk.switch", sw)
	}
	return nil
}

// switchPoint estimates where the drain times cross: Collections as a rate
// (its drain time is proportional to N), Bulk as a fixed cost plus a rate
// fitted through its two largest sizes.
func switchPoint(t *trial, sizes []int) (float64, bool) {
	if len(sizes) < 2 {
		return 0, false
	}
	a, b := sizes[len(sizes)-2], sizes[len(sizes)-1]
	ca, ok1 := t.get(fmt.Sprintf("bulk.%d.collections", a))
	cb, ok2 := t.get(fmt.Sprintf("bulk.%d.collections", b))
	ba, ok3 := t.get(fmt.Sprintf("bulk.%d.bulk", a))
	bb, ok4 := t.get(fmt.Sprintf("bulk.%d.bulk", b))
	if !(ok1 && ok2 && ok3 && ok4) {
		return 0, false
	}
	perC := (ca/float64(a) + cb/float64(b)) / 2 // seconds per record, Collections
	perB := (bb - ba) / float64(b-a)            // seconds per record, Bulk
	fixed := ba - perB*float64(a)               // Bulk's fixed cost
	if perC <= perB || fixed <= 0 {
		return 0, false
	}
	return fixed / (perC - perB), true
}

// bulkFaults is the realistic model compressed S times, emulating m times
// more records (see measureBulk).
func (h *harness) bulkFaults(S, m int) sfsim.Faults {
	f := sfsim.RealisticFaults()
	if h.o.short {
		f.LatencyP50, f.LatencyP99, f.LatencyPerRecord = 40*time.Millisecond, 200*time.Millisecond, 100*time.Microsecond
	}
	scale := func(d time.Duration, k float64) time.Duration { return time.Duration(float64(d) * k) }
	c := float64(m) / float64(S)
	f.LatencyP50, f.LatencyP99, f.LatencyPerRecord = scale(f.LatencyP50, c), scale(f.LatencyP99, c), scale(f.LatencyPerRecord, c)
	f.BulkQueueDelay = scale(f.BulkQueueDelay, 1/float64(S))
	f.BulkBatchOverhead = scale(f.BulkBatchOverhead, 1/float64(S))
	f.BulkPerRecord = scale(f.BulkPerRecord, c)
	return f
}

// syncRun loads recs with Pipeline.Sync through api against a fresh
// simulator; the client's poll and retry pauses are compressed S times.
func (h *harness) syncRun(ctx context.Context, recs []map[string]any, api pipeline.API, f sfsim.Faults, S, m int) (time.Duration, int, error) {
	schemaFile, err := h.schemaFile()
	if err != nil {
		return 0, 0, err
	}
	sim, err := devenv.StartSim(devenv.SimOptions{SchemaFile: schemaFile, Faults: f, BulkBatchSize: sfsim.DefaultBulkBatchSize / m})
	if err != nil {
		return 0, 0, err
	}
	defer sim.Close()
	e := &env{h: h, replicas: 1}
	cfg, _, err := e.pipelines(bulkConcurrency)
	if err != nil {
		return 0, 0, err
	}
	client, err := salesforce.New(sim.SalesforceConfig())
	if err != nil {
		return 0, 0, err
	}
	pc, _ := cfg.Pipeline("bench")
	opts := pc.Options(client)
	opts.API = api
	sc := func(d time.Duration) time.Duration { return d / time.Duration(S) }
	opts.BulkPoll = salesforce.PollPolicy{Initial: sc(time.Second), Max: sc(5 * time.Second)}
	opts.Retry.NewBackOff = func() backoff.BackOff {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = sc(100*time.Millisecond), sc(5*time.Second), 0
		b.Reset()
		return b
	}
	p, err := pipeline.New(opts)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	res, err := p.Sync(ctx, recs)
	if err != nil {
		return 0, 0, err
	}
	if res.SuccessCount != len(recs) {
		return 0, 0, fmt.Errorf("%d of %d loaded (%d errors)", res.SuccessCount, len(recs), res.ErrorCount)
	}
	return time.Since(start), res.Metadata.APICalls, nil
}
