// Command console serves Kinetic's operator console: pipelines with their
// lag, throughput, errors and dead letters, worker replicas, recent jobs,
// and dead-letter inspection, replay and purge.
//
//	console --nats-url nats://nats:4222 --pipelines pipelines.yaml
//
// It connects to NATS with the same flags and credentials as the worker and
// the producer, serves on 127.0.0.1:8080 by default, and is read-only unless
// write credentials are given (--write-token, or --write-user and
// --write-password). See docs/console.md.
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

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/cli"
	"github.com/kinetic-sync/kinetic/internal/console"
	"github.com/kinetic-sync/kinetic/internal/natsconn"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// Config is everything the console command reads from flags and the
// environment. Each field's flag, variable and default are in RegisterFlags.
type Config struct {
	NATS natsconn.Config

	Addr           string        // --addr, KINETIC_CONSOLE_ADDR (default 127.0.0.1:8080)
	Prefix         string        // --prefix, KINETIC_PREFIX (default kinetic)
	Pipelines      string        // --pipelines, KINETIC_PIPELINES: the pipelines YAML file (optional)
	WriteToken     string        // --write-token, KINETIC_CONSOLE_WRITE_TOKEN (secret; default: none)
	WriteUser      string        // --write-user, KINETIC_CONSOLE_WRITE_USER
	WritePassword  string        // --write-password, KINETIC_CONSOLE_WRITE_PASSWORD (secret)
	History        time.Duration // --history, KINETIC_CONSOLE_HISTORY (default 24h)
	Refresh        time.Duration // --refresh, KINETIC_CONSOLE_REFRESH (default 15s; 0 disables)
	MaxDeadLetters int           // --max-dead-letters, KINETIC_CONSOLE_MAX_DEAD_LETTERS (default 10000)
	LogLevel       string        // --log-level, KINETIC_LOG_LEVEL (default info)
	LogFormat      string        // --log-format, KINETIC_LOG_FORMAT (default json)
}

// RegisterFlags binds c to fs. Secrets take their defaults from the
// environment and are never printed by --help.
func (c *Config) RegisterFlags(fs *flag.FlagSet) *cli.Env {
	e := &cli.Env{FS: fs}
	e.String(&c.Addr, "addr", "KINETIC_CONSOLE_ADDR", "127.0.0.1:8080", "address to serve the console on")
	e.String(&c.Prefix, "prefix", "KINETIC_PREFIX", messages.DefaultPrefix, "subject and stream prefix, as the workers'")
	e.String(&c.Pipelines, "pipelines", "KINETIC_PIPELINES", "", "pipelines YAML file: its pipelines are listed before they have consumers or results (optional)")
	e.String(&c.WriteUser, "write-user", "KINETIC_CONSOLE_WRITE_USER", "", "user name that may replay and purge dead letters (with --write-password)")
	e.Duration(&c.History, "history", "KINETIC_CONSOLE_HISTORY", 24*time.Hour, "how far back results are read at start (throughput, jobs)")
	e.Duration(&c.Refresh, "refresh", "KINETIC_CONSOLE_REFRESH", 15*time.Second, "how often the overview and workers pages reload (0: never)")
	e.Int(&c.MaxDeadLetters, "max-dead-letters", "KINETIC_CONSOLE_MAX_DEAD_LETTERS", 10000, "most dead letters one page or action reads")
	e.String(&c.LogLevel, "log-level", "KINETIC_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	e.String(&c.LogFormat, "log-format", "KINETIC_LOG_FORMAT", "json", "log format: json or console")
	c.WriteToken = os.Getenv("KINETIC_CONSOLE_WRITE_TOKEN")
	c.WritePassword = os.Getenv("KINETIC_CONSOLE_WRITE_PASSWORD")
	fs.Func("write-token", "token that enables replay and purge: send it as a bearer token, or as the password of the browser's sign-in (env KINETIC_CONSOLE_WRITE_TOKEN)", func(v string) error { c.WriteToken = v; return nil })
	fs.Func("write-password", "password of --write-user (env KINETIC_CONSOLE_WRITE_PASSWORD)", func(v string) error { c.WritePassword = v; return nil })
	c.NATS.RegisterFlags(fs)
	return e
}

// Validate checks what flags cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("--addr (KINETIC_CONSOLE_ADDR): required"))
	}
	if !messages.ValidToken(c.Prefix) {
		errs = append(errs, fmt.Errorf("--prefix (KINETIC_PREFIX): %q must be letters, digits, - and _", c.Prefix))
	}
	if (c.WriteUser == "") != (c.WritePassword == "") {
		errs = append(errs, errors.New("--write-user and --write-password (KINETIC_CONSOLE_WRITE_USER, KINETIC_CONSOLE_WRITE_PASSWORD) go together"))
	}
	if c.WriteToken != "" && len(c.WriteToken) < 16 {
		errs = append(errs, errors.New("--write-token (KINETIC_CONSOLE_WRITE_TOKEN): use at least 16 characters"))
	}
	if c.History <= 0 {
		errs = append(errs, errors.New("--history (KINETIC_CONSOLE_HISTORY): must be positive"))
	}
	if c.Refresh < 0 {
		errs = append(errs, errors.New("--refresh (KINETIC_CONSOLE_REFRESH): must not be negative"))
	}
	if c.MaxDeadLetters < 1 {
		errs = append(errs, errors.New("--max-dead-letters (KINETIC_CONSOLE_MAX_DEAD_LETTERS): must be at least 1"))
	}
	if err := c.NATS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

const usage = `console serves Kinetic's operator console: pipelines (lag, throughput, errors,
dead letters, paused or refused state), worker replicas, recent jobs, and
dead-letter inspection, replay and purge.

Usage:
  console [flags]

It is read-only unless --write-token or --write-user/--write-password are set.
Every flag can also be set with the environment variable named in its help.

Flags:
`

// run runs the command; ready, when not nil, receives the address served.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) int {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	var cfg Config
	env := cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "console: unexpected arguments %q (see --help)\n", fs.Args())
		return 2
	}
	if err := env.Err(); err != nil {
		fmt.Fprintf(stderr, "console: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "console: %v\n", err)
		return 2
	}
	log, err := cli.Logger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "console: %v\n", err)
		return 2
	}
	if err := serve(ctx, cfg, log, stdout, ready); err != nil {
		log.Error().Err(err).Msg("console failed")
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg Config, log zerolog.Logger, stdout io.Writer, ready chan<- string) error {
	var pipes *pipeline.Config
	if cfg.Pipelines != "" {
		var err error
		if pipes, err = pipeline.LoadConfig(cfg.Pipelines); err != nil {
			return err
		}
	}
	srv, err := console.New(console.Options{
		Topology:   messages.Topology{Prefix: cfg.Prefix},
		Pipelines:  pipes,
		WriteToken: cfg.WriteToken, WriteUser: cfg.WriteUser, WritePassword: cfg.WritePassword,
		History: cfg.History, Refresh: refresh(cfg.Refresh), MaxDeadLetters: cfg.MaxDeadLetters,
		NATSURL: cfg.NATS.URLs, Logger: log,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // a confirmed replay of many dead letters
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	mode := "read-only"
	if srv.WritesEnabled() {
		mode = "write actions enabled"
	}
	fmt.Fprintf(stdout, "Kinetic console on http://%s (%s)\n", ln.Addr(), mode)
	log.Info().Str("addr", ln.Addr().String()).Str("mode", mode).Msg("serving the console")
	if ready != nil {
		ready <- ln.Addr().String()
	}

	// Connect in the background: the console serves (and says that NATS is
	// unreachable) until it can.
	cfg.NATS.Name = "kinetic-console"
	connected := make(chan *nats.Conn, 1)
	connCtx, stopConnecting := context.WithCancel(ctx)
	connDone := make(chan struct{})
	defer func() {
		stopConnecting()
		<-connDone
		select {
		case c := <-connected:
			c.Close()
		default:
		}
	}()
	go func() {
		defer close(connDone)
		wait := time.Second
		for {
			// Replay needs a connection that does not buffer publishes
			// while reconnecting (see pkg/deadletter).
			c, err := cfg.NATS.Connect(log, nats.ReconnectBufSize(-1))
			if err == nil {
				connected <- c
				return
			}
			srv.SetConnectError(err)
			log.Warn().Err(err).Dur("retry_in", wait).Msg("connecting to NATS")
			select {
			case <-connCtx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 30*time.Second)
		}
	}()
	for {
		select {
		case nc := <-connected:
			defer nc.Close() //nolint:gocritic // deferInLoop: runs once, connected is nil afterwards
			if err := srv.Attach(nc); err != nil {
				return err
			}
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("connected to NATS")
			connected = nil
		case err := <-served:
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := hs.Shutdown(sctx)
			cancel()
			srv.Close() // before the connection closes
			return err
		}
	}
}

func refresh(d time.Duration) time.Duration {
	if d == 0 {
		return -1 // console.Options: negative disables
	}
	return d
}
