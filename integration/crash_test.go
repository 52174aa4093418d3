//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Worker crashes: a worker is killed with SIGKILL every 5 seconds and
// started again, while an UPSERT and an INSERT job run. Nothing is lost;
// UPSERT leaves no duplicates. INSERT is at-least-once (a worker that dies
// after Salesforce applied a batch and before acking it makes that batch be
// inserted again): its duplicates are measured and reported, not asserted.
func TestWorkerCrash(t *testing.T) {
	const nUpsert, nInsert = 30_000, 30_000
	c := NewCluster(t, Options{Workers: 3})
	// Every Salesforce call takes about 2s: every kill catches batches in
	// flight, and the run lasts long enough for several kills whatever the
	// CPU (3 workers × 4 slots × 200 records / 2s ≈ 1,200 records/s a job).
	c.SetFaults(sfsim.Faults{Latency: 2 * time.Second, Jitter: 200 * time.Millisecond})
	up := c.UpsertJob("crash-up", nUpsert)
	ins := c.InsertJob("crash-ins", nInsert)

	start := time.Now()
	// A kill every 5s, round robin: each worker dies every 18s. A killed
	// worker's partitions of the keyed UPSERT job wait until its pins and
	// its held records' ack_wait (6s here) run out — the documented cost of
	// per-key order (docs/architecture.md, "Per-key order") — so each worker
	// must live longer than that between kills for the run to progress.
	chaos := c.KillWorkers(5*time.Second, time.Second)
	c.PublishAll(up, ins)
	res, took := c.WatchAll(start, 10*time.Minute, up, ins)
	kills := chaos.Stop()

	aUp := c.Audit(up, res[0], took[0], AuditOptions{})
	aIns := c.Audit(ins, res[1], took[1], AuditOptions{})
	Report(t, "worker crash: kill -9 a worker every 5s, docker start it 1s later", aUp, aIns)

	// The crashes must have hit the run, or the test proves nothing.
	finished := start.Add(max(took[0], took[1]))
	during := 0
	for _, k := range kills {
		if k.Before(finished) {
			during++
		}
	}
	t.Logf("%d kills while the jobs ran (%d in all); INSERT duplicates: %d of %d records (at-least-once, measured)", during, len(kills), aIns.SFDuplicates, nInsert)
	if during < 3 {
		t.Errorf("only %d kills while the jobs ran: the run was too short to prove anything", during)
	}
	if aUp.Redelivered+aIns.Redelivered == 0 {
		t.Error("no record was redelivered: no kill caught a batch in flight")
	}
	for _, a := range []*Account{aUp, aIns} {
		if a.DeadResult != 0 || a.LoadedResult != a.Published {
			t.Errorf("job %s: %d loaded, %d dead-lettered of %d: a crash must not make a record fail", a.Job.ID, a.LoadedResult, a.DeadResult, a.Published)
		}
	}
}
