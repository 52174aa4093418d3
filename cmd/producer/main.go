// Command producer publishes records to Kinetic and manages dead letters.
//
//	producer publish --pipeline accounts --wait examples/data/accounts.csv
//	producer wait --job JOB --total N
//	producer dlq list|show|replay|purge [filters]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/cli"
	"github.com/kinetic-sync/kinetic/internal/natsconn"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0 // success (and SyncResult SUCCESS)
	exitError   = 1 // the command failed (connection, unreadable file, …)
	exitUsage   = 2 // bad flags or arguments
	exitPartial = 3 // the job finished PARTIAL: some records failed
	exitFailed  = 4 // the job finished FAILED: no record succeeded
	exitTimeout = 5 // --timeout expired before every record had an outcome
)

const usage = `producer publishes records to Kinetic and manages dead letters.

Usage:
  producer publish [flags] FILE...     publish CSV or JSON Lines files (- for stdin) as one job
  producer wait --job ID --total N     follow a published job's results
  producer dlq list [filters]          list dead letters
  producer dlq show SEQ                print a dead letter: the original record and the error
  producer dlq replay [filters]        republish dead letters (after fixing the cause)
  producer dlq purge [filters] --yes   delete dead letters

Run "producer COMMAND --help" for a command's flags. Every flag can also be
set with the environment variable named in its help.

Exit codes: 0 success, 1 error, 2 usage, 3 job PARTIAL, 4 job FAILED,
5 timed out waiting.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "publish":
		return cmdPublish(ctx, args[1:], stdout, stderr)
	case "wait":
		return cmdWait(ctx, args[1:], stdout, stderr)
	case "dlq":
		return cmdDLQ(ctx, args[1:], stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "producer: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// common holds the flags every command shares.
type common struct {
	NATS      natsconn.Config
	Prefix    string
	LogLevel  string
	LogFormat string
	env       *cli.Env
}

func (c *common) register(fs *flag.FlagSet) {
	c.env = &cli.Env{FS: fs}
	c.env.String(&c.Prefix, "prefix", "KINETIC_PREFIX", messages.DefaultPrefix, "subject and stream prefix, as the workers'")
	c.env.String(&c.LogLevel, "log-level", "KINETIC_LOG_LEVEL", "warn", "log level: debug, info, warn or error")
	c.env.String(&c.LogFormat, "log-format", "KINETIC_LOG_FORMAT", "console", "log format: json or console")
	c.NATS.RegisterFlags(fs)
}

// parse parses args; it returns an exit code, or -1 to go on.
func parse(fs *flag.FlagSet, c *common, args []string, stderr io.Writer) int {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := c.env.Err(); err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return exitUsage
	}
	return -1
}

func (c *common) topology() messages.Topology {
	return messages.Topology{Prefix: c.Prefix}.WithDefaults()
}

func (c *common) logger(stderr io.Writer) (zerolog.Logger, error) {
	return cli.Logger(stderr, c.LogFormat, c.LogLevel)
}

func (c *common) connect(log zerolog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	c.NATS.Name = "kinetic-producer"
	nc, err := c.NATS.Connect(log)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// pipelineFor loads the pipelines file and finds the named pipeline.
func pipelineFor(file, name string) (*pipeline.PipelineConfig, *pipeline.Config, error) {
	cfg, err := pipeline.LoadConfig(file)
	if err != nil {
		return nil, nil, err
	}
	pc, ok := cfg.Pipeline(name)
	if !ok {
		return nil, nil, fmt.Errorf("%s: no pipeline %q (it has: %v)", file, name, cfg.Names())
	}
	return pc, cfg, nil
}
