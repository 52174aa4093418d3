package deadletter_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// replay runs a replay that must not fail as a whole.
func (e *env) replay(insp *deadletter.Inspector, f deadletter.Filter, o deadletter.ReplayOptions) *deadletter.ReplayReport {
	e.t.Helper()
	rep, err := insp.Replay(ctxT(e.t), f, o)
	if err != nil {
		e.t.Fatalf("replay: %v", err)
	}
	return rep
}

// outcomes maps dead-letter sequences to outcomes.
func outcomes(rep *deadletter.ReplayReport) map[uint64]deadletter.Outcome {
	m := map[uint64]deadletter.Outcome{}
	for _, r := range rep.Results {
		m[r.Seq] = r.Outcome
	}
	return m
}

func result(t *testing.T, rep *deadletter.ReplayReport, seq uint64) deadletter.Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Seq == seq {
			return r
		}
	}
	t.Fatalf("no result for dead letter %d in %+v", seq, rep.Results)
	return deadletter.Result{}
}

// records returns every message in the records stream.
func (e *env) records() []*jetstream.RawStreamMsg {
	e.t.Helper()
	s, err := e.js.Stream(ctxT(e.t), e.topo.RecordsStream())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctxT(e.t), seq, jetstream.WithGetMsgSubject(e.topo.Subjects().AllRecords()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

// replayedCopies counts the records stream's copies of each dead letter
// (by Kinetic-Replay-Of).
func (e *env) replayedCopies() map[uint64]int {
	e.t.Helper()
	n := map[uint64]int{}
	for _, m := range e.records() {
		meta, err := messages.ParseRecordMeta(m.Header)
		if err != nil || meta.ReplayOf == 0 {
			e.t.Fatalf("records stream message %d is no replay: %v %v", m.Sequence, m.Header, err)
		}
		n[meta.ReplayOf]++
	}
	return n
}

func TestReplay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	rep := e.replay(e.insp, deadletter.Filter{Pipeline: "accounts"}, deadletter.ReplayOptions{})
	if got := outcomes(rep); len(got) != 2 || got[1] != deadletter.Replayed || got[2] != deadletter.Replayed ||
		rep.Count(deadletter.Replayed) != 2 || rep.Unsettled() != 0 || rep.DryRun {
		t.Fatalf("report: %+v", rep)
	}
	// The dead letters are gone; the others stay.
	if got := e.list(deadletter.Filter{}); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Errorf("left %v", got)
	}
	if _, err := e.insp.Get(ctxT(t), 1); err == nil {
		t.Error("replayed dead letter 1 is still there")
	}
	// The records stream got the original bytes and Kinetic's headers.
	recs := e.records()
	if len(recs) != 2 {
		t.Fatalf("records stream holds %d", len(recs))
	}
	// (Unkeyed dead letters are replayed concurrently: in any order.)
	slices.SortFunc(recs, func(a, b *jetstream.RawStreamMsg) int {
		return strings.Compare(a.Header.Get(messages.HeaderReplayOf), b.Header.Get(messages.HeaderReplayOf))
	})
	for i, dlSeq := range []uint64{1, 2} {
		raw := recs[i]
		res := result(t, rep, dlSeq)
		if res.RecordsSeq != raw.Sequence || !res.Removed || res.Subject != "kinetic.records.Account.upsert" || res.Pipeline != "accounts" ||
			!slices.Equal(res.DroppedHeaders, []string{"X-Trace"}) || res.Duplicate {
			t.Errorf("result %+v (stored at %d)", res, raw.Sequence)
		}
		if raw.Subject != "kinetic.records.Account.upsert" || string(raw.Data) != fmt.Sprintf(`{"ext_id":"job-1-%d","company":""}`, i+1) {
			t.Errorf("republished %s %s", raw.Subject, raw.Data)
		}
		h := raw.Header
		if h.Get(messages.HeaderStopOnError) != "" {
			t.Errorf("Kinetic-Stop-On-Error kept: %v", h)
		}
		if h.Get(messages.HeaderReplayOf) != fmt.Sprint(dlSeq) {
			t.Errorf("Kinetic-Replay-Of %q, want %d", h.Get(messages.HeaderReplayOf), dlSeq)
		}
		if got, want := h.Get(messages.HeaderMsgID), fmt.Sprintf("replay-KINETIC_DLQ-%d", dlSeq); got != want || res.MsgID != want {
			t.Errorf("Nats-Msg-Id %q (reported %q), want %q", got, res.MsgID, want)
		}
		if h.Get(messages.HeaderJob) != "job-1" || h.Get(messages.HeaderSeq) != fmt.Sprint(i+1) {
			t.Errorf("job headers not kept: %v", h)
		}
		if len(h) != 5 || h.Get("Nats-Expected-Stream") != "KINETIC_RECORDS" {
			t.Errorf("headers %v: want job, seq, replay-of, msg-id and the records stream only", h)
		}
		meta, err := messages.ParseRecordMeta(h)
		if err != nil || meta.ReplayOf != dlSeq || meta.StopOnError {
			t.Errorf("meta %+v, %v", meta, err)
		}
	}
	// Replaying again finds nothing and publishes nothing.
	rep = e.replay(e.insp, deadletter.Filter{Pipeline: "accounts"}, deadletter.ReplayOptions{})
	if len(rep.Results) != 0 {
		t.Errorf("second replay: %+v", rep)
	}
	if n := e.streamMsgs(e.topo.RecordsStream()); n != 2 {
		t.Errorf("records stream holds %d after the second replay", n)
	}
}

func TestReplayDryRun(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	bad := e.letter(dl{"accounts", "Account", "upsert", "REQUIRED_FIELD_MISSING", "job-9", 1})
	bad.Subject = "$JS.API.STREAM.PURGE.KINETIC_RECORDS"
	badSeq := e.storeLetter(bad)
	rep := e.replay(e.insp, deadletter.Filter{Code: "REQUIRED_FIELD_MISSING"}, deadletter.ReplayOptions{DryRun: true})
	if got := outcomes(rep); len(got) != 3 || got[1] != deadletter.Replayed || got[3] != deadletter.Replayed || got[badSeq] != deadletter.Refused || !rep.DryRun {
		t.Errorf("dry run: %v", got)
	}
	if r := result(t, rep, 3); r.Subject != "kinetic.records.Contact.upsert" || r.Removed || r.RecordsSeq != 0 {
		t.Errorf("dry-run result %+v", r)
	}
	if n := e.streamMsgs(e.topo.RecordsStream()); n != 0 {
		t.Errorf("dry run published %d records", n)
	}
	if got := e.list(deadletter.Filter{}); len(got) != 6 {
		t.Errorf("dry run deleted dead letters: %v left", got)
	}
}

// A dead letter is replayed only to a record subject of one of the
// deployment's pipelines, rebuilt from the pipeline's configuration: a dead
// letter naming a JetStream API subject (anyone allowed to publish to
// kinetic.dlq.> could plant one) would otherwise delete the records stream
// on the next routine replay.
func TestReplayRefusesWhatIsNotARecordOfAPipeline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	good := e.store(dl{"accounts", "Account", "upsert", "X", "job-1", 1})
	plant := func(mutate func(*messages.DeadLetter)) uint64 {
		d := e.letter(dl{"accounts", "Account", "upsert", "X", "job-2", 1})
		mutate(d)
		return e.storeLetter(d)
	}
	cases := map[uint64]string{
		plant(func(d *messages.DeadLetter) { d.Subject, d.Data = "$JS.API.STREAM.DELETE.KINETIC_RECORDS", nil }): "not a record subject",
		plant(func(d *messages.DeadLetter) { d.Subject = "$KV.KINETIC_STATE.job.x.stopped" }):                    "not a record subject",
		plant(func(d *messages.DeadLetter) { d.Subject = "kinetic.dlq.accounts.Account.upsert" }):                "not a record subject",
		plant(func(d *messages.DeadLetter) { d.Subject = "acme.records.Account.upsert" }):                        "not a record subject",
		plant(func(d *messages.DeadLetter) { d.Subject = "kinetic.records.Account.upsert.x.y" }):                 "not a record subject",
		plant(func(d *messages.DeadLetter) { d.Subject = "kinetic.records.Contact.upsert" }):                     `not pipeline "accounts"'s`,
		plant(func(d *messages.DeadLetter) { d.Subject = "kinetic.records.Account.upsert.3.a$b" }):               "key token",
		plant(func(d *messages.DeadLetter) { d.Pipeline = "ghost" }):                                             `pipeline "ghost" is not in`,
		plant(func(d *messages.DeadLetter) { d.Pipeline = "" }):                                                  "names no pipeline",
		plant(func(d *messages.DeadLetter) { d.Mode = "insert" }):                                                "loads Account upsert now",
		plant(func(d *messages.DeadLetter) { d.Headers[messages.HeaderJob] = []string{"a", "b"} }):               "has 2 values",
		plant(func(d *messages.DeadLetter) { d.Headers[messages.HeaderSeq] = []string{"-4"} }):                   "Kinetic-Seq",
	}
	rep := e.replay(e.insp, deadletter.Filter{}, deadletter.ReplayOptions{})
	if _, err := e.js.Stream(ctxT(t), e.topo.RecordsStream()); err != nil {
		t.Fatalf("records stream after the replay: %v", err)
	}
	if r := result(t, rep, good); r.Outcome != deadletter.Replayed {
		t.Errorf("the good dead letter: %+v", r)
	}
	for seq, want := range cases {
		r := result(t, rep, seq)
		if r.Outcome != deadletter.Refused || !strings.Contains(r.Reason, want) || r.Action == "" || r.Removed || r.RecordsSeq != 0 {
			t.Errorf("dead letter %d (%s): %+v; want refused, %q", seq, r.Entry.DeadLetter.Subject, r, want)
		}
	}
	if rep.Count(deadletter.Refused) != len(cases) || rep.Unsettled() != len(cases) {
		t.Errorf("counts %v", rep.Counts)
	}
	if got := e.replayedCopies(); len(got) != 1 || got[good] != 1 {
		t.Errorf("records stream: %v", got)
	}
	if n := e.streamMsgs(e.topo.DLQStream()); n != uint64(len(cases)) {
		t.Errorf("dead-letter stream holds %d, want the %d refused", n, len(cases))
	}
}

// Only Kinetic's record headers are republished: a Nats-* header would
// steer the records stream (Nats-Rollup purges a subject,
// Nats-Expected-Last-Sequence fails the publish, Nats-TTL expires the
// record), and a header the project does not define has no reader.
func TestReplayCarriesOnlyKineticHeaders(t *testing.T) {
	t.Parallel()
	e := setup(t)
	other := e.store(dl{"accounts", "Account", "upsert", "X", "job-0", 1})
	if _, err := e.insp.Replay(ctxT(t), deadletter.Filter{Seqs: []uint64{other}}, deadletter.ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	d := e.letter(dl{"accounts", "Account", "upsert", "X", "job-1", 1})
	d.Headers["Nats-Rollup"] = []string{"sub"}
	d.Headers["Nats-Expected-Last-Sequence"] = []string{"999"}
	d.Headers["Nats-TTL"] = []string{"1s"}
	d.Headers["Nats-Expected-Stream"] = []string{"ELSEWHERE"}
	d.Headers["kinetic-key"] = []string{"K-1"} // any case
	seq := e.storeLetter(d)
	rep := e.replay(e.insp, deadletter.Filter{Seqs: []uint64{seq}}, deadletter.ReplayOptions{})
	r := result(t, rep, seq)
	want := []string{"Nats-Expected-Last-Sequence", "Nats-Expected-Stream", "Nats-Rollup", "Nats-TTL", "X-Trace"}
	if r.Outcome != deadletter.Replayed || !slices.Equal(r.DroppedHeaders, want) {
		t.Fatalf("result %+v; want replayed, dropping %v", r, want)
	}
	recs := e.records()
	if len(recs) != 2 {
		t.Fatalf("records stream holds %d (a rollup purged the first?)", len(recs))
	}
	h := recs[1].Header
	for k := range h {
		switch k {
		case messages.HeaderJob, messages.HeaderSeq, messages.HeaderKey, messages.HeaderReplayOf, messages.HeaderMsgID:
		case "Nats-Expected-Stream": // Replay's own
			if h.Get(k) != e.topo.RecordsStream() {
				t.Errorf("republished with %s: %v", k, h[k])
			}
		default:
			t.Errorf("republished header %s: %v", k, h[k])
		}
	}
	if h.Get(messages.HeaderKey) != "K-1" {
		t.Errorf("Kinetic-Key %q", h.Get(messages.HeaderKey))
	}
}

// A keyed record is stored as <SObject>.<mode>.<partition>.<key>; a replay
// publishes it as <SObject>.<mode>.<key>, and the records stream puts it in
// its partition again.
func TestReplayKeyedRecordWithoutItsPartition(t *testing.T) {
	t.Parallel()
	e := setup(t)
	d := e.letter(dl{"accounts", "Account", "upsert", "X", "job-1", 1})
	d.Subject = "kinetic.records.Account.upsert.7.acc-1%2Ex"
	seq := e.storeLetter(d)
	rep := e.replay(e.insp, deadletter.Filter{}, deadletter.ReplayOptions{})
	r := result(t, rep, seq)
	if r.Outcome != deadletter.Replayed || r.Subject != "kinetic.records.Account.upsert.acc-1%2Ex" {
		t.Fatalf("result %+v", r)
	}
	recs := e.records()
	want := fmt.Sprintf("kinetic.records.Account.upsert.%d.acc-1%%2Ex", messages.Partition("Account", "acc-1%2Ex", e.topo.Partitions))
	if len(recs) != 1 || recs[0].Subject != want {
		t.Fatalf("records stream: %d, stored as %q, want %q", len(recs), recs[0].Subject, want)
	}
}

// Replayed into another pipeline, a record gets that pipeline's key,
// computed from the payload as a publisher would; one without a key for it
// is refused.
func TestReplayToPipeline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	d := e.letter(dl{"account-inserts", "Account", "insert", "X", "job-4", 1})
	d.Data = []byte(`{"company":"no key"}`)
	noKey := e.storeLetter(d)
	d = e.letter(dl{"account-inserts", "Account", "insert", "X", "job-4", 2})
	d.Data = []byte(`not json`)
	notJSON := e.storeLetter(d)

	// Into an insert pipeline: unkeyed.
	rep := e.replay(e.insp, deadletter.Filter{Seqs: []uint64{1}}, deadletter.ReplayOptions{ToPipeline: "account-inserts"})
	if r := result(t, rep, 1); r.Outcome != deadletter.Replayed || r.Pipeline != "account-inserts" || r.Subject != "kinetic.records.Account.insert" {
		t.Fatalf("result %+v", r)
	}
	// Into an upsert pipeline: keyed by its external id.
	rep = e.replay(e.insp, deadletter.Filter{Seqs: []uint64{5, noKey, notJSON}}, deadletter.ReplayOptions{ToPipeline: "accounts"})
	if r := result(t, rep, 5); r.Outcome != deadletter.Replayed || r.Subject != "kinetic.records.Account.upsert.job-3-2" {
		t.Errorf("result %+v", r)
	}
	for _, seq := range []uint64{noKey, notJSON} {
		if r := result(t, rep, seq); r.Outcome != deadletter.Refused || !strings.Contains(r.Reason, `pipeline "accounts" orders records by key`) {
			t.Errorf("dead letter %d: %+v", seq, r)
		}
	}
	recs := e.records()
	if len(recs) != 2 || recs[0].Subject != "kinetic.records.Account.insert" ||
		recs[1].Subject != fmt.Sprintf("kinetic.records.Account.upsert.%d.job-3-2", messages.Partition("Account", "job-3-2", e.topo.Partitions)) {
		t.Fatalf("records stream: %v", recs)
	}
	if recs[1].Header.Get(messages.HeaderKey) != "job-3-2" || string(recs[1].Data) != `{"ext_id":"job-3-2","company":""}` {
		t.Errorf("record %v %s", recs[1].Header, recs[1].Data)
	}
	if _, err := e.insp.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{ToPipeline: "nope"}); err == nil || !strings.Contains(err.Error(), `no pipeline "nope"`) {
		t.Errorf("unknown pipeline: %v", err)
	}
}

func TestReplayWithoutPipelines(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	insp, err := deadletter.NewInspector(ctxT(t), e.js, e.topo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := insp.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{}); !errors.Is(err, deadletter.ErrNoPipelines) {
		t.Errorf("replay without pipelines: %v", err)
	}
	if n := e.streamMsgs(e.topo.RecordsStream()); n != 0 {
		t.Errorf("records stream holds %d", n)
	}
}

// A republish the records stream refuses fails that dead letter only; it
// stays in place.
func TestReplayFailureKeepsDeadLetter(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	// Larger than the records stream takes.
	d := e.letter(dl{"accounts", "Account", "upsert", "X", "job-9", 1})
	d.Data = []byte(`{"ext_id":"` + strings.Repeat("x", int(e.topo.MaxRecordBytes)) + `"}`)
	big := e.storeLetter(d)
	rep := e.replay(e.insp, deadletter.Filter{Seqs: []uint64{2, big, 3}}, deadletter.ReplayOptions{})
	if got := outcomes(rep); got[2] != deadletter.Replayed || got[big] != deadletter.Failed || got[3] != deadletter.Replayed {
		t.Fatalf("report %v", got)
	}
	if r := result(t, rep, big); !strings.Contains(r.Reason, "publishing") || r.Removed {
		t.Errorf("failure %+v", r)
	}
	if got := e.list(deadletter.Filter{}); !slices.Equal(got, []uint64{1, 4, 5, big}) {
		t.Errorf("dead letters after the replay: %v", got)
	}
}

func TestReplayCanceled(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := e.insp.Replay(ctx, deadletter.Filter{Seqs: []uint64{1}}, deadletter.ReplayOptions{})
	if err == nil {
		t.Fatalf("canceled replay: %+v", rep)
	}
	if got := e.list(deadletter.Filter{}); len(got) != 5 {
		t.Errorf("canceled replay changed the dead letters: %v", got)
	}
}

// Replay refuses a connection that buffers publishes while reconnecting:
// a buffered republish whose request timed out could reach the records
// stream minutes later, after its duplicate window. A dry run does not care.
func TestReplayRefusesAReconnectBuffer(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	insp, err := deadletter.NewInspector(ctxT(t), e.js, e.topo, deadletter.WithPipelines(pipelines(t))) // e.js: nats.go's default 8 MiB buffer
	if err != nil {
		t.Fatal(err)
	}
	if _, err := insp.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{}); err == nil || !strings.Contains(err.Error(), "ReconnectBufSize(-1)") {
		t.Errorf("replay on a buffering connection: %v", err)
	}
	if rep, err := insp.Replay(ctxT(t), deadletter.Filter{}, deadletter.ReplayOptions{DryRun: true}); err != nil || rep.Count(deadletter.Replayed) != 5 {
		t.Errorf("dry run: %+v, %v", rep, err)
	}
	if n := e.streamMsgs(e.topo.RecordsStream()); n != 0 {
		t.Errorf("records stream holds %d", n)
	}
}
