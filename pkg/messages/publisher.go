package messages

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublisherOptions configures a Publisher.
type PublisherOptions struct {
	// MaxPending is the most asynchronous publishes awaiting the stream's ack.
	// Default 1024 (below nats.go's own default of 4000, so it never stalls).
	MaxPending int
	// Retries is how many more times a publish that failed for a reason
	// that can pass (no ack in time, no stream leader during an election,
	// a reconnection) is tried, synchronously, with the same Nats-Msg-Id
	// (so a publish that did land is deduplicated), 250ms apart and
	// doubling up to 4s, ±20%. Default 8: about 20s, more than a JetStream
	// leader election takes in a cluster. Negative: no retries. A permanent
	// failure (see PublishError.Permanent) is never retried. Ignored when
	// BackOff is set.
	Retries int
	// BackOff, when set, returns the retry schedule of one record (a new
	// value each time: records retry independently), instead of the one
	// Retries describes. Tests give one that does not wait.
	BackOff func() backoff.BackOff
	// AckTimeout bounds each attempt: how long a publish waits for the
	// stream's ack before it counts as failed (and is retried, with the
	// same Nats-Msg-Id). Default 10s.
	AckTimeout time.Duration
}

// Errors a PublishError can wrap, besides nats.go's and jetstream's own
// (nats.ErrMaxPayload, nats.ErrPermissionViolation, jetstream.APIError …).
var (
	// ErrNoStream: no stream takes the subject. Nothing answers a publish
	// to it, and the stream lookup confirms that none listens.
	ErrNoStream = errors.New("no stream takes the subject")
	// ErrSubjectTooLong: the subject is longer than MaxSubjectLen; the
	// publish is refused before it is sent.
	ErrSubjectTooLong = errors.New("subject too long")
	// ErrNoKey: a keyed publish without a key.
	ErrNoKey = errors.New("a keyed publish needs a key")
)

// MaxSubjectLen is the longest subject a Publisher sends. nats-server closes
// a connection whose protocol line (subject, reply inbox, sizes) exceeds
// 4,096 bytes, which would fail every publish in flight on it; a keyed
// subject longer than this holds a key Salesforce refuses anyway (external
// ids are at most 255 characters).
const MaxSubjectLen = 3072

// JetStream API error codes of permanent publish failures that nats.go has
// no constant for (nats-server's jetstream_errors_generated.go).
const (
	jsErrCodeAccountResourcesExceeded jetstream.ErrorCode = 10002 // JSAccountResourcesExceededErr
	jsErrCodeStreamStoreFailed        jetstream.ErrorCode = 10077 // JSStreamStoreFailedF: a full stream with discard new ("maximum messages exceeded", "maximum bytes exceeded")
)

// Publisher publishes records for upstream systems: one at a time (Publish,
// PublishKeyed) or pipelined (PublishAsync, PublishKeyedAsync, then Flush)
// with a bounded number in flight and every failure surfaced. It is safe
// for concurrent use.
//
// Records of keyed pipelines (upsert, update, delete) go to the keyed
// subject with PublishKeyed or PublishKeyedAsync: the records stream
// partitions them by key, so that a key's changes load in the order they
// were published. Publish and PublishAsync publish to the subject given, as
// inserts (and records whose key cannot be computed) need.
//
// A failure that can pass is retried with the same Nats-Msg-Id; a permanent
// one (PublishError.Permanent: the message is over the server's or the
// stream's size limit, no stream takes the subject, permission denied, the
// stream is full and discards new messages …) is not.
type Publisher struct {
	js         jetstream.JetStream
	nc         *nats.Conn
	maxPending int
	newBackOff func() backoff.BackOff
	ackTimeout time.Duration

	mu         sync.Mutex
	sent       uint64               // async publishes sent, numbering them
	window     []*inflight          // unacknowledged async publishes, oldest first
	lastOfKey  map[string]*inflight // the newest async publish of each keyed subject in flight
	failed     []error
	nfailed    int
	published  int
	duplicates []RecordMeta
}

type inflight struct {
	fut     jetstream.PubAckFuture
	msg     *nats.Msg
	meta    RecordMeta
	keyed   bool
	lastErr error         // the connection's last error when it was sent
	n       uint64        // its number among the async publishes
	sent    time.Time     // when it was sent
	done    chan struct{} // closed once it is settled (stored or failed)
}

// PublishError is a record that could not be published.
type PublishError struct {
	Subject string
	Meta    RecordMeta
	Err     error
	// Permanent reports that retrying cannot help, so the publish was not
	// retried: the message is too large for the server or the stream, no
	// stream takes the subject, permission is denied, the stream is full
	// and discards new messages, the subject is too long, or the connection
	// is closed.
	Permanent bool
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
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 10 * time.Second
	}
	newBackOff := opts.BackOff
	if newBackOff == nil {
		retries := opts.Retries
		if retries == 0 {
			retries = 8
		}
		newBackOff = func() backoff.BackOff { return DefaultPublishBackOff(retries) }
	}
	return &Publisher{js: js, nc: js.Conn(), maxPending: opts.MaxPending, newBackOff: newBackOff,
		ackTimeout: opts.AckTimeout, lastOfKey: map[string]*inflight{}}
}

// DefaultPublishBackOff is the retry schedule of PublisherOptions.Retries:
// 250ms, doubling up to 4s, ±20%, at most retries times (none when
// retries < 0).
func DefaultPublishBackOff(retries int) backoff.BackOff {
	if retries < 0 {
		return &backoff.StopBackOff{}
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(250*time.Millisecond),
		backoff.WithMultiplier(2),
		backoff.WithMaxInterval(4*time.Second),
		backoff.WithRandomizationFactor(0.2),
		backoff.WithMaxElapsedTime(0),
	)
	return backoff.WithMaxRetries(b, uint64(retries))
}

// RecordMsg is the message a record is published as: data, with meta in
// the headers.
func RecordMsg(subject string, data []byte, meta RecordMeta) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	meta.Header(m.Header)
	return m
}

// MsgSize is the size of m as the server counts it against its
// max_payload and a stream's max_msg_size: the data and the headers as
// they go on the wire ("NATS/1.0\r\n", "Key: value\r\n" each, "\r\n").
func MsgSize(m *nats.Msg) int {
	n := len(m.Data)
	if len(m.Header) == 0 {
		return n
	}
	n += len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(textproto.TrimString(v)) + len(": \r\n")
		}
	}
	return n
}

// KeyedSubject is the subject a change of the record with key is published
// to under base, the unkeyed records subject (Subjects.Records): base, a
// dot, and KeyToken(key).
func KeyedSubject(base, key string) string { return base + "." + KeyToken(key) }

// Publish publishes one record and waits for the stream to store it.
func (p *Publisher) Publish(ctx context.Context, subject string, data []byte, meta RecordMeta) (*jetstream.PubAck, error) {
	m := RecordMsg(subject, data, meta)
	ack, retried, err := p.publishSync(ctx, m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		pe := p.fail(m, meta, err)
		p.nfailed++
		return nil, pe
	}
	p.count(ack, meta, retried)
	return ack, nil
}

// PublishKeyed publishes a change of the record with key, the value that
// names it in Salesforce (the external id of an upsert, the Id of an update
// or delete: (*pipeline.PipelineConfig).Key computes it from a source
// record), and waits for the stream to store it. base is the unkeyed
// records subject, Subjects.Records(sobject, mode); the record goes to
// KeyedSubject(base, key).
func (p *Publisher) PublishKeyed(ctx context.Context, base, key string, data []byte, meta RecordMeta) (*jetstream.PubAck, error) {
	if key == "" {
		p.mu.Lock()
		p.nfailed++
		p.mu.Unlock()
		return nil, &PublishError{Subject: base, Meta: meta, Err: ErrNoKey, Permanent: true}
	}
	subject := KeyedSubject(base, key)
	// A synchronous publish of a key after asynchronous ones of the same
	// key waits for them: the key's changes stay in order.
	if err := p.awaitKey(ctx, subject); err != nil {
		return nil, err
	}
	return p.Publish(ctx, subject, data, meta)
}

// PublishKeyedAsync is PublishAsync for a change of the record with key (see
// PublishKeyed). The key's changes are stored in the order they are given:
// while an earlier change of the key awaits its ack, this one waits for it
// (and for its retries), so a retried publish never lands after a later
// change of its key. Changes of different keys stay pipelined.
func (p *Publisher) PublishKeyedAsync(ctx context.Context, base, key string, data []byte, meta RecordMeta) error {
	if key == "" {
		p.mu.Lock()
		p.addFailure(&PublishError{Subject: base, Meta: meta, Err: ErrNoKey, Permanent: true})
		p.mu.Unlock()
		return nil
	}
	subject := KeyedSubject(base, key)
	if err := p.awaitKey(ctx, subject); err != nil {
		return err
	}
	return p.publishAsync(ctx, RecordMsg(subject, data, meta), meta, true)
}

// PublishAsync queues a record for publishing and returns at once, unless
// MaxPending publishes are already in flight: then it first waits for the
// oldest. A publish that fails is retried synchronously unless the failure
// is permanent; one that still fails is reported by Flush (and counted by
// Failures at once). It returns an error only when ctx ends.
func (p *Publisher) PublishAsync(ctx context.Context, subject string, data []byte, meta RecordMeta) error {
	return p.publishAsync(ctx, RecordMsg(subject, data, meta), meta, false)
}

func (p *Publisher) publishAsync(ctx context.Context, m *nats.Msg, meta RecordMeta, keyed bool) error {
	for {
		p.mu.Lock()
		full := len(p.window) >= p.maxPending
		var oldest *inflight
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
	if len(m.Subject) > MaxSubjectLen {
		p.mu.Lock()
		p.addFailure(p.fail(m, meta, &publishFailure{tooLong(m.Subject), true}))
		p.mu.Unlock()
		return nil
	}
	lastErr := p.nc.LastError()
	fut, err := p.js.PublishMsgAsync(m)
	if err != nil {
		// Could not even queue it (too large, stalled, closed): it did not
		// go out. Judge the error, and publish synchronously now when it
		// can pass.
		var ack *jetstream.PubAck
		retried := false
		if perr, permanent := p.judge(ctx, m, err, lastErr); permanent {
			err = &publishFailure{perr, true}
		} else {
			ack, retried, err = p.publishSync(ctx, m)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			p.addFailure(p.fail(m, meta, err))
			return nil
		}
		p.count(ack, meta, retried)
		return nil
	}
	f := &inflight{fut: fut, msg: m, meta: meta, keyed: keyed, lastErr: lastErr, sent: time.Now(), done: make(chan struct{})}
	p.mu.Lock()
	p.sent++
	f.n = p.sent
	p.window = append(p.window, f)
	if keyed {
		p.lastOfKey[m.Subject] = f
	}
	p.mu.Unlock()
	return nil
}

// awaitKey returns once no asynchronous publish of subject is in flight.
func (p *Publisher) awaitKey(ctx context.Context, subject string) error {
	for {
		p.mu.Lock()
		last := p.lastOfKey[subject]
		if last == nil {
			p.mu.Unlock()
			return nil
		}
		// Settle the window, oldest first, up to the key's last publish;
		// if another goroutine is settling it, wait for that.
		var oldest *inflight
		if len(p.window) > 0 && p.window[0].n <= last.n && !p.settled(last) {
			oldest = p.window[0]
			p.window = p.window[1:]
		}
		p.mu.Unlock()
		if oldest != nil {
			if err := p.settle(ctx, oldest); err != nil {
				return err
			}
			continue
		}
		select {
		case <-last.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *Publisher) settled(f *inflight) bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// settle waits for one async publish, retrying it if it failed and the
// failure can pass.
func (p *Publisher) settle(ctx context.Context, f *inflight) error {
	ack, err := p.await(ctx, f)
	if ack == nil && err == nil {
		// ctx ended. Put it back: it is still in flight.
		p.mu.Lock()
		p.window = append([]*inflight{f}, p.window...)
		p.mu.Unlock()
		return ctx.Err()
	}
	retried := false
	if err != nil {
		if perr, permanent := p.judge(ctx, f.msg, err, f.lastErr); permanent {
			err = &publishFailure{perr, true}
		} else {
			ack, _, err = p.publishSync(ctx, f.msg)
			retried = true
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.finish(f)
	if err != nil {
		p.addFailure(p.fail(f.msg, f.meta, err))
		return nil
	}
	p.count(ack, f.meta, retried)
	return nil
}

// await waits for f's ack, up to AckTimeout after it was sent: it returns
// the ack, or the failure, or neither when ctx ends first.
func (p *Publisher) await(ctx context.Context, f *inflight) (*jetstream.PubAck, error) {
	// An answer that is already there wins over an expired timer.
	select {
	case ack := <-f.fut.Ok():
		return ack, nil
	case err := <-f.fut.Err():
		return nil, err
	default:
	}
	timer := time.NewTimer(max(p.ackTimeout-time.Since(f.sent), 0))
	defer timer.Stop()
	select {
	case ack := <-f.fut.Ok():
		return ack, nil
	case err := <-f.fut.Err():
		return nil, err
	case <-timer.C:
		// No ack: the message or the ack was lost, or the server dropped
		// the message (a permission violation). The retry carries the same
		// Nats-Msg-Id: if it was stored, it is not stored twice.
		return nil, fmt.Errorf("no ack within %v: %w", p.ackTimeout, context.DeadlineExceeded)
	case <-ctx.Done():
		return nil, nil
	}
}

// finish marks f settled. p.mu is held.
func (p *Publisher) finish(f *inflight) {
	close(f.done)
	if f.keyed && p.lastOfKey[f.msg.Subject] == f {
		delete(p.lastOfKey, f.msg.Subject)
	}
}

// publishFailure is a publish that failed for good; permanent tells
// whether it was refused (retrying cannot help) rather than retried until
// the schedule or ctx ended.
type publishFailure struct {
	err       error
	permanent bool
}

func (e *publishFailure) Error() string { return e.err.Error() }
func (e *publishFailure) Unwrap() error { return e.err }

// publishSync publishes m, retrying failures that can pass on the backoff
// schedule. A failure is a *publishFailure. retried reports that an
// attempt failed before the one that succeeded.
func (p *Publisher) publishSync(ctx context.Context, m *nats.Msg) (ack *jetstream.PubAck, retried bool, err error) {
	if len(m.Subject) > MaxSubjectLen {
		return nil, false, &publishFailure{tooLong(m.Subject), true}
	}
	var last error
	attempts := 0
	ack, err = backoff.RetryWithData(func() (*jetstream.PubAck, error) {
		attempts++
		lastErr := p.nc.LastError()
		actx, cancel := context.WithTimeout(ctx, p.ackTimeout)
		defer cancel()
		ack, err := p.js.PublishMsg(actx, m)
		if err == nil {
			return ack, nil
		}
		last = err
		if ctx.Err() != nil {
			return nil, backoff.Permanent(&publishFailure{errors.Join(err, ctx.Err()), false})
		}
		if perr, permanent := p.judge(ctx, m, err, lastErr); permanent {
			return nil, backoff.Permanent(&publishFailure{perr, true})
		}
		return nil, err
	}, backoff.WithContext(p.newBackOff(), ctx))
	if err == nil {
		return ack, attempts > 1, nil
	}
	var pf *publishFailure
	if errors.As(err, &pf) {
		return nil, attempts > 1, pf
	}
	if last != nil && !errors.Is(err, last) {
		err = errors.Join(last, err) // the cause, and that the wait ended
	}
	return nil, attempts > 1, &publishFailure{err, false}
}

// judge tells a permanent publish failure from one that can pass: typed
// errors only (errors.Is/As against nats.go's and jetstream's), never the
// text. It returns the error to report. lastErr is the connection's last
// error before the attempt.
func (p *Publisher) judge(ctx context.Context, m *nats.Msg, err, lastErr error) (error, bool) {
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrHeadersNotSupported),
		errors.Is(err, nats.ErrBadHeaderMsg), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount), errors.Is(err, ErrSubjectTooLong):
		return err, true
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case jetstream.JSErrCodeStreamMessageExceedsMaximum, jetstream.JSErrCodeStreamNotFound,
			jetstream.JSErrCodeJetStreamNotEnabled, jetstream.JSErrCodeJetStreamNotEnabledForAccount,
			jsErrCodeStreamStoreFailed, jsErrCodeAccountResourcesExceeded:
			return err, true
		}
		return err, false // e.g. no quorum during an election
	}
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		// Nothing answered: no stream takes the subject, or its stream has
		// no leader for a moment (an election). The stream lookup tells.
		lctx, cancel := context.WithTimeout(ctx, p.ackTimeout)
		_, lerr := p.js.StreamNameBySubject(lctx, m.Subject)
		cancel()
		if errors.Is(lerr, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("%w (%w)", ErrNoStream, err), true
		}
		return err, false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		// The server drops a message its publisher may not send and says
		// so only in the connection's error: a new permission violation
		// since the attempt began is why no ack came.
		if now := p.nc.LastError(); now != nil && now != lastErr && errors.Is(now, nats.ErrPermissionViolation) { //nolint:errorlint // identity: a new error value since the attempt began
			return fmt.Errorf("%w (%w)", now, err), true
		}
	}
	return err, false
}

func tooLong(subject string) error {
	return fmt.Errorf("%w: %d bytes, the limit is %d", ErrSubjectTooLong, len(subject), MaxSubjectLen)
}

func (p *Publisher) fail(m *nats.Msg, meta RecordMeta, err error) *PublishError {
	pe := &PublishError{Subject: m.Subject, Meta: meta, Err: err}
	var pf *publishFailure
	if errors.As(err, &pf) {
		pe.Err, pe.Permanent = pf.err, pf.permanent
	}
	return pe
}

// addFailure records a failed publish. p.mu is held.
func (p *Publisher) addFailure(err error) {
	p.failed = append(p.failed, err)
	p.nfailed++
}

// count records an acknowledged publish. A duplicate answer to a retry is
// the stream recognising the earlier attempt, which was stored after all:
// not a duplicate of another publish. p.mu is held.
func (p *Publisher) count(ack *jetstream.PubAck, meta RecordMeta, retried bool) {
	p.published++
	if ack.Duplicate && !retried {
		p.duplicates = append(p.duplicates, meta)
	}
}

// Flush waits for every queued publish. It returns the records that could
// not be published since the last Flush (each a *PublishError, joined), or
// ctx's error.
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

// Failures is how many records have failed so far (Flush reports which). A
// caller publishing a batch checks it to stop at the first failure.
func (p *Publisher) Failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nfailed
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
