package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// Inspector reads and manages the dead-letter stream. It never prints: every
// call returns data or a structured report, so the CLI and the operator
// console show the same thing. It is safe for concurrent use.
type Inspector struct {
	js     jetstream.JetStream
	topo   messages.Topology
	stream jetstream.Stream
	opts   options
}

// Option configures an Inspector.
type Option func(*options)

type options struct {
	backOff     func() backoff.BackOff
	pipelines   *pipeline.Config
	concurrency int
	claimWait   time.Duration
	// Tests only (export_test.go).
	clock    func() time.Time
	stepHook func(stepName, uint64) error
}

// WithConcurrency sets how many dead letters Replay replays at once
// (dead letters of one key always one after another). Default 8.
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.concurrency = n
		}
	}
}

// WithClaimWait sets how long Replay waits for another replay's fresh
// claim on a dead letter to move on before it completes the claim itself
// (which is safe: see Replay). Default 5s.
func WithClaimWait(d time.Duration) Option {
	return func(o *options) { o.claimWait = d }
}

// WithPipelines gives the deployment's pipelines file. Replay needs it: it
// publishes a dead letter only to a record subject of one of these
// pipelines, rebuilt from the pipeline's configuration. List, Get and Purge
// do not.
func WithPipelines(cfg *pipeline.Config) Option {
	return func(o *options) { o.pipelines = cfg }
}

// WithBackOff sets the retry schedule of one operation that fails for a
// reason that passes (a JetStream leader election, a reconnection, no
// responders yet): each call returns a fresh schedule; backoff.Stop ends
// the retries. Default: DefaultBackOff.
func WithBackOff(f func() backoff.BackOff) Option {
	return func(o *options) { o.backOff = f }
}

// DefaultBackOff is the default retry schedule: 100 ms doubling up to 2 s
// between tries, for 30 s in all (a leader election in a 3-node cluster
// takes up to about 10 s).
func DefaultBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.Multiplier, b.MaxInterval = 100*time.Millisecond, 2, 2*time.Second
	b.MaxElapsedTime = 30 * time.Second
	return b
}

// attemptTimeout bounds one request, so that a request to a server that has
// just died is retried elsewhere instead of taking the whole budget.
const attemptTimeout = 5 * time.Second

// NewInspector looks up the dead-letter stream.
func NewInspector(ctx context.Context, js jetstream.JetStream, topo messages.Topology, opts ...Option) (*Inspector, error) {
	i := &Inspector{js: js, topo: topo.WithDefaults(), opts: options{backOff: DefaultBackOff, concurrency: 8, claimWait: 5 * time.Second, clock: time.Now}}
	for _, o := range opts {
		o(&i.opts)
	}
	name := i.topo.DLQStream()
	err := i.retry(ctx, func(ctx context.Context) error {
		s, err := js.Stream(ctx, name)
		if err == nil {
			i.stream = s
		}
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("dead-letter stream %s does not exist: start a worker once to create the streams", name)
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", name, err)
	}
	return i, nil
}

// Get reads one dead letter by its stream sequence.
func (i *Inspector) Get(ctx context.Context, seq uint64) (*Entry, error) {
	var raw *jetstream.RawStreamMsg
	err := i.retry(ctx, func(ctx context.Context) (err error) {
		raw, err = i.stream.GetMsg(ctx, seq)
		return err
	})
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

// retry runs op, each try under attemptTimeout, until it succeeds, fails
// for a reason that does not pass (see transient), ctx ends or the backoff
// schedule stops. It returns op's last error, which says more than ctx's.
func (i *Inspector) retry(ctx context.Context, op func(ctx context.Context) error) error {
	var last error
	err := backoff.Retry(func() error {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		last = op(actx)
		if last != nil && !transient(last) {
			return backoff.Permanent(last)
		}
		return last
	}, backoff.WithContext(i.opts.backOff(), ctx))
	if err != nil && last != nil {
		return last
	}
	return err
}

// transient reports whether err is a failure that passes by itself: no
// server answered (yet), the connection is being re-established, or
// JetStream is electing a leader. Such a request did not change anything,
// or changed something that a retry finds (every retried write here is
// idempotent or checked).
func transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, jetstream.ErrNoStreamResponse):
		return true
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return false
	case errors.As(err, &apiErr):
		// 503: JetStream system temporarily unavailable (no leader yet).
		return apiErr.Code >= 500
	}
	return false
}

// now is the Inspector's clock, in UTC.
func (i *Inspector) now() time.Time { return i.opts.clock().UTC() }
