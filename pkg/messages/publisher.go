package messages

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublisherOptions configures a Publisher.
type PublisherOptions struct {
	// MaxPending is the most asynchronous publishes awaiting the stream's ack.
	// Default 1024 (below nats.go's own default of 4000, so it never stalls).
	MaxPending int
	// Retries is how many more times a failed publish is tried, synchronously,
	// with the same Nats-Msg-Id (so a publish that did land is deduplicated),
	// 250ms apart and doubling up to 4s. Default 8: about 20s, more than a
	// JetStream leader election takes in a cluster.
	Retries int
}

// Publisher publishes records for upstream systems: one at a time (Publish)
// or pipelined (PublishAsync then Flush) with a bounded number in flight and
// every failure surfaced. It is safe for concurrent use.
type Publisher struct {
	js         jetstream.JetStream
	maxPending int
	retries    int

	mu         sync.Mutex
	window     []inflight // unacknowledged async publishes, oldest first
	failed     []error
	published  int
	duplicates []RecordMeta
}

type inflight struct {
	fut  jetstream.PubAckFuture
	msg  *nats.Msg
	meta RecordMeta
}

// PublishError is a record that could not be published after every retry.
type PublishError struct {
	Subject string
	Meta    RecordMeta
	Err     error
}

func (e *PublishError) Error() string {
	id := e.Meta.MsgID
	if e.Meta.Seq > 0 {
		id = fmt.Sprintf("job %s seq %d", e.Meta.Job, e.Meta.Seq)
	}
	return fmt.Sprintf("publish %s (%s): %v", e.Subject, id, e.Err)
}

func (e *PublishError) Unwrap() error { return e.Err }

// NewPublisher returns a Publisher on js.
func NewPublisher(js jetstream.JetStream, opts PublisherOptions) *Publisher {
	if opts.MaxPending <= 0 {
		opts.MaxPending = 1024
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	} else if opts.Retries == 0 {
		opts.Retries = 8
	}
	return &Publisher{js: js, maxPending: opts.MaxPending, retries: opts.Retries}
}

func newMsg(subject string, data []byte, meta RecordMeta) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	meta.Header(m.Header)
	return m
}

// Publish publishes one record and waits for the stream to store it.
func (p *Publisher) Publish(ctx context.Context, subject string, data []byte, meta RecordMeta) (*jetstream.PubAck, error) {
	ack, err := p.publishSync(ctx, newMsg(subject, data, meta))
	if err != nil {
		return nil, &PublishError{Subject: subject, Meta: meta, Err: err}
	}
	p.mu.Lock()
	p.count(ack, meta)
	p.mu.Unlock()
	return ack, nil
}

func (p *Publisher) publishSync(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	var err error
	for attempt := 0; attempt <= p.retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(min(250*time.Millisecond<<(attempt-1), 4*time.Second))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, errors.Join(err, ctx.Err())
			case <-t.C:
			}
		}
		var ack *jetstream.PubAck
		if ack, err = p.js.PublishMsg(ctx, m); err == nil {
			return ack, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func (p *Publisher) count(ack *jetstream.PubAck, meta RecordMeta) {
	p.published++
	if ack.Duplicate {
		p.duplicates = append(p.duplicates, meta)
	}
}

// PublishAsync queues a record for publishing and returns at once, unless
// MaxPending publishes are already in flight: then it first waits for the
// oldest. A publish that fails is retried synchronously; one that still
// fails is reported by Flush. It returns an error only when ctx ends.
func (p *Publisher) PublishAsync(ctx context.Context, subject string, data []byte, meta RecordMeta) error {
	m := newMsg(subject, data, meta)
	for {
		p.mu.Lock()
		full := len(p.window) >= p.maxPending
		var oldest inflight
		if full {
			oldest = p.window[0]
			p.window = p.window[1:]
		}
		p.mu.Unlock()
		if !full {
			break
		}
		if err := p.settle(ctx, oldest); err != nil {
			return err
		}
	}
	fut, err := p.js.PublishMsgAsync(m)
	if err != nil {
		// Could not even queue it (stalled, closed): try synchronously now.
		ack, err := p.publishSync(ctx, m)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			p.failed = append(p.failed, &PublishError{Subject: subject, Meta: meta, Err: err})
			return nil
		}
		p.count(ack, meta)
		return nil
	}
	p.mu.Lock()
	p.window = append(p.window, inflight{fut: fut, msg: m, meta: meta})
	p.mu.Unlock()
	return nil
}

// settle waits for one async publish, retrying it if it failed.
func (p *Publisher) settle(ctx context.Context, f inflight) error {
	select {
	case ack := <-f.fut.Ok():
		p.mu.Lock()
		p.count(ack, f.meta)
		p.mu.Unlock()
		return nil
	case err := <-f.fut.Err():
		ack, rerr := p.publishSync(ctx, f.msg)
		p.mu.Lock()
		defer p.mu.Unlock()
		if rerr != nil {
			p.failed = append(p.failed, &PublishError{Subject: f.msg.Subject, Meta: f.meta, Err: errors.Join(err, rerr)})
			return nil
		}
		p.count(ack, f.meta)
		return nil
	case <-ctx.Done():
		// Put it back: it is still in flight.
		p.mu.Lock()
		p.window = append([]inflight{f}, p.window...)
		p.mu.Unlock()
		return ctx.Err()
	}
}

// Flush waits for every queued publish. It returns the records that could
// not be published (each a *PublishError, joined), or ctx's error.
func (p *Publisher) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		if len(p.window) == 0 {
			failed := p.failed
			p.failed = nil
			p.mu.Unlock()
			return errors.Join(failed...)
		}
		f := p.window[0]
		p.window = p.window[1:]
		p.mu.Unlock()
		if err := p.settle(ctx, f); err != nil {
			return err
		}
	}
}

// Stats reports how many records the stream acknowledged and how many of
// those were duplicates it dropped (same Nats-Msg-Id within its window).
func (p *Publisher) Stats() (published, duplicates int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published, len(p.duplicates)
}

// Duplicates returns the records the stream dropped as duplicates: an
// earlier publish with the same Nats-Msg-Id is in the stream, and no worker
// will report on this copy.
func (p *Publisher) Duplicates() []RecordMeta {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]RecordMeta(nil), p.duplicates...)
}

// Pending is the number of publishes awaiting an ack.
func (p *Publisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.window)
}
