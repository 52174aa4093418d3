//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// The results stream refuses writes for 8s (publishers get "no response
// from stream", as from a stream electing a leader, which takes 4–9s in
// NATS) while the records stream and the workers are fine. A worker never
// settles a batch before its result is stored: the batches in flight wait
// (heartbeating), loading pauses, and once the stream is back every outcome
// is reported — a job's counts add up. (TestNATSNodeLoss meets this only
// when the election happens to be slow enough; this test always does.)
func TestResultsStreamOutage(t *testing.T) {
	const n = 10_000
	const outage = 8 * time.Second
	c := NewCluster(t, Options{Workers: 3})
	c.SetFaults(sfsim.Faults{Latency: time.Second, Jitter: 200 * time.Millisecond})
	j := c.UpsertJob("resultsdown", n)

	start := time.Now()
	c.Publish(j, 1, n)
	c.WaitLive("Account", n/10, 2*time.Minute)

	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	stream, err := c.JS.Stream(ctx, c.Topo.ResultsStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	subjects := cfg.Subjects
	cfg.Subjects = []string{c.Topo.Prefix + ".results-unavailable.>"}
	if _, err := c.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("taking the results stream's subjects away: %v", err)
	}
	before, _ := c.Live("Account")
	time.Sleep(outage) // pacing: the outage
	after, _ := c.Live("Account")
	cfg.Subjects = subjects
	if _, err := c.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("giving the results stream its subjects back: %v", err)
	}
	t.Logf("the results stream refused writes for %v; %d records loaded meanwhile", outage, after-before)
	if before >= n {
		t.Fatal("the job was done before the outage: the test proves nothing")
	}
	// At most the records the workers already held reach Salesforce: a
	// replica holds up to max_inflight records of a pipeline (fetched and
	// not settled, and nothing settles while results cannot be stored), so
	// 3 × max_inflight. Without the wait, 8s of loading would be ~20,000.
	set, err := worker.SettingsOf(j.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	if inFlight := len(c.Workers) * set.MaxInflight; after-before > inFlight {
		t.Errorf("%d records loaded while results could not be stored; at most the %d held (%d workers × max_inflight %d) should be",
			after-before, inFlight, len(c.Workers), set.MaxInflight)
	}

	res := c.Watch(j, 10*time.Minute)
	a := c.Audit(j, res, time.Since(start), AuditOptions{})
	Report(t, "results stream unavailable for 8s mid-run", a)
	for _, w := range c.Workers {
		for _, line := range w.LogLines(`"level":"error"`) {
			t.Logf("%s logged: %s", w.Name, line)
		}
	}
}
