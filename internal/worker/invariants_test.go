package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Dead letters are listed, shown, replayed after the schema is fixed, and
// then loaded; a second replay publishes nothing.
func TestDeadLettersReplayAfterFixingTheSchema(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	e.start(nil)
	recs := accounts(10, "D")
	for _, i := range []int{2, 5, 7} {
		recs[i]["key"] = fmt.Sprintf("D-%d-%s", i, "with-a-key-longer-than-forty-characters")
	}
	e.publish("accounts", "d1", recs, false)
	if res := e.wait("d1", 10); res.SuccessCount != 7 || res.ErrorCount != 3 {
		t.Fatalf("%v", res.SyncResult)
	}
	ctx := ctxT(t)
	insp, err := deadletter.NewInspector(ctx, replayJS(t, e), e.topo, deadletter.WithPipelines(e.cfg))
	if err != nil {
		t.Fatal(err)
	}
	list, err := insp.List(ctx, deadletter.Filter{Pipeline: "accounts", Code: "STRING_TOO_LONG"})
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %d, %v", len(list), err)
	}
	if other, _ := insp.List(ctx, deadletter.Filter{Code: "DUPLICATE_VALUE"}); len(other) != 0 {
		t.Errorf("code filter matched %d", len(other))
	}
	if other, _ := insp.List(ctx, deadletter.Filter{Job: "nope"}); len(other) != 0 {
		t.Errorf("job filter matched %d", len(other))
	}
	shown, err := insp.Get(ctx, list[0].Seq)
	if err != nil || shown.DeadLetter.Code != "STRING_TOO_LONG" || shown.DeadLetter.Key != "" || string(shown.DeadLetter.Data) == "" {
		t.Fatalf("show: %+v %v", shown, err)
	}

	// Fix the schema: the external id field gets longer.
	fix, err := sfsim.ParseSchema([]byte(`
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 80, external_id: true, unique: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Server.ApplySchema(fix); err != nil {
		t.Fatal(err)
	}
	dry, err := insp.Replay(ctx, deadletter.Filter{Pipeline: "accounts"}, deadletter.ReplayOptions{DryRun: true})
	if err != nil || dry.Count(deadletter.Replayed) != 3 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if left, _ := insp.List(ctx, deadletter.Filter{}); len(left) != 3 {
		t.Fatalf("a dry run removed dead letters: %d left", len(left))
	}
	rep, err := insp.Replay(ctx, deadletter.Filter{Pipeline: "accounts"}, deadletter.ReplayOptions{})
	if err != nil || rep.Count(deadletter.Replayed) != 3 || rep.Unsettled() != 0 {
		t.Fatalf("replay: %+v %v", rep, err)
	}
	e.waitFor("the replayed records to load", func() bool { return e.live("Account") == 10 })
	if left, _ := insp.List(ctx, deadletter.Filter{}); len(left) != 0 {
		t.Fatalf("%d dead letters left after replay", len(left))
	}
	again, err := insp.Replay(ctx, deadletter.Filter{}, deadletter.ReplayOptions{})
	if err != nil || len(again.Results) != 0 {
		t.Fatalf("second replay: %+v %v", again, err)
	}
	// Purge.
	e.publish("accounts", "d2", []map[string]any{{"key": "no-company"}}, false)
	e.wait("d2", 1)
	if n, err := insp.Purge(ctx, deadletter.Filter{Job: "d2"}); err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
}

// A replay interrupted after the republish and before the delete publishes
// once: the records stream deduplicates the second republish.
func TestReplayTwiceDoesNotDoublePublish(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	e.setupStreams()
	ctx := ctxT(t)
	// A dead letter, as a worker would store it.
	dl := &messages.DeadLetter{Pipeline: "accounts", SObject: "Account", Mode: "upsert", Subject: "kinetic.records.Account.upsert",
		Stream: e.topo.RecordsStream(), StreamSeq: 99, Data: []byte(`{"key":"X","company":"Y"}`), Code: "STRING_TOO_LONG", Message: "m",
		FirstFailure: time.Now(), LastFailure: time.Now()}
	h, body, err := messages.EncodeDeadLetter(dl)
	if err != nil {
		t.Fatal(err)
	}
	msg := natsMsg(e.topo.Subjects().DeadLetters("accounts", "Account", "upsert"), h, body)
	if _, err := e.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	insp, err := deadletter.NewInspector(ctx, replayJS(t, e), e.topo, deadletter.WithPipelines(e.cfg))
	if err != nil {
		t.Fatal(err)
	}
	list, _ := insp.List(ctx, deadletter.Filter{})
	// Simulate the crash: republish by hand as Replay would, keep the dead letter.
	first, err := e.js.PublishMsg(ctx, replayMsg(e, list[0]))
	if err != nil || first.Duplicate {
		t.Fatal(err)
	}
	rep, err := insp.Replay(ctx, deadletter.Filter{}, deadletter.ReplayOptions{})
	if err != nil || rep.Count(deadletter.Replayed) != 1 || !rep.Results[0].Duplicate {
		t.Fatalf("replay after a crash: %+v %v", rep, err)
	}
	s, _ := e.js.Stream(ctx, e.topo.RecordsStream())
	info, _ := s.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("records stream holds %d copies, want 1", info.State.Msgs)
	}
}

// replayJS connects as deadletter.Replay needs: without a reconnect buffer.
func replayJS(t *testing.T, e *env) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(e.url, nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// A worker that dies mid-batch without acking: its records are redelivered
// to another replica and loaded; nothing is lost and UPSERT makes no
// duplicates.
func TestWorkerDiesMidBatch(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Faults: sfsim.Faults{Latency: 500 * time.Millisecond}})
	a := e.start(nil)
	e.publish("accounts", "crash", accounts(1000, "C"), false)
	e.waitFor("worker A to have batches in Salesforce", func() bool { return e.sim.Server.Stats().CallsByKind["collections_upsert"] >= 2 })
	// Kill A: its connection drops, so none of its in-flight messages are
	// acked; its Salesforce calls may still complete.
	a.nc.Close()
	b := e.start(nil)
	res := e.wait("crash", 1000)
	if res.SuccessCount != 1000 {
		t.Fatalf("%v", res.SyncResult)
	}
	redelivered := 0
	for _, o := range res.Outcomes {
		if o.Delivery > 1 {
			redelivered++
		}
	}
	if redelivered == 0 {
		t.Error("no record was redelivered: the crash happened after A settled everything")
	}
	if n := e.live("Account"); n != 1000 {
		t.Fatalf("accounts = %d, want 1000 (no duplicates)", n)
	}
	t.Logf("redelivered %d records, %d duplicate outcomes ignored", redelivered, res.Duplicates)
	b.stop(t)
}

// Graceful shutdown under load: in-flight batches finish and are acked
// before Run returns, and another replica loads the rest. With calls that
// finish within ShutdownTimeout, even INSERT loses and doubles nothing.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Faults: sfsim.Faults{Latency: 100 * time.Millisecond}})
	a := e.start(nil) // ShutdownTimeout 10 s: every call in flight finishes
	e.publish("account-inserts", "gs", accounts(3000, "G"), false)
	e.waitFor("loading to start", func() bool { return e.live("Account") > 0 })
	a.stop(t) // returns only after every in-flight message was settled
	loadedByA := e.live("Account")
	if loadedByA >= 3000 {
		t.Fatal("A finished everything before it was stopped; the test proves nothing")
	}
	e.start(nil)
	res := e.wait("gs", 3000)
	if res.SuccessCount != 3000 {
		t.Fatalf("%v; errors: %+v", res.SyncResult, res.Errors[:min(len(res.Errors), 3)])
	}
	if n := e.live("Account"); n != 3000 {
		t.Fatalf("accounts = %d, want 3000 (INSERT: nothing lost, nothing doubled)", n)
	}
	t.Logf("A loaded %d before stopping", loadedByA)
}

// A shutdown whose timeout interrupts Salesforce calls: the interrupted
// records are naked, not dead-lettered, and another replica loads them.
// (Salesforce may still apply an interrupted call, so this uses UPSERT:
// for INSERT that is the at-least-once window docs/architecture.md
// describes.)
func TestShutdownTimeoutRequeuesInterruptedCalls(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Faults: sfsim.Faults{Latency: 2 * time.Second}})
	a := e.start(func(o *worker.Config) { o.ShutdownTimeout = 150 * time.Millisecond })
	e.publish("accounts", "cut", accounts(1000, "S"), false)
	cons, err := e.js.Consumer(ctxT(t), e.topo.RecordsStream(), "kinetic_accounts")
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("A to hold records", func() bool {
		info, err := cons.Info(ctxT(t))
		return err == nil && info.NumAckPending > 0
	})
	a.stop(t) // interrupts A's 2 s calls after 150 ms
	e.start(nil)
	res := e.wait("cut", 1000)
	if res.SuccessCount != 1000 || len(e.deadLetters()) != 0 {
		t.Fatalf("%v, %d dead letters", res.SyncResult, len(e.deadLetters()))
	}
	redelivered := 0
	for _, o := range res.Outcomes {
		if o.Delivery > 1 {
			redelivered++
		}
	}
	if redelivered == 0 {
		t.Fatal("no record was redelivered: the shutdown timeout interrupted nothing")
	}
	if n := e.live("Account"); n != 1000 {
		t.Fatalf("accounts = %d, want 1000 (UPSERT: no duplicates)", n)
	}
	t.Logf("%d interrupted records were naked and loaded by the next replica", redelivered)
}

// Two replicas share one durable consumer; each record is processed by one.
func TestTwoReplicasShareTheConsumer(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Faults: sfsim.Faults{Latency: 20 * time.Millisecond}})
	e.start(func(o *worker.Config) { o.ID = "replica-a" })
	e.start(func(o *worker.Config) { o.ID = "replica-b" })
	e.publish("account-inserts", "two", accounts(4000, "W"), false)
	// Count outcomes per worker straight from the results stream.
	res := e.wait("two", 4000)
	if res.SuccessCount != 4000 || res.Duplicates != 0 {
		t.Fatalf("%v, %d duplicate outcomes", res.SyncResult, res.Duplicates)
	}
	if n := e.live("Account"); n != 4000 {
		t.Fatalf("accounts = %d, want 4000", n)
	}
	by := e.recordsByWorker("two")
	if by["replica-a"] == 0 || by["replica-b"] == 0 || by["replica-a"]+by["replica-b"] != 4000 {
		t.Fatalf("records by worker = %v", by)
	}
	cons, err := e.js.Consumer(ctxT(t), e.topo.RecordsStream(), "kinetic_account-inserts")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := cons.Info(ctxT(t))
	if info.Config.MaxDeliver != 4 || info.Config.AckWait != 3*time.Second || info.Config.MaxAckPending < 200*4 {
		t.Errorf("consumer config = %+v", info.Config)
	}
}

// A message that no worker ever settles exhausts MaxDeliver; JetStream's
// advisory is captured and the message ends in the dead-letter stream.
func TestMaxDeliveriesEndInTheDeadLetterStream(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	e.setupStreams()
	e.publish("accounts", "poison", accounts(1, "M"), false)
	ctx := ctxT(t)
	cons, err := e.js.Consumer(ctx, e.topo.RecordsStream(), "kinetic_accounts")
	if err != nil {
		t.Fatal(err)
	}
	// A "worker" that takes the message and dies every time (max_deliver 4).
	for i := 0; i < 4; i++ {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			if md.NumDelivered != uint64(i+1) {
				t.Fatalf("delivery %d: NumDelivered %d", i+1, md.NumDelivered)
			}
			got++
		}
		if got != 1 {
			t.Fatalf("delivery %d: %d messages", i+1, got)
		}
	}
	e.start(nil) // its advisory handler dead-letters the message
	res := e.wait("poison", 1)
	if res.ErrorCount != 1 || res.Errors[0].Code != messages.CodeMaxDeliveries {
		t.Fatalf("%v %+v", res.SyncResult, res.Errors)
	}
	dls := e.deadLetters()
	if len(dls) != 1 || dls[0].Code != messages.CodeMaxDeliveries || dls[0].Attempts != 4 || dls[0].Job != "poison" {
		t.Fatalf("dead letters = %+v", dls)
	}
	e.waitFor("the exhausted message to be removed from the work queue", func() bool {
		s, _ := e.js.Stream(ctx, e.topo.RecordsStream())
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
}

// stop_on_error at job level: after the job's first failure its remaining
// records are skipped, not loaded.
func TestJobStopOnError(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Faults: sfsim.Faults{Latency: 20 * time.Millisecond}})
	e.start(func(o *worker.Config) { o.Concurrency = 1 })
	recs := accounts(2000, "S")
	delete(recs[500], "company")
	e.publish("account-inserts", "stop", recs, true)
	res := e.wait("stop", 2000)
	if res.ErrorCount != 1 || res.Errors[0].Index != 500 {
		t.Fatalf("%v %+v", res.SyncResult, res.Errors)
	}
	if res.SkippedCount < 1000 || res.SuccessCount+res.ErrorCount+res.SkippedCount != 2000 {
		t.Fatalf("%v: the records after the failure must be skipped", res.SyncResult)
	}
	if n := e.live("Account"); n != res.SuccessCount {
		t.Fatalf("accounts = %d, loaded %d: skipped records reached Salesforce", n, res.SuccessCount)
	}
	// Another job is not affected.
	e.publish("account-inserts", "other", accounts(10, "O"), true)
	if r := e.wait("other", 10); r.SuccessCount != 10 {
		t.Fatalf("other job: %v", r.SyncResult)
	}
}

// Salesforce calls longer than AckWait do not cause redeliveries: the
// worker heartbeats with InProgress.
func TestHeartbeatsKeepLongCallsFromRedelivery(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Faults: sfsim.Faults{Latency: 4500 * time.Millisecond}}) // AckWait is 3s
	e.start(nil)
	e.publish("accounts", "slow", accounts(50, "H"), false)
	res := e.wait("slow", 50)
	for i, o := range res.Outcomes {
		if o.Delivery != 1 || o.Status != messages.StatusLoaded {
			t.Fatalf("record %d: %+v: redelivered although the worker was alive", i+1, o)
		}
	}
	if n := e.sim.Server.Stats().Records; n != 50 {
		t.Fatalf("Salesforce received %d records for 50: some were sent twice", n)
	}
}

func (e *env) recordsByWorker(job string) map[string]int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := e.js.OrderedConsumer(ctx, e.topo.ResultsStream(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{e.topo.Subjects().JobResults(job)}})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for {
		b, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			br, err := messages.DecodeBatchResult(m.Data())
			if err != nil {
				e.t.Fatal(err)
			}
			out[br.Worker] += br.Loaded
		}
		if n == 0 {
			return out
		}
	}
}
