package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

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
