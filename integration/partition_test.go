//go:build integration

package integration

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Network partition: a worker with batches in flight (Salesforce is slow)
// is cut off the network. JetStream redelivers its records to the other
// workers after AckWait, and the job completes while it is still cut off;
// nothing is lost, UPSERT leaves no duplicates. It is reconnected after.
func TestNetworkPartition(t *testing.T) {
	const n = 10_000
	c := NewCluster(t, Options{Workers: 3})
	c.SetFaults(sfsim.Faults{Latency: 1500 * time.Millisecond, Jitter: 200 * time.Millisecond})
	j := c.UpsertJob("partition", n)
	cut := c.Worker("worker-1")

	start := time.Now()
	c.Publish(j, 1, n)
	c.WaitLive("Account", n/5, 2*time.Minute) // mid-run
	var inFlight float64
	c.Eventually(cut.Name+" to have records in flight", 2*time.Minute, func() error {
		var err error
		if inFlight, err = cut.Metric("kinetic_in_flight_records"); err != nil {
			return err
		}
		if inFlight == 0 {
			return errors.New("none in flight")
		}
		return nil
	})
	cut.Disconnect()
	cutAt := time.Now()
	t.Logf("%s cut off the network with %.0f records in flight", cut.Name, inFlight)

	res := c.Watch(j, 10*time.Minute)
	elapsed := time.Since(start)
	t.Logf("job finished %v after the partition, %s still cut off", time.Since(cutAt).Round(100*time.Millisecond), cut.Name)

	// What the others did with the cut-off worker's records.
	results := c.BatchResults(j.ID)
	final := FinalWorkers(results)
	takenOver := 0
	redeliveredBy := map[string]int{}
	for i, o := range res.Outcomes {
		if o.Delivery > 1 {
			redeliveredBy[final[int64(i+1)]]++
			if w := final[int64(i+1)]; w != cut.Name && w != "" {
				takenOver++
			}
		}
	}
	t.Logf("%d batch results read; final outcomes of redelivered records by worker: %v", len(results), redeliveredBy)
	for _, br := range results {
		if br.Worker == cut.Name && br.FinishedAt.After(cutAt.Add(time.Second)) {
			t.Errorf("%s published a result at %v, while cut off the network", cut.Name, br.FinishedAt)
		}
	}
	t.Logf("%d records redelivered after AckWait and loaded by the other workers", takenOver)
	if takenOver == 0 {
		t.Errorf("no record was redelivered to another worker: %s's in-flight records were not taken over", cut.Name)
	}

	cut.Reconnect()
	c.Eventually(cut.Name+" to answer /readyz again", 2*time.Minute, func() error {
		code, body, err := cut.Get(portMetrics, "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("HTTP %d %s", code, body)
		}
		return nil
	})
	a := c.Audit(j, res, elapsed, AuditOptions{})
	Report(t, fmt.Sprintf("network partition: %s cut off with %.0f records in flight, reconnected after the job", cut.Name, inFlight), a)
}
