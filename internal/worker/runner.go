package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/clock"
	"github.com/kinetic-sync/kinetic/internal/jspull"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// runner runs one pipeline on this replica.
//
// Records reach it through two kinds of consumer on the records stream:
//   - keyed records (<SObject>.<mode>.<key>, the form publishers use to get
//     per-key order) are stored by partition, and each partition has a
//     consumer of its own, <durable>_p<N>, pinned to one replica at a time
//     (a priority group with PriorityPolicyPinned); the replicas share the
//     partitions out among themselves (partitions.go);
//   - unkeyed records (<SObject>.<mode>) have one consumer, <durable>,
//     that every replica pulls from.
//
// Every fetch loop hands its records to one loader stream (the pipeline
// package's Loader.Stream): it keeps each key's changes in order, merges
// them where it can and fills 200-record calls across partitions. Each
// record's final outcome goes to the finisher (finish.go), which stores
// dead letters and batch results and only then settles the messages.
type runner struct {
	w    *Worker
	pc   *pipeline.PipelineConfig
	p    *pipeline.Pipeline
	opts pipeline.Options // what p was built with
	set  Settings
	log  zerolog.Logger
	name string

	sobject, mode string
	keyed         bool
	// modes are the subject mode tokens the pipeline takes: its mode, and
	// delete when it takes deletes.
	modes []string

	batchSize int
	slots     int

	// The pulls of the consumers (internal/jspull: a pull ends when the
	// server ends it), each with the pin its priority group last gave it:
	// <durable> for unkeyed records, <durable>_p<N> for a keyed pipeline's
	// partitions. parts are the partitions' consumers, for their ack
	// pending counts (the fence).
	unkeyedPull *jspull.Consumer
	partPulls   []*jspull.Consumer
	parts       []jetstream.Consumer

	credits *credits
	intake  chan []pipeline.Item

	mu      sync.Mutex
	entries map[int]*entry  // by item Seq: records inside the loader
	holding map[uint64]bool // stream sequences held, from fetch to settle
	nextSeq int

	finisher *finisher
	owner    *ownership

	paused     atomic.Bool
	authFailed atomic.Bool
	refused    atomic.Pointer[string] // why the org refuses the pipeline's configuration
	refreshMu  sync.Mutex
	refreshed  time.Time    // when the last describe refresh for replayed records began
	lastCall   atomic.Int32 // salesforce.Class of the last call
	calls      atomic.Int64 // API calls, for batch results
}

// How long a fetch waits for its batch. An idle loop asks for one record
// and waits fetchWaitIdle: its first record ends the fetch. A busy loop
// waits busyWait (see there).
const fetchWaitIdle = time.Second

// busyWait is how long a busy loop's fetch waits for a full batch: a
// quarter of the loader's linger, at most 100ms. A fetch hands its messages
// over only when it ends, and the loader forms a call from what it holds
// when a call slot frees or its oldest record has lingered: a record still
// inside a waiting fetch misses that call. With fetches of 100ms (the
// default linger), the last records of a burst sat in their fetches while
// the call before them left short, and each replica ended on two partial
// calls instead of one (records per call 197.5 instead of 198.8 for 32,000
// changes on 2 replicas; docs/performance.md, 10.6). A fuller partition
// fills its 200 sooner than that, so the shorter wait costs pull requests
// only on partitions that trickle.
func busyWait(linger time.Duration) time.Duration {
	return min(100*time.Millisecond, max(linger/4, time.Millisecond))
}

// pinGroup is the priority group of the partition consumers.
const pinGroup = "kinetic"

func newRunner(w *Worker, pc *pipeline.PipelineConfig) (*runner, error) {
	opts := pc.Options(w.cfg.Client)
	if w.cfg.Concurrency > 0 {
		opts.Concurrency = w.cfg.Concurrency
	}
	// Nothing is given up for reasons that are not the records': outages,
	// rate limits and refused logins are waited out in place (decide).
	opts.Retry = pipeline.RetryPolicy{CallAttempts: -1, RateLimitWait: -1, AuthWait: -1}
	opts.Logger = w.log
	// The org is checked when the pipeline starts (checkSchema), not here:
	// New must not call Salesforce.
	opts.SkipSchema = true
	p, err := pipeline.New(opts)
	if err != nil {
		return nil, fmt.Errorf("worker: pipeline %q: %w", pc.Name, err)
	}
	o := p.Options()
	set, err := decodeSettings(pc)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	set = set.withDefaults(pc.Name, o.BatchSize, o.Concurrency)
	if err := set.validate(); err != nil {
		return nil, fmt.Errorf("worker: pipeline %q: %w", pc.Name, err)
	}
	r := &runner{
		w: w, pc: pc, p: p, opts: opts, set: set, name: pc.Name,
		log:     w.log.With().Str("pipeline", pc.Name).Str("sobject", o.SObject).Str("mode", string(o.Mode)).Logger(),
		sobject: o.SObject, mode: string(o.Mode),
		keyed: pipeline.Keyed(o.Mode),
		modes: []string{string(o.Mode)},
		// A loader call is 200 records at most; fetches bring up to that.
		batchSize: min(o.BatchSize, salesforce.MaxCollectionRecords),
		slots:     o.Concurrency,
		entries:   map[int]*entry{},
		holding:   map[uint64]bool{},
		intake:    make(chan []pipeline.Item),
	}
	if pc.Deletes {
		r.modes = append(r.modes, string(pipeline.Delete))
	}
	r.credits = newCredits(set.MaxInflight, set.MaxInflightBytes, set.MaxRecordBytes)
	r.finisher = newFinisher(r)
	if r.keyed {
		r.owner = newOwnership(r)
	}
	return r, nil
}

// subjects are the pipeline's unkeyed subjects and its keyed subjects of
// partition p as stored.
func (r *runner) unkeyedSubjects() []string {
	var out []string
	for _, m := range r.modes {
		out = append(out, r.w.subj.Records(r.sobject, m))
	}
	return out
}

func (r *runner) partitionSubjects(p int) []string {
	var out []string
	for _, m := range r.modes {
		out = append(out, fmt.Sprintf("%s.%d.*", r.w.subj.Records(r.sobject, m), p))
	}
	return out
}

func (r *runner) partitionConsumer(p int) string { return fmt.Sprintf("%s_p%d", r.set.Durable, p) }

// ensureConsumers creates or updates the pipeline's consumers. Every
// replica runs this with the same config, so it is idempotent.
func (r *runner) ensureConsumers(ctx context.Context) error {
	base := jetstream.ConsumerConfig{
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       r.set.AckWait,
		MaxDeliver:    r.set.MaxDeliver,
		MaxAckPending: r.set.MaxAckPending,
		MaxWaiting:    512,
		Replicas:      0, // the stream's
	}
	cfg := base
	cfg.Durable = r.set.Durable
	cfg.Description = "Kinetic pipeline " + r.name + ": unkeyed records"
	cfg.FilterSubjects = r.unkeyedSubjects()
	cfg.Metadata = map[string]string{messages.ConsumerMetaPipelines: r.name}
	if _, err := r.w.js.CreateOrUpdateConsumer(ctx, r.w.topo.RecordsStream(), cfg); err != nil {
		return fmt.Errorf("worker: pipeline %q: consumer %s: %w", r.name, cfg.Durable, err)
	}
	r.unkeyedPull = jspull.New(r.w.js, r.w.topo.RecordsStream(), cfg.Durable)
	if !r.keyed {
		return nil
	}
	r.parts = make([]jetstream.Consumer, r.w.topo.Partitions)
	r.partPulls = make([]*jspull.Consumer, r.w.topo.Partitions)
	for p := range r.parts {
		cfg := base
		cfg.Durable = r.partitionConsumer(p)
		cfg.Description = fmt.Sprintf("Kinetic pipeline %s: keyed records, partition %d", r.name, p)
		cfg.FilterSubjects = r.partitionSubjects(p)
		cfg.Metadata = map[string]string{messages.ConsumerMetaPipelines: r.name, messages.ConsumerMetaPartition: fmt.Sprint(p)}
		// One replica at a time: the server delivers only to the pinned
		// client, so a partition's records are loaded by one replica, in
		// order. A pin not renewed by a pull within the TTL is released.
		cfg.PriorityPolicy = jetstream.PriorityPolicyPinned
		cfg.PriorityGroups = []string{pinGroup}
		cfg.PinnedTTL = r.set.AckWait
		c, err := r.w.js.CreateOrUpdateConsumer(ctx, r.w.topo.RecordsStream(), cfg)
		if err != nil {
			return fmt.Errorf("worker: pipeline %q: consumer %s: %w", r.name, cfg.Durable, err)
		}
		r.parts[p] = c
		r.partPulls[p] = jspull.New(r.w.js, r.w.topo.RecordsStream(), cfg.Durable)
	}
	return nil
}

// run runs the pipeline until ctx ends, then drains: fetching stops, the
// records held finish under workCtx (ShutdownTimeout), their outcomes are
// stored and settled, and run returns.
func (r *runner) run(ctx, workCtx context.Context) {
	if !r.checkSchema(ctx) {
		return
	}
	var fetchers sync.WaitGroup
	fetchers.Go(func() { r.fetchLoop(ctx, -1, r.unkeyedPull, nil) })
	if r.keyed {
		fetchers.Go(func() { r.owner.run(ctx, &fetchers) })
	}
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		st := r.p.Loader().Stream(workCtx, r.intake, pipeline.StreamOptions{
			Linger: r.set.Linger,
			Decide: r.decideAttempt,
			Done:   r.done,
			OnCall: r.onCall,
		})
		r.log.Debug().Int("api_calls", st.APICalls).Int("merged", st.Merged).Msg("loader stream ended")
	}()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		r.finisher.run()
	}()
	heartbeatDone := make(chan struct{})
	go r.heartbeat(workCtx, heartbeatDone)

	<-ctx.Done()
	fetchers.Wait() // every fetch loop has handed over what it fetched
	close(r.intake)
	<-streamDone // every record in the loader has an outcome
	r.finisher.close()
	<-finished // every outcome stored and settled
	close(heartbeatDone)
}

// checkSchema checks the pipeline against the org's describe before it
// runs (pipeline.CheckPipeline): unknown fields, fields it may not write in
// its mode, an external id field that is not one, missing relationship
// targets. A pipeline the org refuses does not run — it says why on
// /readyz, in the workers bucket and in kinetic_pipeline_refused — while
// the worker's other pipelines run. A describe that fails for another
// reason (an outage, a refused login) is retried until it passes or the
// worker stops. Once checked, the pipeline checks values before sending.
func (r *runner) checkSchema(ctx context.Context) bool {
	attempt := 0
	for {
		attempt++
		schema, err := pipeline.CheckPipeline(ctx, r.pc, r.w.cfg.Client)
		var se *pipeline.SchemaError
		switch {
		case err == nil:
			opts := r.opts
			opts.SkipSchema, opts.Schema = false, schema
			p, err := pipeline.New(opts)
			if err != nil {
				r.refuse(err.Error())
				return false
			}
			r.p = p
			r.w.metrics.Refused.WithLabelValues(r.name).Set(0)
			return true
		case errors.As(err, &se):
			r.refuse(se.Error())
			return false
		case ctx.Err() != nil:
			return false
		}
		class := salesforce.Classify(err)
		r.onCall(class, err)
		wait := nth(r.w.cfg.HoldBackOff, attempt)
		r.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("reading the org's describe failed; retrying before the pipeline starts")
		if clock.Sleep(ctx, wait) != nil {
			return false
		}
	}
}

// refuse marks the pipeline refused: it does not run.
func (r *runner) refuse(why string) {
	r.refused.Store(&why)
	r.w.metrics.Refused.WithLabelValues(r.name).Set(1)
	r.log.Error().Str("reason", why).Msg("pipeline refused: its configuration does not fit the org; it does not run (fix the pipelines file or the org, then restart the worker)")
}

// refreshForReplay re-reads the describe before replayed records are
// checked: a dead letter is replayed after its cause was fixed, often in the
// org's schema, which the value check must then know. A refresh that began
// after the records were published covers them (the fix came before the
// replay); concurrent fetches wait for the one in progress.
func (r *runner) refreshForReplay(ctx context.Context, published time.Time) {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	// A second's margin for the skew between this clock and the server's,
	// which stamped published.
	if r.refreshed.After(published.Add(time.Second)) {
		return
	}
	r.refreshed = time.Now()
	if err := r.p.RefreshSchema(ctx); err != nil {
		r.log.Warn().Err(err).Msg("re-reading the describe for replayed records failed; checking against the one in hand")
	}
}

// fetchLoop pulls one consumer — the unkeyed one (part -1) or a partition's
// — and hands what it fetches to the loader, until ctx ends or stop closes.
func (r *runner) fetchLoop(ctx context.Context, part int, c *jspull.Consumer, pl *partLoop) {
	fails := 0
	group := ""
	if part >= 0 {
		group = pinGroup
	}
	// ask adapts to what the consumer has: an idle loop reserves room for
	// one record, so that it does not starve the busy ones while its fetch
	// waits; a loop that gets what it asked for asks for a full batch.
	ask := r.batchSize
	for ctx.Err() == nil && !pl.stopped() {
		n, bytes, ok := r.reserve(ctx, pl, ask)
		if !ok {
			return
		}
		// A fetch returns once it has n records or its wait is over. An idle
		// loop asks for one record, so it may wait long: the first record
		// ends the fetch. A busy loop waits briefly for a fuller batch; the
		// loader lingers to fill 200-record calls across loops anyway.
		wait := busyWait(r.set.Linger)
		if n == 1 {
			wait = fetchWaitIdle
		}
		// No FetchMaxBytes: on a replicated consumer (R3, as deployed)
		// nats-server 2.15 sends a max_bytes fetch's "409 Batch Completed"
		// status at once, while the batch's last messages wait for their
		// delivery to be replicated (consumer.go: deliverMsg queues them
		// with addReplicatedQueuedMsg, the status goes by outq.send). The
		// client ends the fetch on the status and unsubscribes; the
		// messages behind it are lost in flight, redelivered after AckWait
		// and lost again, until MaxDeliver dead-letters them
		// (TestClusterLoadsKeyedRecords). The credits bound the count by
		// the byte room instead.
		// The pull ends when the server ends it (internal/jspull): a client
		// timer would unsubscribe before the last deliveries of a slow
		// replicated consumer, losing them in flight until their AckWait.
		msgs, err := c.Fetch(jspull.Request{Batch: n, Expires: wait, Group: group, Grace: pullGrace(r.set.AckWait)})
		got := 0
		for _, m := range msgs {
			got += len(m.Data())
		}
		r.credits.adjust(n, bytes, len(msgs), got)
		if len(msgs) >= n {
			ask = r.batchSize
		} else {
			ask = max(1, min(r.batchSize, 2*len(msgs)))
		}
		// Messages that came before an error are this replica's: they are
		// taken in whatever followed them.
		var entries []*entry
		if len(msgs) > 0 {
			entries = r.receive(msgs, part)
		}
		if ctx.Err() != nil {
			// Fetched as the worker began to stop: given back at once,
			// before anything of theirs is written.
			entries = r.giveBack(entries, "worker shutting down: redelivered to another replica")
		}
		if pl != nil && (len(entries) > 0 || err == nil) {
			entries = pl.admit(ctx, entries)
		}
		if len(entries) > 0 {
			r.intakeEntries(ctx, entries)
		}
		if err == nil {
			fails = 0
			continue
		}
		fails++
		if errors.Is(err, jetstream.ErrPinIDMismatch) {
			r.log.Debug().Int("partition", part).Msg("fetch: the consumer is pinned to another client (or the pin moved); asking again")
		} else {
			r.log.Warn().Err(err).Int("partition", part).Msg("fetch failed")
		}
		if clock.Sleep(ctx, nth(r.w.cfg.FetchBackOff, fails)) != nil {
			return
		}
	}
}

// reserve takes room for a fetch of up to ask records. A loop behind a
// fence does not wait for room: what it holds waits for records of its
// partition that only a fetch brings (the previous holder's, redelivered
// first once their AckWait is over), so were every credit held behind
// fences — a replica restarted while its old incarnation's records had not
// expired yet fills its room with newer ones — nothing would ever lift
// them. With no room it fetches beyond the budget, every fenceCheckEvery:
// one record while what it waits for has not expired yet, then as many as
// are missing (pl.probeSize) — the redeliveries, which JetStream sends
// before anything new. The overshoot is bounded by the partition's ack
// pending, itself bounded by max_ack_pending.
func (r *runner) reserve(ctx context.Context, pl *partLoop, ask int) (n, bytes int, ok bool) {
	if pl == nil || !pl.fenced() {
		return r.credits.acquire(ctx, pl.stopCh(), ask, r.minFetchBytes())
	}
	if n, bytes, ok = r.credits.tryAcquire(ask, r.minFetchBytes()); ok {
		return n, bytes, true
	}
	select {
	case <-ctx.Done():
		return 0, 0, false
	case <-pl.stopCh():
		return 0, 0, false
	case <-time.After(fenceCheckEvery):
	}
	n, bytes = pl.probeSize(r.batchSize), r.minFetchBytes()
	r.credits.force(n, bytes)
	return n, bytes, true
}

// giveBack naks the undecided entries at once, for redelivery to any
// replica, and returns the decided ones.
func (r *runner) giveBack(entries []*entry, why string) []*entry {
	var decided []*entry
	for _, e := range entries {
		if e.v.kind != vPending {
			decided = append(decided, e)
			continue
		}
		e.v = verdict{kind: vNak, status: messages.StatusRetrying, code: pipeline.CodeCanceled, msg: why}
		r.settle(e)
		r.release(e)
	}
	return decided
}

// pullGrace is how long a pull waits, past its expiry, for the server to
// end it. Replication delays on a slow cluster run past a second; a server
// that never answers (a consumer leader killed with the request) keeps the
// loop this long. Past AckWait waiting buys nothing: what comes later is
// redelivered anyway.
func pullGrace(ackWait time.Duration) time.Duration {
	return min(jspull.DefaultGrace, ackWait)
}

// receive takes fetched messages in: each takes its credits, and is decoded,
// mapped and checked. What fails here is decided at once.
func (r *runner) receive(msgs []jetstream.Msg, part int) []*entry {
	m := r.w.metrics
	m.BatchSize.WithLabelValues(r.name).Observe(float64(len(msgs)))
	m.Batches.WithLabelValues(r.name).Inc()
	m.InFlight.WithLabelValues(r.name).Add(float64(len(msgs)))
	var replayed time.Time // the latest publish time of a replayed record here
	for _, msg := range msgs {
		if msg.Headers().Get(messages.HeaderReplayOf) == "" {
			continue
		}
		if md, err := msg.Metadata(); err == nil && md.Timestamp.After(replayed) {
			replayed = md.Timestamp
		} else if err != nil {
			replayed = time.Now()
		}
	}
	if !replayed.IsZero() {
		r.refreshForReplay(context.Background(), replayed)
	}
	entries := make([]*entry, 0, len(msgs))
	now := time.Now()
	for _, msg := range msgs {
		e := r.decode(msg, part)
		e.received = now
		if r.log.GetLevel() <= zerolog.TraceLevel {
			r.log.Trace().Uint64("stream_seq", e.streamSeq()).Uint64("delivered", e.delivered()).Int("partition", part).
				Str("pin", msg.Headers().Get("Nats-Pin-Id")).Msg("received")
		}
		if !r.remember(e) {
			// Redelivered while this replica still holds it (its heartbeats
			// were lost): the copy in hand goes on; its ack acks this one.
			r.credits.release(e.size)
			m.InFlight.WithLabelValues(r.name).Dec()
			continue
		}
		entries = append(entries, e)
	}
	r.applyJobStops(entries)
	return entries
}

// remember notes that the replica holds a message; false if it already did.
func (r *runner) remember(e *entry) bool {
	seq := e.streamSeq()
	if seq == 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holding[seq] {
		return false
	}
	r.holding[seq] = true
	return true
}

// forget notes that a message is settled.
func (r *runner) forget(e *entry) {
	r.mu.Lock()
	delete(r.holding, e.streamSeq())
	r.mu.Unlock()
}

// minFetchBytes is the byte room a fetch needs: the largest message the
// records stream stores, with room for its headers and subject.
func (r *runner) minFetchBytes() int { return int(r.w.topo.MaxRecordBytes) + 64<<10 }

// intakeEntries hands decided entries to the finisher and the others to the
// loader, in order.
func (r *runner) intakeEntries(ctx context.Context, entries []*entry) {
	var items []pipeline.Item
	r.mu.Lock()
	for _, e := range entries {
		if e.v.kind != vPending {
			continue
		}
		r.nextSeq++
		e.item.Seq = r.nextSeq
		r.entries[e.item.Seq] = e
		items = append(items, e.item)
	}
	r.mu.Unlock()
	for _, e := range entries {
		if e.v.kind != vPending {
			r.finisher.add(e)
		}
	}
	if len(items) > 0 {
		// The loader reads its input until the work context ends; fetching
		// stops before that, so this send always completes.
		r.intake <- items
	}
}

// done receives a record's final outcome from the loader.
func (r *runner) done(it pipeline.Item, o pipeline.Outcome) {
	r.mu.Lock()
	e := r.entries[it.Seq]
	delete(r.entries, it.Seq)
	r.mu.Unlock()
	if e == nil {
		return
	}
	e.out = o
	e.v = decide(r.situation(e, o, true), r.schedules())
	r.finisher.add(e)
}

// decideAttempt is the loader's Decide: what to do after a failed attempt.
func (r *runner) decideAttempt(f pipeline.Failure) pipeline.Decision {
	var delivered uint64 = 1
	keyed := false
	r.mu.Lock()
	for _, it := range f.Items {
		if e := r.entries[it.Seq]; e != nil {
			delivered = max(delivered, e.delivered())
		}
		keyed = keyed || it.Key != ""
	}
	r.mu.Unlock()
	s := situation{class: f.Class, err: f.Err, answers: f.Answers, callFails: f.CallFails, keyed: keyed,
		delivered: delivered, maxDeliver: r.set.MaxDeliver, shuttingDown: r.w.stopping.Load()}
	return decide(s, r.schedules()).decision()
}

func (r *runner) situation(e *entry, o pipeline.Outcome, final bool) situation {
	return situation{
		final: final, loaded: o.OK(), skipped: o.Skipped, released: o.Released, after: o.After,
		class: o.Class, err: o.Err, answers: o.Attempts, keyed: e.item.Key != "",
		delivered: e.delivered(), maxDeliver: r.set.MaxDeliver, shuttingDown: r.w.stopping.Load(),
	}
}

func (r *runner) schedules() schedules {
	return schedules{
		hold: func(n int) time.Duration { return nth(r.w.cfg.HoldBackOff, n) },
		nak:  func(n int) time.Duration { return nth(r.w.cfg.NakBackOff, n) },
	}
}

// onCall hears of every finished Salesforce call: a pipeline paused by an
// outage, a rate limit or a refused login shows in metrics and /readyz.
func (r *runner) onCall(class salesforce.Class, err error) {
	r.calls.Add(1)
	r.lastCall.Store(int32(class))
	m := r.w.metrics
	switch class {
	case salesforce.ClassNone, salesforce.ClassPermanentRequest, salesforce.ClassPermanentRecord, salesforce.ClassRetryableRecord:
		if r.paused.Swap(false) {
			m.Paused.WithLabelValues(r.name).Set(0)
			r.log.Info().Msg("pipeline resumed")
		}
		r.authFailed.Store(false)
	default:
		if !r.paused.Swap(true) {
			m.Paused.WithLabelValues(r.name).Set(1)
			code, _, _ := pipeline.ErrorCode(err)
			r.log.Warn().Err(err).Str("sf_code", code).Str("class", class.String()).
				Msg("pipeline paused: Salesforce refuses calls for a reason that is not the records'; retrying")
		}
		r.authFailed.Store(class == salesforce.ClassAuth)
	}
	if l, ok := r.w.cfg.Client.Limits(); ok {
		m.ObserveLimits(l)
	}
}

// heartbeat tells JetStream that every held record is being worked on,
// every AckWait/4, so a long call, a retry or a pause never lets AckWait
// expire.
func (r *runner) heartbeat(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(r.set.AckWait / 4)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			for _, e := range r.held() {
				_ = e.msg.InProgress() // best effort: a lost heartbeat only risks a redelivery
			}
		}
	}
}

// held is every record this runner holds and has not settled.
func (r *runner) held() []*entry {
	var out []*entry
	r.mu.Lock()
	for _, e := range r.entries {
		out = append(out, e)
	}
	r.mu.Unlock()
	out = append(out, r.finisher.held()...)
	if r.owner != nil {
		out = append(out, r.owner.fenced()...)
	}
	return out
}

// state is the pipeline's state for the workers bucket.
func (r *runner) state() messages.WorkerPipeline {
	r.mu.Lock()
	held := len(r.holding) // records in hand, not the room reserved for fetches
	r.mu.Unlock()
	wp := messages.WorkerPipeline{Name: r.name, SObject: r.sobject, Mode: r.mode, State: messages.PipelineRunning,
		InFlight: held}
	if why := r.refused.Load(); why != nil {
		wp.State, wp.Reason = messages.PipelineRefused, *why
		return wp
	}
	if r.paused.Load() {
		wp.State = messages.PipelinePaused
		wp.Reason = "Salesforce refuses calls (" + salesforce.Class(r.lastCall.Load()).String() + "); retrying"
	}
	if r.owner != nil {
		wp.Partitions = r.owner.owned()
	}
	return wp
}

// keyMismatch says why a keyed record's subject does not fit its key, or "".
func (r *runner) keyMismatch(e *entry) string {
	if e.subj.Key == "" {
		return ""
	}
	want := messages.KeyToken(e.item.Key)
	switch {
	case e.subj.Key != want:
		return fmt.Sprintf("the subject's key token %q is not the record's key %q (want %q): publish to %s", e.subj.Key, e.item.Key, want,
			r.w.subj.RecordsKeyed(r.sobject, string(e.op), e.item.Key))
	case e.subj.Partition >= 0 && e.subj.Partition != messages.Partition(r.sobject, want, r.w.topo.Partitions):
		return fmt.Sprintf("stored in partition %d, but key %q belongs to partition %d (was the records stream's partition count changed?)",
			e.subj.Partition, e.item.Key, messages.Partition(r.sobject, want, r.w.topo.Partitions))
	}
	return ""
}

// opOf is the operation a record subject's mode token names.
func (r *runner) opOf(mode string) (pipeline.SyncMode, bool) {
	for _, m := range r.modes {
		if strings.EqualFold(m, mode) {
			return pipeline.SyncMode(m), true
		}
	}
	return "", false
}
