// Package worker is the JetStream side of Kinetic: it runs the pipelines of
// a config file against NATS. Each pipeline has one durable pull consumer,
// shared by every worker replica; a replica fetches batches, maps and loads
// them with the pipeline package's Loader (the same code as Pipeline.Sync),
// dead-letters what cannot be loaded, publishes one BatchResult per batch and
// job, and only then settles the messages — in one place, settle.go.
//
// See docs/worker.md for the delivery guarantees and the sizing rules.
package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// Options wires a Worker. cmd/worker builds it from flags and environment
// (Config); tests build it directly.
type Options struct {
	// NC is the NATS connection. Required. The worker does not close it.
	NC *nats.Conn
	// Client is the Salesforce client. Required.
	Client *salesforce.Client
	// Pipelines is the loaded pipelines file. Required.
	Pipelines *pipeline.Config
	// Only restricts the worker to these pipelines. Default: all.
	Only []string
	// Topology names the streams. Its zero value is the default topology.
	Topology messages.Topology
	// Concurrency overrides every pipeline's concurrency (Collections calls
	// in flight, per replica). 0 keeps each pipeline's own (default 4).
	Concurrency int
	// ID names this replica in results and dead letters. Default hostname-random.
	ID string
	// ShutdownTimeout is how long in-flight batches may run after shutdown
	// starts before they are interrupted and their records naked. Default 30s.
	ShutdownTimeout time.Duration
	// NakDelay gives the redelivery delay of a record that failed with a
	// retryable error, from its delivery count. Default: 2s doubling per
	// delivery up to 2m, ±20% jitter.
	NakDelay func(numDelivered uint64) time.Duration
	// HoldBackoff spaces the in-process retries of a pipeline that is paused
	// (auth failure, or a transient failure on a record's last delivery).
	// Default: 1s doubling up to 30s.
	HoldBackoff func(attempt int) time.Duration
	// SetupBackOff spaces set-up attempts while the cluster is not ready.
	// Default DefaultSetupBackOff.
	SetupBackOff func() backoff.BackOff
	// StoreBackOff spaces attempts to store a batch result. Default
	// DefaultStoreBackOff.
	StoreBackOff func() backoff.BackOff
	// Retry is the loader's retry policy. Default: pipeline defaults with one
	// attempt per record (JetStream redelivery does the rest) and no limit on
	// waiting out rate limits (RateLimitWait -1).
	Retry *pipeline.RetryPolicy
	// Metrics; default NewMetrics().
	Metrics *Metrics
	// Logger; default disabled.
	Logger zerolog.Logger
	// DisableAdvisories turns off the MAX_DELIVERIES advisory handler (one
	// per replica by default).
	DisableAdvisories bool
}

// Worker runs pipelines.
type Worker struct {
	opts    Options
	js      jetstream.JetStream
	topo    messages.Topology
	subj    messages.Subjects
	log     zerolog.Logger
	metrics *Metrics
	state   jetstream.KeyValue
	runners []*runner
	ready   atomic.Bool
	// notReady says why the worker is not ready yet (set-up waiting,
	// shutting down); "" once it runs.
	notReady atomic.Pointer[string]
	batchN   atomic.Uint64
}

// New checks opts and builds the pipelines. It does not touch NATS yet.
func New(opts Options) (*Worker, error) {
	switch {
	case opts.NC == nil:
		return nil, errors.New("worker: NATS connection is required")
	case opts.Client == nil:
		return nil, errors.New("worker: Salesforce client is required")
	case opts.Pipelines == nil || len(opts.Pipelines.Pipelines) == 0:
		return nil, errors.New("worker: no pipelines configured")
	}
	if opts.ID == "" {
		host, _ := os.Hostname()
		opts.ID = fmt.Sprintf("%s-%04x", host, rand.IntN(1<<16))
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.NakDelay == nil {
		opts.NakDelay = DefaultNakDelay
	}
	if opts.HoldBackoff == nil {
		opts.HoldBackoff = defaultHoldBackoff
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.SetupBackOff == nil {
		opts.SetupBackOff = DefaultSetupBackOff
	}
	if opts.StoreBackOff == nil {
		opts.StoreBackOff = DefaultStoreBackOff
	}
	opts.Topology = opts.Topology.WithDefaults()
	js, err := jetstream.New(opts.NC)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{opts: opts, js: js, topo: opts.Topology, subj: opts.Topology.Subjects(), log: opts.Logger, metrics: opts.Metrics}

	selected := opts.Pipelines.Pipelines
	if len(opts.Only) > 0 {
		selected = nil
		for _, name := range opts.Only {
			pc, ok := opts.Pipelines.Pipeline(name)
			if !ok {
				return nil, fmt.Errorf("worker: pipeline %q is not in %s (it has: %v)", name, opts.Pipelines.Path, opts.Pipelines.Names())
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
		if other, dup := subjects[r.subject]; dup {
			return nil, fmt.Errorf("worker: pipelines %q and %q both consume %s; a subject belongs to one pipeline", other, pc.Name, r.subject)
		}
		subjects[r.subject] = pc.Name
		w.runners = append(w.runners, r)
	}
	return w, nil
}

// DefaultNakDelay is 2s doubling per delivery up to 2m, with ±20% jitter.
func DefaultNakDelay(n uint64) time.Duration {
	d := 2 * time.Second
	for i := uint64(1); i < n && d < 2*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 2*time.Minute)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func defaultHoldBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 0; i < attempt && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// Metrics returns the worker's metrics.
func (w *Worker) Metrics() *Metrics { return w.metrics }

// ID returns the replica's id.
func (w *Worker) ID() string { return w.opts.ID }

// Ready reports whether the worker has set up its streams and consumers, is
// connected to NATS, and no pipeline is paused on an authentication failure.
func (w *Worker) Ready() bool {
	ok, _ := w.Status()
	return ok
}

// Status is Ready with the reason when it is not.
func (w *Worker) Status() (ready bool, reason string) {
	ready, reason = w.status()
	if ready {
		w.metrics.Ready.Set(1)
	} else {
		w.metrics.Ready.Set(0)
	}
	return ready, reason
}

func (w *Worker) status() (bool, string) {
	if !w.ready.Load() {
		if r := w.notReady.Load(); r != nil {
			return false, *r
		}
		return false, "starting"
	}
	if !w.opts.NC.IsConnected() {
		return false, "not connected to NATS (reconnecting)"
	}
	for _, r := range w.runners {
		if r.authFailed.Load() {
			return false, fmt.Sprintf("pipeline %s: Salesforce refuses to authenticate", r.pc.Name)
		}
	}
	return true, ""
}

func (w *Worker) setNotReady(reason string) {
	w.notReady.Store(&reason)
}

// Setup creates or updates the streams, the state bucket and every
// pipeline's consumer. Run calls it; it is exported for tools and tests.
func (w *Worker) Setup(ctx context.Context) error {
	if err := w.topo.Ensure(ctx, w.js); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	kv, err := w.js.KeyValue(ctx, w.topo.StateBucket())
	if err != nil {
		return fmt.Errorf("worker: state bucket: %w", err)
	}
	w.state = kv
	for _, r := range w.runners {
		if err := r.ensureConsumer(ctx); err != nil {
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
	err := retryUntil(ctx, w.opts.SetupBackOff(), func() error {
		attempt++
		err := w.Setup(ctx)
		if err == nil {
			w.metrics.SetupAttempts.WithLabelValues("ok").Inc()
			return nil
		}
		if ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		class, say := classifySetup(err, w.opts.NC)
		if class == setupPermanent {
			w.metrics.SetupAttempts.WithLabelValues("permanent").Inc()
			return backoff.Permanent(&SetupError{Err: err, Fix: say})
		}
		w.metrics.SetupAttempts.WithLabelValues("transient").Inc()
		w.setNotReady(fmt.Sprintf("set-up attempt %d failed: %v — %s", attempt, err, say))
		return err
	}, func(err error, wait time.Duration) {
		_, say := classifySetup(err, w.opts.NC)
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
// stops fetching, lets in-flight batches finish (up to ShutdownTimeout, then
// interrupts them and naks their records), and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.setupWithRetry(ctx); err != nil {
		return err
	}
	// Work outlives ctx by up to ShutdownTimeout, so in-flight batches can
	// finish; settling uses its own short contexts.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopTimer := context.AfterFunc(ctx, func() {
		w.setNotReady("shutting down")
		w.ready.Store(false)
		w.log.Info().Dur("timeout", w.opts.ShutdownTimeout).Msg("shutting down: no new batches; finishing in-flight work")
		time.AfterFunc(w.opts.ShutdownTimeout, cancelWork)
	})
	defer stopTimer()

	var wg sync.WaitGroup
	for _, r := range w.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, workCtx)
		}()
	}
	if !w.opts.DisableAdvisories {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.handleAdvisories(ctx)
		}()
	}
	w.ready.Store(true)
	names := make([]string, len(w.runners))
	for i, r := range w.runners {
		names[i] = r.pc.Name
	}
	w.log.Info().Str("worker", w.opts.ID).Strs("pipelines", names).Msg("worker running")
	wg.Wait()
	w.setNotReady("stopped")
	w.ready.Store(false)
	w.log.Info().Str("worker", w.opts.ID).Msg("worker stopped")
	return nil
}

func (w *Worker) nextBatchID() string {
	return fmt.Sprintf("%s-%d", w.opts.ID, w.batchN.Add(1))
}
