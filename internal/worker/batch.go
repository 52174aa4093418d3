package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// verdict is what happens to a message; settle turns it into ack, nak or term.
type verdict int

const (
	vPending    verdict = iota // not decided yet
	vLoaded                    // Salesforce confirmed it: ack
	vSkipped                   // its job stopped on an earlier error: ack
	vDeadLetter                // failed for good: dead-letter, then term
	vRetry                     // failed for now: nak with delay (dead-letter on the last delivery)
	vRequeue                   // interrupted by shutdown: nak now, another replica takes it
)

// entry is one message of a batch and what became of it.
type entry struct {
	msg  jetstream.Msg
	md   *jetstream.MsgMetadata
	meta messages.RecordMeta
	rec  map[string]any
	item pipeline.Item

	verdict  verdict
	id       string
	created  bool
	code     string
	message  string
	fields   []string
	class    salesforce.Class
	attempts int
}

func (e *entry) fail(v verdict, code, msg string, fields []string) {
	e.verdict, e.code, e.message, e.fields = v, code, msg, fields
}

func (e *entry) delivered() uint64 {
	if e.md == nil {
		return 1
	}
	return e.md.NumDelivered
}

// process handles one fetched batch from decoding to settling. Nothing here
// acks or naks a message except settleAll, after the dead letters and the
// results are durable.
func (r *runner) process(ctx context.Context, msgs []jetstream.Msg) {
	start := time.Now()
	m := r.w.metrics
	name := r.pc.Name
	m.BatchSize.WithLabelValues(name).Observe(float64(len(msgs)))
	m.Batches.WithLabelValues(name).Inc()
	m.InFlight.WithLabelValues(name).Add(float64(len(msgs)))
	defer m.InFlight.WithLabelValues(name).Sub(float64(len(msgs)))

	stopBeat := r.heartbeat(msgs)
	defer stopBeat()

	entries := make([]*entry, len(msgs))
	for i, msg := range msgs {
		entries[i] = r.decode(msg)
	}
	r.applyJobStops(ctx, entries)
	stats := r.load(ctx, entries)
	r.decideRetries(ctx, entries)
	// Stop flags only for failures whose dead letter is stored: a record
	// whose dead letter could not be stored goes back for redelivery and
	// must not then be skipped as "after the first failure".
	r.publishDeadLetters(entries)
	r.recordJobStops(ctx, entries)
	r.publishResults(ctx, entries, start, stats)
	r.settleAll(entries)
}

// heartbeat tells JetStream the batch is being worked on, every AckWait/3,
// so a long Salesforce call or a pause never lets AckWait expire.
func (r *runner) heartbeat(msgs []jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, msg := range msgs {
					_ = msg.InProgress() // best effort: a lost heartbeat only risks a redelivery
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// decode reads a message's metadata, headers and payload, and maps and
// validates the record. Anything wrong is a permanent failure with a code.
func (r *runner) decode(msg jetstream.Msg) *entry {
	e := &entry{msg: msg}
	md, err := msg.Metadata()
	if err == nil {
		e.md = md
		if md.NumDelivered > 1 {
			r.w.metrics.Redeliveries.WithLabelValues(r.pc.Name).Inc()
		}
	}
	meta, err := messages.ParseRecordMeta(msg.Headers())
	e.meta = meta
	if err != nil {
		var de *messages.DecodeError
		if errors.As(err, &de) {
			e.fail(vDeadLetter, de.Code, de.Msg, nil)
		} else {
			e.fail(vDeadLetter, messages.CodeBadHeader, err.Error(), nil)
		}
		return e
	}
	rec, err := messages.DecodeRecord(msg.Data(), r.maxRecordBytes)
	if err != nil {
		var de *messages.DecodeError
		if errors.As(err, &de) {
			e.fail(vDeadLetter, de.Code, de.Error(), nil)
		} else {
			e.fail(vDeadLetter, messages.CodeUndecodable, err.Error(), nil)
		}
		return e
	}
	e.rec = rec
	seq := int(meta.Seq)
	if e.md != nil && seq == 0 {
		seq = int(e.md.Sequence.Stream)
	}
	item, rerr := r.p.Prepare(seq, rec)
	if rerr != nil {
		e.fail(vDeadLetter, rerr.Code, rerr.Message, rerr.Fields)
		return e
	}
	e.item = item
	return e
}

// load sends every undecided entry through the pipeline's loader and turns
// outcomes into verdicts.
func (r *runner) load(ctx context.Context, entries []*entry) pipeline.LoadStats {
	var todo []*entry
	for _, e := range entries {
		if e.verdict == vPending {
			todo = append(todo, e)
		}
	}
	var total pipeline.LoadStats
	if len(todo) == 0 {
		return total
	}
	items := make([]pipeline.Item, len(todo))
	for i, e := range todo {
		items[i] = e.item
	}
	outs, st := r.p.Loader().Load(ctx, items, pipeline.LoadOptions{})
	total.APICalls, total.Retries = st.APICalls, st.Retries
	for i, e := range todo {
		r.judge(ctx, e, outs[i])
	}
	r.w.metrics.Retries.WithLabelValues(r.pc.Name).Add(float64(st.Retries))
	r.w.metrics.APICallsTotal.WithLabelValues(r.pc.Name).Add(float64(st.APICalls))
	if l, ok := r.w.opts.Client.Limits(); ok {
		r.w.metrics.ObserveLimits(l)
	}
	return total
}

// judge maps a loader outcome to a verdict, following the failure-class
// table of the design.
func (r *runner) judge(ctx context.Context, e *entry, o pipeline.Outcome) {
	e.attempts = o.Attempts
	e.class = o.Class
	if o.OK() {
		e.verdict, e.id, e.created = vLoaded, o.ID, o.Created || r.p.Options().Mode == pipeline.Insert
		return
	}
	if ctx.Err() != nil && (errors.Is(o.Err, context.Canceled) || errors.Is(o.Err, context.DeadlineExceeded)) {
		e.fail(vRequeue, pipeline.CodeCanceled, "worker shutting down", nil)
		return
	}
	code, msg, fields := errorParts(o.Err)
	switch o.Class {
	case salesforce.ClassPermanentRecord, salesforce.ClassPermanentRequest:
		e.fail(vDeadLetter, code, msg, fields)
	default:
		// Transient, session, rate limit, retryable record, auth.
		e.fail(vRetry, code, msg, fields)
	}
}

// errorParts extracts a code, message and fields from a loader error.
func errorParts(err error) (code, msg string, fields []string) {
	var (
		re   *salesforce.RecordError
		api  *salesforce.APIError
		auth *salesforce.AuthError
	)
	switch {
	case errors.As(err, &re):
		return re.StatusCode, re.Message, re.Fields
	case errors.As(err, &api) && api.Code != "":
		return api.Code, api.Message, api.Fields
	case errors.As(err, &api):
		return "HTTP_" + strconv.Itoa(api.HTTPStatus), api.Message, nil
	case errors.As(err, &auth):
		return "AUTH_" + auth.Code, auth.Description, nil
	}
	return pipeline.CodeCallFailed, err.Error(), nil
}

// decideRetries handles records that failed for now. A pipeline-level
// failure (authentication, or a transient error on a record's last
// delivery) is never dead-lettered: the batch is held and retried in place,
// heartbeating, until it passes or the worker shuts down. A record-level
// retryable failure (UNABLE_TO_LOCK_ROW) on its last delivery is
// dead-lettered, as the design says.
func (r *runner) decideRetries(ctx context.Context, entries []*entry) {
	for attempt := 0; ; attempt++ {
		var hold []*entry
		for _, e := range entries {
			if e.verdict != vRetry {
				continue
			}
			last := e.delivered() >= uint64(r.maxDeliver)
			switch {
			case e.class == salesforce.ClassAuth:
				hold = append(hold, e)
			case last && e.class == salesforce.ClassRetryableRecord:
				e.verdict = vDeadLetter
			case last:
				hold = append(hold, e)
			}
		}
		authFailed := false
		for _, e := range hold {
			authFailed = authFailed || e.class == salesforce.ClassAuth
		}
		r.authFailed.Store(authFailed)
		if len(hold) == 0 {
			r.w.metrics.Paused.WithLabelValues(r.pc.Name).Set(0)
			return
		}
		r.w.metrics.Paused.WithLabelValues(r.pc.Name).Set(1)
		wait := r.w.opts.HoldBackoff(attempt)
		r.log.Warn().Int("records", len(hold)).Str("sf_code", hold[0].code).Str("class", hold[0].class.String()).
			Dur("retry_in", wait).Msg("pipeline paused: Salesforce refuses the batch for a reason that is not the records'")
		if sleepCtx(ctx, wait) != nil {
			for _, e := range hold {
				e.fail(vRequeue, pipeline.CodeCanceled, "worker shutting down", nil)
			}
			r.authFailed.Store(false)
			r.w.metrics.Paused.WithLabelValues(r.pc.Name).Set(0)
			return
		}
		for _, e := range hold {
			e.verdict = vPending
		}
		r.load(ctx, hold)
	}
}

// firstFailureKey is the state-bucket key holding when a record first
// failed, kept for its dead letter. Only retried records need one: a record
// dead-lettered on its first failure has first = last.
func (r *runner) firstFailureKey(e *entry) string {
	if e.md == nil {
		return ""
	}
	return fmt.Sprintf("fail.%s.%d", r.w.topo.RecordsStream(), e.md.Sequence.Stream)
}
