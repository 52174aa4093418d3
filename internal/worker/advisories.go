package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/clock"
	"github.com/kinetic-sync/kinetic/internal/jspull"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// maxDeliverAdvisory is JetStream's io.nats.jetstream.advisory.v1.max_deliver
// (nats-server JSConsumerDeliveryExceededAdvisory).
type maxDeliverAdvisory struct {
	Type       string    `json:"type"`
	Time       time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	StreamSeq  uint64    `json:"stream_seq"`
	Deliveries uint64    `json:"deliveries"`
}

const advisoryConsumer = "kinetic_max_deliveries"

// handleAdvisories dead-letters the messages JetStream stopped redelivering.
//
// A message exhausts MaxDeliver without the worker settling it when the
// worker that held it died (or lost NATS) every time — a poison message that
// crashes workers, say. JetStream then sends a MAX_DELIVERIES advisory and,
// on a work-queue stream, keeps the message. Advisories are fire-and-forget,
// so the advisories stream captures them durably; every replica pulls from
// one shared consumer. For each advisory: read the message by stream
// sequence, store its dead letter (the Nats-Msg-Id is per sequence, so a
// worker and this handler dead-lettering the same message store it once),
// report it in a BatchResult, delete it from the records stream, and only
// then ack the advisory. A message already gone (settled after all) needs
// nothing.
func (w *Worker) handleAdvisories(ctx context.Context) {
	_, err := w.js.CreateOrUpdateConsumer(ctx, w.topo.AdvisoriesStream(), jetstream.ConsumerConfig{
		Durable:       advisoryConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxDeliver:    -1, // an advisory is retried until handled
		MaxAckPending: 100,
	})
	if err != nil {
		w.log.Error().Err(err).Msg("advisory consumer: not created; MAX_DELIVERIES messages will wait until a replica handles them")
		return
	}
	records, err := w.js.Stream(ctx, w.topo.RecordsStream())
	if err != nil {
		w.log.Error().Err(err).Msg("advisory handler: records stream")
		return
	}
	// As the records' pulls: a pull ends when the server ends it
	// (internal/jspull), so no advisory is lost in flight for its AckWait.
	pull := jspull.New(w.js, w.topo.AdvisoriesStream(), advisoryConsumer)
	for ctx.Err() == nil {
		msgs, err := pull.Fetch(jspull.Request{Batch: 20, Expires: time.Second})
		for _, msg := range msgs {
			if err := w.handleAdvisory(ctx, records, msg.Data()); err != nil {
				w.log.Warn().Err(err).Msg("max-deliveries advisory not handled; retrying later")
				_ = msg.NakWithDelay(5 * time.Second)
				continue
			}
			_ = msg.Ack()
			w.metrics.Advisories.Inc()
		}
		if err != nil && clock.Sleep(ctx, time.Second) != nil {
			return
		}
	}
}

func (w *Worker) handleAdvisory(ctx context.Context, records jetstream.Stream, data []byte) error {
	var adv maxDeliverAdvisory
	if err := json.Unmarshal(data, &adv); err != nil || adv.StreamSeq == 0 {
		w.log.Warn().Err(err).Msg("ignoring a malformed max-deliveries advisory")
		return nil
	}
	pc, ok := w.pipelineByConsumer(adv.Consumer)
	if !ok {
		w.log.Warn().Str("consumer", adv.Consumer).Uint64("stream_seq", adv.StreamSeq).Msg("max-deliveries advisory for a consumer of no configured pipeline; leaving the message in place")
		return nil
	}
	opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	raw, err := records.GetMsg(opCtx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // settled after all, or already dead-lettered and deleted
	}
	if err != nil {
		return fmt.Errorf("reading stream sequence %d: %w", adv.StreamSeq, err)
	}
	meta, _ := messages.ParseRecordMeta(raw.Header)
	if subj, err := w.subj.ParseRecords(raw.Subject); err == nil {
		pc.mode = subj.Mode // a delete in a pipeline that takes deletes
		if meta.Key == "" {
			meta.Key = subj.Key // a plain publisher's keyed subject
		}
	}
	now := time.Now().UTC()
	dl := &messages.DeadLetter{
		Pipeline: pc.name, SObject: pc.sobject, Mode: pc.mode,
		Subject: raw.Subject, Stream: adv.Stream, StreamSeq: adv.StreamSeq,
		Job: meta.Job, Seq: meta.Seq, Key: meta.Key, MsgID: meta.MsgID,
		Headers: raw.Header, Data: raw.Data,
		Code:     messages.CodeMaxDeliveries,
		Message:  fmt.Sprintf("JetStream stopped redelivering after %d deliveries that no worker settled (a crash or a lost connection each time)", adv.Deliveries),
		Attempts: int(adv.Deliveries), FirstFailure: raw.Time.UTC(), LastFailure: now, Worker: w.cfg.ID,
	}
	if err := w.storeDeadLetter(w.subj.DeadLetters(pc.name, pc.sobject, pc.mode), dl); err != nil {
		return fmt.Errorf("storing dead letter of sequence %d: %w", adv.StreamSeq, err)
	}
	if err := w.storeResult(opCtx, &messages.BatchResult{
		BatchID: w.nextBatchID(), Pipeline: pc.name, SObject: pc.sobject, Mode: pc.mode, Job: meta.Job,
		Worker: w.cfg.ID, Failed: 1, StartedAt: now, FinishedAt: now,
		Records: []messages.RecordOutcome{{
			Seq: meta.Seq, StreamSeq: adv.StreamSeq, Key: meta.Key, Status: messages.StatusDeadLettered,
			Code: dl.Code, Message: dl.Message, Delivery: int(adv.Deliveries),
		}},
	}); err != nil {
		return fmt.Errorf("reporting sequence %d: %w", adv.StreamSeq, err)
	}
	if err := records.DeleteMsg(opCtx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("deleting sequence %d from %s: %w", adv.StreamSeq, adv.Stream, err)
	}
	w.metrics.DeadLetters.WithLabelValues(pc.name, messages.CodeMaxDeliveries).Inc()
	w.metrics.Records.WithLabelValues(pc.name, messages.StatusDeadLettered, messages.CodeMaxDeliveries).Inc()
	w.log.Warn().Str("pipeline", pc.name).Uint64("stream_seq", adv.StreamSeq).Uint64("num_delivered", adv.Deliveries).Str("job", meta.Job).Msg("message exhausted its deliveries: dead-lettered")
	return nil
}

type pipelineRef struct{ name, sobject, mode string }

// pipelineByConsumer finds the pipeline a durable consumer belongs to, among
// every pipeline of the config (this replica may run only some of them).
// A pipeline's consumers are <durable> and <durable>_p<N>.
func (w *Worker) pipelineByConsumer(consumer string) (pipelineRef, bool) {
	for _, pc := range w.cfg.Pipelines.Pipelines {
		set, err := decodeSettings(pc)
		if err != nil {
			continue
		}
		durable := set.withDefaults(pc.Name, 1, 1).Durable
		rest, partitioned := strings.CutPrefix(consumer, durable+"_p")
		if _, err := strconv.Atoi(rest); consumer == durable || (partitioned && err == nil) {
			return pipelineRef{name: pc.Name, sobject: pc.SObject, mode: string(pc.Mode)}, true
		}
	}
	return pipelineRef{}, false
}
