// Command bench is Kinetic's benchmark harness. Every measurement is a ratio
// taken within one trial, repeated (-trials, 5 by default) and reported as
// the median with the min–max spread. It compares Kinetic with the loader a
// user would write instead (plain Go, Collections, the same client and
// latency), with a like-for-like broker ceiling, against a realistic
// Salesforce latency and fault model, on a 3-node cluster, as separate worker
// processes (1×16 against 4×4), with Bulk API 2.0 against Collections over
// N, with keyed records (distinct and 30% repeated keys), and measures a
// worker's memory under 256 KiB records. It writes results.md,
// results.json, charts and profiles to -out.
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
	"strings"
	"syscall"
	"time"
)

// Sizes is how many records each measurement moves (per trial).
type Sizes struct {
	Ceiling    int   // broker ceiling and the raw figure, messages
	EndToEnd   int   // zero-latency end to end, single node and cluster
	PerCall    int   // loaders: records per unit of concurrency (N = PerCall × C)
	Sweep      []int // concurrency levels of the throughput chart
	Seed       int   // the original's approach (one call per record)
	Realistic  int   // realistic Salesforce
	Keyed      int   // keyed, latency-bound (distinct and 30% repeats)
	KeyedE2E   int   // keyed, no latency
	Bulk       []int // Bulk vs Collections drain sizes
	BulkEmul   int   // sizes above this run scaled down by BulkShrink (see bulk.go)
	BulkShrink int
	BulkSpeed  int   // time compression of the Bulk vs Collections runs
	MemSmall   int   // 256 KiB records: the small backlog
	MemLarge   int   // the large one
	MemSweepN  int   // records per point of the memory-vs-record-size chart
	MemSizes   []int // record sizes of that chart, KiB
}

var (
	fullSizes = Sizes{Ceiling: 100_000, EndToEnd: 100_000, PerCall: 3_000, Sweep: []int{4, 8, 16, 32}, Seed: 10,
		Realistic: 30_000, Keyed: 32_000, KeyedE2E: 50_000,
		Bulk: []int{10_000, 100_000, 1_000_000}, BulkEmul: 100_000, BulkShrink: 10, BulkSpeed: 4,
		MemSmall: 10_000, MemLarge: 100_000, MemSweepN: 5_000, MemSizes: []int{1, 16, 64, 256}}
	shortSizes = Sizes{Ceiling: 3_000, EndToEnd: 3_000, PerCall: 100, Sweep: []int{2, 4}, Seed: 3,
		Realistic: 1_000, Keyed: 1_000, KeyedE2E: 2_000,
		Bulk: []int{500, 2_000, 20_000}, BulkEmul: 2_000, BulkShrink: 10, BulkSpeed: 20,
		MemSmall: 100, MemLarge: 300, MemSweepN: 100, MemSizes: []int{1, 256}}
)

// Settings of the latency-bound runs: 250 ms per call plus 1 ms per record
// (450 ms for 200 records).
const (
	callLatency      = 250 * time.Millisecond
	recordLatency    = time.Millisecond
	shortCallLatency = 20 * time.Millisecond
	// loaderConcurrency is the total concurrency of the loader comparison:
	// 16 goroutines in the baseline, 1 × 16 and 4 × 4 in Kinetic.
	loaderConcurrency = 16
	keyedWorkers      = 2
	keyedCalls        = 4
	endToEndWorkers   = 2
	// endToEndCalls is the concurrency of the zero-latency run: with no
	// latency to hide, 8 calls a worker keep the cores busy.
	endToEndCalls = 8
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
	trials  int
	compare string // -compare: the tree to compare with
	pool    string // -pool: earlier comparisons' output directories
	sizes   Sizes
	latency time.Duration // per call
	perRec  time.Duration // per record
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	var loader bool
	fs.BoolVar(&o.short, "short", false, "small sizes and latencies, one trial: checks the harness works (CI); asserts no timing")
	fs.StringVar(&o.out, "out", "bench/out", "output directory (results.md, results.json, *.png, *.prof)")
	fs.StringVar(&o.only, "only", "", "run only these measurements, comma-separated: "+strings.Join(groupNames(), ","))
	fs.IntVar(&o.trials, "trials", 5, "trials of every repeated measurement (the short run makes 1)")
	fs.StringVar(&o.compare, "compare", "", "compare with the code in this directory (a checkout before a change): build both harnesses and run their trials alternately; writes compare.md")
	fs.StringVar(&o.pool, "pool", "", "pool earlier comparisons: their -out directories, comma-separated; every before-N and after-N trial is read again and one compare.md over all of them is written to -out (runs nothing)")
	fs.BoolVar(&loader, "baseline-loader", false, "internal: run the baseline loader (the harness starts it as a child process)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if loader {
		return runBaselineChild(ctx, stdout)
	}
	o.sizes, o.latency, o.perRec = fullSizes, callLatency, recordLatency
	if o.short {
		o.sizes, o.latency, o.perRec, o.trials = shortSizes, shortCallLatency, 0, 1
	}
	if o.trials < 1 {
		return fmt.Errorf("-trials must be at least 1")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if o.pool != "" {
		return poolCompares(o, strings.Split(o.pool, ","), stdout)
	}
	if o.compare != "" {
		return runCompare(ctx, o, o.compare, stdout)
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
	if err := rep.charts(o.out); err != nil {
		return err
	}
	if err := rep.write(o.out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\nwrote %s, %s and %s in %s\n", rep.markdown(), "results.md", "results.json", strings.Join(rep.Charts, ", "), o.out)
	return nil
}
