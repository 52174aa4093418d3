// Package deadletter lists, inspects, replays and purges Kinetic's dead
// letters: the records workers could not load, kept in the dead-letter
// stream with the original payload and the error.
//
// Replay republishes a dead letter's original bytes and headers to its
// original subject (or to another pipeline's) and deletes the dead letter
// only after the records stream acknowledged the republish. The republish
// carries Nats-Msg-Id replay-<stream>-<seq>, so if replay is interrupted
// between the two steps and run again, the records stream drops the second
// copy (within its duplicate window) and the dead letter is then deleted:
// running replay twice does not publish twice.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// Inspector reads and manages the dead-letter stream.
type Inspector struct {
	js     jetstream.JetStream
	topo   messages.Topology
	stream jetstream.Stream
}

// NewInspector looks up the dead-letter stream.
func NewInspector(ctx context.Context, js jetstream.JetStream, topo messages.Topology) (*Inspector, error) {
	topo = topo.WithDefaults()
	s, err := js.Stream(ctx, topo.DLQStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("dead-letter stream %s does not exist: start a worker once to create the streams", topo.DLQStream())
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", topo.DLQStream(), err)
	}
	return &Inspector{js: js, topo: topo, stream: s}, nil
}

// Filter selects dead letters. Empty fields match everything.
type Filter struct {
	Pipeline string
	SObject  string
	Mode     string
	Code     string
	Job      string
	Since    time.Time // stored at or after
	Until    time.Time // stored before
	Seqs     []uint64  // only these dead-letter stream sequences
	Limit    int       // at most this many (0: all)
}

// match applies every filter to an entry. (When listing the whole stream the
// subject filter and start time have already narrowed it; when listing by
// sequence nothing has.)
func (f Filter) match(e *Entry) bool {
	d := e.DeadLetter
	switch {
	case f.Pipeline != "" && d.Pipeline != f.Pipeline:
		return false
	case f.SObject != "" && d.SObject != f.SObject:
		return false
	case f.Mode != "" && d.Mode != f.Mode:
		return false
	case f.Code != "" && d.Code != f.Code:
		return false
	case f.Job != "" && d.Job != f.Job:
		return false
	case !f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !e.Time.Before(f.Until):
		return false
	}
	return true
}

// Entry is one dead letter and where it is stored.
type Entry struct {
	Seq        uint64    // dead-letter stream sequence: the handle for show, replay and purge
	Subject    string    // dead-letter subject
	Time       time.Time // when it was stored
	DeadLetter *messages.DeadLetter
}

// List returns the dead letters matching f, oldest first. Stored messages
// this build cannot decode as dead letters are skipped.
func (i *Inspector) List(ctx context.Context, f Filter) ([]Entry, error) {
	var out []Entry
	err := i.each(ctx, f, func(e Entry) (bool, error) {
		out = append(out, e)
		return f.Limit <= 0 || len(out) < f.Limit, nil
	})
	return out, err
}

// Get reads one dead letter by its stream sequence.
func (i *Inspector) Get(ctx context.Context, seq uint64) (*Entry, error) {
	raw, err := i.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("dead letter %d: not found (replayed or purged?)", seq)
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	dl, err := messages.DecodeDeadLetter(raw.Header, raw.Data)
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return &Entry{Seq: seq, Subject: raw.Subject, Time: raw.Time, DeadLetter: dl}, nil
}

// each walks the matching dead letters in stream order; fn returns false to stop.
func (i *Inspector) each(ctx context.Context, f Filter, fn func(Entry) (bool, error)) error {
	if len(f.Seqs) > 0 {
		for _, seq := range f.Seqs {
			e, err := i.Get(ctx, seq)
			if err != nil {
				return err
			}
			if !f.match(e) {
				continue
			}
			if cont, err := fn(*e); err != nil || !cont {
				return err
			}
		}
		return nil
	}
	info, err := i.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{i.topo.Subjects().DeadLetterFilter(f.Pipeline, f.SObject, f.Mode)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := i.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("reading dead letters: %w", err)
	}
	last := info.State.LastSeq
	// Fetches run under a context that ends when each returns, so that no
	// pull request outlives the walk.
	walkCtx, cancelWalk := context.WithCancel(ctx)
	defer cancelWalk()
	noResponders := 0
	for {
		fetchCtx, cancelFetch := context.WithTimeout(walkCtx, time.Second)
		n, done, err := i.walkBatch(fetchCtx, cancelFetch, cons, f, last, fn)
		cancelFetch()
		if errors.Is(err, nats.ErrNoResponders) && n == 0 && noResponders < 20 {
			// In a cluster the pull request can reach a server before the new
			// ordered consumer's interest has: ask again.
			noResponders++
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		if err != nil || done {
			return err
		}
		if n == 0 {
			return nil // nothing (more) matches the subject filter
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// walkBatch reads one fetch; done reports the end of the stream or of fn.
// Stopping early, it cancels the fetch and waits for it to end, so that no
// pull request outlives the walk.
func (i *Inspector) walkBatch(ctx context.Context, cancel context.CancelFunc, cons jetstream.Consumer, f Filter, last uint64, fn func(Entry) (bool, error)) (n int, done bool, err error) {
	batch, err := cons.Fetch(256, jetstream.FetchContext(ctx))
	if err != nil {
		return 0, true, fmt.Errorf("reading dead letters: %w", err)
	}
	defer func() {
		if done {
			cancel()
			for range batch.Messages() {
			}
		}
	}()
	for msg := range batch.Messages() {
		n++
		md, err := msg.Metadata()
		if err != nil {
			return n, true, err
		}
		dl, err := messages.DecodeDeadLetter(msg.Headers(), msg.Data())
		if err == nil {
			e := Entry{Seq: md.Sequence.Stream, Subject: msg.Subject(), Time: md.Timestamp, DeadLetter: dl}
			if f.match(&e) {
				if cont, err := fn(e); err != nil || !cont {
					return n, true, err
				}
			}
		}
		// Messages this build cannot decode as dead letters are skipped.
		if md.NumPending == 0 || md.Sequence.Stream >= last {
			return n, true, nil
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return n, true, fmt.Errorf("reading dead letters: %w", err)
	}
	return n, false, nil
}

// ReplayOptions adjusts Replay.
type ReplayOptions struct {
	// Subject, when set, republishes to it instead of each dead letter's
	// original subject (replaying into another pipeline).
	Subject string
	// DryRun lists what would be replayed and changes nothing.
	DryRun bool
}

// ReplayReport says what Replay did.
type ReplayReport struct {
	Replayed   []Entry // republished and deleted (or, in a dry run, would be)
	Duplicates int     // republishes the records stream recognised as already there
	Failed     []error // dead letters left in place, with why
}

// Replay republishes the matching dead letters' original bytes and headers
// and deletes each dead letter once the republish is acknowledged. The
// Kinetic-Stop-On-Error header is dropped (a replay is deliberate, and the
// job's stop flag would skip it) and Kinetic-Replay-Of is added.
func (i *Inspector) Replay(ctx context.Context, f Filter, o ReplayOptions) (*ReplayReport, error) {
	rep := &ReplayReport{}
	entries, err := i.List(ctx, f)
	if err != nil {
		return rep, err
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if o.DryRun {
			rep.Replayed = append(rep.Replayed, e)
			continue
		}
		dup, err := i.replayOne(ctx, e, o.Subject)
		if err != nil {
			rep.Failed = append(rep.Failed, fmt.Errorf("dead letter %d: %w", e.Seq, err))
			continue
		}
		if dup {
			rep.Duplicates++
		}
		rep.Replayed = append(rep.Replayed, e)
	}
	return rep, nil
}

func (i *Inspector) replayOne(ctx context.Context, e Entry, subject string) (duplicate bool, err error) {
	d := e.DeadLetter
	if subject == "" {
		subject = d.Subject
		// A keyed record is stored as <base>.<partition>.<key>: it goes back
		// as it was published, <base>.<key>.
		if r, err := i.topo.Subjects().ParseRecords(subject); err == nil && r.Keyed() && r.Partition >= 0 {
			subject = i.topo.Subjects().Records(r.SObject, r.Mode) + "." + r.Key
		}
	}
	msg := nats.NewMsg(subject)
	msg.Data = d.Data
	for k, vs := range d.Headers {
		switch k {
		case messages.HeaderStopOnError, messages.HeaderMsgID, messages.HeaderReplayOf:
			continue
		}
		for _, v := range vs {
			msg.Header.Add(k, v)
		}
	}
	msg.Header.Set(messages.HeaderReplayOf, strconv.FormatUint(e.Seq, 10))
	msg.Header.Set(messages.HeaderMsgID, fmt.Sprintf("replay-%s-%d", i.topo.DLQStream(), e.Seq))
	ack, err := i.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(i.topo.RecordsStream()))
	if err != nil {
		return false, fmt.Errorf("republishing to %s: %w", subject, err)
	}
	if err := i.stream.DeleteMsg(ctx, e.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return ack.Duplicate, fmt.Errorf("republished, but deleting the dead letter failed (a second replay will not publish twice): %w", err)
	}
	return ack.Duplicate, nil
}

// Purge deletes the matching dead letters and returns how many.
func (i *Inspector) Purge(ctx context.Context, f Filter) (int, error) {
	entries, err := i.List(ctx, f)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if err := i.stream.DeleteMsg(ctx, e.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("deleting dead letter %d: %w", e.Seq, err)
		}
		n++
	}
	return n, nil
}
