package sfsim

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/testutil"
)

// steppedClock is a fake clock whose Sleep returns only when the test has
// advanced the clock past the sleeper's deadline: time moves only when the
// test says so.
type steppedClock struct {
	mu       sync.Mutex
	cond     *sync.Cond
	t        time.Time
	sleepers int
}

func newSteppedClock() *steppedClock {
	c := &steppedClock{t: time.Unix(1_800_000_000, 0)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *steppedClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *steppedClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *steppedClock) waiting() int { c.mu.Lock(); defer c.mu.Unlock(); return c.sleepers }

func (c *steppedClock) sleep(ctx context.Context, d time.Duration) error {
	stop := context.AfterFunc(ctx, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.t.Add(d)
	c.sleepers++
	defer func() { c.sleepers-- }()
	for c.t.Before(target) {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.cond.Wait()
	}
	return nil
}

func TestLatencyModelQuantiles(t *testing.T) {
	t.Parallel()
	f := Faults{LatencyP50: 300 * time.Millisecond, LatencyP99: 2 * time.Second}
	fs := newFaultState(f, 7)
	const n = 40_000
	draws := make([]time.Duration, n)
	for i := range draws {
		draws[i] = fs.latency(f, 0)
	}
	slices.Sort(draws)
	p50, p99 := draws[n/2], draws[n*99/100]
	if math.Abs(float64(p50-f.LatencyP50))/float64(f.LatencyP50) > 0.05 {
		t.Errorf("p50 %v, want %v ± 5%%", p50, f.LatencyP50)
	}
	if math.Abs(float64(p99-f.LatencyP99))/float64(f.LatencyP99) > 0.10 {
		t.Errorf("p99 %v, want %v ± 10%%", p99, f.LatencyP99)
	}
	// The per-record time and the fixed latency add exactly to the same
	// draw (same seed, same sequence).
	g := f
	g.LatencyPerRecord, g.Latency = 2*time.Millisecond, 50*time.Millisecond
	a, b := newFaultState(f, 11), newFaultState(g, 11)
	for range 100 {
		if x, y := a.latency(f, 200), b.latency(g, 200); y-x != 450*time.Millisecond {
			t.Fatalf("per-record/fixed latency added %v, want 450ms", y-x)
		}
	}
	// The same seed gives the same draws.
	c, d := newFaultState(f, 7), newFaultState(f, 7)
	for range 100 {
		if c.latency(f, 0) != d.latency(f, 0) {
			t.Fatal("draws differ for one seed")
		}
	}
	for _, bad := range []Faults{{LatencyP50: time.Second}, {LatencyP99: time.Second}, {LatencyP50: 2 * time.Second, LatencyP99: time.Second}, {BulkParallelism: -1}} {
		if bad.validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestRealisticPreset(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var delays []time.Duration
	noWait := func(_ context.Context, d time.Duration) error { // record the drawn latency, do not wait
		mu.Lock()
		delays = append(delays, d)
		mu.Unlock()
		return nil
	}
	fl := RealisticFaults()
	fl.BulkQueueDelay, fl.BulkBatchOverhead, fl.BulkPerRecord = 0, 0, 0 // calls only here
	f := setup(t, Config{Faults: fl, Sleep: noWait, Seed: 3})
	const calls, per = 60, 100
	locked, records, unavailable := 0, 0, 0
	for c := range calls {
		recs := make([]any, per)
		for i := range recs {
			recs[i] = acct(map[string]any{"Name": "r", "External_Key__c": "R-" + itoa(c) + "-" + itoa(i)})
		}
		r := f.do("PATCH", "composite/sobjects/Account/External_Key__c", map[string]any{"records": recs})
		if r.status == http.StatusServiceUnavailable {
			unavailable++
			continue
		}
		for _, res := range f.results(r) {
			records++
			if !res.Success && res.Errors[0].StatusCode == "UNABLE_TO_LOCK_ROW" {
				locked++
			}
		}
	}
	if share := float64(locked) / float64(records); share < 0.035 || share > 0.065 {
		t.Errorf("UNABLE_TO_LOCK_ROW on %.1f%% of %d records, want about 5%%", 100*share, records)
	}
	// A 100-record call waits the log-normal draw plus 100 × 2.5 ms.
	mu.Lock()
	upserts := slices.Clone(delays)
	mu.Unlock()
	if len(upserts) != calls-unavailable || slices.Min(upserts) < 100*RealisticPerRecord {
		t.Errorf("%d upsert delays, min %v", len(upserts), slices.Min(upserts))
	}
	// 503s: 1% of calls; over 5,000 cheap calls (expected 50, σ 7).
	unavailable = 0
	for range 5000 {
		if f.do("GET", "limits", nil).status == http.StatusServiceUnavailable {
			unavailable++
		}
	}
	if unavailable < 25 || unavailable > 80 {
		t.Errorf("%d of 5000 calls answered 503, want about 1%%", unavailable)
	}
	if p, err := FaultsPreset("realistic"); err != nil || p != RealisticFaults() {
		t.Errorf("FaultsPreset: %+v %v", p, err)
	}
	if _, err := FaultsPreset("chaos"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestLongRunningLimit(t *testing.T) {
	t.Parallel()
	clock := newSteppedClock()
	f := setup(t, Config{LongRunningLimit: 1, Clock: clock.now, Sleep: clock.sleep, Faults: Faults{Latency: 30 * time.Second}})
	first := make(chan int)
	go func() { first <- f.do("GET", "limits", nil).status }()
	testutil.WaitFor(t, 10*time.Second, "the first call to wait on its latency", func() bool { return clock.waiting() == 1 })
	// After 19 s it is not long-running yet: a second call is admitted.
	clock.advance(19 * time.Second)
	second := make(chan int)
	go func() { second <- f.do("GET", "limits", nil).status }()
	testutil.WaitFor(t, 10*time.Second, "the second call to wait on its latency", func() bool { return clock.waiting() == 2 })
	// At 20 s the first counts as long-running: the limit (1) is reached.
	clock.advance(time.Second)
	r := f.do("GET", "limits", nil).expect(t, http.StatusForbidden)
	if code, msg, _ := r.errorArray(t); code != "REQUEST_LIMIT_EXCEEDED" || msg != "ConcurrentRequests (Concurrent API Requests) Limit exceeded." {
		t.Errorf("%s", r.body)
	}
	clock.advance(10 * time.Second) // the first call ends at 30 s
	if st := <-first; st != http.StatusOK {
		t.Errorf("first call %d", st)
	}
	// Now the second (running 11 s) is not long-running: calls pass again;
	// switch the latency off so this one returns at once.
	if err := f.env.Server.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	f.do("GET", "limits", nil).expect(t, http.StatusOK)
	clock.advance(20 * time.Second)
	if st := <-second; st != http.StatusOK {
		t.Errorf("second call %d", st)
	}
	// The limit is part of Limits and the admin API.
	if l := f.env.Server.Limits(); l.LongRunningLimit != 1 {
		t.Errorf("limits %+v", l)
	}
	f.admin("PUT", "limits", `{"long_running_limit":5}`).expect(t, http.StatusOK)
	if l, _ := f.env.Admin.Limits(t.Context()); l.LongRunningLimit != 5 {
		t.Errorf("admin limits %+v", l)
	}
}

func TestBulkTimingModel(t *testing.T) {
	t.Parallel()
	clock := newSteppedClock()
	f := setup(t, Config{Clock: clock.now, Sleep: clock.sleep, BulkBatchSize: 4, Faults: Faults{
		BulkQueueDelay: 10 * time.Second, BulkBatchOverhead: 2 * time.Second, BulkPerRecord: time.Second, BulkParallelism: 2}})
	j := f.createJob(map[string]any{"object": "Account", "operation": "insert"})
	var data strings.Builder
	data.WriteString("Name\n")
	for i := range 10 { // batches of 4, 4 and 2 rows: 6 s, 6 s and 4 s
		data.WriteString("row " + itoa(i) + "\n")
	}
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte(data.String())).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	state := func(want string, processed int) {
		t.Helper()
		var got jobInfo
		testutil.WaitFor(t, 10*time.Second, "job "+want+" with "+itoa(processed)+" rows processed", func() bool {
			got = f.job(j.ID)
			return got.State == want && got.NumberRecordsProcessed == processed && clock.waiting() == 1
		})
	}
	// Queued: UploadComplete until the queue delay has passed.
	state("UploadComplete", 0)
	clock.advance(9 * time.Second)
	state("UploadComplete", 0)
	clock.advance(time.Second)
	state("InProgress", 0)
	// Batches 1 and 2 run side by side and end at 6 s; batch 3 then takes 4 s.
	clock.advance(5 * time.Second)
	state("InProgress", 0)
	clock.advance(time.Second)
	state("InProgress", 8)
	if n, _ := f.env.Server.Count("Account"); n.Live != 8 {
		t.Errorf("%d accounts after two batches", n.Live)
	}
	clock.advance(4 * time.Second)
	testutil.WaitFor(t, 10*time.Second, "JobComplete", func() bool { return f.job(j.ID).State == "JobComplete" })
	if got := f.job(j.ID); got.NumberRecordsProcessed != 10 || got.NumberRecordsFailed != 0 {
		t.Errorf("final %+v", got)
	}

	// An abort while queued stops the job at once; every row is unprocessed.
	j = f.createJob(map[string]any{"object": "Account", "operation": "insert"})
	f.do("PUT", "jobs/ingest/"+j.ID+"/batches", []byte("Name\na\nb\n")).expect(t, http.StatusCreated)
	f.closeJob(j.ID).expect(t, http.StatusOK)
	testutil.WaitFor(t, 10*time.Second, "the job to queue", func() bool { return clock.waiting() == 1 })
	f.do("PATCH", "jobs/ingest/"+j.ID, map[string]any{"state": "Aborted"}).expect(t, http.StatusOK)
	r := f.do("GET", "jobs/ingest/"+j.ID+"/unprocessedrecords/", nil).expect(t, http.StatusOK) // waits for the worker
	if string(r.body) != "Name\n\"a\"\n\"b\"\n" {
		t.Errorf("unprocessed %q", r.body)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 10 {
		t.Errorf("%d accounts", n.Live)
	}
}

func TestFaultsJSONModels(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.admin("PUT", "faults", `{"preset":"realistic","rate_503":0,"bulk_parallelism":8}`).expect(t, http.StatusOK)
	want := RealisticFaults()
	want.Rate503, want.BulkParallelism = 0, 8
	if got := f.env.Server.Faults(); got != want {
		t.Errorf("faults %+v, want %+v", got, want)
	}
	var back map[string]any
	f.admin("GET", "faults", "").expect(t, http.StatusOK).json(t, &back)
	if back["latency_p50"] != "300ms" || back["latency_p99"] != "2s" || back["bulk_queue_delay"] != "5s" || back["bulk_per_record"] != "700µs" {
		t.Errorf("GET faults %v", back)
	}
	if err := f.env.Admin.SetFaults(t.Context(), RealisticFaults()); err != nil {
		t.Fatal(err)
	}
	if got := f.env.Server.Faults(); got != RealisticFaults() {
		t.Errorf("round trip %+v", got)
	}
	f.admin("PUT", "faults", `{"preset":"nope"}`).expect(t, http.StatusBadRequest)
	f.admin("PUT", "faults", `{"latency_p50":"1s"}`).expect(t, http.StatusBadRequest)
}
