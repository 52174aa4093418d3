package deadletter_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// TestReplayRate measures replay on KINETIC_REPLAY_RATE dead letters (not
// run unless set), on one server and on a 3-node cluster with R3 streams;
// KINETIC_REPLAY_CONCURRENCY sets WithConcurrency (default 8):
//
//	KINETIC_REPLAY_RATE=20000 go test -run TestReplayRate -v ./pkg/deadletter
func TestReplayRate(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("KINETIC_REPLAY_RATE"))
	if n <= 0 {
		t.Skip("set KINETIC_REPLAY_RATE to a number of dead letters")
	}
	t.Run("one server", func(t *testing.T) { measureReplay(t, setup(t), n) })
	t.Run("3-node cluster, R3", func(t *testing.T) { measureReplay(t, startCluster(t).env(t, "rate"), n) })
}

func measureReplay(t *testing.T, e *env, n int) {
	for k := range n {
		d := e.letter(dl{"account-inserts", "Account", "insert", "X", "rate", int64(k + 1)})
		h, body, err := messages.EncodeDeadLetter(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.js.PublishMsgAsync(&nats.Msg{Subject: e.topo.Subjects().DeadLetters(d.Pipeline, d.SObject, d.Mode), Header: h, Data: body}); err != nil {
			t.Fatal(err)
		}
		if k%500 == 499 || k == n-1 {
			select {
			case <-e.js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				t.Fatal("storing dead letters: no ack for a minute")
			}
		}
	}
	if c, _ := strconv.Atoi(os.Getenv("KINETIC_REPLAY_CONCURRENCY")); c > 0 {
		e.insp = e.inspector(deadletter.WithConcurrency(c))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	list, err := e.insp.List(ctx, deadletter.Filter{})
	if err != nil || len(list) != n {
		t.Fatalf("list: %d, %v", len(list), err)
	}
	t.Logf("list: %d dead letters in %v (%.0f/s)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	start = time.Now()
	rep, err := e.insp.Replay(ctx, deadletter.Filter{}, deadletter.ReplayOptions{DryRun: true})
	if err != nil || rep.Count(deadletter.Replayed) != n {
		t.Fatalf("dry run: %v, %v", rep.Counts, err)
	}
	t.Logf("dry run: %v in %v (%.0f/s)", rep.Counts, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	start = time.Now()
	rep, err = e.insp.Replay(ctx, deadletter.Filter{}, deadletter.ReplayOptions{})
	took := time.Since(start)
	if err != nil || rep.Count(deadletter.Replayed) != n {
		t.Fatalf("replay: %v, %v", rep.Counts, err)
	}
	t.Logf("replay: %v in %v (%.0f/s)", rep.Counts, took.Round(time.Millisecond), float64(n)/took.Seconds())
	if got := e.replayedCopies(); len(got) != n {
		t.Errorf("%d republished", len(got))
	}
	fmt.Fprintln(os.Stderr)
}
