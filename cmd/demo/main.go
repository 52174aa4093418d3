// Command demo runs the whole Kinetic flow in one process, on a fresh
// machine with nothing but Go: an embedded NATS JetStream server, the
// Salesforce simulator, worker replicas, and a producer publishing the
// example data (some records designed to fail). It prints progress, each
// job's SyncResult and the dead letters, then exits 0.
//
//	go run ./cmd/demo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/cli"
	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/producer"
	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	workers  int
	examples string
	outDir   string
	latency  time.Duration
	logLevel string
	timeout  time.Duration
}

const usage = `demo runs the whole Kinetic flow in one process: embedded NATS JetStream, the
Salesforce simulator, worker replicas, and a producer that publishes the
example accounts (CSV) and contacts (JSON Lines), some designed to fail.

Usage:
  go run ./cmd/demo [flags]

Flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	var o options
	fs.IntVar(&o.workers, "workers", 2, "worker replicas to run")
	fs.StringVar(&o.examples, "examples", "examples", "directory with pipelines.yaml, schema.yaml and data/")
	fs.StringVar(&o.outDir, "out-dir", "", "where success and error CSVs go (default: a temporary directory)")
	fs.DurationVar(&o.latency, "latency", 20*time.Millisecond, "latency the simulator adds to every Salesforce call")
	fs.StringVar(&o.logLevel, "log-level", "warn", "workers' log level")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.workers < 1 {
		fmt.Fprintln(stderr, "demo: --workers must be at least 1")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := demo(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, o options, stdout, stderr io.Writer) error {
	log, err := cli.Logger(stderr, "console", o.logLevel)
	if err != nil {
		return err
	}
	pipes, err := pipeline.LoadConfig(filepath.Join(o.examples, "pipelines.yaml"))
	if err != nil {
		return err
	}
	if o.outDir == "" {
		if o.outDir, err = os.MkdirTemp("", "kinetic-demo-*"); err != nil {
			return err
		}
	}

	fmt.Fprintln(stdout, "== starting an embedded NATS JetStream server and the Salesforce simulator")
	ns, err := devenv.StartNATS(devenv.NATSOptions{})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	sim, err := devenv.StartSim(devenv.SimOptions{SchemaFile: filepath.Join(o.examples, "schema.yaml"), Logger: log})
	if err != nil {
		return err
	}
	defer sim.Close()
	if err := sim.SetFaults(sfsim.Faults{Latency: o.latency}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   NATS %s, Salesforce simulator %s (%v per call)\n", ns.ClientURL(), sim.URL, o.latency)

	fmt.Fprintf(stdout, "== starting %d worker replicas\n", o.workers)
	stopWorkers, err := devenv.StartWorkers(ns.ClientURL(), sim.SalesforceConfig(), pipes, o.workers, log)
	if err != nil {
		return err
	}
	defer stopWorkers()

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	jobsToRun := []struct{ pipeline, file string }{
		{"accounts", filepath.Join(o.examples, "data", "accounts.csv")},
		{"contacts", filepath.Join(o.examples, "data", "contacts.jsonl")},
	}
	for _, j := range jobsToRun {
		pc, _ := pipes.Pipeline(j.pipeline)
		fmt.Fprintf(stdout, "== producer: publishing %s to pipeline %q (%s %s) and waiting for the results\n", j.file, pc.Name, pc.SObject, pc.Mode)
		rep, err := producer.Publish(ctx, producer.Options{
			JS: js, Pipeline: pc, Files: []string{j.file}, Wait: true,
			OutDir: o.outDir, Progress: stdout, Plain: true, Log: log,
		})
		if err != nil {
			return err
		}
		printResult(stdout, rep)
	}

	fmt.Fprintln(stdout, "== dead letters (inspect with: producer dlq list / show / replay)")
	insp, err := deadletter.NewInspector(ctx, js, messages.Topology{})
	if err != nil {
		return err
	}
	dls, err := insp.List(ctx, deadletter.Filter{})
	if err != nil {
		return err
	}
	for _, e := range dls {
		d := e.DeadLetter
		fmt.Fprintf(stdout, "   #%-3d %-9s seq %-5d %-40s %s\n", e.Seq, d.Pipeline, d.Seq, d.Code, truncate(d.Message, 60))
	}
	fmt.Fprintf(stdout, "   %d dead letters in total\n", len(dls))

	st := sim.Stats()
	counts := sim.Counts()
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(stdout, "== the simulated org")
	for _, n := range names {
		if c := counts[n]; c.Live > 0 {
			fmt.Fprintf(stdout, "   %-12s %d records\n", n, c.Live)
		}
	}
	fmt.Fprintf(stdout, "   %d Salesforce API calls, %.1f records per call\n", st.APIUsage, st.RecordsPerCall)
	fmt.Fprintf(stdout, "== done; result files in %s\n", o.outDir)
	return nil
}

func printResult(w io.Writer, rep *producer.Report) {
	r := rep.Result.SyncResult
	fmt.Fprintf(w, "   %s\n", r)
	fmt.Fprintf(w, "   job %s: %d loaded, %d dead-lettered, %d skipped in %.2fs (%.0f records/s), %d Salesforce calls\n",
		rep.Job, r.SuccessCount, r.ErrorCount, r.SkippedCount, r.Metadata.ElapsedSeconds, r.Metadata.RecordsPerSecond, r.Metadata.APICalls)
	fmt.Fprintf(w, "   %s, %s\n", rep.SuccessFile, rep.ErrorFile)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
