package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/kinetic-sync/kinetic/internal/jspull"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
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
// 2 in-process workers × 8 calls. Records published unkeyed (a row-locked
// record is naked and comes back in a later batch) and keyed, as the
// producer CLI publishes an upsert pipeline (a row-locked record is retried
// in place, its partition waiting: the order guarantee). Bound: 16 × 200
// records per mean call.
func (h *harness) measureRealistic(ctx context.Context, r *Report, t *trial) error {
	for _, keyed := range []bool{false, true} {
		if err := h.realisticRun(ctx, t, keyed); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) realisticRun(ctx context.Context, t *trial, keyed bool) error {
	n := h.o.sizes.Realistic
	f := h.realisticFaults()
	mean := meanCall(f, 200)
	pre, how := "real", "unkeyed"
	if keyed {
		pre, how = "real.keyed", "keyed"
	}
	h.printf("(D) realistic Salesforce, %s: %d records, 2 workers × 8 calls, mean 200-record call %v", how, n, mean.Round(time.Millisecond))
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
	if keyed {
		h.settle(ctx)
	}
	data, keys, err := keyedPayloads(e, n, 0)
	if err != nil {
		return err
	}
	job := "realistic-" + how
	publish := func(ctx context.Context) error { return e.publish(ctx, job, data) }
	if keyed {
		publish = func(ctx context.Context) error { return e.publishKeyed(ctx, job, data, keys) }
	}
	// The sustained rate: 95% of the records loaded, over the time it took.
	// The rest is the retry tail: a row-locked record waits out its nak
	// delay (2 s, doubling per delivery) or hold (1 s, doubling), and with
	// 5% locks some record of 30,000 is locked three or four times running.
	start := time.Now()
	var t95 time.Duration
	e.progress = func(p jobs.Progress) {
		if t95 == 0 && p.Loaded*100 >= 95*n {
			t95 = time.Since(start)
		}
	}
	elapsed, res, err := e.runJob(ctx, job, n, publish)
	if res != nil {
		// Every record has an outcome (Watch waits for all n): loaded or
		// dead-lettered; lost is what neither accounts for.
		t.set(pre+".lost", float64(n-res.SuccessCount-res.ErrorCount))
		t.set(pre+".failed", float64(res.ErrorCount))
	}
	if err != nil {
		return err
	}
	st := e.sim.Stats()
	rate := float64(n) / elapsed.Seconds()
	bound := float64(16*200) / mean.Seconds()
	t.set(pre+".job_rate", rate)
	t.set(pre+".job_ratio_bound", rate/bound)
	t.set("real.bound", bound)
	if t95 > 0 {
		sustained := 0.95 * float64(n) / t95.Seconds()
		t.set(pre+".rate", sustained)
		t.set(pre+".ratio_bound", sustained/bound)
		h.printf("    sustained (95%% loaded in %.1fs): %.0f records/s, %.2f× the bound", t95.Seconds(), sustained, sustained/bound)
	}
	t.set(pre+".calls_per_record", float64(collectionsCalls(st))/float64(res.SuccessCount))
	h.printf("    whole job: %.0f records/s, bound %.0f (%.2f×), %d calls for %d records", rate, bound, rate/bound, collectionsCalls(st), res.SuccessCount)
	return nil
}

// settle waits for the replicas to share the keyed partitions out (they
// rebalance every second, and a partition that changes hands is fenced
// until its previous owner's records are settled): in production the
// workers run long before a job arrives.
func (h *harness) settle(ctx context.Context) {
	d := 3 * time.Second
	if h.o.short {
		d = 500 * time.Millisecond
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
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
		rate, st, _, err := h.keyedRun(ctx, n, c.repeat, h.latencyFaults(), keyedWorkers, keyedCalls)
		if err != nil {
			return err
		}
		b := h.bound(keyedWorkers * keyedCalls)
		pre := "keyed." + c.name
		t.set(pre+".rate", rate)
		t.set(pre+".ratio_bound", rate/b)
		t.set(pre+".records_per_call", recordsPerCall(st))
		t.set(pre+".records_per_call_steady", steadyRecordsPerCall(st, keyedWorkers))
		t.set(pre+".partial_calls", float64(partialCalls(st)))
		t.set(pre+".calls_per_change", float64(collectionsCalls(st))/float64(n))
		h.printf("    %.0f changes/s (bound %.0f: %.2f×), %d calls, %.1f records per call (%.1f without the %d replicas' last calls), calls under 200: %v", rate, b, rate/b, collectionsCalls(st), recordsPerCall(st), steadyRecordsPerCall(st, keyedWorkers), keyedWorkers, partialSizes(st))
	}
	t.ratio("keyed.repeat.calls_ratio", "keyed.repeat.calls_per_change", "keyed.distinct.calls_per_change")
	n := h.o.sizes.KeyedE2E
	h.printf("(E) keyed broker ceiling: %d keyed records, %d partition consumers, no worker", n, messages.DefaultPartitions)
	var ceil, pubRate float64
	var ceilCPU time.Duration
	fc := func() (err error) {
		ceil, pubRate, ceilCPU, err = h.keyedCeiling(ctx, n)
		return err
	}
	if err := h.profileFirst(t, "keyed-ceiling", fc); err != nil {
		return err
	}
	t.set("keyed.ceiling.rate", ceil)
	t.set("keyed.ceiling.cpu", perMillion(ceilCPU, n))
	h.printf("    %.0f records/s (the publish, running alongside: %.0f records/s), %.1f µs of CPU a record", ceil, pubRate, perMillion(ceilCPU, n))
	h.printf("(E) keyed end to end, no latency: %d records, %d workers × %d calls", n, endToEndWorkers, endToEndCalls)
	var rate float64
	var cpu time.Duration
	f := func() (err error) {
		rate, _, cpu, err = h.keyedRun(ctx, n, 0, sfsim.Faults{}, endToEndWorkers, endToEndCalls)
		return err
	}
	if err := h.profileFirst(t, "keyed-e2e", f); err != nil {
		return err
	}
	t.set("keyed.e2e.rate", rate)
	t.set("keyed.e2e.cpu", perMillion(cpu, n))
	h.printf("    %.0f records/s, %.1f µs of CPU a record (this process: broker, simulator, producer, workers, follower)", rate, perMillion(cpu, n))
	return nil
}

// keyedCeiling is the broker's part of the keyed end-to-end run, like for
// like, with no worker and no Salesforce: the same keyed publish (producer
// library, Nats-Msg-Id and record headers, the stream's partition
// transform) while one puller per partition consumer (the worker's filters,
// explicit acks, 200 at a time, through jspull as the worker pulls) acks
// every record and writes one result message per batch. Keyed end to end
// cannot pass it; keyed end to end / this figure is what the worker and the
// simulator cost on the same cores.
// It also returns the publish's own rate (the records over the time the
// publish took) and this process's CPU over the run.
func (h *harness) keyedCeiling(ctx context.Context, n int) (rate, pubRate float64, cpu time.Duration, err error) {
	e, err := h.newEnv(sfsim.Faults{})
	if err != nil {
		return 0, 0, 0, err
	}
	defer e.close()
	topo := e.topology().WithDefaults()
	if err := topo.Ensure(ctx, e.js); err != nil {
		return 0, 0, 0, err
	}
	data, keys, err := keyedPayloads(e, n, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	base := topo.Subjects().Records("Account", "upsert")
	pulls := make([]*jspull.Consumer, topo.Partitions)
	for p := range pulls {
		name := fmt.Sprintf("ceiling_p%d", p)
		if _, err := e.js.CreateOrUpdateConsumer(ctx, topo.RecordsStream(), jetstream.ConsumerConfig{Durable: name,
			AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10_000, FilterSubjects: []string{fmt.Sprintf("%s.%d.*", base, p)}}); err != nil {
			return 0, 0, 0, err
		}
		pulls[p] = jspull.New(e.js, topo.RecordsStream(), name)
	}
	result := []byte(strings.Repeat(`{"seq":123456,"status":"loaded","id":"001000000000123AAA"},`, 200))
	resSubj := topo.Subjects().Results("bench", "keyed-ceiling")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var got, finished atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	start, cpu0 := time.Now(), selfCPU()
	var published time.Duration
	g.Go(func() error {
		err := e.publishKeyed(gctx, "keyed-ceiling", data, keys)
		published = time.Since(start)
		return err
	})
	for _, c := range pulls {
		g.Go(func() error {
			for got.Load() < int64(n) {
				if err := gctx.Err(); err != nil {
					return err
				}
				msgs, err := c.Fetch(jspull.Request{Batch: 200, Expires: ceilingExpires})
				if err != nil {
					return err
				}
				for _, m := range msgs {
					if err := m.Ack(); err != nil {
						return err
					}
				}
				if len(msgs) > 0 {
					if _, err := e.js.Publish(gctx, resSubj, result); err != nil {
						return err
					}
					if got.Add(int64(len(msgs))) >= int64(n) {
						// The clock stops at the last record, not when the
						// other pullers' open pulls expire.
						finished.Store(time.Since(start).Nanoseconds())
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, 0, fmt.Errorf("keyed ceiling: %d of %d consumed: %w", got.Load(), n, err)
	}
	elapsed := time.Duration(finished.Load())
	return float64(n) / elapsed.Seconds(), float64(n) / published.Seconds(), selfCPU() - cpu0, nil
}

// ceilingExpires is how long a keyed-ceiling pull waits for its 200.
var ceilingExpires = 200 * time.Millisecond

// keyedRun runs one keyed job and returns its rate, the simulator's stats
// and this process's CPU (user+sys) over the job: everything of a
// zero-latency run but the kernel's disk work.
func (h *harness) keyedRun(ctx context.Context, n int, repeat float64, f sfsim.Faults, workers, calls int) (float64, sfsim.Stats, time.Duration, error) {
	var st sfsim.Stats
	e, err := h.newEnv(f)
	if err != nil {
		return 0, st, 0, err
	}
	defer e.close()
	stop, err := e.startWorkers(workers, calls)
	if err != nil {
		return 0, st, 0, err
	}
	defer stop()
	h.settle(ctx)
	data, keys, err := keyedPayloads(e, n, repeat)
	if err != nil {
		return 0, st, 0, err
	}
	job := fmt.Sprintf("keyed-%d", int(100*repeat))
	cpu0 := selfCPU()
	elapsed, _, err := e.runJob(ctx, job, n, func(ctx context.Context) error { return e.publishKeyed(ctx, job, data, keys) })
	cpu := selfCPU() - cpu0
	if err != nil {
		return 0, st, 0, err
	}
	return float64(n) / elapsed.Seconds(), e.sim.Stats(), cpu, nil
}
