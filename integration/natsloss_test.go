//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// NATS node loss: a node is killed mid-run; records keep being published
// and loaded on the two nodes left; the node comes back and catches up.
// Nothing is lost, UPSERT leaves no duplicates, and the job's outcomes are
// all reported.
//
// Leadership is arranged first, with leader step-downs, so that every run
// tests the same thing: the node killed leads both the records stream and
// the results stream (which happens for real whenever leaders pile up on a
// node, e.g. after the other two were restarted). The pipeline's partition
// consumers are led wherever the cluster put them: those led by the node
// killed elect a new leader too, and their replicas fetch again once they
// have.
func TestNATSNodeLoss(t *testing.T) {
	const n = 30_000
	c := NewCluster(t, Options{Workers: 3})
	// Latency-bound (≈1,200 records/s), so the outage falls mid-run.
	c.SetFaults(sfsim.Faults{Latency: 2 * time.Second, Jitter: 200 * time.Millisecond})
	j := c.UpsertJob("natsloss", n)

	start := time.Now()
	c.Publish(j, 1, n/2)
	c.WaitLive("Account", n/10, 2*time.Minute)

	records, results := c.streamGroup(c.Topo.RecordsStream()), c.streamGroup(c.Topo.ResultsStream())
	leader := c.Leader(records)
	c.MoveLeader(results, func(n *Node) bool { return n == leader })
	t.Logf("killing %s, the leader of %s and %s", leader.Name, c.Topo.RecordsStream(), c.Topo.ResultsStream())
	leader.Kill()
	downAt := time.Now()
	for _, g := range []raftGroup{results, records} {
		if l := c.Leader(g); l != leader {
			t.Logf("%s: %s elected %v after the kill", g.what, l.Name, time.Since(downAt).Round(100*time.Millisecond))
		}
	}
	liveAtLoss, err := c.Live("Account")
	if err != nil {
		t.Fatal(err)
	}
	// Producers keep publishing, workers keep loading, on two nodes.
	c.Publish(j, n/2+1, n)
	t.Logf("published the second half (%d records) with %s down", n-n/2, leader.Name)
	c.WaitLive("Account", liveAtLoss+3000, 3*time.Minute)
	newLeader := c.Leader(records)
	liveBack, _ := c.Live("Account")
	t.Logf("with %s down for %v: %d records loaded, %s leads the stream", leader.Name, time.Since(downAt).Round(time.Second), liveBack-liveAtLoss, newLeader.Name)
	if newLeader == leader {
		t.Errorf("%s is down but still reported as the stream leader", leader.Name)
	}

	leader.Start() // waits for its full /healthz: JetStream current again
	t.Logf("%s back after %v", leader.Name, time.Since(downAt).Round(time.Second))
	res := c.Watch(j, 10*time.Minute)
	a := c.Audit(j, res, time.Since(start), AuditOptions{})
	Report(t, fmt.Sprintf("NATS node loss: %s (records and results stream leader) killed mid-run, restarted", leader.Name), a)
	// What the workers logged as errors meanwhile (evidence, not asserted).
	for _, w := range c.Workers {
		for _, line := range w.LogLines(`"level":"error"`) {
			t.Logf("%s logged: %s", w.Name, line)
		}
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

// raftGroup is a stream or consumer of the cluster, with its own leader.
type raftGroup struct {
	what     string
	info     func(ctx context.Context) (*jetstream.ClusterInfo, error)
	stepDown string // JetStream API subject that makes its leader step down
}

func (c *Cluster) streamGroup(stream string) raftGroup {
	return raftGroup{
		what: "stream " + stream,
		info: func(ctx context.Context) (*jetstream.ClusterInfo, error) {
			s, err := c.JS.Stream(ctx, stream)
			if err != nil {
				return nil, err
			}
			info, err := s.Info(ctx)
			if err != nil {
				return nil, err
			}
			return info.Cluster, nil
		},
		stepDown: "$JS.API.STREAM.LEADER.STEPDOWN." + stream,
	}
}

// Leader returns the NATS node leading a stream or consumer.
func (c *Cluster) Leader(g raftGroup) *Node {
	c.t.Helper()
	var name string
	c.Eventually("a leader of "+g.what, time.Minute, func() error {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		ci, err := g.info(ctx)
		if err != nil {
			return err
		}
		if ci == nil || ci.Leader == "" {
			return errors.New("no leader")
		}
		name = ci.Leader
		return nil
	})
	for _, n := range c.NATS {
		if n.Name == name {
			return n
		}
	}
	c.t.Fatalf("the leader of %s is %q, not a node of the cluster", g.what, name)
	return nil
}

// MoveLeader makes the leader of a stream or consumer step down until
// want(leader) holds (each step-down elects one of the other replicas).
func (c *Cluster) MoveLeader(g raftGroup, want func(*Node) bool) {
	c.t.Helper()
	for range 12 {
		from := c.Leader(g)
		if want(from) {
			return
		}
		msg, err := c.NC.Request(g.stepDown, nil, 10*time.Second)
		if err != nil {
			c.t.Fatalf("stepping down the leader of %s: %v", g.what, err)
		}
		var resp struct {
			Success bool `json:"success"`
		}
		if err := json.Unmarshal(msg.Data, &resp); err != nil || !resp.Success {
			c.t.Fatalf("stepping down the leader of %s: %s", g.what, msg.Data)
		}
		c.Eventually("a new leader of "+g.what, time.Minute, func() error {
			if l := c.Leader(g); l == from {
				return fmt.Errorf("%s still leads", from.Name)
			}
			return nil
		})
	}
	c.t.Fatalf("could not move the leader of %s where wanted", g.what)
}
