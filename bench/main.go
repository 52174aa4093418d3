// Command bench is Kinetic's benchmark harness. In one run it measures, side
// by side, the physical limit of this machine (raw JetStream), Kinetic end
// to end, Kinetic against a latency-bound Salesforce, the original library's
// one-call-per-record approach, API efficiency, worker memory while draining
// a large backlog, scaling with worker replicas, and Bulk API 2.0 against
// sObject Collections. It writes a Markdown table, a JSON file, a chart of
// throughput against worker count and CPU/allocation profiles to -out.
//
//	go run ./bench              # the full run (minutes); see -help
//	go run ./bench -short       # a quick run for CI: checks that it works, asserts no timing
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
	"syscall"
	"time"
)

// Sizes is how many records each measurement moves.
type Sizes struct {
	Limit      int // (1) raw JetStream messages
	EndToEnd   int // (2) zero-latency end to end
	Latency    int // (3) latency-bound, W workers
	Seed       int // (4) the original's approach (one call per record)
	Backlog    int // (6) backlog drained by one worker process
	BacklogRef int // (6) the smaller backlog it is compared with (flatness)
	Scaling    int // (7) per run, W = 1, 2, 4
	Bulk       int // (8) Bulk API 2.0 vs Collections
}

var (
	fullSizes  = Sizes{Limit: 300_000, EndToEnd: 200_000, Latency: 100_000, Seed: 30, Backlog: 1_000_000, BacklogRef: 100_000, Scaling: 60_000, Bulk: 200_000}
	shortSizes = Sizes{Limit: 5_000, EndToEnd: 5_000, Latency: 2_000, Seed: 4, Backlog: 20_000, BacklogRef: 5_000, Scaling: 2_000, Bulk: 5_000}
)

// Settings of the latency-bound runs: 250 ms per call plus 1 ms per record,
// C calls in flight per worker, W workers.
const (
	callLatency     = 250 * time.Millisecond
	recordLatency   = time.Millisecond
	perWorkerCalls  = 4
	latencyWorkers  = 2
	endToEndWorkers = 2
	// endToEndCalls is the concurrency of the zero-latency run: with no
	// latency to hide, 4 calls a worker leave the cores idle between calls
	// (27.1k records/s measured), 8 keep them busy (35.8k), 16 add nothing.
	endToEndCalls    = 8
	shortCallLatency = 20 * time.Millisecond
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	short   bool
	out     string
	only    string
	sizes   Sizes
	latency time.Duration // per call
	perRec  time.Duration // per record
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	fs.BoolVar(&o.short, "short", false, "small sizes and latencies: checks the harness works (CI); asserts no timing")
	fs.StringVar(&o.out, "out", "bench/out", "output directory (results.md, results.json, scaling.png, *.prof)")
	fs.StringVar(&o.only, "only", "", "run only these measurements, comma-separated: limit,e2e,latency,seed,memory,scaling,bulk")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	o.sizes, o.latency, o.perRec = fullSizes, callLatency, recordLatency
	if o.short {
		o.sizes, o.latency, o.perRec = shortSizes, shortCallLatency, 0
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	h, err := newHarness(o, stdout)
	if err != nil {
		return err
	}
	defer h.close()
	rep, err := h.runAll(ctx)
	if err != nil {
		return err
	}
	rep.Elapsed = time.Since(start).Round(time.Second).String()
	if err := rep.write(o.out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\nwrote %s, %s, %s\n", rep.markdown(), filepath.Join(o.out, "results.md"), filepath.Join(o.out, "results.json"), filepath.Join(o.out, "scaling.png"))
	return nil
}
