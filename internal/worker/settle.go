package worker

import (
	"errors"
	"github.com/rs/zerolog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// settleAll settles every record of a finished group. By now dead letters
// and results are durable.
func (r *runner) settleAll(group []*entry) {
	now := time.Now().UTC()
	for _, e := range group {
		if e.v.kind == vNak && e.v.delay > 0 {
			r.noteFailure(e, now)
		}
		r.settle(e)
		r.release(e)
	}
}

// settle is the one place a message is acked, naked or terminated; it
// carries out the verdict decide reached:
//
//	ack          loaded, or skipped (its job stopped on an earlier error)
//	dead letter  term, with the error code as reason; the dead letter is
//	             already stored (on a work-queue stream term deletes the
//	             message, so the copy must exist first)
//	nak          redelivered after the verdict's delay (0: at once, to any
//	             replica: shutdown)
//
// Settling a message twice is harmless: the second attempt's
// ErrMsgAlreadyAckd is ignored. A failed ack/nak only means JetStream
// redelivers the message after AckWait.
func (r *runner) settle(e *entry) {
	var err error
	if r.log.GetLevel() <= zerolog.TraceLevel {
		r.log.Trace().Uint64("stream_seq", e.streamSeq()).Uint64("delivered", e.delivered()).Int("partition", e.part).
			Str("verdict", e.v.kind.String()).Dur("delay", e.v.delay).Str("code", e.v.code).Msg("settled")
	}
	switch e.v.kind {
	case vAck:
		err = e.msg.Ack()
	case vDeadLetter:
		err = e.msg.TermWithReason(e.v.code)
	case vNak:
		if e.v.delay > 0 {
			err = e.msg.NakWithDelay(e.v.delay)
		} else {
			err = e.msg.Nak()
		}
	default:
		// A hold or an undecided record cannot reach here; redeliver rather
		// than guess.
		r.log.Error().Uint64("stream_seq", e.streamSeq()).Str("verdict", e.v.kind.String()).Msg("message reached settle undecided; naking")
		err = e.msg.Nak()
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		r.w.metrics.SettleErrors.WithLabelValues(r.name).Inc()
		r.log.Warn().Err(err).Uint64("stream_seq", e.streamSeq()).Msg("settling failed; JetStream will redeliver")
	}
}

// release gives a settled record's room back.
func (r *runner) release(e *entry) {
	r.credits.release(e.size)
	r.w.metrics.InFlight.WithLabelValues(r.name).Dec()
	r.forget(e)
	if r.owner != nil && e.part >= 0 {
		r.owner.settled(e)
	}
}
