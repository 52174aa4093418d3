package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// publishResults publishes one BatchResult per job in the group (records
// without a job share one) and waits until each is stored, so that a
// producer waiting on a job sees every outcome before the messages are
// settled. While the results stream cannot store (no leader during an
// election, say) it keeps trying, the records heartbeating; if the worker
// shuts down first, the job's records are naked instead of settled, so that
// their outcome is reported when they are processed again.
func (r *runner) publishResults(group []*entry, start time.Time) {
	batchID := r.w.nextBatchID()
	finished := time.Now().UTC()
	var order []string
	byJob := map[string]*messages.BatchResult{}
	for _, e := range group {
		job := e.meta.Job
		res := byJob[job]
		if res == nil {
			res = &messages.BatchResult{
				BatchID: batchID, Pipeline: r.name, SObject: r.sobject, Mode: r.mode,
				Job: job, Worker: r.w.cfg.ID, StartedAt: start.UTC(), FinishedAt: finished,
			}
			byJob[job] = res
			order = append(order, job)
		}
		v := e.v
		ro := messages.RecordOutcome{
			Seq: e.meta.Seq, StreamSeq: e.streamSeq(), Key: e.key(), Status: v.status,
			Delivery: int(e.delivered()), Attempts: int(e.delivered()-1) + e.out.Attempts,
		}
		if v.status == messages.StatusLoaded {
			ro.ID, ro.Created = e.out.ID, e.out.Created || e.op == pipeline.Insert
		} else {
			ro.ID = e.out.ID
			ro.Code, ro.Message, ro.Fields = v.code, v.msg, v.fields
		}
		switch v.status {
		case messages.StatusLoaded:
			res.Loaded++
		case messages.StatusSkipped:
			res.Skipped++
		case messages.StatusDeadLettered:
			res.Failed++
		default:
			res.Retrying++
		}
		res.Records = append(res.Records, ro)
		r.w.metrics.Records.WithLabelValues(r.name, v.status, ro.Code).Inc()
	}
	// The calls made since the previous result: summed over results, every
	// call is counted once.
	byJob[order[0]].APICalls = int(r.calls.Swap(0))
	for _, job := range order {
		ctx, cancel := context.WithCancel(context.Background())
		stop := context.AfterFunc(r.w.workCtx(), cancel)
		err := r.w.storeResult(ctx, byJob[job])
		stop()
		cancel()
		if err != nil {
			r.log.Warn().Err(err).Str("job", job).Msg("batch result not stored before shutdown; its records go back for redelivery")
			for _, e := range group {
				if e.meta.Job == job {
					e.v = verdict{kind: vNak, status: messages.StatusRetrying, code: pipeline.CodeCanceled, msg: "worker shutting down before the result was stored"}
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
	return retryUntil(ctx, w.cfg.StoreBackOff(), func() error {
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
