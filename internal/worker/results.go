package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

var statusOf = map[verdict]string{
	vLoaded:     messages.StatusLoaded,
	vSkipped:    messages.StatusSkipped,
	vDeadLetter: messages.StatusDeadLettered,
	vRetry:      messages.StatusRetrying,
	vRequeue:    messages.StatusRetrying,
}

// publishResults publishes one BatchResult per job in the batch (records
// without a job share one) and waits until each is stored, so that a
// producer waiting on a job sees every outcome before the messages are
// settled. While the results stream cannot store (no leader during an
// election, say) it keeps trying, heartbeating the batch; if the worker
// shuts down first, the job's records are naked instead of settled, so that
// their outcome is reported when they are processed again.
func (r *runner) publishResults(ctx context.Context, entries []*entry, start time.Time, stats pipeline.LoadStats) {
	o := r.p.Options()
	batchID := r.w.nextBatchID()
	finished := time.Now().UTC()
	var order []string
	byJob := map[string]*messages.BatchResult{}
	for _, e := range entries {
		job := e.meta.Job
		res := byJob[job]
		if res == nil {
			res = &messages.BatchResult{
				BatchID: batchID, Pipeline: r.pc.Name, SObject: o.SObject, Mode: string(o.Mode),
				Job: job, Worker: r.w.opts.ID, StartedAt: start.UTC(), FinishedAt: finished,
			}
			byJob[job] = res
			order = append(order, job)
		}
		status := statusOf[e.verdict]
		ro := messages.RecordOutcome{
			Seq: e.meta.Seq, StreamSeq: e.streamSeq(), Key: e.meta.Key, Status: status,
			ID: e.id, Created: e.created, Delivery: int(e.delivered()),
		}
		if e.verdict != vLoaded {
			ro.Code, ro.Message, ro.Fields = e.code, e.message, e.fields
		}
		switch e.verdict {
		case vLoaded:
			res.Loaded++
		case vSkipped:
			res.Skipped++
		case vDeadLetter:
			res.Failed++
		default:
			res.Retrying++
		}
		res.Records = append(res.Records, ro)
		r.w.metrics.Records.WithLabelValues(r.pc.Name, status, ro.Code).Inc()
	}
	if len(order) > 0 {
		byJob[order[0]].APICalls = stats.APICalls
	}
	for _, job := range order {
		if err := r.w.storeResult(ctx, byJob[job]); err != nil {
			r.log.Warn().Err(err).Str("job", job).Msg("batch result not stored before shutdown; its records go back for redelivery")
			for _, e := range entries {
				if e.meta.Job == job {
					e.fail(vRequeue, pipeline.CodeCanceled, "worker shutting down before the result was stored", nil)
				}
			}
		}
	}
}

// storeResult publishes a result and waits for the results stream to store
// it, retrying with backoff until ctx ends.
func (w *Worker) storeResult(ctx context.Context, res *messages.BatchResult) error {
	data, err := messages.EncodeBatchResult(res)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: w.subj.Results(res.Pipeline, res.Job), Data: data}
	return retryUntil(ctx, w.opts.StoreBackOff(), func() error {
		err := w.publishDurable(msg, w.topo.ResultsStream())
		if err == nil {
			return nil
		}
		w.metrics.ResultErrors.Inc()
		if errors.Is(err, nats.ErrBadSubject) {
			// Cannot succeed; the record's job id was refused when decoding.
			w.log.Error().Err(err).Str("subject", msg.Subject).Msg("batch result not published")
			return nil
		}
		return err
	}, func(err error, wait time.Duration) {
		w.log.Warn().Err(err).Str("pipeline", res.Pipeline).Str("job", res.Job).Dur("retry_in", wait).Msg("batch result not stored yet; retrying")
	})
}
