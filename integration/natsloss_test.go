//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// NATS node loss: the node leading the records stream is killed mid-run;
// records keep being published and loaded on the two nodes left; the node
// comes back and catches up. Nothing is lost, UPSERT leaves no duplicates.
func TestNATSNodeLoss(t *testing.T) {
	const n = 30_000
	c := NewCluster(t, Options{Workers: 3})
	// Latency-bound (≈1,200 records/s), so the outage falls mid-run.
	c.SetFaults(sfsim.Faults{Latency: 2 * time.Second, Jitter: 200 * time.Millisecond})
	j := c.UpsertJob("natsloss", n)

	start := time.Now()
	c.Publish(j, 1, n/2)
	c.WaitLive("Account", n/10, 2*time.Minute)

	leader := c.StreamLeader(c.Topo.RecordsStream())
	t.Logf("killing %s, the leader of %s", leader.Name, c.Topo.RecordsStream())
	leader.Kill()
	downAt := time.Now()
	liveAtLoss, err := c.Live("Account")
	if err != nil {
		t.Fatal(err)
	}
	// Producers keep publishing, workers keep loading, on two nodes.
	c.Publish(j, n/2+1, n)
	t.Logf("published the second half (%d records) with %s down", n-n/2, leader.Name)
	c.WaitLive("Account", liveAtLoss+3000, 3*time.Minute)
	newLeader := c.StreamLeader(c.Topo.RecordsStream())
	liveBack, _ := c.Live("Account")
	t.Logf("with %s down for %v: %d records loaded, %s leads the stream", leader.Name, time.Since(downAt).Round(time.Second), liveBack-liveAtLoss, newLeader.Name)
	if newLeader == leader {
		t.Errorf("%s is down but still reported as the stream leader", leader.Name)
	}

	leader.Start() // waits for its full /healthz: JetStream current again
	t.Logf("%s back after %v", leader.Name, time.Since(downAt).Round(time.Second))
	res := c.Watch(j, 10*time.Minute)
	a := c.Audit(j, res, time.Since(start), AuditOptions{})
	Report(t, fmt.Sprintf("NATS node loss: %s (records stream leader) killed mid-run, restarted", leader.Name), a)
	if a.LoadedResult != n {
		t.Errorf("%d of %d loaded", a.LoadedResult, n)
	}
	// The restarted node holds the stream again, in step with the others.
	c.Eventually("every replica of the records stream to be current", 2*time.Minute, func() error {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		s, err := c.JS.Stream(ctx, c.Topo.RecordsStream())
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return fmt.Errorf("cluster info %+v", info.Cluster)
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("replica %s: current %v offline %v lag %d", r.Name, r.Current, r.Offline, r.Lag)
			}
		}
		return nil
	})
}

// StreamLeader returns the NATS node leading a stream.
func (c *Cluster) StreamLeader(stream string) *Node {
	c.t.Helper()
	var name string
	c.Eventually("a leader of "+stream, time.Minute, func() error {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		s, err := c.JS.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return errors.New("no leader")
		}
		name = info.Cluster.Leader
		return nil
	})
	for _, n := range c.NATS {
		if n.Name == name {
			return n
		}
	}
	c.t.Fatalf("the leader of %s is %q, not a node of the cluster", stream, name)
	return nil
}
