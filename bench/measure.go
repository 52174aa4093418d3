package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// group is one measurement: -only names it. once: it runs in the first
// trial only (a chart's sweep, or memory, whose figure is the kernel's
// exact high-water mark rather than a timing).
type group struct {
	name string
	once bool
	f    func(context.Context, *Report, *trial) error
}

func (h *harness) groups() []group {
	return []group{
		{"limit", false, h.measureLimit},
		{"e2e", false, h.measureEndToEnd},
		{"cluster", false, h.measureCluster},
		{"loaders", false, h.measureLoaders},
		{"realistic", false, h.measureRealistic},
		{"keyed", false, h.measureKeyed},
		{"bulk", false, h.measureBulk},
		{"sweep", true, h.measureSweep},
		{"memory", true, h.measureMemory},
	}
}

func groupNames() []string {
	var h harness
	var names []string
	for _, g := range h.groups() {
		names = append(names, g.name)
	}
	return names
}

func (h *harness) runAll(ctx context.Context) (*Report, error) {
	r := newReport(h.o)
	for _, name := range strings.Split(h.o.only, ",") {
		if name = strings.TrimSpace(name); name != "" && !contains(groupNames(), name) {
			return r, fmt.Errorf("-only: unknown measurement %q (want %s)", name, strings.Join(groupNames(), ","))
		}
	}
	var trials []*trial
	for k := 1; k <= h.o.trials; k++ {
		t := &trial{k: k, vals: map[string]float64{}}
		trials = append(trials, t)
		h.printf("=== trial %d of %d", k, h.o.trials)
		for _, g := range h.groups() {
			if !h.want(g.name) || (g.once && k > 1) {
				continue
			}
			if err := g.f(ctx, r, t); err != nil {
				return r, fmt.Errorf("trial %d, %s: %w", k, g.name, err)
			}
		}
		derive(t)
	}
	h.autoThreshold(r, trials)
	for _, t := range trials {
		r.addTrial(t)
	}
	r.evaluate()
	return r, nil
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// derive computes a trial's ratios between groups; a ratio whose reference
// was not run in the trial is left out (the report prints n/a).
func derive(t *trial) {
	t.ratio("e2e.ratio_ceiling", "e2e.rate", "ceiling.rate")
	t.ratio("e2e.ratio_raw", "e2e.rate", "raw.rate")
	t.ratio("keyed.e2e.ratio_raw", "keyed.e2e.rate", "raw.rate")
	t.ratio("keyed.ceiling.ratio_raw", "keyed.ceiling.rate", "raw.rate")
	t.ratio("keyed.e2e.ratio_ceiling", "keyed.e2e.rate", "keyed.ceiling.rate")
	t.ratio("keyed.e2e.cpu_ratio_raw", "keyed.e2e.cpu", "raw.cpu")
	t.ratio("cluster.ratio_single", "cluster.rate", "e2e.rate")
}

// (A) The broker ceiling, like for like with the end-to-end run: Kinetic's
// streams (file storage, the same replicas), a publisher with Nats-Msg-Id
// headers running at the same time as a consumer that pulls 200 at a time,
// acks each message and writes one message to the results stream per batch.
// Then, as a secondary figure, the old raw measurement: publish everything
// without headers, then consume.
func (h *harness) measureLimit(ctx context.Context, r *Report, t *trial) error {
	n := h.o.sizes.Ceiling
	h.printf("(A) broker ceiling: %d messages, publish and consume together", n)
	rate, err := h.ceiling(ctx, n)
	if err != nil {
		return err
	}
	t.set("ceiling.rate", rate)
	h.printf("    %.0f msg/s", rate)
	raw, cpu, err := h.rawLimit(ctx, n)
	if err != nil {
		return err
	}
	t.set("raw.rate", raw)
	t.set("raw.cpu", perMillion(cpu, n))
	h.printf("    raw (old figure): %.0f msg/s, %.1f µs of CPU a message", raw, perMillion(cpu, n))
	return nil
}

func (h *harness) ceiling(ctx context.Context, n int) (float64, error) {
	e, err := h.newEnv(sfsim.Faults{})
	if err != nil {
		return 0, err
	}
	defer e.close()
	topo := e.topology()
	if err := topo.Ensure(ctx, e.js); err != nil {
		return 0, err
	}
	s, err := e.js.Stream(ctx, topo.WithDefaults().RecordsStream())
	if err != nil {
		return 0, err
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ceiling", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10_000})
	if err != nil {
		return 0, err
	}
	payload, err := messages.EncodeRecord(record(1, 0))
	if err != nil {
		return 0, err
	}
	// A batch result of 200 records is about this size (sequence, status
	// and id per record).
	result := []byte(strings.Repeat(`{"seq":123456,"status":"loaded","id":"001000000000123AAA"},`, 200))
	subj := topo.Subjects().Records("Account", "upsert")
	resSubj := topo.Subjects().Results("bench", "ceiling")
	start := time.Now()
	var pubErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			m := nats.NewMsg(subj)
			m.Data = payload
			m.Header.Set(jetstream.MsgIDHeader, "ceiling-"+strconv.Itoa(i+1))
			if _, err := e.js.PublishMsgAsync(m); err != nil {
				pubErr = err
				return
			}
		}
		select {
		case <-e.js.PublishAsyncComplete():
		case <-time.After(5 * time.Minute):
			pubErr = fmt.Errorf("publish did not complete")
		}
	}()
	got := 0
	for got < n {
		b, err := cons.Fetch(200, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return 0, err
		}
		k := 0
		for m := range b.Messages() {
			if err := m.Ack(); err != nil {
				return 0, err
			}
			k++
		}
		if k == 0 {
			if pubErr != nil {
				return 0, pubErr
			}
			continue
		}
		if _, err := e.js.Publish(ctx, resSubj, result); err != nil {
			return 0, err
		}
		got += k
	}
	elapsed := time.Since(start)
	wg.Wait()
	if pubErr != nil {
		return 0, pubErr
	}
	return float64(n) / elapsed.Seconds(), nil
}

// rawLimit also returns this process's CPU over the publish and the
// consume (the broker's, the publisher's and the consumer's).
func (h *harness) rawLimit(ctx context.Context, n int) (float64, time.Duration, error) {
	e, err := h.newEnv(sfsim.Faults{})
	if err != nil {
		return 0, 0, err
	}
	defer e.close()
	s, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "LIMIT", Subjects: []string{"limit.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, 0, err
	}
	payload, err := messages.EncodeRecord(record(1, 0))
	if err != nil {
		return 0, 0, err
	}
	start, cpu0 := time.Now(), selfCPU()
	for range n {
		if _, err := e.js.PublishAsync("limit.Account.upsert", payload); err != nil {
			return 0, 0, err
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		return 0, 0, fmt.Errorf("publish did not complete")
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "limit", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10_000})
	if err != nil {
		return 0, 0, err
	}
	got := 0
	for got < n {
		b, err := cons.Fetch(200, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return 0, 0, err
		}
		k := 0
		for m := range b.Messages() {
			if err := m.Ack(); err != nil {
				return 0, 0, err
			}
			k++
		}
		if k == 0 {
			return 0, 0, fmt.Errorf("consumed %d of %d", got, n)
		}
		got += k
	}
	return float64(n) / time.Since(start).Seconds(), selfCPU() - cpu0, nil
}

// (A) End to end with no injected latency: the producer library publishes
// N records; 2 in-process workers × 8 calls map and load them into the
// simulator. The records upsert over e2eKeys external ids, so that the
// simulator's org (in this process) does not grow with the run. The first
// trial is profiled.
func (h *harness) measureEndToEnd(ctx context.Context, r *Report, t *trial) error {
	rate, rpc, err := h.endToEnd(ctx, t.k == 1, 0)
	if err != nil {
		return err
	}
	t.set("e2e.rate", rate)
	t.set("e2e.records_per_call", rpc)
	return nil
}

// (F) The same on a 3-node in-process cluster with R3 streams.
func (h *harness) measureCluster(ctx context.Context, r *Report, t *trial) error {
	rate, _, err := h.endToEnd(ctx, false, 3)
	if err != nil {
		return err
	}
	t.set("cluster.rate", rate)
	return nil
}

func (h *harness) endToEnd(ctx context.Context, profiled bool, clusterSize int) (rate, perCall float64, err error) {
	n, w := h.o.sizes.EndToEnd, endToEndWorkers
	where := "single node"
	if clusterSize > 0 {
		where = fmt.Sprintf("%d-node cluster, R%d", clusterSize, clusterSize)
	}
	h.printf("(A/F) end to end, no latency, %s: %d records, %d workers × %d calls", where, n, w, endToEndCalls)
	e, err := h.newEnvOn(sfsim.Faults{}, clusterSize)
	if err != nil {
		return 0, 0, err
	}
	defer e.close()
	stop, err := e.startWorkers(w, endToEndCalls)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	data, err := payloads(n, e2eKeys)
	if err != nil {
		return 0, 0, err
	}
	var elapsed time.Duration
	f := func() error {
		var err error
		elapsed, _, err = e.runJob(ctx, "e2e", n, func(ctx context.Context) error { return e.publish(ctx, "e2e", data) })
		return err
	}
	if profiled {
		err = h.profile("e2e", f)
	} else {
		err = f()
	}
	if err != nil {
		return 0, 0, err
	}
	st := e.sim.Stats()
	rate = float64(n) / elapsed.Seconds()
	h.printf("    %.0f records/s in %.1fs, %.1f records per call", rate, elapsed.Seconds(), recordsPerCall(st))
	return rate, recordsPerCall(st), nil
}

// e2eKeys bounds the distinct external ids of the end-to-end run.
const e2eKeys = 10_000

func collectionsCalls(st sfsim.Stats) int {
	return int(st.CallsByKind["collections_create"] + st.CallsByKind["collections_update"] + st.CallsByKind["collections_upsert"] + st.CallsByKind["collections_delete"])
}

func recordsPerCall(st sfsim.Stats) float64 {
	if c := collectionsCalls(st); c > 0 {
		return float64(st.Records) / float64(c)
	}
	return 0
}

// steadyRecordsPerCall is records per Collections call without the
// smallest `tails` calls. Each replica that loads its own partitions ends
// its share of a job with one call of whatever is left (its tail), which no
// batching can fill; leaving one call per replica out measures how well
// the calls before it were filled.
func steadyRecordsPerCall(st sfsim.Stats, tails int) float64 {
	sizes := make([]int, 0, len(st.CollectionsCallSizes))
	for size := range st.CollectionsCallSizes {
		sizes = append(sizes, size)
	}
	sort.Ints(sizes)
	var records, calls int64
	for _, size := range sizes {
		n := st.CollectionsCallSizes[size]
		if skip := min(n, int64(tails)); skip > 0 {
			n -= skip
			tails -= int(skip)
		}
		records += int64(size) * n
		calls += n
	}
	if calls == 0 {
		return 0
	}
	return float64(records) / float64(calls)
}

// partialCalls counts Collections calls carrying fewer than 200 records.
func partialCalls(st sfsim.Stats) int64 {
	var n int64
	for size, calls := range st.CollectionsCallSizes {
		if size < 200 {
			n += calls
		}
	}
	return n
}

// partialSizes lists the sizes of the calls carrying fewer than 200
// records, smallest first (a size repeated once per call).
func partialSizes(st sfsim.Stats) []int {
	var out []int
	for size, calls := range st.CollectionsCallSizes {
		if size >= 200 {
			continue
		}
		for range min(calls, 20) { // a size listed at most 20 times
			out = append(out, size)
		}
	}
	sort.Ints(out)
	return out
}

// fullCallLatency is one 200-record call's latency.
func (h *harness) fullCallLatency() time.Duration { return h.o.latency + 200*h.o.perRec }

func (h *harness) latencyFaults() sfsim.Faults {
	return sfsim.Faults{Latency: h.o.latency, LatencyPerRecord: h.o.perRec}
}

// bound is concurrency × 200 records per full-call latency.
func (h *harness) bound(concurrency int) float64 {
	return float64(concurrency*200) / h.fullCallLatency().Seconds()
}

// loaderRun is one side of the loader comparison.
type loaderRun struct {
	rate       float64
	cpu        float64 // CPU of the loader or worker processes, s per M records
	harnessCPU float64 // CPU of this process meanwhile (simulator; for Kinetic also nats-server, producer, follower), s per M
}

// kineticProcs runs one latency-bound job through `replicas` worker
// processes with `calls` calls each.
func (h *harness) kineticProcs(ctx context.Context, n, replicas, calls int) (loaderRun, error) {
	var out loaderRun
	e, err := h.newEnv(h.latencyFaults())
	if err != nil {
		return out, err
	}
	defer e.close()
	_, pipelinesFile, err := e.pipelines(calls)
	if err != nil {
		return out, err
	}
	ps, err := h.startWorkerProcs(ctx, e.url, e.sim.SalesforceConfig(), pipelinesFile, replicas, calls)
	if err != nil {
		return out, err
	}
	defer stopProcs(ps)
	data, err := payloads(n, 0)
	if err != nil {
		return out, err
	}
	job := fmt.Sprintf("k%dx%d", replicas, calls)
	cpu0, self0 := procsCPU(ps), selfCPU()
	elapsed, _, err := e.runJob(ctx, job, n, func(ctx context.Context) error { return e.publish(ctx, job, data) })
	if err != nil {
		return out, err
	}
	cpu, self := procsCPU(ps)-cpu0, selfCPU()-self0
	out = loaderRun{rate: float64(n) / elapsed.Seconds(), cpu: perMillion(cpu, n), harnessCPU: perMillion(self, n)}
	return out, nil
}

// baselineRun runs the baseline loader (a child process) against a fresh
// simulator with the same latency.
func (h *harness) baselineRun(ctx context.Context, n, workers int) (loaderRun, error) {
	var out loaderRun
	e, err := h.newEnv(h.latencyFaults())
	if err != nil {
		return out, err
	}
	defer e.close()
	data, err := payloads(n, 0)
	if err != nil {
		return out, err
	}
	self0 := selfCPU()
	res, err := h.runBaseline(ctx, e.sim.SalesforceConfig(), data, workers)
	if err != nil {
		return out, err
	}
	self := selfCPU() - self0
	return loaderRun{rate: float64(n) / res.Seconds, cpu: res.CPU / float64(n) * 1e6, harnessCPU: perMillion(self, n)}, nil
}

// (B, C) Kinetic against the loader a user would write: the same simulator
// and latency (450 ms a 200-record call), 16 calls in flight in total; then
// 4 worker processes × 4 calls, and the original's approach.
func (h *harness) measureLoaders(ctx context.Context, r *Report, t *trial) error {
	c := loaderConcurrency
	n := h.o.sizes.PerCall * c
	h.printf("(B) baseline loader: %d records, %d goroutines, %v a call", n, c, h.fullCallLatency())
	base, err := h.baselineRun(ctx, n, c)
	if err != nil {
		return err
	}
	h.printf("    %.0f records/s, %.1f CPU s per M records (loader process)", base.rate, base.cpu)
	h.printf("(B) Kinetic: %d records, 1 worker process × %d calls", n, c)
	k, err := h.kineticProcs(ctx, n, 1, c)
	if err != nil {
		return err
	}
	h.printf("    %.0f records/s, %.1f CPU s per M records (worker process)", k.rate, k.cpu)
	h.printf("(C) Kinetic: %d records, 4 worker processes × %d calls", n, c/4)
	k4, err := h.kineticProcs(ctx, n, 4, c/4)
	if err != nil {
		return err
	}
	h.printf("    %.0f records/s, %.1f CPU s per M records (4 worker processes)", k4.rate, k4.cpu)
	seed, err := h.seedRun(ctx)
	if err != nil {
		return err
	}
	t.set("base.rate", base.rate)
	t.set("base.cpu", base.cpu)
	t.set("k16.rate", k.rate)
	t.set("k16.cpu", k.cpu)
	t.set("k16.ratio_base", k.rate/base.rate)
	t.set("k16.ratio_bound", k.rate/h.bound(c))
	t.set("k16.cpu_ratio", k.cpu/base.cpu)
	broker := max(k.harnessCPU-base.harnessCPU, 0)
	t.set("k16.cpu_broker", broker)
	t.set("k16.cpu_total_ratio", (k.cpu+broker)/base.cpu)
	t.set("k4x4.rate", k4.rate)
	t.set("k4x4.cpu", k4.cpu)
	t.set("k4x4.ratio_k16", k4.rate/k.rate)
	t.set("seed.rate", seed)
	t.set("k16.ratio_seed", k.rate/seed)
	return nil
}

// seedRun is the original's approach on the same simulator and latency: one
// sequential single-record REST call per record.
func (h *harness) seedRun(ctx context.Context) (float64, error) {
	n := h.o.sizes.Seed
	h.printf("(B) the original's approach: %d records, one call each", n)
	e, err := h.newEnv(h.latencyFaults())
	if err != nil {
		return 0, err
	}
	defer e.close()
	c, err := salesforce.New(e.sim.SalesforceConfig())
	if err != nil {
		return 0, err
	}
	if _, err := c.InstanceURL(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range n {
		rec := record(i, 0)
		if _, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": rec["company"], "External_Key__c": rec["ext_id"]}); err != nil {
			return 0, err
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	h.printf("    %.2f records/s", rate)
	return rate, nil
}

// (chart) Throughput against total concurrency, Kinetic (one worker
// process) and the baseline, N = PerCall × C so that each run lasts about
// as long. First trial only.
func (h *harness) measureSweep(ctx context.Context, r *Report, t *trial) error {
	for _, c := range h.o.sizes.Sweep {
		n := h.o.sizes.PerCall * c
		h.printf("(sweep) concurrency %d: %d records, baseline and Kinetic 1×%d", c, n, c)
		base, err := h.baselineRun(ctx, n, c)
		if err != nil {
			return err
		}
		k, err := h.kineticProcs(ctx, n, 1, c)
		if err != nil {
			return err
		}
		h.printf("    baseline %.0f, Kinetic %.0f records/s (bound %.0f)", base.rate, k.rate, h.bound(c))
		t.set(fmt.Sprintf("sweep.%d.base", c), base.rate)
		t.set(fmt.Sprintf("sweep.%d.kinetic", c), k.rate)
		t.set(fmt.Sprintf("sweep.%d.bound", c), h.bound(c))
	}
	return nil
}
