package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// Defaults of a pipeline's worker settings (pipeline.WorkerOptions).
const (
	DefaultMaxDeliver     = 8
	DefaultAckWait        = 30 * time.Second
	DefaultLinger         = 100 * time.Millisecond
	DefaultMaxRecordBytes = 512 << 10
	// replicasSized is how many replicas the default MaxAckPending leaves
	// room for at full speed.
	replicasSized = 8
)

// runner runs one pipeline: a consumer and `slots` fetch loops.
type runner struct {
	w       *Worker
	pc      *pipeline.PipelineConfig
	p       *pipeline.Pipeline
	log     zerolog.Logger
	subject string
	durable string

	batchSize      int
	slots          int
	linger         time.Duration
	maxDeliver     int
	ackWait        time.Duration
	maxAckPending  int
	maxRecordBytes int

	consumer   jetstream.Consumer
	authFailed atomic.Bool
}

func newRunner(w *Worker, pc *pipeline.PipelineConfig) (*runner, error) {
	opts := pc.Options(w.opts.Client)
	if w.opts.Concurrency > 0 {
		opts.Concurrency = w.opts.Concurrency
	}
	if w.opts.Retry != nil {
		opts.Retry = *w.opts.Retry
	} else {
		// One attempt per record: a record that fails with a retryable error
		// is naked with a delay and JetStream redelivers it. Rate limits are
		// waited out in place, however long they last.
		opts.Retry = pipeline.RetryPolicy{RecordAttempts: 1, RateLimitWait: -1}
	}
	opts.Logger = w.log
	p, err := pipeline.New(opts)
	if err != nil {
		return nil, fmt.Errorf("worker: pipeline %q: %w", pc.Name, err)
	}
	o := p.Options()
	ws := pc.Worker
	r := &runner{
		w: w, pc: pc, p: p,
		log:            w.log.With().Str("pipeline", pc.Name).Str("sobject", o.SObject).Str("mode", string(o.Mode)).Logger(),
		subject:        ws.Subject,
		durable:        durableName(pc),
		batchSize:      o.BatchSize,
		slots:          o.Concurrency,
		linger:         ws.Linger,
		maxDeliver:     ws.MaxDeliver,
		ackWait:        ws.AckWait,
		maxAckPending:  ws.MaxAckPending,
		maxRecordBytes: ws.MaxRecordBytes,
	}
	if r.subject == "" {
		r.subject = w.subj.Records(o.SObject, string(o.Mode))
	}
	if r.linger == 0 {
		r.linger = DefaultLinger
	}
	if r.maxDeliver == 0 {
		r.maxDeliver = DefaultMaxDeliver
	}
	if r.ackWait == 0 {
		r.ackWait = DefaultAckWait
	}
	if r.maxAckPending == 0 {
		// Room for every slot of replicasSized replicas to hold a full batch:
		// fewer would starve fetches into partial batches.
		r.maxAckPending = max(1000, r.batchSize*r.slots*replicasSized)
	}
	if r.maxRecordBytes == 0 {
		r.maxRecordBytes = DefaultMaxRecordBytes
	}
	if r.ackWait < 3*time.Second {
		return nil, fmt.Errorf("worker: pipeline %q: worker.ack_wait %v is too short (heartbeats go every ack_wait/3; use 3s or more)", pc.Name, r.ackWait)
	}
	return r, nil
}

// durableName is the pipeline's consumer: worker.durable, or kinetic_<name>.
func durableName(pc *pipeline.PipelineConfig) string {
	if pc.Worker.Durable != "" {
		return pc.Worker.Durable
	}
	return "kinetic_" + pc.Name
}

// ensureConsumer creates or updates the pipeline's durable consumer.
// Every replica runs this with the same config, so it is idempotent.
func (r *runner) ensureConsumer(ctx context.Context) error {
	cfg := jetstream.ConsumerConfig{
		Durable:       r.durable,
		Description:   "Kinetic pipeline " + r.pc.Name,
		FilterSubject: r.subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       r.ackWait,
		MaxDeliver:    r.maxDeliver,
		MaxAckPending: r.maxAckPending,
		MaxWaiting:    512,
		Replicas:      0, // the stream's
	}
	if r.pc.Worker.Subject == "" {
		// Keyed records too (<subject>.<partition>.<key>, as the producer
		// publishes them), until workers own partitions.
		cfg.FilterSubject, cfg.FilterSubjects = "", []string{r.subject, r.subject + ".>"}
	}
	c, err := r.w.js.CreateOrUpdateConsumer(ctx, r.w.topo.RecordsStream(), cfg)
	if err != nil {
		return fmt.Errorf("worker: pipeline %q: consumer %s on %s: %w", r.pc.Name, r.durable, r.subject, err)
	}
	r.consumer = c
	return nil
}

// loop fetches batches and processes them, up to slots at once, until ctx
// ends. One pull request at a time per replica: JetStream serves waiting
// pull requests round-robin, so several idle requests would split a trickle
// of records into small batches, and records fetched ahead of a free slot
// would wait without heartbeats. Fetch waits at most linger for a batch to
// fill, so it returns soon after shutdown starts; in-flight batches finish
// under workCtx.
func (r *runner) loop(ctx, workCtx context.Context) {
	slots := make(chan struct{}, r.slots)
	var wg sync.WaitGroup
	defer wg.Wait()
	failures := 0
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			<-slots
			return
		}
		msgs, err := r.fetch()
		if err != nil {
			<-slots
			failures++
			r.log.Warn().Err(err).Msg("fetch failed")
			if sleepCtx(ctx, min(time.Duration(failures)*200*time.Millisecond, 5*time.Second)) != nil {
				return
			}
			continue
		}
		failures = 0
		if len(msgs) == 0 {
			<-slots
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			r.process(workCtx, msgs)
		}()
	}
}

// fetch pulls up to batch_size messages, waiting at most linger.
func (r *runner) fetch() ([]jetstream.Msg, error) {
	batch, err := r.consumer.Fetch(r.batchSize, jetstream.FetchMaxWait(r.linger))
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		r.log.Debug().Err(err).Msg("fetch ended with an error")
	}
	return msgs, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
