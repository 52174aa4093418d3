package deadletter_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// cluster is a 3-node JetStream cluster in this process, as in production
// (deploy/docker-compose.yaml), for R3 streams.
type cluster struct {
	*devenv.Cluster
	t *testing.T
}

// startCluster starts three servers, each routed to all three, and waits
// until JetStream has a meta leader.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{Cluster: devenv.StartTestCluster(t, 3), t: t}
	nc, js := connect(t, c.URLs())
	defer nc.Close()
	c.retry("JetStream meta leader", func(ctx context.Context) error {
		_, err := js.AccountInfo(ctx)
		return err
	})
	return c
}

// restart starts the named server again, on its store, and waits until
// every stream of prefix has all its replicas current again.
func (c *cluster) restart(name string, e *env) {
	c.t.Helper()
	c.Restart(name)
	for _, name := range []string{e.topo.RecordsStream(), e.topo.DLQStream(), "KV_" + deadletter.ReplaysBucket(e.topo)} {
		c.retry("stream "+name+" current on every replica", func(ctx context.Context) error {
			st, err := e.js.Stream(ctx, name)
			if err != nil {
				return err
			}
			info, err := st.Info(ctx)
			if err != nil {
				return err
			}
			if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
				return fmt.Errorf("%s: cluster %+v", name, info.Cluster)
			}
			for _, r := range info.Cluster.Replicas {
				if !r.Current {
					return fmt.Errorf("%s: replica %s not current", name, r.Name)
				}
			}
			return nil
		})
	}
}

// retry runs op until it succeeds, for at most a minute.
func (c *cluster) retry(what string, op func(ctx context.Context) error) {
	c.t.Helper()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 50*time.Millisecond, time.Second, time.Minute
	var last error
	if err := backoff.Retry(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		last = op(ctx)
		return last
	}, b); err != nil {
		c.t.Fatalf("%s: %v (last: %v)", what, err, last)
	}
}

// env returns a test bundle on the cluster with R3 streams under prefix.
func (c *cluster) env(t *testing.T, prefix string) *env {
	t.Helper()
	nc, js := connect(t, c.URLs())
	e := &env{t: t, url: c.URLs(), nc: nc, js: js, topo: messages.Topology{Prefix: prefix, Replicas: 3}.WithDefaults()}
	c.retry("streams", func(ctx context.Context) error { return e.topo.Ensure(ctx, js) })
	e.insp, e.inc = e.inspectorConn()
	return e
}

// streamLeader names the server leading a stream.
func (e *env) streamLeader(name string) string {
	e.t.Helper()
	s, err := e.js.Stream(ctxT(e.t), name)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctxT(e.t))
	if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
		e.t.Fatalf("stream %s: no leader (%v)", name, err)
	}
	return info.Cluster.Leader
}

// On R3 streams in a 3-node cluster: a replay that crashes after any step,
// followed by one soon after and one long after, publishes nothing twice and
// loses nothing (the cases of TestReplayCrashAtEveryStep); and a replay
// during which the dead-letter stream's leader dies publishes each dead
// letter once, reports every one, and a replay after it (soon, and much
// later) settles the rest without publishing anything again.
func TestReplayInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	t.Parallel()
	c := startCluster(t)
	t.Run("crash", func(t *testing.T) {
		for k, cc := range crashCases {
			t.Run(cc.name(), func(t *testing.T) {
				cc.run(c.env(t, fmt.Sprintf("crash%d", k)))
			})
		}
	})
	// Retries ride out the election (the default budget, 30 s, is more than
	// it takes) ...
	t.Run("leader killed", func(t *testing.T) { c.killLeaderMidReplay(t, "kill1", 45*time.Second) })
	// ... or give up while it lasts: dead letters then end failed, in doubt
	// or replayed with their removal pending, and the next replay settles
	// them.
	t.Run("leader killed, short retries", func(t *testing.T) { c.killLeaderMidReplay(t, "kill2", 300*time.Millisecond) })
}

// killLeaderMidReplay replays n dead letters and kills the dead-letter
// stream's leader after a third of them are published; retries give up
// after budget. Then it replays again soon after, and a month later.
func (c *cluster) killLeaderMidReplay(t *testing.T, prefix string, budget time.Duration) {
	e := c.env(t, prefix)
	const n = 300
	seqs := make([]uint64, 0, n)
	for k := range n {
		seqs = append(seqs, e.store(dl{"account-inserts", "Account", "insert", "X", "job-1", int64(k + 1)}))
	}
	leader := e.streamLeader(e.topo.DLQStream())
	clock := newFakeClock()
	var published atomic.Int32
	var once sync.Once
	killed := make(chan struct{})
	insp := e.inspector(deadletter.WithClock(clock.Now), deadletter.WithBackOff(func() backoff.BackOff {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 50*time.Millisecond, time.Second, budget
		return b
	}), deadletter.WithStepHook(func(s deadletter.Step, _ uint64) error {
		if s == deadletter.StepPublished && published.Add(1) == n/3 {
			once.Do(func() {
				go func() { // the lanes carry on while it goes down
					c.Kill(leader)
					close(killed)
				}()
			})
		}
		return nil
	}))
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := insp.Replay(ctx, deadletter.Filter{}, deadletter.ReplayOptions{By: "during-election"})
	if err != nil {
		t.Fatalf("replay: %v (after %v)", err, time.Since(start))
	}
	<-killed
	defer c.restart(leader, e)
	t.Logf("replay with %s (the dead-letter stream's leader) killed after %d publishes, retries for %v: %v in %v",
		leader, n/3, budget, rep.Counts, time.Since(start).Round(time.Millisecond))
	notRemoved := 0
	for _, r := range rep.Results {
		switch r.Outcome {
		case deadletter.Replayed:
			if r.RecordsSeq == 0 {
				t.Errorf("dead letter %d replayed without a records sequence: %+v", r.Seq, r)
			}
			if !r.Removed {
				notRemoved++
				if !strings.Contains(r.Reason, "does not publish it again") {
					t.Errorf("dead letter %d: replayed, not removed: %q", r.Seq, r.Reason)
				}
			}
		case deadletter.InDoubt, deadletter.Failed:
			if r.Reason == "" || r.Removed || r.RecordsSeq != 0 {
				t.Errorf("dead letter %d: %+v", r.Seq, r)
			}
		default:
			t.Errorf("dead letter %d: %s: %s", r.Seq, r.Outcome, r.Reason)
		}
	}
	if len(rep.Results) != n {
		t.Errorf("%d results for %d dead letters", len(rep.Results), n)
	}
	copies := e.checkAtMostOnce(seqs)
	for _, r := range rep.Results {
		if r.Outcome == deadletter.Replayed && copies[r.Seq] != 1 {
			t.Errorf("dead letter %d reported replayed, %d copies", r.Seq, copies[r.Seq])
		}
	}
	// Soon after: everything left settles, nothing is published twice.
	start = time.Now()
	again, err := e.inspector(deadletter.WithClock(clock.Now), deadletter.WithClaimWait(50*time.Millisecond)).
		Replay(ctx, deadletter.Filter{}, deadletter.ReplayOptions{By: "after-election"})
	if err != nil {
		t.Fatalf("the next replay: %v", err)
	}
	t.Logf("the next replay: %v in %v (%d of the first one's replayed dead letters were not removed)", again.Counts, time.Since(start).Round(time.Millisecond), notRemoved)
	for _, r := range again.Results {
		if r.Outcome != deadletter.Replayed && r.Outcome != deadletter.AlreadyReplayed || !r.Removed {
			t.Errorf("dead letter %d in the next replay: %s: %s", r.Seq, r.Outcome, r.Reason)
		}
	}
	copies = e.checkAtMostOnce(seqs)
	for _, s := range seqs {
		if copies[s] != 1 {
			t.Errorf("dead letter %d: %d copies", s, copies[s])
		}
	}
	if left := e.list(deadletter.Filter{}); len(left) != 0 {
		t.Errorf("left in the dead-letter stream: %v", left)
	}
	// Much later: nothing to do, nothing published.
	clock.Advance(30 * 24 * time.Hour)
	last := e.replay(e.inspector(deadletter.WithClock(clock.Now)), deadletter.Filter{}, deadletter.ReplayOptions{})
	if len(last.Results) != 0 {
		t.Errorf("a month later: %+v", last.Results)
	}
	if got := e.replayedCopies(); len(got) != n {
		t.Errorf("records stream: %d dead letters republished, want %d", len(got), n)
	}
}

var (
	_ = nats.NewMsg
	_ jetstream.JetStream
)
