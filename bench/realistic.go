package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// realisticFaults is the simulator's realistic preset for Collections
// calls (the Bulk timing is bulk.go's); the short run shrinks the latency.
func (h *harness) realisticFaults() sfsim.Faults {
	f := sfsim.RealisticFaults()
	f.BulkQueueDelay, f.BulkBatchOverhead, f.BulkPerRecord, f.BulkParallelism = 0, 0, 0, 0
	if h.o.short {
		f.LatencyP50, f.LatencyP99, f.LatencyPerRecord = 10*time.Millisecond, 50*time.Millisecond, 0
	}
	return f
}

// meanCall is the mean latency of a call of `records` records under f: the
// log-normal's mean exp(μ + σ²/2) plus the fixed and per-record parts.
func meanCall(f sfsim.Faults, records int) time.Duration {
	d := f.Latency + time.Duration(records)*f.LatencyPerRecord
	if f.LatencyP50 > 0 {
		mu := math.Log(float64(f.LatencyP50))
		sigma := (math.Log(float64(f.LatencyP99)) - mu) / 2.3263478740408408
		d += time.Duration(math.Exp(mu + sigma*sigma/2))
	}
	return d
}

// (D) A realistic Salesforce: log-normal call latency with a per-record
// time, 5% row locks, 1% 503s and the long-running request limit of 25;
// 2 in-process workers × 8 calls, records published keyed as the producer
// CLI does. Bound: 16 × 200 records per mean call.
func (h *harness) measureRealistic(ctx context.Context, r *Report, t *trial) error {
	n := h.o.sizes.Realistic
	f := h.realisticFaults()
	mean := meanCall(f, 200)
	h.printf("(D) realistic Salesforce: %d records, 2 workers × 8 calls, mean 200-record call %v", n, mean.Round(time.Millisecond))
	e, err := h.newEnv(f)
	if err != nil {
		return err
	}
	defer e.close()
	l := e.sim.Limits()
	l.LongRunningLimit = sfsim.LongRunningLimitProduction
	if err := e.sim.SetLimits(l); err != nil {
		return err
	}
	stop, err := e.startWorkers(2, 8)
	if err != nil {
		return err
	}
	defer stop()
	data, keys, err := keyedPayloads(e, n, 0)
	if err != nil {
		return err
	}
	job := "realistic"
	elapsed, res, err := e.runJob(ctx, job, n, func(ctx context.Context) error { return e.publishKeyed(ctx, job, data, keys) })
	if res != nil {
		// Every record has an outcome (Watch waits for all n): loaded or
		// dead-lettered; lost is what neither accounts for.
		t.set("real.lost", float64(n-res.SuccessCount-res.ErrorCount))
		t.set("real.failed", float64(res.ErrorCount))
	}
	if err != nil {
		return err
	}
	st := e.sim.Stats()
	rate := float64(n) / elapsed.Seconds()
	bound := float64(16*200) / mean.Seconds()
	t.set("real.rate", rate)
	t.set("real.bound", bound)
	t.set("real.ratio_bound", rate/bound)
	t.set("real.calls_per_record", float64(collectionsCalls(st))/float64(res.SuccessCount))
	h.printf("    %.0f records/s, bound %.0f (%.2f×), %d calls for %d records", rate, bound, rate/bound, collectionsCalls(st), res.SuccessCount)
	return nil
}

// keyedPayloads encodes n changes and their keys. repeat is the share of
// changes that repeat one of the 200 most recent keys (a later change of a
// record still in the queue); the rest are new keys.
func keyedPayloads(e *env, n int, repeat float64) (*payloadSet, []string, error) {
	cfg, _, err := e.pipelines(1)
	if err != nil {
		return nil, nil, err
	}
	pc, _ := cfg.Pipeline("bench")
	rng := rand.New(rand.NewPCG(42, 7))
	p := &payloadSet{ends: make([]int, 0, n)}
	keys := make([]string, 0, n)
	next := 0
	for i := range n {
		k := next
		if repeat > 0 && next > 0 && rng.Float64() < repeat {
			k = next - 1 - rng.IntN(min(next, 200))
		} else {
			next++
		}
		rec := record(k, 0)
		rec["revenue"] = fmt.Sprint(1000 + i) // each change changes something
		key, kerr := pc.Key(rec)
		if kerr != nil {
			return nil, nil, kerr
		}
		b, err := messages.EncodeRecord(rec)
		if err != nil {
			return nil, nil, err
		}
		p.buf = append(p.buf, b...)
		p.ends = append(p.ends, len(p.buf))
		keys = append(keys, key)
	}
	return p, keys, nil
}

// (E) Issue 10 §6: keyed records, latency-bound (2 workers × 4 calls,
// 450 ms a call) with distinct keys and with 30% of changes repeating a
// recent key; then keyed end to end with no latency.
func (h *harness) measureKeyed(ctx context.Context, r *Report, t *trial) error {
	for _, c := range []struct {
		name   string
		repeat float64
	}{{"distinct", 0}, {"repeat", 0.3}} {
		n := h.o.sizes.Keyed
		h.printf("(E) keyed, %s (%.0f%% repeats): %d changes, %d workers × %d calls", c.name, 100*c.repeat, n, keyedWorkers, keyedCalls)
		rate, st, err := h.keyedRun(ctx, n, c.repeat, h.latencyFaults(), keyedWorkers, keyedCalls)
		if err != nil {
			return err
		}
		b := h.bound(keyedWorkers * keyedCalls)
		pre := "keyed." + c.name
		t.set(pre+".rate", rate)
		t.set(pre+".ratio_bound", rate/b)
		t.set(pre+".records_per_call", recordsPerCall(st))
		t.set(pre+".calls_per_change", float64(collectionsCalls(st))/float64(n))
		h.printf("    %.0f changes/s (bound %.0f: %.2f×), %d calls, %.1f records per call", rate, b, rate/b, collectionsCalls(st), recordsPerCall(st))
	}
	t.ratio("keyed.repeat.calls_ratio", "keyed.repeat.calls_per_change", "keyed.distinct.calls_per_change")
	n := h.o.sizes.KeyedE2E
	h.printf("(E) keyed end to end, no latency: %d records, %d workers × %d calls", n, endToEndWorkers, endToEndCalls)
	rate, _, err := h.keyedRun(ctx, n, 0, sfsim.Faults{}, endToEndWorkers, endToEndCalls)
	if err != nil {
		return err
	}
	t.set("keyed.e2e.rate", rate)
	h.printf("    %.0f records/s", rate)
	return nil
}

func (h *harness) keyedRun(ctx context.Context, n int, repeat float64, f sfsim.Faults, workers, calls int) (float64, sfsim.Stats, error) {
	var st sfsim.Stats
	e, err := h.newEnv(f)
	if err != nil {
		return 0, st, err
	}
	defer e.close()
	stop, err := e.startWorkers(workers, calls)
	if err != nil {
		return 0, st, err
	}
	defer stop()
	data, keys, err := keyedPayloads(e, n, repeat)
	if err != nil {
		return 0, st, err
	}
	job := fmt.Sprintf("keyed-%d", int(100*repeat))
	elapsed, _, err := e.runJob(ctx, job, n, func(ctx context.Context) error { return e.publishKeyed(ctx, job, data, keys) })
	if err != nil {
		return 0, st, err
	}
	return float64(n) / elapsed.Seconds(), e.sim.Stats(), nil
}
