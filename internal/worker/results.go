package worker

import (
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
// without a job share one) and waits for each to be stored, so that a
// producer waiting on a job sees every outcome before the messages are
// settled. A result that cannot be stored is logged and counted; the
// records are settled anyway (their outcome is in Salesforce and the
// dead-letter stream; only the report is missing).
func (r *runner) publishResults(entries []*entry, start time.Time, stats pipeline.LoadStats) {
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
		r.w.publishResult(byJob[job])
	}
}

func (w *Worker) publishResult(res *messages.BatchResult) {
	data, err := messages.EncodeBatchResult(res)
	if err == nil {
		err = w.publishDurable(&nats.Msg{Subject: w.subj.Results(res.Pipeline, res.Job), Data: data}, w.topo.ResultsStream())
	}
	if err != nil {
		w.metrics.ResultErrors.Inc()
		w.log.Error().Err(err).Str("pipeline", res.Pipeline).Str("job", res.Job).Msg("batch result not published")
	}
}
