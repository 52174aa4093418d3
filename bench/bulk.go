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
// with Collections (16 calls), on the realistic model: every API call
// log-normal (p50 300 ms, p99 2 s) + 2.5 ms a record (a Bulk upload: per
// 1,000 rows); Bulk jobs queue 5 s, then run 10,000-row internal batches
// of 2 s + 0.7 ms a row, 4 at a time; 5% row locks and 1% 503s on both
// paths (a Bulk job's failed rows go again in a new job). The client polls
// a job from 1 s, backing off to 5 s.
//
// Time compression: every duration of the model, and the client's poll and
// retry pauses, is divided by S = BulkSpeed; measured times are multiplied
// by S. Above BulkEmul records, N is emulated with N/m records (m =
// BulkShrink) and a compression of S·m: the Bulk internal batch size is
// divided by m, so the job has N's number of batches, each lasting (after
// compression) the same share of the run as at N; a Collections call
// carries its 200 records m times slower, so the Collections rounds are
// N's too. What the emulation leaves out: per-record CPU at N (a tenth of
// it is done), and Collections' 503s and row locks are drawn on a tenth of
// the calls and records (the same rates).
func (h *harness) measureBulk(ctx context.Context, r *Report, t *trial) error {
	S := h.o.sizes.BulkSpeed
	for _, N := range h.o.sizes.Bulk {
		m := 1
		if N > h.o.sizes.BulkEmul {
			m = h.o.sizes.BulkShrink
		}
		n := N / m
		recs := make([]map[string]any, n)
		for i := range recs {
			recs[i] = record(i, 0)
		}
		h.printf("(G) Bulk vs Collections: N = %d (%d records loaded, time ÷%d)", N, n, S*m)
		sec := map[pipeline.API]float64{}
		for _, api := range []pipeline.API{pipeline.APICollections, pipeline.APIBulk} {
			d, calls, err := h.syncRun(ctx, recs, api, h.bulkFaults(S, m, api), S*m, m)
			if err != nil {
				return fmt.Errorf("%d records, %s: %w", N, api, err)
			}
			sec[api] = d.Seconds() * float64(S*m)
			h.printf("    %s: %.1f s at Salesforce's pace (%.1f s measured), %d API calls", api, sec[api], d.Seconds(), calls)
			t.set(fmt.Sprintf("bulk.%d.%s", N, api), sec[api])
		}
		// auto's rule (pkg/pipeline, Loader.chooseAPIFor): Bulk when a load
		// has more than BulkThreshold records (default 10,000).
		auto := sec[pipeline.APICollections]
		if N > pipeline.DefaultBulkThreshold {
			auto = sec[pipeline.APIBulk]
		}
		t.set(fmt.Sprintf("bulk.%d.default_ratio", N), auto/math.Min(sec[pipeline.APICollections], sec[pipeline.APIBulk]))
	}
	if sw, ok := switchPoint(t, h.o.sizes.Bulk); ok {
		t.set("bulk.switch", sw)
	}
	return nil
}

// autoThreshold chooses auto's switch point from the measurement: the
// median over the trials of the point where the drain times cross (none
// within reach: Collections at every size). Then each trial's auto ratio is
// that of the choice this threshold makes. The product's default
// (pipeline.DefaultBulkThreshold) is left alone; its ratios are reported
// beside.
func (h *harness) autoThreshold(r *Report, trials []*trial) {
	var sws []float64
	bulkRun := false
	for _, t := range trials {
		if sw, ok := t.get("bulk.switch"); ok {
			sws = append(sws, sw)
		}
		if _, ok := t.get(fmt.Sprintf("bulk.%d.bulk", h.o.sizes.Bulk[0])); ok {
			bulkRun = true
		}
	}
	if !bulkRun {
		return
	}
	threshold := math.Inf(1)
	if len(sws) > 0 {
		threshold = summarize(sws).Median
	}
	// Round to two significant digits, as a configuration value would be.
	if !math.IsInf(threshold, 0) {
		p := math.Pow(10, math.Floor(math.Log10(threshold))-1)
		threshold = math.Round(threshold/p) * p
		r.note("Bulk vs Collections: auto's switch point chosen from the measurement: bulk_threshold = %.0f (median of the trials' crossing points, rounded); the product's default stays %d.", threshold, pipeline.DefaultBulkThreshold)
	} else {
		r.note("Bulk vs Collections: the drain times do not cross within the sizes measured: auto's switch point is above %d (Collections everywhere measured); the product's default stays %d.", h.o.sizes.Bulk[len(h.o.sizes.Bulk)-1], pipeline.DefaultBulkThreshold)
	}
	for _, t := range trials {
		for _, N := range h.o.sizes.Bulk {
			c, ok1 := t.get(fmt.Sprintf("bulk.%d.collections", N))
			b, ok2 := t.get(fmt.Sprintf("bulk.%d.bulk", N))
			if !ok1 || !ok2 {
				continue
			}
			auto := c
			if float64(N) > threshold {
				auto = b
			}
			t.set(fmt.Sprintf("bulk.%d.auto_ratio", N), auto/math.Min(c, b))
		}
		if !math.IsInf(threshold, 0) {
			t.set("bulk.threshold", threshold)
		}
	}
}

func firstErrOf(res *pipeline.SyncResult) any {
	if len(res.Errors) > 0 {
		return res.Errors[0]
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

// bulkFaults is the realistic model for one path, compressed S·m times,
// emulating m times more records (see measureBulk).
func (h *harness) bulkFaults(S, m int, api pipeline.API) sfsim.Faults {
	f := sfsim.RealisticFaults()
	if h.o.short {
		f.LatencyP50, f.LatencyP99, f.LatencyPerRecord = 40*time.Millisecond, 200*time.Millisecond, 100*time.Microsecond
	}
	scale := func(d time.Duration, k float64) time.Duration { return time.Duration(float64(d) * k) }
	all := 1 / float64(S*m)
	call := all // a Bulk API call: compressed like everything else
	if api == pipeline.APICollections {
		call = 1 / float64(S) // a Collections call carries its 200 records m times slower
	}
	f.LatencyP50, f.LatencyP99, f.LatencyPerRecord = scale(f.LatencyP50, call), scale(f.LatencyP99, call), scale(f.LatencyPerRecord, call)
	f.BulkQueueDelay = scale(f.BulkQueueDelay, all)
	f.BulkBatchOverhead = scale(f.BulkBatchOverhead, all)
	f.BulkPerRecord = scale(f.BulkPerRecord, 1/float64(S)) // batches of B/m rows, each as long as B rows at N, ÷ S·m
	return f
}

// syncRun loads recs with Pipeline.Sync through api against a fresh
// simulator with internal Bulk batches of 10,000/m rows; the client's poll
// and retry pauses are compressed S times.
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
	elapsed := time.Since(start)
	// A record may fail for good (a row locked on all its attempts): it is
	// counted, not lost. Lost — no outcome — fails the run.
	if res.SuccessCount+res.ErrorCount != len(recs) {
		return 0, 0, fmt.Errorf("%d loaded + %d failed of %d", res.SuccessCount, res.ErrorCount, len(recs))
	}
	if res.ErrorCount > 0 {
		h.printf("    %s: %d of %d records failed after their attempts (%v)", api, res.ErrorCount, len(recs), firstErrOf(res))
	}
	return elapsed, res.Metadata.APICalls, nil
}
