// Package worker is the JetStream side of Kinetic: it runs the pipelines of
// a config file against NATS.
//
// Each pipeline's keyed records are spread over partitions, one consumer
// each, pinned to one replica at a time; the replicas share the partitions
// out through the workers bucket (partitions.go). Unkeyed records have one
// consumer that every replica pulls. A replica hands what it fetches to
// the pipeline package's Loader (the same code as Pipeline.Sync), which
// keeps each key's changes in order; decide (decide.go) rules on every
// outcome; the finisher stores dead letters and one BatchResult per group
// and job, and only then are the messages settled, in one place
// (settle.go).
//
// docs/architecture.md has the delivery and ordering guarantees and the
// sizing rules.
package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// Worker runs pipelines.
type Worker struct {
	cfg     Config
	js      jetstream.JetStream
	topo    messages.Topology
	subj    messages.Subjects
	log     zerolog.Logger
	metrics *Metrics
	state   jetstream.KeyValue
	records jetstream.Stream
	runners []*runner
	fleet   *fleet
	stops   jobStops

	ready    atomic.Bool
	stopping atomic.Bool
	// notReady says why the worker is not ready yet (set-up waiting,
	// shutting down); "" once it runs.
	notReady atomic.Pointer[string]
	batchN   atomic.Uint64
	work     atomic.Pointer[context.Context] // the work context, once Run started
}

// New checks cfg and builds the pipelines. It does not touch NATS yet.
func New(cfg Config) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.NC)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{cfg: cfg, js: js, topo: cfg.Topology, subj: cfg.Topology.Subjects(), log: cfg.Logger, metrics: cfg.Metrics}
	w.fleet = newFleet(w)

	selected := cfg.Pipelines.Pipelines
	if len(cfg.Only) > 0 {
		selected = nil
		for _, name := range cfg.Only {
			pc, ok := cfg.Pipelines.Pipeline(name)
			if !ok {
				return nil, fmt.Errorf("worker: pipeline %q is not in %s (it has: %v)", name, cfg.Pipelines.Path, cfg.Pipelines.Names())
			}
			selected = append(selected, pc)
		}
	}
	subjects := map[string]string{}
	for _, pc := range selected {
		r, err := newRunner(w, pc)
		if err != nil {
			return nil, err
		}
		for _, s := range r.unkeyedSubjects() {
			if other, dup := subjects[s]; dup {
				return nil, fmt.Errorf("worker: pipelines %q and %q both take %s; a subject belongs to one pipeline", other, pc.Name, s)
			}
			subjects[s] = pc.Name
		}
		if need := r.minFetchBytes(); r.set.MaxInflightBytes < need {
			return nil, fmt.Errorf("worker: pipeline %q: worker.max_inflight_bytes %d is below %d, the largest record the stream takes with its headers", pc.Name, r.set.MaxInflightBytes, need)
		}
		w.runners = append(w.runners, r)
	}
	return w, nil
}

func defaultID() string {
	host, _ := os.Hostname()
	if !validWorkerID(host) {
		host = "worker"
	}
	return fmt.Sprintf("%s-%04x", host, rand.IntN(1<<16))
}

// Metrics returns the worker's metrics.
func (w *Worker) Metrics() *Metrics { return w.metrics }

// ID returns the replica's id.
func (w *Worker) ID() string { return w.cfg.ID }

// Ready reports whether the worker has set up its streams and consumers, is
// connected to NATS, and no pipeline is paused on an authentication failure.
func (w *Worker) Ready() bool {
	ok, _ := w.Status()
	return ok
}

// Status is Ready with the reason when it is not.
func (w *Worker) Status() (ready bool, reason string) {
	ready, reason = w.readiness()
	if ready {
		w.metrics.Ready.Set(1)
	} else {
		w.metrics.Ready.Set(0)
	}
	return ready, reason
}

func (w *Worker) readiness() (bool, string) {
	if !w.ready.Load() {
		if r := w.notReady.Load(); r != nil {
			return false, *r
		}
		return false, "starting"
	}
	if !w.cfg.NC.IsConnected() {
		return false, "not connected to NATS (reconnecting)"
	}
	var refused []string
	for _, r := range w.runners {
		if why := r.refused.Load(); why != nil {
			refused = append(refused, fmt.Sprintf("pipeline %s refused: %s", r.name, *why))
		}
		if r.authFailed.Load() {
			return false, fmt.Sprintf("pipeline %s: Salesforce refuses to authenticate", r.name)
		}
	}
	if len(refused) > 0 {
		// The other pipelines run; the worker is not ready until the
		// configuration is fixed (and the worker restarted).
		return false, strings.Join(refused, "; ")
	}
	return true, ""
}

func (w *Worker) setNotReady(reason string) {
	w.notReady.Store(&reason)
}

// workCtx is the context in-flight work runs under: it outlives shutdown by
// up to ShutdownTimeout.
func (w *Worker) workCtx() context.Context {
	if c := w.work.Load(); c != nil {
		return *c
	}
	return context.Background()
}

// Setup creates or updates the streams, the buckets and every pipeline's
// consumers. Run calls it; it is exported for tools and tests.
func (w *Worker) Setup(ctx context.Context) error {
	if err := w.topo.Ensure(ctx, w.js); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	kv, err := w.js.KeyValue(ctx, w.topo.StateBucket())
	if err != nil {
		return fmt.Errorf("worker: state bucket: %w", err)
	}
	w.state = kv
	if w.fleet.kv, err = w.js.KeyValue(ctx, w.topo.WorkersBucket()); err != nil {
		return fmt.Errorf("worker: workers bucket: %w", err)
	}
	if w.records, err = w.js.Stream(ctx, w.topo.RecordsStream()); err != nil {
		return fmt.Errorf("worker: records stream: %w", err)
	}
	for _, r := range w.runners {
		if err := r.ensureConsumers(ctx); err != nil {
			return err
		}
	}
	return nil
}

// setupWithRetry runs Setup until it succeeds or fails for good. An error
// is classified by what it means (classifySetup, setuperr.go): a cluster
// still forming, a node restarting or a meta-leader election are waited
// out with backoff, one log line per attempt, /readyz 503 with the reason
// and kinetic_setup_attempts_total counting; a configuration the operator
// must change returns a *SetupError that says what to change.
func (w *Worker) setupWithRetry(ctx context.Context) error {
	attempt := 0
	w.setNotReady("setting up streams and consumers")
	err := retryUntil(ctx, w.cfg.SetupBackOff(), func() error {
		attempt++
		err := w.Setup(ctx)
		if err == nil {
			w.metrics.SetupAttempts.WithLabelValues("ok").Inc()
			return nil
		}
		if ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		class, say := classifySetup(err, w.cfg.NC)
		if class == setupPermanent {
			w.metrics.SetupAttempts.WithLabelValues("permanent").Inc()
			return backoff.Permanent(&SetupError{Err: err, Fix: say})
		}
		w.metrics.SetupAttempts.WithLabelValues("transient").Inc()
		w.setNotReady(fmt.Sprintf("set-up attempt %d failed: %v — %s", attempt, err, say))
		return err
	}, func(err error, wait time.Duration) {
		_, say := classifySetup(err, w.cfg.NC)
		w.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Str("reason", say).
			Msg("setting up streams and consumers failed; retrying")
	})
	var se *SetupError
	if errors.As(err, &se) {
		w.setNotReady("set-up failed: " + se.Error())
	}
	return err
}

// Run sets up and processes until ctx ends, then shuts down gracefully: it
// stops fetching, hands its partitions over, lets in-flight work finish (up
// to ShutdownTimeout, then interrupts it and naks its records), stores
// every outcome, and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.setupWithRetry(ctx); err != nil {
		return err
	}
	// Work outlives ctx by up to ShutdownTimeout, so in-flight calls can
	// finish; settling uses its own short contexts.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	w.work.Store(&workCtx)
	stopTimer := context.AfterFunc(ctx, func() {
		w.stopping.Store(true)
		w.setNotReady("shutting down")
		w.ready.Store(false)
		w.log.Info().Dur("timeout", w.cfg.ShutdownTimeout).Msg("shutting down: no new records; finishing in-flight work")
		time.AfterFunc(w.cfg.ShutdownTimeout, cancelWork)
	})
	defer stopTimer()

	stopped := make(chan struct{})
	var fleetDone sync.WaitGroup
	fleetDone.Go(func() { w.fleet.run(ctx, stopped) })

	var wg sync.WaitGroup
	for _, r := range w.runners {
		wg.Go(func() { r.run(ctx, workCtx) })
	}
	if !w.cfg.DisableAdvisories {
		wg.Go(func() { w.handleAdvisories(ctx) })
	}
	w.ready.Store(true)
	names := make([]string, len(w.runners))
	for i, r := range w.runners {
		names[i] = r.name
	}
	w.log.Info().Str("worker", w.cfg.ID).Strs("pipelines", names).Msg("worker running")
	if w.cfg.OnRunning != nil {
		w.cfg.OnRunning()
	}
	wg.Wait()
	close(stopped)
	fleetDone.Wait()
	w.setNotReady("stopped")
	w.ready.Store(false)
	w.log.Info().Str("worker", w.cfg.ID).Msg("worker stopped")
	return nil
}

func (w *Worker) nextBatchID() string {
	return fmt.Sprintf("%s-%d", w.cfg.ID, w.batchN.Add(1))
}
