//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Rolling restart under load: each worker in turn gets SIGTERM, shuts down
// gracefully (finishes or naks its in-flight batches, exits 0) and is
// started again; the next one goes when it answers /readyz. Nothing is
// lost, UPSERT leaves no duplicates.
func TestRollingRestart(t *testing.T) {
	const n = 30_000
	c := NewCluster(t, Options{Workers: 3})
	// Latency-bound (≈1,200 records/s), so the restarts fall mid-run.
	c.SetFaults(sfsim.Faults{Latency: 2 * time.Second, Jitter: 200 * time.Millisecond})
	j := c.UpsertJob("rolling", n)

	start := time.Now()
	c.Publish(j, 1, n)
	c.WaitLive("Account", n/10, 2*time.Minute)
	for _, w := range c.Workers {
		live, err := c.Live("Account")
		if err != nil {
			t.Fatal(err)
		}
		if live >= n {
			t.Fatalf("the job finished before %s was restarted: the restart was not under load", w.Name)
		}
		t0 := time.Now()
		// KINETIC_SHUTDOWN_TIMEOUT is 10s; Docker waits 30s before SIGKILL.
		code := w.Stop(30 * time.Second)
		stopped := time.Since(t0)
		if code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0 (graceful shutdown)", w.Name, code)
		}
		w.Start()
		t.Logf("%s: SIGTERM with %d of %d loaded, exited %d in %v, ready again %v later",
			w.Name, live, n, code, stopped.Round(100*time.Millisecond), (time.Since(t0) - stopped).Round(100*time.Millisecond))
	}
	res := c.Watch(j, 10*time.Minute)
	a := c.Audit(j, res, time.Since(start), AuditOptions{})
	Report(t, "rolling restart: SIGTERM, start, /readyz, one worker after the other, under load", a)
	if a.DeadResult != 0 {
		t.Errorf("%d records dead-lettered by a graceful restart", a.DeadResult)
	}
}
