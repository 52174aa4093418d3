package deadletter_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// attempts counts, per dead letter, the publishes replays attempted
// (the step just before publishing). The records stream deduplicates
// republishes within its real 2-minute window, which the fake clock does
// not move: counting attempts shows a republish that the stream's window
// would have hidden.
type attempts struct {
	mu sync.Mutex
	n  map[uint64]int
}

func (a *attempts) hook(next func(deadletter.Step, uint64) error) func(deadletter.Step, uint64) error {
	return func(s deadletter.Step, seq uint64) error {
		if s == deadletter.StepPublishing {
			a.mu.Lock()
			if a.n == nil {
				a.n = map[uint64]int{}
			}
			a.n[seq]++
			a.mu.Unlock()
		}
		if next != nil {
			return next(s, seq)
		}
		return nil
	}
}

func (a *attempts) of(seq uint64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[seq]
}

var errCrash = errors.New("crash")

// crashAt ends the replay right after step s of dead letter seq.
func crashAt(s deadletter.Step, seq uint64) func(deadletter.Step, uint64) error {
	return func(got deadletter.Step, gotSeq uint64) error {
		if got == s && gotSeq == seq {
			return errCrash
		}
		return nil
	}
}

// checkAtMostOnce checks that no dead letter is in the records stream more
// than once, and none is lost: each is in the records stream or still in
// the dead-letter stream. It returns the copies.
func (e *env) checkAtMostOnce(seqs []uint64) map[uint64]int {
	e.t.Helper()
	copies := e.replayedCopies()
	left := map[uint64]bool{}
	for _, s := range e.list(deadletter.Filter{}) {
		left[s] = true
	}
	for _, s := range seqs {
		switch {
		case copies[s] > 1:
			e.t.Errorf("dead letter %d is in the records stream %d times", s, copies[s])
		case copies[s] == 0 && !left[s]:
			e.t.Errorf("dead letter %d is lost: neither republished nor in the dead-letter stream", s)
		}
	}
	return copies
}

// crashCase is a replay that crashes right after step, followed by
// another replay soon after, or late (long past the records stream's
// duplicate window), and what that one does with the crashed dead letter.
type crashCase struct {
	step    deadletter.Step
	late    bool
	outcome deadletter.Outcome // of the crashed dead letter in the next replay ("": not listed)
	copies  int                // its copies after the next replay
}

func (c crashCase) name() string {
	if c.late {
		return string(c.step) + "/late"
	}
	return string(c.step) + "/soon"
}

var crashCases = func() []crashCase {
	var cs []crashCase
	for _, c := range []struct {
		step       deadletter.Step
		soon, late crashCase
	}{
		// Claimed, not published: soon, completed under the claim's id; late,
		// in doubt (whether it was published is unknown to the replay).
		{deadletter.StepClaim, crashCase{outcome: deadletter.Replayed, copies: 1}, crashCase{outcome: deadletter.InDoubt}},
		{deadletter.StepPublishing, crashCase{outcome: deadletter.Replayed, copies: 1}, crashCase{outcome: deadletter.InDoubt}},
		// Published, not recorded: soon, the stream drops the second copy;
		// late, in doubt, and nothing is published again.
		{deadletter.StepPublished, crashCase{outcome: deadletter.Replayed, copies: 1}, crashCase{outcome: deadletter.InDoubt, copies: 1}},
		// Recorded: the next replay only removes the dead letter.
		{deadletter.StepRecorded, crashCase{outcome: deadletter.AlreadyReplayed, copies: 1}, crashCase{outcome: deadletter.AlreadyReplayed, copies: 1}},
		// Removed: nothing left to do.
		{deadletter.StepRemoved, crashCase{copies: 1}, crashCase{copies: 1}},
		{deadletter.StepDone, crashCase{copies: 1}, crashCase{copies: 1}},
	} {
		c.soon.step, c.late.step, c.late.late = c.step, c.step, true
		cs = append(cs, c.soon, c.late)
	}
	return cs
}()

// A replay that ends at any step (a crash: no later step of any dead letter
// runs), followed by another replay soon after or long after (past the
// records stream's duplicate window), publishes no dead letter twice and
// loses none. Long after, a claim whose publish may have happened is in
// doubt, never republished by itself; the operator's override republishes
// it once. (TestReplayInACluster runs the same cases on R3 streams.)
func TestReplayCrashAtEveryStep(t *testing.T) {
	t.Parallel()
	for _, c := range crashCases {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			c.run(setup(t))
		})
	}
}

func (c crashCase) run(e *env) {
	t := e.t
	t.Helper()
	var seqs []uint64
	for n := range 6 {
		seqs = append(seqs, e.store(dl{"accounts", "Account", "upsert", "X", "job-1", int64(n + 1)}))
	}
	crashed := seqs[2]
	clock := newFakeClock()
	var att attempts
	crashing := e.inspector(deadletter.WithClock(clock.Now), deadletter.WithConcurrency(1),
		deadletter.WithStepHook(att.hook(crashAt(c.step, crashed))))
	rep, err := crashing.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{By: "crasher"})
	if !errors.Is(err, deadletter.ErrAborted) {
		t.Fatalf("crashing replay: %v, %+v", err, rep)
	}
	e.checkAtMostOnce(seqs)
	before := att.of(crashed)

	if c.late {
		clock.Advance(time.Hour)
	}
	next := e.inspector(deadletter.WithClock(clock.Now), deadletter.WithClaimWait(20*time.Millisecond),
		deadletter.WithStepHook(att.hook(nil)))
	rep = e.replay(next, deadletter.Filter{}, deadletter.ReplayOptions{By: "next"})
	copies := e.checkAtMostOnce(seqs)
	got := outcomes(rep)[crashed]
	if got != c.outcome || copies[crashed] != c.copies {
		t.Errorf("dead letter %d after the crash: %q with %d copies, want %q with %d\n%+v", crashed, got, copies[crashed], c.outcome, c.copies, rep.Results)
	}
	if c.late && att.of(crashed) != before {
		t.Errorf("a replay long after the crash attempted %d publishes of the crashed dead letter", att.of(crashed)-before)
	}
	for _, s := range seqs {
		if s != crashed && copies[s] != 1 {
			t.Errorf("dead letter %d: %d copies", s, copies[s])
		}
	}
	msgID := fmt.Sprintf("replay-%s-%d", e.topo.DLQStream(), crashed)
	if got == deadletter.InDoubt {
		r := result(t, rep, crashed)
		if !strings.Contains(r.Reason, "crasher") || !strings.Contains(r.Action, "--republish-in-doubt") ||
			!strings.Contains(r.Action, "Nats-Msg-Id "+msgID) || r.Removed {
			t.Errorf("in-doubt result %+v", r)
		}
	}

	// Replaying again, later still, changes nothing.
	clock.Advance(24 * time.Hour)
	att2 := att.of(crashed)
	rep = e.replay(next, deadletter.Filter{}, deadletter.ReplayOptions{})
	if copies := e.checkAtMostOnce(seqs); copies[crashed] != c.copies || att.of(crashed) != att2 {
		t.Errorf("a third replay: %d copies, %d more attempts; %+v", copies[crashed], att.of(crashed)-att2, rep.Results)
	}
	if got == deadletter.InDoubt && c.copies == 0 {
		// The operator checked: it did not arrive. The override needs it
		// named, and republishes it once.
		if _, err := next.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{RepublishInDoubt: true}); err == nil {
			t.Error("RepublishInDoubt without sequences: no error")
		}
		rep = e.replay(next, deadletter.Filter{Seqs: []uint64{crashed}}, deadletter.ReplayOptions{RepublishInDoubt: true, DryRun: true})
		if r := result(t, rep, crashed); r.Outcome != deadletter.Replayed || r.MsgID != msgID+"-2" || e.replayedCopies()[crashed] != 0 {
			t.Errorf("override, dry run: %+v", r)
		}
		rep = e.replay(next, deadletter.Filter{Seqs: []uint64{crashed}}, deadletter.ReplayOptions{RepublishInDoubt: true})
		r := result(t, rep, crashed)
		if r.Outcome != deadletter.Replayed || r.MsgID != msgID+"-2" || !r.Removed {
			t.Errorf("override: %+v", r)
		}
		if copies := e.checkAtMostOnce(seqs); copies[crashed] != 1 {
			t.Errorf("after the override: %d copies", copies[crashed])
		}
	}
}

// A republish that an earlier version of replay made and did not record (it
// kept no replay records) is found by its Nats-Msg-Id: the stream keeps one
// copy, and the report says so.
func TestReplayAfterUnrecordedReplay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	seq := e.store(dl{"accounts", "Account", "upsert", "X", "job-1", 1})
	m := nats.NewMsg("kinetic.records.Account.upsert")
	m.Data = []byte(`{"ext_id":"job-1-1","company":""}`)
	m.Header.Set(messages.HeaderMsgID, fmt.Sprintf("replay-KINETIC_DLQ-%d", seq))
	m.Header.Set(messages.HeaderReplayOf, fmt.Sprint(seq))
	if _, err := e.js.PublishMsg(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	rep := e.replay(e.insp, deadletter.Filter{}, deadletter.ReplayOptions{})
	if r := result(t, rep, seq); r.Outcome != deadletter.Replayed || !r.Duplicate || r.RecordsSeq != 1 || !r.Removed || !strings.Contains(r.Reason, "kept no record") {
		t.Errorf("result %+v", r)
	}
	if n := e.streamMsgs(e.topo.RecordsStream()); n != 1 {
		t.Errorf("records stream holds %d, want 1", n)
	}
	if n := e.streamMsgs(e.topo.DLQStream()); n != 0 {
		t.Errorf("dead-letter stream holds %d, want 0", n)
	}
}

// Two replays of the same dead letters at the same time (an operator in the
// CLI, another in the console) publish each once, and their reports agree:
// each dead letter is replayed by exactly one of them, and the other says it
// was replayed concurrently (or already), never that it failed.
func TestReplayTwoAtOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var seqs []uint64
	for n := range 300 {
		p := []dl{{"accounts", "Account", "upsert", "X", "job-1", int64(n + 1)}, {"account-inserts", "Account", "insert", "X", "job-2", int64(n + 1)}}[n%2]
		seqs = append(seqs, e.store(p))
	}
	a, b := e.inspector(), e.inspector()
	var wg sync.WaitGroup
	reps := make([]*deadletter.ReplayReport, 2)
	for k, insp := range []*deadletter.Inspector{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := insp.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{By: fmt.Sprint("operator-", k)})
			if err != nil {
				t.Errorf("replay %d: %v", k, err)
			}
			reps[k] = rep
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	copies := e.checkAtMostOnce(seqs)
	replayedBy := map[uint64][]int{}
	for k, rep := range reps {
		for _, r := range rep.Results {
			switch r.Outcome {
			case deadletter.Replayed:
				replayedBy[r.Seq] = append(replayedBy[r.Seq], k)
			case deadletter.ReplayedConcurrently, deadletter.AlreadyReplayed:
				if r.By != fmt.Sprint("operator-", 1-k) || r.RecordsSeq == 0 {
					t.Errorf("replay %d, dead letter %d: %+v", k, r.Seq, r)
				}
			default:
				t.Errorf("replay %d, dead letter %d: %s: %s", k, r.Seq, r.Outcome, r.Reason)
			}
		}
	}
	for _, s := range seqs {
		if copies[s] != 1 || len(replayedBy[s]) != 1 {
			t.Errorf("dead letter %d: %d copies, replayed by %v", s, copies[s], replayedBy[s])
		}
	}
	if left := e.list(deadletter.Filter{}); len(left) != 0 {
		t.Errorf("left in the dead-letter stream: %v", left)
	}
	t.Logf("replay 0: %v; replay 1: %v", reps[0].Counts, reps[1].Counts)
}

// Dead letters of one key are replayed in stream order, and one that is not
// replayed holds back the later ones of its key (replaying them first would
// reorder the key's changes); other keys go on.
func TestReplayHoldsBackALaterChangeOfTheSameKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	keyed := func(key string, n int64, subject string) uint64 {
		d := e.letter(dl{"accounts", "Account", "upsert", "X", "job-1", n})
		d.Subject = subject
		if subject == "" {
			d.Subject = "kinetic.records.Account.upsert.3." + key
		}
		return e.storeLetter(d)
	}
	a1 := keyed("a", 1, "")
	bad := keyed("a", 2, "kinetic.records.Account.upsert.3.a$") // refused: its token; same order key? no: another token
	a3 := keyed("a", 3, "")
	d := e.letter(dl{"accounts", "Account", "upsert", "X", "job-1", 4})
	d.Subject, d.Headers[messages.HeaderSeq] = "kinetic.records.Account.upsert.3.b", []string{"0"} // refused: its headers
	b1 := e.storeLetter(d)
	b2 := keyed("b", 5, "")
	c1 := keyed("c", 6, "")
	rep := e.replay(e.insp, deadletter.Filter{}, deadletter.ReplayOptions{})
	want := map[uint64]deadletter.Outcome{a1: deadletter.Replayed, bad: deadletter.Refused, a3: deadletter.Replayed,
		b1: deadletter.Refused, b2: deadletter.Refused, c1: deadletter.Replayed}
	for seq, o := range want {
		if r := result(t, rep, seq); r.Outcome != o {
			t.Errorf("dead letter %d: %s (%s), want %s", seq, r.Outcome, r.Reason, o)
		}
	}
	if r := result(t, rep, b2); !strings.Contains(r.Reason, fmt.Sprintf("held back: dead letter %d of the same key", b1)) {
		t.Errorf("held back: %+v", r)
	}
	if got := e.list(deadletter.Filter{}); !slices.Equal(got, []uint64{bad, b1, b2}) {
		t.Errorf("left %v", got)
	}
}

// A dead letter purged between the listing and its claim is reported gone,
// and nothing is published; its claim is withdrawn.
func TestReplayGoneMeanwhile(t *testing.T) {
	t.Parallel()
	e := setup(t)
	seqs := e.storeFive()
	dlq, err := e.js.Stream(ctxT(t), e.topo.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	insp := e.inspector(deadletter.WithConcurrency(1), deadletter.WithStepHook(func(s deadletter.Step, seq uint64) error {
		if s == deadletter.StepClaim && seq == seqs[1] {
			return dlq.DeleteMsg(ctxT(t), seq) // an operator purges it right now
		}
		return nil
	}))
	rep := e.replay(insp, deadletter.Filter{}, deadletter.ReplayOptions{})
	if r := result(t, rep, seqs[1]); r.Outcome != deadletter.Gone || !r.Removed || r.RecordsSeq != 0 {
		t.Errorf("purged meanwhile: %+v", r)
	}
	if got := e.replayedCopies(); len(got) != 4 || got[seqs[1]] != 0 {
		t.Errorf("records stream: %v", got)
	}
	if st, err := e.insp.ReplayStatus(ctxT(t), deadletter.Entry{Seq: seqs[1], DeadLetter: e.letter(dl{})}); err != nil || st != nil {
		t.Errorf("the claim of a dead letter gone meanwhile: %+v, %v", st, err)
	}
}

// Dead-letter sequences restart when the stream is re-created: a replay
// record about the old dead letter of a sequence is never taken for the new
// one's (it would make the new one look replayed, or in doubt).
func TestReplayRecordOfAnotherDeadLetter(t *testing.T) {
	t.Parallel()
	e := setup(t)
	seq := e.store(dl{"accounts", "Account", "upsert", "X", "job-1", 1})
	clock := newFakeClock()
	crashing := e.inspector(deadletter.WithClock(clock.Now), deadletter.WithStepHook(crashAt(deadletter.StepClaim, seq)))
	if _, err := crashing.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{}); !errors.Is(err, deadletter.ErrAborted) {
		t.Fatal(err)
	}
	if err := e.js.DeleteStream(ctxT(t), e.topo.DLQStream()); err != nil {
		t.Fatal(err)
	}
	if err := e.topo.Ensure(ctxT(t), e.js); err != nil {
		t.Fatal(err)
	}
	again := e.store(dl{"accounts", "Account", "upsert", "Y", "job-2", 1})
	if again != seq {
		t.Fatalf("the re-created stream stored at %d, want %d", again, seq)
	}
	for _, late := range []time.Duration{0, time.Hour} {
		clock.Advance(late)
		insp := e.inspector(deadletter.WithClock(clock.Now), deadletter.WithClaimWait(10*time.Millisecond))
		rep := e.replay(insp, deadletter.Filter{}, deadletter.ReplayOptions{})
		r := result(t, rep, seq)
		if r.Outcome != deadletter.Refused || !strings.Contains(r.Reason, "about another dead letter") || !strings.Contains(r.Action, "delete key 1 of bucket KINETIC_REPLAYS") {
			t.Errorf("%v later: %+v", late, r)
		}
		if n := e.streamMsgs(e.topo.RecordsStream()); n != 0 {
			t.Errorf("records stream holds %d", n)
		}
	}
}

// A replay into another pipeline that stopped after its claim is completed
// as it was started: to that pipeline's subject, under its Nats-Msg-Id,
// whatever the next replay was asked.
func TestReplayCompletesAClaimIntoAnotherPipeline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	seq := e.store(dl{"accounts", "Account", "upsert", "X", "job-1", 1})
	crashing := e.inspector(deadletter.WithStepHook(crashAt(deadletter.StepClaim, seq)))
	if _, err := crashing.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{ToPipeline: "account-inserts"}); !errors.Is(err, deadletter.ErrAborted) {
		t.Fatal(err)
	}
	rep := e.replay(e.inspector(deadletter.WithClaimWait(10*time.Millisecond)), deadletter.Filter{}, deadletter.ReplayOptions{})
	if r := result(t, rep, seq); r.Outcome != deadletter.Replayed || r.Subject != "kinetic.records.Account.insert" || r.Pipeline != "account-inserts" ||
		!strings.Contains(r.Reason, "completed replay") || r.MsgID != fmt.Sprintf("replay-KINETIC_DLQ-%d", seq) {
		t.Errorf("result %+v", r)
	}
	recs := e.records()
	if len(recs) != 1 || recs[0].Subject != "kinetic.records.Account.insert" {
		t.Errorf("records stream: %v", recs)
	}
}
