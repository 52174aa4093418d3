package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// publishTimeout bounds one publish to a Kinetic stream (dead letters,
// results); they run after shutdown has begun, so not under the work context.
const publishTimeout = 10 * time.Second

// dlqMsgID is the dead letter's Nats-Msg-Id: one per records-stream
// sequence, so that the worker and the advisory handler dead-lettering the
// same message (or a worker doing it twice) store it once.
func dlqMsgID(stream string, seq uint64) string { return fmt.Sprintf("dlq-%s-%d", stream, seq) }

// publishDeadLetters publishes every dead-lettered entry and waits for the
// dead-letter stream to store it. An entry whose dead letter cannot be
// stored is naked instead: it is never acked without a durable copy.
func (r *runner) publishDeadLetters(entries []*entry) {
	now := time.Now().UTC()
	var wg sync.WaitGroup
	for _, e := range entries {
		if e.v.kind != vDeadLetter {
			continue
		}
		wg.Go(func() {
			err := retryUntil(r.w.workCtx(), r.w.cfg.StoreBackOff(), func() error { return r.publishDeadLetter(e, now) },
				func(err error, wait time.Duration) {
					r.log.Warn().Err(err).Uint64("stream_seq", e.streamSeq()).Dur("retry_in", wait).Msg("dead letter not stored yet; retrying")
				})
			if err != nil {
				r.log.Error().Err(err).Uint64("stream_seq", e.streamSeq()).Str("sf_code", e.v.code).Msg("dead letter not stored; the record will be redelivered")
				e.v = verdict{kind: vNak, delay: nth(r.w.cfg.NakBackOff, int(e.delivered())), status: messages.StatusRetrying,
					code: e.v.code, msg: e.v.msg + " (dead letter not stored: redelivered)", fields: e.v.fields}
				return
			}
			r.w.metrics.DeadLetters.WithLabelValues(r.name, e.v.code).Inc()
		})
	}
	wg.Wait()
}

func (r *runner) publishDeadLetter(e *entry, now time.Time) error {
	dl := &messages.DeadLetter{
		Pipeline:    r.name,
		SObject:     r.sobject,
		Mode:        string(e.op),
		Subject:     e.msg.Subject(),
		StreamSeq:   e.streamSeq(),
		Job:         e.meta.Job,
		Seq:         e.meta.Seq,
		Key:         e.key(),
		MsgID:       e.meta.MsgID,
		Headers:     recordHeaders(e.msg.Headers()),
		Data:        e.msg.Data(),
		Code:        e.v.code,
		Message:     e.v.msg,
		Fields:      e.v.fields,
		Attempts:    int(e.delivered()-1) + max(e.out.Attempts, 1),
		LastFailure: now,
		Worker:      r.w.cfg.ID,
	}
	if e.md != nil {
		dl.Stream = e.md.Stream
	}
	dl.FirstFailure = r.firstFailure(e, now)
	return r.w.storeDeadLetter(r.w.subj.DeadLetters(r.name, r.sobject, string(e.op)), dl)
}

// storeDeadLetter publishes a dead letter and waits for its ack, retrying
// briefly.
func (w *Worker) storeDeadLetter(subject string, dl *messages.DeadLetter) error {
	h, body, err := messages.EncodeDeadLetter(dl)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: subject, Header: h, Data: body}
	msg.Header.Set(nats.MsgIdHdr, dlqMsgID(dl.Stream, dl.StreamSeq))
	return w.publishDurable(msg, w.topo.DLQStream())
}

// publishDurable publishes msg to stream and waits for the ack: one
// attempt, bounded by publishTimeout. Callers retry (storeResult) or give
// the record back (a dead letter not stored).
func (w *Worker) publishDurable(msg *nats.Msg, stream string) error {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	_, err := w.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(stream))
	return err
}

// firstFailure returns when the record first failed: now for a first
// delivery, else the time noted in the state bucket by noteFailure.
func (r *runner) firstFailure(e *entry, now time.Time) time.Time {
	if e.delivered() <= 1 {
		return now
	}
	key := r.firstFailureKey(e)
	if key == "" {
		return now
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	kv, err := r.w.state.Get(ctx, key)
	if err != nil {
		return now
	}
	_ = r.w.state.Delete(ctx, key)
	t, err := time.Parse(time.RFC3339Nano, string(kv.Value()))
	if err != nil {
		return now
	}
	return t
}

// noteFailure records the first failure time of a record about to be
// retried, once.
func (r *runner) noteFailure(e *entry, now time.Time) {
	if e.delivered() != 1 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if _, err := r.w.state.Create(ctx, r.firstFailureKey(e), []byte(now.Format(time.RFC3339Nano))); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		r.log.Debug().Err(err).Msg("noting first failure time failed")
	}
}

// firstFailureKey is the state-bucket key holding when a record first
// failed, kept for its dead letter. Only records given back to JetStream
// need one: a record dead-lettered within one delivery has it in hand.
func (r *runner) firstFailureKey(e *entry) string {
	if e.md == nil {
		return ""
	}
	return fmt.Sprintf("fail.%s.%d", r.w.topo.RecordsStream(), e.md.Sequence.Stream)
}

// recordHeaders are a record's headers as its publisher sent them, without
// what the server adds on delivery (Nats-Pin-Id of a pinned consumer).
func recordHeaders(h nats.Header) nats.Header {
	if h.Get("Nats-Pin-Id") == "" {
		return h
	}
	out := nats.Header{}
	for k, v := range h {
		if k != "Nats-Pin-Id" {
			out[k] = v
		}
	}
	return out
}
