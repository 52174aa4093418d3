//go:build integration

package integration

import (
	"testing"
	"time"
)

// Baseline: three workers share the pipeline's consumer and load every
// record exactly once.
func TestBaseline(t *testing.T) {
	const n = 50_000
	c := NewCluster(t, Options{Workers: 3})
	j := c.UpsertJob("base", n)

	start := time.Now()
	c.Publish(j, 1, n)
	t.Logf("published %d records in %v", n, time.Since(start).Round(time.Millisecond))
	res := c.Watch(j, 10*time.Minute)
	elapsed := time.Since(start)
	a := c.Audit(j, res, elapsed, AuditOptions{})
	Report(t, "baseline: 3 workers, no faults", a)

	if res.SuccessCount != n || res.ErrorCount != 0 || a.LoadedSF != n || a.LiveSF != n {
		t.Errorf("loaded %d (Salesforce %d live, %d distinct), dead-lettered %d; want all %d loaded once", res.SuccessCount, a.LiveSF, a.LoadedSF, res.ErrorCount, n)
	}
	// The replicas shared the work.
	by := map[string]int{}
	for _, br := range c.BatchResults(j.ID) {
		by[br.Worker] += br.Loaded
	}
	t.Logf("records loaded by worker: %v", by)
	for _, w := range c.Workers {
		if by[w.Name] == 0 {
			t.Errorf("%s loaded nothing: the replicas do not share the consumer (%v)", w.Name, by)
		}
	}
	// Exactly once all the way to Salesforce: without faults no record is
	// redelivered or sent twice (heartbeats keep long batches alive).
	st, err := c.Admin.Stats(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Salesforce: %d records received in %d collections_upsert calls (%.0f a call)", st.Records, st.CallsByKind["collections_upsert"], st.RecordsPerCall)
	if st.Records != n || a.Redelivered != 0 || a.DupOutcomes != 0 {
		t.Errorf("Salesforce received %d records for %d; %d redelivered, %d duplicate outcomes: not exactly once", st.Records, n, a.Redelivered, a.DupOutcomes)
	}
}
