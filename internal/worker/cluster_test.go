package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// On a 3-node cluster with R3 streams and consumers, as deployed, two
// replicas share the partitions of a keyed pipeline and load every record
// of a job published keyed, as the producer publishes it.
func TestClusterLoadsKeyedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	e, _ := setupCluster(t, sfsim.Config{})
	for i := range 2 {
		e.start(func(o *worker.Config) { o.ID = fmt.Sprintf("replica-%d", i) })
	}
	const n = 2000
	e.publishKeyed("accounts", "cluster", accounts(n, "c"))
	res := e.waitLong("cluster", n, 2*time.Minute)
	if res.SuccessCount != n || e.live("Account") != n {
		t.Fatalf("loaded %d of %d (%d in the org): %+v", res.SuccessCount, n, e.live("Account"), res.SyncResult)
	}
}

// A replica that crashes and comes back under the same name takes its
// partitions back while its old incarnation's records are still pending:
// its fence holds what it fetches until those are redelivered. With a
// small max_inflight the new records fill its room first; the fenced loops
// must still fetch the redeliveries (they do not wait for room), or every
// partition it owns stalls for good.
func TestRestartedReplicaTakesItsPartitionsBack(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	if err := e.sim.Server.SetFaults(sfsim.Faults{Latency: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(pipelinesYAML,
		"external_id_field: External_Key__c\n    mapping:\n      key: External_Key__c\n      company: Name\n      revenue: { target: AnnualRevenue, transform: float }\n    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms }",
		"external_id_field: External_Key__c\n    mapping:\n      key: External_Key__c\n      company: Name\n      revenue: { target: AnnualRevenue, transform: float }\n    worker: { ack_wait: 3s, max_deliver: 10, linger: 20ms, max_inflight: 60 }", 1)
	if !strings.Contains(yaml, "max_inflight: 60") {
		t.Fatal("the accounts pipeline's worker section was not replaced")
	}
	cfg, err := pipeline.ParseConfig("p.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	e.setupStreams()
	const n = 3000
	e.publishKeyed("accounts", "restart", accounts(n, "rs"))
	first := e.start(func(o *worker.Config) { o.ID = "same-name" })
	e.waitFor("some records loaded", func() bool { return e.live("Account") > 200 })
	// The crash, as the server sees one: the connection goes, nothing is
	// settled; the records it held wait out their ack_wait.
	first.nc.Close()
	first.cancel()
	<-first.done
	e.start(func(o *worker.Config) { o.ID = "same-name" })
	res := e.waitLong("restart", n, 2*time.Minute)
	if res.SuccessCount != n {
		t.Fatalf("%v", res.SyncResult)
	}
}
