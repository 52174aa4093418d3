package deadletter

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/user"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// ReplayOptions adjusts Replay.
type ReplayOptions struct {
	// ToPipeline, when set, replays into this pipeline of the pipelines file
	// instead of each dead letter's own (see plan for the key).
	ToPipeline string
	// DryRun reports what a real run would do, refusals and earlier replays
	// included, and changes nothing (it writes no replay record either).
	DryRun bool
	// By names who replays, in the replay records and reports ("alice",
	// "console:alice"). Default: user@host.
	By string
	// RepublishInDoubt republishes dead letters in doubt (a replay claimed
	// them, may have published them, and stopped before recording it, longer
	// ago than the records stream's duplicate window allows to settle it
	// safely), under a new Nats-Msg-Id. Only for dead letters an operator
	// checked did not reach the records stream: the stream no longer drops a
	// second copy. It needs the dead letters named by sequence (Filter.Seqs).
	RepublishInDoubt bool
}

// ErrNoPipelines is Replay's error when the Inspector has no pipelines file
// (WithPipelines): it would not know where a dead letter may go.
var ErrNoPipelines = errors.New("replay needs the pipelines file (deadletter.WithPipelines): it publishes only to a record subject of one of its pipelines")

// errAborted ends a replay that a step hook stopped (tests).
var errAborted = errors.New("replay aborted")

// Replay republishes the matching dead letters, each at most once however
// many replays run, at the same time or years apart, and whatever fails in
// the middle; its report says what happened to each.
//
// A dead letter is republished as its original bytes to a record subject of
// its pipeline (or ToPipeline's), rebuilt from the pipeline's configuration,
// with only Kinetic's record headers, Kinetic-Replay-Of and a Nats-Msg-Id of
// its own; one that fails the checks (see plan) is refused.
//
// Before publishing, a replay claims the dead letter in the replays bucket
// (ReplaysBucket; compare-and-set, so one replay wins), then publishes,
// records the records-stream sequence, deletes the dead letter and marks the
// record removed. A replay that finds a record:
//   - published or removed: publishes nothing; it deletes the dead letter if
//     it is still there (AlreadyReplayed, or ReplayedConcurrently when the
//     claim is newer than this replay);
//   - claimed, and young enough that a republish under the claim's
//     Nats-Msg-Id falls inside the records stream's duplicate window with
//     any publish the claimant made: waits a moment for the claimant, then
//     republishes under that id (the stream keeps one copy) and carries on;
//   - claimed, and older: InDoubt. Nothing is published; the dead letter
//     stays; the report says what to check, and RepublishInDoubt overrides.
//
// "Young enough" is half the duplicate window after the claim (the
// claim's server timestamp): every publish under one claim, the claimant's
// and any other replay's, happens within that half, so any two are less
// than a window apart even with client clocks up to half a window off.
//
// Dead letters of one key are replayed one after another, in stream order,
// and not after an earlier one of the same key that was not replayed; the
// others go WithConcurrency at a time.
//
// The connection must not buffer publishes while it reconnects
// (nats.ReconnectBufSize(-1)): a buffered republish whose request timed out
// could reach the stream minutes later, after the window. Replay refuses to
// run on one that does (a dry run does not care).
//
// The error is for a replay that could not run or was cut short (ctx); the
// report then says what was done until then, and NotReached for the rest.
func (i *Inspector) Replay(ctx context.Context, f Filter, o ReplayOptions) (*ReplayReport, error) {
	r := &run{i: i, o: o, id: newRunID(i.now()), by: o.By}
	if r.by == "" {
		r.by = defaultBy()
	}
	rep := &ReplayReport{Run: r.id, By: r.by, DryRun: o.DryRun, Started: i.now()}
	defer func() {
		rep.Finished = i.now()
		rep.count()
	}()
	if err := r.prepare(ctx, f); err != nil {
		return rep, err
	}
	entries, err := i.List(ctx, f)
	if err != nil {
		return rep, err
	}
	rep.Results = r.replayAll(ctx, entries)
	if r.aborted.Load() {
		return rep, errAborted
	}
	return rep, ctx.Err()
}

// run is one Replay call.
type run struct {
	i       *Inspector
	o       ReplayOptions
	id, by  string
	to      *pipeline.PipelineConfig
	kv      jetstream.KeyValue // nil in a dry run without a bucket
	window  time.Duration      // the records stream's duplicate window
	start   uint64             // the replays bucket's revision when this run began
	aborted atomic.Bool
}

func newRunID(t time.Time) string {
	n := nuid.Next()
	return t.UTC().Format("20060102T150405") + "-" + n[len(n)-6:]
}

func defaultBy() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return name
	}
	return name + "@" + host
}

// prepare checks the options and reads what the run needs: the target
// pipeline, the records stream's duplicate window, the replays bucket.
func (r *run) prepare(ctx context.Context, f Filter) error {
	i := r.i
	if i.opts.pipelines == nil {
		return ErrNoPipelines
	}
	if r.o.ToPipeline != "" {
		var ok bool
		if r.to, ok = i.opts.pipelines.Pipeline(r.o.ToPipeline); !ok {
			return fmt.Errorf("%s: no pipeline %q (it has: %v)", i.opts.pipelines.Path, r.o.ToPipeline, i.opts.pipelines.Names())
		}
	}
	if r.o.RepublishInDoubt && len(f.Seqs) == 0 {
		return errors.New("republishing dead letters in doubt needs them named by sequence (Filter.Seqs, --seq), after checking each")
	}
	if !r.o.DryRun && i.js.Conn().Opts.ReconnectBufSize >= 0 {
		return errors.New("replay needs a connection that does not buffer publishes while reconnecting (nats.ReconnectBufSize(-1)): a buffered republish could reach the records stream after its duplicate window and be stored twice")
	}
	var info *jetstream.StreamInfo
	if err := i.retry(ctx, func(ctx context.Context) error {
		s, err := i.js.Stream(ctx, i.topo.RecordsStream())
		if err == nil {
			info = s.CachedInfo()
		}
		return err
	}); err != nil {
		return fmt.Errorf("records stream %s: %w", i.topo.RecordsStream(), err)
	}
	r.window = info.Config.Duplicates
	if r.window <= 0 {
		return fmt.Errorf("records stream %s has no duplicate window: replay cannot settle an interrupted republish", i.topo.RecordsStream())
	}
	var err error
	if r.kv, err = i.replays(ctx, !r.o.DryRun); err != nil {
		return err
	}
	if r.start, err = i.bucketRevision(ctx, r.kv); err != nil {
		return fmt.Errorf("replays bucket: %w", err)
	}
	return nil
}

// replayAll replays entries on WithConcurrency lanes: every dead letter of
// one key on the same lane, in stream order. Results come back in stream
// order.
func (r *run) replayAll(ctx context.Context, entries []Entry) []Result {
	n := r.i.opts.concurrency
	results := make([]Result, len(entries))
	lanes := make([][]int, n)
	plans := make([]plan, len(entries))
	for k, e := range entries {
		plans[k] = r.plan(e)
		lane := k % n
		if key := plans[k].order; key != "" {
			h := fnv.New32a()
			_, _ = h.Write([]byte(key))
			lane = int(h.Sum32() % uint32(n))
		}
		lanes[lane] = append(lanes[lane], k)
	}
	var wg sync.WaitGroup
	for _, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			held := map[string]uint64{} // order key → the dead letter that holds it back
			for _, k := range lane {
				e, p := entries[k], plans[k]
				switch {
				case ctx.Err() != nil || r.aborted.Load():
					results[k] = Result{Seq: e.Seq, Entry: e, Outcome: NotReached, Reason: "the replay was stopped before it"}
					continue
				case held[p.order] != 0:
					results[k] = Result{Seq: e.Seq, Entry: e, Outcome: Refused,
						Reason: fmt.Sprintf("held back: dead letter %d of the same key was not replayed, and replaying this one first would reorder the key's changes", held[p.order]),
						Action: fmt.Sprintf("settle dead letter %d first, then replay again", held[p.order])}
					continue
				}
				results[k] = r.one(ctx, e, p)
				switch results[k].Outcome {
				case Refused, InDoubt, Failed:
					if p.order != "" {
						held[p.order] = e.Seq
					}
				}
			}
		}()
	}
	wg.Wait()
	return results
}

// plan is a dead letter's target, or why it has none, and the key its
// changes are ordered by ("" for none).
type plan struct {
	target
	refused refusal
	order   string
}

func (r *run) plan(e Entry) plan {
	t, why := r.i.plan(e, r.to)
	p := plan{target: t, refused: why}
	if why == "" {
		if rs, err := r.i.topo.Subjects().ParseRecords(t.subject); err == nil && rs.Keyed() {
			p.order = rs.SObject + "." + rs.Key
		}
	} else if rs, err := r.i.topo.Subjects().ParseRecords(e.DeadLetter.Subject); err == nil && rs.Keyed() {
		p.order = rs.SObject + "." + rs.Key
	}
	return p
}

// maxRounds bounds how often one dead letter's replay record is read again
// after losing a compare-and-set to another replay.
const maxRounds = 8

// one replays one dead letter (see Replay).
func (r *run) one(ctx context.Context, e Entry, p plan) Result {
	res := Result{Seq: e.Seq, Entry: e}
	// Once a dead letter is claimed, its steps finish even if ctx ends, so
	// that a canceled replay leaves no claim behind; each step is bounded.
	ctx = context.WithoutCancel(ctx)
	waited := false
	for round := range maxRounds {
		if round == 0 && !r.o.DryRun && p.refused == "" {
			// Most dead letters have no record yet: claim at once; a lost
			// create reads the record that won.
			res, again := r.claim(ctx, res, e, p.target, nil)
			if !again {
				return res
			}
			continue
		}
		ent, err := r.get(ctx, e.Seq)
		if errors.Is(err, errAborted) {
			return r.abortedResult(res)
		}
		if err != nil {
			return failed(res, fmt.Sprintf("reading its replay record: %v; nothing was published", err))
		}
		if ent == nil {
			if p.refused != "" {
				return refused(res, p.refused)
			}
			if r.o.DryRun {
				return r.wouldPublish(res, p.target, replayRecord{Attempt: 1})
			}
			res, again := r.claim(ctx, res, e, p.target, nil)
			if again {
				continue
			}
			return res
		}
		rec, err := decodeRecord(ent.Value())
		if err != nil {
			res.Outcome, res.Reason = InDoubt, fmt.Sprintf("its replay record cannot be read (%v), so whether it was published is unknown", err)
			res.Action = fmt.Sprintf("look at key %s of bucket %s", ent.Key(), ReplaysBucket(r.i.topo))
			return res
		}
		if !rec.about(e) {
			return refused(res, refusal(fmt.Sprintf("replay record %s of bucket %s is about another dead letter (stored %s), not this one (stored %s): the dead-letter stream was re-created",
				ent.Key(), ReplaysBucket(r.i.topo), rec.Stored.Format(time.RFC3339Nano), e.Time.UTC().Format(time.RFC3339Nano))),
				fmt.Sprintf("once sure that no replay of this dead letter ran, delete key %s of bucket %s and replay again", ent.Key(), ReplaysBucket(r.i.topo)))
		}
		res.Pipeline, res.Subject, res.MsgID = rec.Pipeline, rec.Subject, rec.MsgID
		if rec.State != stateClaimed {
			return r.settle(ctx, res, ent, rec)
		}
		// Claimed: by a replay running now, or by one that stopped.
		safeUntil := ent.Created().Add(r.window / 2)
		if !r.i.now().Before(safeUntil) {
			if r.o.RepublishInDoubt {
				if p.refused != "" {
					return refused(res, p.refused)
				}
				if r.o.DryRun {
					res = r.wouldPublish(res, p.target, replayRecord{Attempt: rec.Attempt + 1})
					res.Reason = fmt.Sprintf("in doubt since replay %s by %s; --republish-in-doubt publishes it again under a new Nats-Msg-Id", rec.Run, rec.By)
					return res
				}
				res, again := r.claim(ctx, res, e, p.target, &claimed{ent: ent, rec: rec})
				if again {
					continue
				}
				return res
			}
			return r.inDoubt(res, rec, ent.Created())
		}
		if !waited {
			waited = true
			if err := r.awaitChange(ctx, e.Seq, ent.Revision(), safeUntil); err == nil {
				continue // it moved on: read it again
			}
		}
		// It did not move on: its replay stopped between claim and record.
		// Republish what it would have, under its Nats-Msg-Id.
		t, why := r.resumeTarget(e, rec)
		if why != "" {
			res.Outcome, res.Reason = InDoubt, fmt.Sprintf("replay %s by %s claimed it and stopped; %s", rec.Run, rec.By, why)
			res.Action = r.checkAction(rec, ent.Created())
			return res
		}
		if r.o.DryRun {
			return r.wouldPublish(res, t, rec)
		}
		res, again := r.publish(ctx, res, e, t, ent.Revision(), rec, safeUntil, false)
		if again {
			continue
		}
		return res
	}
	return failed(res, "its replay record kept changing under this replay (other replays running); nothing was published by this one")
}

func refused(res Result, why refusal, action ...string) Result {
	res.Outcome, res.Reason = Refused, string(why)
	res.Action = "fix what the reason names, replay it into another pipeline (--to-pipeline), or purge it"
	if len(action) > 0 {
		res.Action = action[0]
	}
	return res
}

func failed(res Result, why string) Result {
	res.Outcome, res.Reason = Failed, why
	return res
}

func (r *run) wouldPublish(res Result, t target, rec replayRecord) Result {
	res.Outcome, res.Pipeline, res.Subject, res.DroppedHeaders = Replayed, t.pipeline, t.subject, t.dropped
	res.MsgID = rec.MsgID
	if res.MsgID == "" {
		res.MsgID = r.msgID(res.Seq, rec.Attempt)
	}
	if rec.Run != "" {
		res.Reason = fmt.Sprintf("completing replay %s by %s, which claimed it and stopped: under its Nats-Msg-Id, the records stream keeps one copy", rec.Run, rec.By)
	}
	return res
}

// msgID is the Nats-Msg-Id of a dead letter's republish: one per attempt.
func (r *run) msgID(seq uint64, attempt int) string {
	if attempt <= 1 {
		return fmt.Sprintf("replay-%s-%d", r.i.topo.DLQStream(), seq)
	}
	return fmt.Sprintf("replay-%s-%d-%d", r.i.topo.DLQStream(), seq, attempt)
}

// claimed is a claim being taken over (RepublishInDoubt).
type claimed struct {
	ent jetstream.KeyValueEntry
	rec replayRecord
}

// claim records this run's claim on e (Create, or for prev an Update of its
// revision), checks the dead letter is still the one listed, and publishes.
// again reports a lost compare-and-set: read the record again.
func (r *run) claim(ctx context.Context, res Result, e Entry, t target, prev *claimed) (_ Result, again bool) {
	rec := newRecord(e)
	rec.Attempt = 1
	if prev != nil {
		rec.Attempt = prev.rec.Attempt + 1
	}
	rec.MsgID = r.msgID(e.Seq, rec.Attempt)
	rec.Pipeline, rec.Subject, rec.Run, rec.By, rec.ClaimedAt = t.pipeline, t.subject, r.id, r.by, r.i.now()
	res.Pipeline, res.Subject, res.MsgID, res.DroppedHeaders = t.pipeline, t.subject, rec.MsgID, t.dropped
	if prev != nil {
		res.Reason = fmt.Sprintf("in doubt since replay %s by %s; published again under a new Nats-Msg-Id, as asked", prev.rec.Run, prev.rec.By)
	}
	// This run's publishes happen within half a window of now, which is no
	// later than the claim's server timestamp.
	safeUntil := r.i.now().Add(r.window / 2)
	var prevRev uint64
	if prev != nil {
		prevRev = prev.ent.Revision()
	}
	rev, err := r.write(ctx, e.Seq, rec, prevRev, prev == nil)
	switch {
	case revisionConflict(err):
		return res, true
	case err != nil:
		return failed(res, fmt.Sprintf("claiming it in the replays bucket: %v; nothing was published", err)), false
	}
	if !r.step(stepClaim, e.Seq) {
		return r.abortedResult(res), false
	}
	// The dead letter must still be the one listed (not purged or replayed
	// meanwhile by a replay that found no record, not another one after the
	// dead-letter stream was re-created).
	var raw *jetstream.RawStreamMsg
	err = r.i.retry(ctx, func(ctx context.Context) (err error) {
		raw, err = r.i.stream.GetMsg(ctx, e.Seq)
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		r.release(ctx, e.Seq, rev)
		res.Outcome, res.Reason, res.Removed = Gone, "it was no longer in the dead-letter stream (purged meanwhile); nothing was published", true
		return res, false
	case err != nil:
		r.release(ctx, e.Seq, rev)
		return failed(res, fmt.Sprintf("reading it again before publishing: %v; nothing was published", err)), false
	case !raw.Time.Equal(e.Time) || digest(raw.Data) != rec.Digest:
		r.release(ctx, e.Seq, rev)
		return refused(res, "it changed since it was listed (the dead-letter stream was re-created?); nothing was published", "list it again and replay"), false
	}
	return r.publish(ctx, res, e, t, rev, rec, safeUntil, prev == nil)
}

// publish publishes the record under rec's claim (revision rev), records
// it, deletes the dead letter and marks the record removed. Every publish
// attempt happens before safeUntil. fresh: the claim is this run's first
// one, so a duplicate PubAck means a publish under this Nats-Msg-Id that no
// replay recorded (an older version of the tool).
func (r *run) publish(ctx context.Context, res Result, e Entry, t target, rev uint64, rec replayRecord, safeUntil time.Time, fresh bool) (_ Result, again bool) {
	res.Pipeline, res.Subject, res.MsgID, res.DroppedHeaders = t.pipeline, t.subject, rec.MsgID, t.dropped
	if !r.step(stepPublishing, e.Seq) {
		return r.abortedResult(res), false
	}
	ack, uncertain, err := r.publishOnce(ctx, t.message(e, rec.MsgID), safeUntil)
	if err != nil {
		if !uncertain {
			r.release(ctx, e.Seq, rev)
			return failed(res, fmt.Sprintf("publishing to %s: %v; nothing was published", t.subject, err)), false
		}
		res.Outcome = InDoubt
		res.Reason = fmt.Sprintf("publishing to %s was not acknowledged (%v): it may or may not be in the records stream", t.subject, err)
		res.Action = fmt.Sprintf("replay it again before %s, when that settles it safely; after that: %s", safeUntil.UTC().Format(time.RFC3339), r.checkAction(rec, safeUntil.Add(-r.window/2)))
		return res, false
	}
	if !r.step(stepPublished, e.Seq) {
		return r.abortedResult(res), false
	}
	res.Outcome, res.RecordsSeq, res.Duplicate = Replayed, ack.Sequence, ack.Duplicate
	if fresh && ack.Duplicate {
		res.Reason = "the records stream already held it under this Nats-Msg-Id, published by a replay that kept no record (an earlier version)"
	}
	rec.State, rec.RecordsSeq, rec.Duplicate, rec.PublishedAt, rec.ClaimRev = statePublished, ack.Sequence, ack.Duplicate, r.i.now(), rev
	if rec.Run != r.id {
		// Completing another replay's claim: the record says who finished it.
		res.Reason = joinReason(res.Reason, fmt.Sprintf("completed replay %s by %s, which claimed it and stopped", rec.Run, rec.By))
		rec.Run, rec.By = r.id, r.by
	}
	rev, werr := r.write(ctx, e.Seq, rec, rev, false)
	switch {
	case revisionConflict(werr):
		// Another replay completed the same claim at the same time (under
		// the same Nats-Msg-Id: one copy). Read what it recorded.
		return res, true
	case werr != nil:
		// Published for sure: remove the dead letter all the same, so that no
		// later replay finds it with a bare claim.
		res.Reason = joinReason(res.Reason, fmt.Sprintf("published, but recording it in the replays bucket failed (%v)", werr))
	}
	if !r.step(stepRecorded, e.Seq) {
		return r.abortedResult(res), false
	}
	if err := r.removeDeadLetter(ctx, e.Seq); err != nil {
		res.Reason = joinReason(res.Reason, fmt.Sprintf("published, but removing the dead letter was not confirmed (%v): if it is still listed, the next replay removes it and does not publish it again", err))
		return res, false
	}
	res.Removed = true
	if !r.step(stepRemoved, e.Seq) {
		return r.abortedResult(res), false
	}
	if werr == nil {
		rec.State, rec.RemovedAt = stateRemoved, r.i.now()
		_, _ = r.write(ctx, e.Seq, rec, rev, false) // a note only: the dead letter is gone
	}
	r.step(stepDone, e.Seq)
	return res, false
}

// publishOnce publishes m until the records stream acknowledges it, the
// stream refuses it, or safeUntil. uncertain reports that an attempt ended
// without an answer, so m may be stored although err is set.
func (r *run) publishOnce(ctx context.Context, m *nats.Msg, safeUntil time.Time) (ack *jetstream.PubAck, uncertain bool, err error) {
	left := safeUntil.Sub(r.i.now())
	if left <= 0 {
		return nil, false, errors.New("too late to publish within the duplicate window")
	}
	ctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	err = r.i.retry(ctx, func(ctx context.Context) error {
		var err error
		ack, err = r.i.js.PublishMsg(ctx, m, jetstream.WithExpectStream(r.i.topo.RecordsStream()))
		if err != nil && !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrNoStreamResponse) && !errors.Is(err, nats.ErrReconnectBufExceeded) {
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) {
				uncertain = true // sent, and no answer came back
			}
		}
		return err
	})
	if err == nil && uncertain && ack.Duplicate {
		// An earlier attempt of this call stored it.
		ack.Duplicate = false
	}
	return ack, uncertain, err
}

// settle handles a dead letter whose record says it was published: delete
// it if it is still there.
func (r *run) settle(ctx context.Context, res Result, ent jetstream.KeyValueEntry, rec replayRecord) Result {
	res.Outcome = AlreadyReplayed
	if rec.ClaimRev > r.start {
		res.Outcome = ReplayedConcurrently
	}
	res.RecordsSeq, res.Duplicate, res.By, res.Run, res.At = rec.RecordsSeq, rec.Duplicate, rec.By, rec.Run, rec.PublishedAt
	if r.o.DryRun {
		res.Reason = "it is still listed: a replay would remove it"
		return res
	}
	if err := r.removeDeadLetter(ctx, res.Seq); err != nil {
		res.Reason = fmt.Sprintf("removing the dead letter was not confirmed (%v): if it is still listed, the next replay removes it and does not publish it again", err)
		return res
	}
	res.Removed = true
	if rec.State == statePublished {
		rec.State, rec.RemovedAt = stateRemoved, r.i.now()
		_, _ = r.write(ctx, res.Seq, rec, ent.Revision(), false) // a note only
	}
	return res
}

func (r *run) inDoubt(res Result, rec replayRecord, claimedAt time.Time) Result {
	res.Outcome = InDoubt
	res.Reason = fmt.Sprintf("replay %s by %s claimed it at %s and stopped before recording whether its publish reached the records stream; the stream's duplicate window (%v) no longer covers it, so publishing it again could store it twice",
		rec.Run, rec.By, claimedAt.UTC().Format(time.RFC3339), r.window)
	res.Action = r.checkAction(rec, claimedAt)
	return res
}

// checkAction says how an operator settles a dead letter in doubt.
func (r *run) checkAction(rec replayRecord, claimedAt time.Time) string {
	return fmt.Sprintf("check whether it arrived: in the records stream (%s: subject %s, a message with Nats-Msg-Id %s and Kinetic-Replay-Of %d, stored after %s, unless already loaded), in the job's results, in Salesforce, or as a new dead letter with Kinetic-Replay-Of %d. "+
		"If it arrived: producer dlq purge --seq %d. If not: producer dlq replay --seq %d --republish-in-doubt",
		r.i.topo.RecordsStream(), rec.Subject, rec.MsgID, rec.Seq, claimedAt.UTC().Format(time.RFC3339), rec.Seq, rec.Seq, rec.Seq)
}

// resumeTarget is what the replay that claimed rec would have published:
// the same subject, under its pipeline (as the dead letter's own, or as
// --to-pipeline).
func (r *run) resumeTarget(e Entry, rec replayRecord) (target, string) {
	pc, ok := r.i.opts.pipelines.Pipeline(rec.Pipeline)
	if !ok {
		return target{}, fmt.Sprintf("it was replaying it into pipeline %q, which is not in %s", rec.Pipeline, r.i.opts.pipelines.Path)
	}
	var why refusal
	for _, to := range []*pipeline.PipelineConfig{nil, pc} {
		if to == nil && rec.Pipeline != e.DeadLetter.Pipeline {
			continue
		}
		var t target
		if t, why = r.i.plan(e, to); why == "" && t.subject == rec.Subject {
			return t, ""
		}
	}
	if why != "" {
		return target{}, fmt.Sprintf("what it published cannot be rebuilt: %s", why)
	}
	return target{}, fmt.Sprintf("it was publishing to %s, which the pipelines file no longer gives", rec.Subject)
}

// get reads dead letter seq's replay record (nil: none).
func (r *run) get(ctx context.Context, seq uint64) (jetstream.KeyValueEntry, error) {
	if r.kv == nil {
		return nil, nil
	}
	if !r.step(stepRead, seq) {
		return nil, errAborted
	}
	var ent jetstream.KeyValueEntry
	err := r.i.retry(ctx, func(ctx context.Context) (err error) {
		ent, err = r.kv.Get(ctx, recordKey(seq))
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	return ent, err
}

// write stores rec: create (a new claim) or update of revision rev. A try
// whose answer was lost may have been applied: when the retry then loses
// the compare-and-set, the record is read, and if it is this write, the
// write succeeded.
func (r *run) write(ctx context.Context, seq uint64, rec replayRecord, rev uint64, create bool) (uint64, error) {
	key, val := recordKey(seq), encodeRecord(rec)
	var newRev uint64
	tries := 0
	err := r.i.retry(ctx, func(ctx context.Context) (err error) {
		tries++
		if create {
			newRev, err = r.kv.Create(ctx, key, val)
		} else {
			newRev, err = r.kv.Update(ctx, key, val, rev)
		}
		if tries > 1 && revisionConflict(err) {
			ent, gerr := r.kv.Get(ctx, key)
			if gerr != nil {
				return gerr
			}
			if cur, derr := decodeRecord(ent.Value()); derr == nil && cur.Run == rec.Run && cur.State == rec.State && cur.Attempt == rec.Attempt {
				newRev = ent.Revision()
				return nil
			}
		}
		return err
	})
	return newRev, err
}

// release withdraws a claim whose dead letter was certainly not published,
// so that the next replay can claim it again. If that fails, the claim
// stays, and later replays settle it as an interrupted one.
func (r *run) release(ctx context.Context, seq, rev uint64) {
	_ = r.i.retry(ctx, func(ctx context.Context) error {
		err := r.kv.Delete(ctx, recordKey(seq), jetstream.LastRevision(rev))
		if revisionConflict(err) {
			return nil // changed meanwhile: leave it
		}
		return err
	})
}

func (r *run) removeDeadLetter(ctx context.Context, seq uint64) error {
	return r.i.retry(ctx, func(ctx context.Context) error {
		err := r.i.stream.DeleteMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		return err
	})
}

// awaitChange waits, up to the claim wait and until, for the record's
// revision to change from rev. It returns nil when it changed.
func (r *run) awaitChange(ctx context.Context, seq, rev uint64, until time.Time) error {
	wait := min(r.i.opts.claimWait, until.Sub(r.i.now()))
	if wait <= 0 {
		return errors.New("no time to wait")
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 20*time.Millisecond, 250*time.Millisecond, wait
	errSame := errors.New("unchanged")
	return backoff.Retry(func() error {
		ent, err := r.kv.Get(ctx, recordKey(seq))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return nil // released
		case err != nil:
			return err
		case ent.Revision() != rev:
			return nil
		}
		return errSame
	}, backoff.WithContext(b, ctx))
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// step reports reaching a step to the hook (tests); false: the replay
// stops there, as a crash would, and runs no later step of any dead letter.
func (r *run) step(s stepName, seq uint64) bool {
	if r.aborted.Load() {
		return false
	}
	if h := r.i.opts.stepHook; h != nil && h(s, seq) != nil {
		r.aborted.Store(true)
		return false
	}
	return true
}

func (r *run) abortedResult(res Result) Result {
	res.Outcome, res.Reason = NotReached, "the replay was aborted"
	return res
}

// stepName names a point in a dead letter's replay, for tests.
type stepName string

// The steps, in order. stepRead reads the replay record; stepClaim has
// written the claim; stepPublishing is about to publish; stepPublished has
// the PubAck; stepRecorded has recorded it; stepRemoved has deleted the dead
// letter; stepDone has marked the record removed.
const (
	stepRead       stepName = "read"
	stepClaim      stepName = "claim"
	stepPublishing stepName = "publishing"
	stepPublished  stepName = "published"
	stepRecorded   stepName = "recorded"
	stepRemoved    stepName = "removed"
	stepDone       stepName = "done"
)
