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
		if e.verdict != vDeadLetter {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.publishDeadLetter(e, now); err != nil {
				r.log.Error().Err(err).Uint64("stream_seq", e.streamSeq()).Str("sf_code", e.code).Msg("dead letter not stored; the record will be redelivered")
				e.verdict = vRetry
				return
			}
			r.w.metrics.DeadLetters.WithLabelValues(r.pc.Name, e.code).Inc()
		}()
	}
	wg.Wait()
}

func (e *entry) streamSeq() uint64 {
	if e.md == nil {
		return 0
	}
	return e.md.Sequence.Stream
}

func (r *runner) publishDeadLetter(e *entry, now time.Time) error {
	o := r.p.Options()
	dl := &messages.DeadLetter{
		Pipeline:    r.pc.Name,
		SObject:     o.SObject,
		Mode:        string(o.Mode),
		Subject:     e.msg.Subject(),
		StreamSeq:   e.streamSeq(),
		Job:         e.meta.Job,
		Seq:         e.meta.Seq,
		Key:         e.meta.Key,
		MsgID:       e.meta.MsgID,
		Headers:     e.msg.Headers(),
		Data:        e.msg.Data(),
		Code:        e.code,
		Message:     e.message,
		Fields:      e.fields,
		Attempts:    int(e.delivered()),
		LastFailure: now,
		Worker:      r.w.opts.ID,
	}
	if e.md != nil {
		dl.Stream = e.md.Stream
	}
	dl.FirstFailure = r.firstFailure(e, now)
	return r.w.storeDeadLetter(r.subjectDLQ(), dl)
}

func (r *runner) subjectDLQ() string {
	o := r.p.Options()
	return r.w.subj.DeadLetters(r.pc.Name, o.SObject, string(o.Mode))
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

// publishDurable publishes msg to stream and waits for the ack, with three
// attempts a second apart.
func (w *Worker) publishDurable(msg *nats.Msg, stream string) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		_, err = w.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(stream))
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// firstFailure returns when the record first failed: now for a first
// delivery, else the time noted in the state bucket by noteFailure.
func (r *runner) firstFailure(e *entry, now time.Time) time.Time {
	if e.delivered() <= 1 {
		return now
	}
	key := r.firstFailureKey(e)
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
