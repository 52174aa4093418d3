package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/messages"
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
	pc, _ := e.cfg.Pipeline("accounts")
	pub := messages.NewPublisher(e.js, messages.PublisherOptions{})
	subj := e.topo.Subjects().Records(pc.SObject, string(pc.Mode))
	for i, r := range accounts(n, "c") {
		data, err := messages.EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		key, rerr := pc.Key(r)
		if rerr != nil {
			t.Fatal(rerr)
		}
		meta := messages.RecordMeta{Job: "cluster", Seq: int64(i + 1), MsgID: fmt.Sprintf("cluster-%d", i+1)}
		if err := pub.PublishKeyedAsync(ctxT(t), subj, key, data, meta); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	res := e.waitLong("cluster", n, 2*time.Minute)
	if res.SuccessCount != n || e.live("Account") != n {
		t.Fatalf("loaded %d of %d (%d in the org): %+v", res.SuccessCount, n, e.live("Account"), res.SyncResult)
	}
}
