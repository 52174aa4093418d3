// Command worker runs Kinetic pipelines: it pulls records from NATS
// JetStream, maps them, loads them into Salesforce, publishes a result per
// batch and dead-letters what cannot be loaded. Run any number of replicas;
// they share each pipeline's consumer.
//
//	worker --pipelines pipelines.yaml --nats-url nats://nats:4222 \
//	       --sf-client-id … --sf-username … --sf-private-key-file server.key
//
// With --dev it starts an embedded NATS server and the Salesforce simulator
// in the same process, for trying Kinetic on a laptop.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/cli"
	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/natsconn"
	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Config is everything the worker command reads from flags and the
// environment. Each field's flag, variable and default are in RegisterFlags.
type Config struct {
	NATS       natsconn.Config
	Salesforce salesforce.Config

	Pipelines       string        // --pipelines, KINETIC_PIPELINES: the pipelines YAML file (required; default examples/pipelines.yaml with --dev)
	Only            []string      // --pipeline, KINETIC_PIPELINE: run only these pipelines (default all)
	Concurrency     int           // --concurrency, KINETIC_CONCURRENCY: Salesforce calls in flight per pipeline (default: each pipeline's, 4)
	Prefix          string        // --prefix, KINETIC_PREFIX: subject and stream prefix (default kinetic)
	StreamReplicas  int           // --stream-replicas, KINETIC_STREAM_REPLICAS: 1 for one server, 3 in a cluster (default 1)
	MetricsAddr     string        // --metrics-addr, KINETIC_METRICS_ADDR: /metrics, /healthz, /readyz ("" disables; default :9464)
	LogLevel        string        // --log-level, KINETIC_LOG_LEVEL (default info)
	LogFormat       string        // --log-format, KINETIC_LOG_FORMAT: json or console (default json; console with --dev)
	ShutdownTimeout time.Duration // --shutdown-timeout, KINETIC_SHUTDOWN_TIMEOUT (default 30s)
	ID              string        // --id, KINETIC_WORKER_ID (default hostname-random)
	Check           bool          // --check: check the pipelines against the org's describe, print the report and exit

	Dev         bool   // --dev, KINETIC_DEV
	DevNATSPort int    // --dev-nats-port (default 4222)
	DevSFAddr   string // --dev-sf-addr (default 127.0.0.1:7080)
	DevSchema   string // --dev-schema (default examples/schema.yaml)
	DevStoreDir string // --dev-store (default: a temporary directory)
}

// RegisterFlags binds c to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) *cli.Env {
	e := &cli.Env{FS: fs}
	e.String(&c.Pipelines, "pipelines", "KINETIC_PIPELINES", "", "pipelines YAML file (required; examples/pipelines.yaml with --dev)")
	e.List(&c.Only, "pipeline", "KINETIC_PIPELINE", "run only this pipeline (default: all in the file)")
	e.Int(&c.Concurrency, "concurrency", "KINETIC_CONCURRENCY", 0, "Salesforce calls in flight per pipeline and replica (default: each pipeline's concurrency, 4)")
	e.String(&c.Prefix, "prefix", "KINETIC_PREFIX", messages.DefaultPrefix, "subject prefix; streams are named <PREFIX>_RECORDS, …")
	e.Int(&c.StreamReplicas, "stream-replicas", "KINETIC_STREAM_REPLICAS", 1, "replicas of Kinetic's streams: 1 for one NATS server, 3 in a cluster")
	e.String(&c.MetricsAddr, "metrics-addr", "KINETIC_METRICS_ADDR", ":9464", `address of /metrics, /healthz and /readyz ("" disables)`)
	e.String(&c.LogLevel, "log-level", "KINETIC_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	e.String(&c.LogFormat, "log-format", "KINETIC_LOG_FORMAT", "", "log format: json or console (default json; console with --dev)")
	e.Duration(&c.ShutdownTimeout, "shutdown-timeout", "KINETIC_SHUTDOWN_TIMEOUT", 30*time.Second, "how long in-flight batches may finish after SIGTERM before their records are naked")
	e.String(&c.ID, "id", "KINETIC_WORKER_ID", "", "replica name in results and dead letters (default hostname-random)")
	e.Bool(&c.Check, "check", "KINETIC_CHECK", false, "check every pipeline (or those of --pipeline) against the org's describe — unknown fields, fields the mode may not write, external ids that are not, missing relationship targets — print the report and exit: 0 all fit, 1 a pipeline does not fit or could not be checked; needs Salesforce, not NATS")
	e.Bool(&c.Dev, "dev", "KINETIC_DEV", false, "development mode: embedded NATS JetStream and the Salesforce simulator in this process")
	e.Int(&c.DevNATSPort, "dev-nats-port", "KINETIC_DEV_NATS_PORT", 4222, "--dev: port of the embedded NATS server")
	e.String(&c.DevSFAddr, "dev-sf-addr", "KINETIC_DEV_SF_ADDR", "127.0.0.1:7080", "--dev: address of the Salesforce simulator")
	e.String(&c.DevSchema, "dev-schema", "KINETIC_DEV_SCHEMA", "examples/schema.yaml", "--dev: the simulator's schema file")
	e.String(&c.DevStoreDir, "dev-store", "KINETIC_DEV_STORE", "", "--dev: JetStream store directory (default: temporary, removed on exit)")
	c.NATS.RegisterFlags(fs)
	c.Salesforce.RegisterFlags(fs)
	return e
}

// Validate checks what flags cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.Pipelines == "" {
		errs = append(errs, errors.New("--pipelines (KINETIC_PIPELINES): required: the pipelines YAML file"))
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, fmt.Errorf("--stream-replicas (KINETIC_STREAM_REPLICAS): %d is out of range 1..5", c.StreamReplicas))
	}
	if c.Concurrency < 0 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("--concurrency (KINETIC_CONCURRENCY): %d is out of range 0..64", c.Concurrency))
	}
	if !messages.ValidToken(c.Prefix) {
		errs = append(errs, fmt.Errorf("--prefix (KINETIC_PREFIX): %q must be letters, digits, - and _", c.Prefix))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout (KINETIC_SHUTDOWN_TIMEOUT): must be positive"))
	}
	return errors.Join(errs...)
}

const usage = `worker runs Kinetic pipelines: it pulls records from NATS JetStream, maps them,
loads them into Salesforce, publishes one result per batch and dead-letters
what cannot be loaded. Run as many replicas as you like.

Usage:
  worker --pipelines FILE [flags]
  worker --pipelines FILE --check   check the pipelines against the org, then exit
  worker --dev            embedded NATS + Salesforce simulator, for trying it out

Every flag can also be set with the environment variable named in its help.

Flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	var cfg Config
	env := cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "worker: unexpected arguments %q (see --help)\n", fs.Args())
		return 2
	}
	if err := env.Err(); err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	if cfg.Dev {
		if cfg.Pipelines == "" {
			cfg.Pipelines = "examples/pipelines.yaml"
		}
		if cfg.LogFormat == "" {
			cfg.LogFormat = "console"
		}
	}
	log, err := cli.Logger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	if err := serve(ctx, cfg, log, stdout); err != nil {
		if errors.Is(err, errCheckFailed) {
			return 1
		}
		log.Error().Err(err).Msg("worker failed")
		return 1
	}
	return 0
}

// errCheckFailed is --check's verdict when a pipeline does not fit: the
// report says why.
var errCheckFailed = errors.New("a pipeline does not fit the org")

// check runs --check: every selected pipeline against the org's describe
// (pipeline.CheckConfig, the check a worker runs when it starts one).
func check(ctx context.Context, cfg Config, pipes *pipeline.Config, client *salesforce.Client, stdout io.Writer) error {
	if len(cfg.Only) > 0 {
		sel := *pipes
		sel.Pipelines = nil
		for _, name := range cfg.Only {
			pc, ok := pipes.Pipeline(name)
			if !ok {
				return fmt.Errorf("--pipeline %q: no such pipeline in %s", name, cfg.Pipelines)
			}
			sel.Pipelines = append(sel.Pipelines, pc)
		}
		pipes = &sel
	}
	report, err := pipeline.CheckConfig(ctx, pipes, client)
	if report != nil {
		fmt.Fprint(stdout, report.String())
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: check failed\n", cfg.Pipelines)
		return errCheckFailed
	}
	fmt.Fprintf(stdout, "%s: every pipeline fits the org\n", cfg.Pipelines)
	return nil
}

func serve(ctx context.Context, cfg Config, log zerolog.Logger, stdout io.Writer) error {
	pipes, err := pipeline.LoadConfig(cfg.Pipelines)
	if err != nil {
		return err
	}
	// The dev banner tells the user to publish; it is printed once the
	// worker has created the streams, so a publish made on reading it
	// finds them.
	var banner string
	if cfg.Dev {
		b, stopDev, err := startDev(&cfg, log)
		if err != nil {
			return err
		}
		defer stopDev()
		banner = b
	}
	metrics := worker.NewMetrics()
	sfCfg := cfg.Salesforce
	sfCfg.Logger = log
	sfCfg.OnCall = metrics.ObserveCall
	client, err := salesforce.New(sfCfg)
	if err != nil {
		return err
	}
	if cfg.Check {
		return check(ctx, cfg, pipes, client, stdout)
	}
	cfg.NATS.Name = "kinetic-worker"
	// Wait for NATS rather than exit: a worker started before its cluster
	// stays unready until a server answers.
	cfg.NATS.RetryConnect = true
	nc, err := cfg.NATS.Connect(log)
	if err != nil {
		return err
	}
	defer nc.Close()
	w, err := worker.New(worker.Config{
		NC: nc, Client: client, Pipelines: pipes, Only: cfg.Only,
		Topology:    messages.Topology{Prefix: cfg.Prefix, Replicas: cfg.StreamReplicas},
		Concurrency: cfg.Concurrency, ID: cfg.ID, ShutdownTimeout: cfg.ShutdownTimeout,
		Metrics: metrics, Logger: log,
		OnRunning: func() {
			if banner != "" {
				fmt.Fprint(stdout, banner)
			}
		},
	})
	if err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		srv := metricsServer(w.Handler())
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info().Str("addr", ln.Addr().String()).Msg("serving /metrics, /healthz and /readyz")
	}
	if err := w.Run(ctx); err != nil {
		return err
	}
	// Flush acks and naks before the connection goes.
	if err := nc.Drain(); err != nil {
		log.Warn().Err(err).Msg("draining the NATS connection")
	}
	return nil
}

// metricsServer serves /metrics, /healthz and /readyz. Scrapes and probes
// are small GETs: a slow or idle client cannot hold a connection or a
// goroutine for long.
func metricsServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
}

// startDev starts the embedded NATS server and the simulator and points the
// configuration at them. It returns the banner that says where they are.
func startDev(cfg *Config, log zerolog.Logger) (string, func(), error) {
	ns, err := devenv.StartNATS(devenv.NATSOptions{Port: cfg.DevNATSPort, StoreDir: cfg.DevStoreDir})
	if err != nil {
		return "", nil, fmt.Errorf("--dev: %w (is another NATS server using port %d? set --dev-nats-port)", err, cfg.DevNATSPort)
	}
	sim, err := devenv.StartSim(devenv.SimOptions{Addr: cfg.DevSFAddr, SchemaFile: cfg.DevSchema, Logger: log})
	if err != nil {
		ns.Shutdown()
		return "", nil, fmt.Errorf("--dev: %w", err)
	}
	cfg.NATS = natsconn.Config{URLs: ns.ClientURL()}
	cfg.Salesforce = sim.SalesforceConfig()
	banner := fmt.Sprintf(`Kinetic dev environment
  NATS JetStream:        %s
  Salesforce simulator:  %s   (admin: %s/__admin/stats, %s/__admin/count)
  pipelines:             %s
Publish from another terminal, for example:
  go run ./cmd/producer publish --nats-url %s --pipelines %s --pipeline accounts --wait examples/data/accounts.csv
`, ns.ClientURL(), sim.URL, sim.URL, sim.URL, cfg.Pipelines, ns.ClientURL(), cfg.Pipelines)
	return banner, func() {
		sim.Close()
		ns.Shutdown()
	}, nil
}
