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
	var info *jetstream.StreamInfo
	err := i.retry(ctx, func(ctx context.Context) (err error) {
		info, err = i.stream.Info(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	return i.walk(ctx, f, info.State.LastSeq, fn)
}

// idleCheck is how long walk waits for the next dead letter before it asks
// the server whether any is left: the ones it counted at the start may have
// been deleted (replayed, purged) since. After maxIdle checks in a row that
// find some left and none arrives, the walk fails.
const (
	idleCheck = time.Second
	maxIdle   = 30
)

// walk reads the stream through one ordered consumer, up to last (the last
// sequence when the walk began: later dead letters are for the next walk).
// It returns only once the consumer's subscription is closed, so nothing it
// started outlives it. (The ordered consumer itself re-creates its server
// side after a leader election or a missed heartbeat, and retries a pull
// that meets no responders yet.)
func (i *Inspector) walk(ctx context.Context, f Filter, last uint64, fn func(Entry) (bool, error)) error {
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
	msgs := make(chan jetstream.Msg)
	quit := make(chan struct{})
	closed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-quit:
		}
	}, jetstream.PullMaxMessages(256), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, nats.ErrConnectionClosed) {
			select {
			case closed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("reading dead letters: %w", err)
	}
	defer func() {
		close(quit)
		cc.Stop()
		<-cc.Closed()
	}()
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return nil // nothing matches the subject filter
	}
	idle := time.NewTimer(idleCheck)
	defer idle.Stop()
	var at uint64 // the last sequence read
	idles := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-closed:
			return fmt.Errorf("reading dead letters: %w", err)
		case m := <-msgs:
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("reading dead letters: %w", err)
			}
			at = md.Sequence.Stream
			// Messages this build cannot decode as dead letters are skipped.
			if dl, err := messages.DecodeDeadLetter(m.Headers(), m.Data()); err == nil {
				e := Entry{Seq: at, Subject: m.Subject(), Time: md.Timestamp, DeadLetter: dl}
				if f.match(&e) {
					if cont, err := fn(e); err != nil || !cont {
						return err
					}
				}
			}
			if md.NumPending == 0 || at >= last {
				return nil
			}
			idles = 0
			idle.Reset(idleCheck)
		case <-idle.C:
			var ci *jetstream.ConsumerInfo
			err := i.retry(ctx, func(ctx context.Context) (err error) {
				ci, err = cons.Info(ctx)
				return err
			})
			if err != nil {
				return fmt.Errorf("reading dead letters: %w", err)
			}
			if ci.NumPending == 0 && ci.Delivered.Stream <= at {
				return nil // the rest was deleted meanwhile
			}
			if idles++; idles >= maxIdle {
				return fmt.Errorf("reading dead letters: none arrived for %v after sequence %d, with %d still pending", maxIdle*idleCheck, at, ci.NumPending)
			}
			idle.Reset(idleCheck)
		}
	}
}
