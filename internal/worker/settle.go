package worker

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// settleAll settles every message of a batch. By now dead letters and
// results are durable; retried records have their first failure noted.
func (r *runner) settleAll(entries []*entry) {
	now := time.Now().UTC()
	for _, e := range entries {
		if e.verdict == vRetry {
			r.noteFailure(e, now)
		}
		r.settle(e)
	}
}

// settle is the one place a message is acked, naked or terminated:
//
//	loaded        ack
//	skipped       ack (its job stopped on an earlier error)
//	dead-lettered term, with the error code as reason; the dead letter is
//	              already stored (on a work-queue stream term deletes the
//	              message, so the copy must exist first)
//	retry         nak with a delay computed from the delivery count
//	requeue       nak at once (shutdown: another replica takes it)
//
// Settling a message twice is harmless: the second attempt's
// ErrMsgAlreadyAckd is ignored. A failed ack/nak only means JetStream
// redelivers the message after AckWait.
func (r *runner) settle(e *entry) {
	var err error
	switch e.verdict {
	case vLoaded, vSkipped:
		err = e.msg.Ack()
	case vDeadLetter:
		err = e.msg.TermWithReason(e.code)
	case vRetry:
		err = e.msg.NakWithDelay(r.w.opts.NakDelay(e.delivered()))
	case vRequeue:
		err = e.msg.Nak()
	default:
		// Undecided cannot happen; redeliver rather than guess.
		r.log.Error().Uint64("stream_seq", e.streamSeq()).Msg("message reached settle undecided; naking")
		err = e.msg.Nak()
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		r.w.metrics.SettleErrors.WithLabelValues(r.pc.Name).Inc()
		r.log.Warn().Err(err).Uint64("stream_seq", e.streamSeq()).Msg("settling failed; JetStream will redeliver")
	}
}
