package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Report is one harness run: every figure over its trials, and the targets.
type Report struct {
	Date    string               `json:"date"`
	Machine string               `json:"machine"`
	Short   bool                 `json:"short"`
	Elapsed string               `json:"elapsed"`
	Trials  int                  `json:"trials"`
	Sizes   Sizes                `json:"sizes"`
	Figures map[string]Stat      `json:"figures"`
	Samples map[string][]float64 `json:"samples"`
	Notes   []string             `json:"notes,omitempty"`
	Targets []Target             `json:"targets"`
	Charts  []string             `json:"charts"`
}

// Target is one of the issues' targets, measured.
type Target struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      string `json:"met"` // yes, no, n/a (its reference was not run)
}

func newReport(o options) *Report {
	host, _ := os.Hostname()
	return &Report{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: fmt.Sprintf("%s, %d CPUs, %s %s/%s", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH),
		Short:   o.short, Sizes: o.sizes, Trials: o.trials,
		Samples: map[string][]float64{},
	}
}

func (r *Report) addTrial(t *trial) {
	for k, v := range t.vals {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			r.Samples[k] = append(r.Samples[k], v)
		}
	}
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Report) stat(key string) (Stat, bool) {
	xs := r.Samples[key]
	if len(xs) == 0 {
		return Stat{}, false
	}
	return summarize(xs), true
}

// row is one line of the table: a figure, how to print it.
type row struct {
	sec, key, label, unit string
	digits                int
}

// rows lists every figure in the order the table prints them. Rows of
// figures not measured in a run are left out.
var rows = []row{
	{"A", "ceiling.rate", "broker ceiling, like for like: publish with Nats-Msg-Id while 200-at-a-time pulls ack and write one result per batch (Kinetic's streams, file storage, R1)", "msg/s", 0},
	{"A", "raw.rate", "(secondary) raw JetStream, the old figure: async publish without headers, then pull and ack", "msg/s", 0},
	{"A", "e2e.rate", "Kinetic end to end, no latency: producer → 2 workers × 8 calls → simulator → results", "records/s", 0},
	{"A", "e2e.ratio_ceiling", "end to end / broker ceiling", "×", 3},
	{"A", "e2e.ratio_raw", "(secondary) end to end / raw figure", "×", 3},
	{"A", "e2e.records_per_call", "records per call, end to end", "", 1},
	{"B", "base.rate", "baseline: plain Go loader (chunks of 200, 16 goroutines, Collections upsert, same client), 450 ms a call", "records/s", 0},
	{"B", "k16.rate", "Kinetic: 1 worker process × 16 calls, same latency, records published as they are loaded", "records/s", 0},
	{"B", "k16.ratio_base", "Kinetic 1×16 / baseline, throughput", "×", 3},
	{"B", "k16.ratio_bound", "Kinetic 1×16 / bound 16×200/450 ms", "×", 3},
	{"B", "base.cpu", "baseline CPU: the loader process, user+sys", "s per M records", 1},
	{"B", "k16.cpu", "Kinetic CPU: the worker process, user+sys", "s per M records", 1},
	{"B", "k16.cpu_ratio", "Kinetic worker CPU / baseline CPU", "×", 2},
	{"B", "k16.cpu_broker", "(secondary) CPU Kinetic adds outside the worker: nats-server, producer, results follower (harness process, Kinetic run − baseline run)", "s per M records", 1},
	{"B", "k16.cpu_total_ratio", "(secondary) Kinetic worker + broker + producer / baseline", "×", 2},
	{"B", "seed.rate", "(secondary) the original's approach: one sequential call per record, same latency", "records/s", 2},
	{"B", "k16.ratio_seed", "(secondary) Kinetic 1×16 / the original's approach", "×", 0},
	{"C", "k4x4.rate", "Kinetic: 4 worker processes × 4 calls, same latency", "records/s", 0},
	{"C", "k4x4.ratio_k16", "4×4 / 1×16 (same total concurrency: measures concurrency, not cores)", "×", 3},
	{"C", "k4x4.cpu", "Kinetic CPU, 4 worker processes together", "s per M records", 1},
	{"D", "real.rate", "realistic Salesforce (log-normal p50 300 ms p99 2 s + 2.5 ms/record, 5% row locks, 1% 503s, long-running limit 25), unkeyed, 2 workers × 8 calls: sustained (95% of records loaded / time to 95%)", "records/s", 0},
	{"D", "real.bound", "bound from the mean latency: 16×200 / mean 200-record call (918 ms)", "records/s", 0},
	{"D", "real.ratio_bound", "unkeyed, sustained / bound", "×", 3},
	{"D", "real.job_ratio_bound", "unkeyed, whole job (last record's retry tail included) / bound", "×", 3},
	{"D", "real.calls_per_record", "unkeyed, API calls per record loaded", "", 4},
	{"D", "real.lost", "unkeyed, records lost (published − loaded − dead-lettered)", "", 0},
	{"D", "real.failed", "unkeyed, records dead-lettered", "", 0},
	{"D", "real.keyed.rate", "realistic, keyed (as the producer CLI publishes an upsert pipeline): sustained", "records/s", 0},
	{"D", "real.keyed.ratio_bound", "keyed, sustained / bound", "×", 3},
	{"D", "real.keyed.job_ratio_bound", "keyed, whole job / bound", "×", 3},
	{"D", "real.keyed.calls_per_record", "keyed, API calls per record loaded", "", 4},
	{"D", "real.keyed.lost", "keyed, records lost", "", 0},
	{"D", "real.keyed.failed", "keyed, records dead-lettered", "", 0},
	{"E", "keyed.distinct.rate", "keyed, distinct keys: 2 workers × 4 calls, 450 ms a call", "changes/s", 0},
	{"E", "keyed.distinct.ratio_bound", "distinct keys / bound W×C×200/latency", "×", 3},
	{"E", "keyed.distinct.records_per_call", "records per call, distinct keys, whole job", "", 1},
	{"E", "keyed.distinct.records_per_call_steady", "records per call, distinct keys, without each replica's last call (its tail)", "", 1},
	{"E", "keyed.distinct.partial_calls", "calls with fewer than 200 records, distinct keys (2 replicas)", "", 0},
	{"E", "keyed.distinct.calls_per_change", "API calls per published change, distinct keys", "", 5},
	{"E", "keyed.repeat.rate", "keyed, 30% of changes repeat a recent key: same setting", "changes/s", 0},
	{"E", "keyed.repeat.ratio_bound", "30% repeats / bound", "×", 3},
	{"E", "keyed.repeat.calls_per_change", "API calls per published change, 30% repeats", "", 5},
	{"E", "keyed.repeat.calls_ratio", "calls per change: 30% repeats / distinct", "×", 3},
	{"E", "keyed.e2e.rate", "keyed end to end, no latency, distinct keys", "records/s", 0},
	{"E", "keyed.e2e.ratio_raw", "keyed end to end / raw JetStream figure", "×", 3},
	{"E", "keyed.ceiling.rate", "keyed broker ceiling, like for like: the same keyed publish while one puller per partition consumer acks 200 at a time and writes one result per batch (no worker, no simulator)", "records/s", 0},
	{"E", "keyed.ceiling.cpu", "keyed broker ceiling, CPU of the harness process (broker, publisher, pullers) over the run", "s per M records", 1},
	{"E", "keyed.ceiling.ratio_raw", "keyed broker ceiling / raw JetStream figure: the most keyed end to end / raw could be with a free worker and a free Salesforce", "×", 3},
	{"E", "keyed.e2e.ratio_ceiling", "keyed end to end / keyed broker ceiling: what the workers and the simulator cost on the same cores", "×", 3},
	{"E", "keyed.e2e.cpu", "keyed end to end, CPU of the harness process (broker, simulator, producer, 2 workers, results follower) over the job", "s per M records", 1},
	{"E", "raw.cpu", "raw JetStream figure, CPU of the harness process (broker, publisher, consumer)", "s per M records", 1},
	{"E", "keyed.e2e.cpu_ratio_raw", "keyed end to end CPU / raw figure CPU (both CPU-bound on the same cores: about the inverse of the throughput ratio)", "×", 2},
	{"F", "cluster.rate", "end to end, no latency, 3-node in-process cluster (embedded nats-servers with routes), R3 streams", "records/s", 0},
	{"F", "cluster.ratio_single", "cluster / single-node end to end (same N)", "×", 3},
	{"G", "bulk.switch", "switch point: where the drain times cross (Collections linear, Bulk fixed cost + rate fitted on the two largest N)", "records", 0},
	{"G", "bulk.threshold", "auto's switch point chosen (median crossing, 2 significant digits)", "records", 0},
	{"H", "mem.256.small.rss", "peak RSS, one worker process, 256 KiB records, 8 calls, slow Salesforce: small backlog", "MiB", 1},
	{"H", "mem.256.large.rss", "peak RSS, same, large backlog", "MiB", 1},
	{"H", "mem.256.growth", "peak RSS large / small backlog", "×", 2},
	{"H", "mem.256.gomemlimit.rss", "(secondary) peak RSS, small backlog, worker with GOMEMLIMIT = budget + 32 MiB", "MiB", 1},
	{"H", "mem.256.budget", "max_inflight_bytes (the byte budget)", "MiB", 0},
	{"H", "mem.256.rate", "drain rate, large backlog", "records/s", 0},
}

// allRows is rows with those of the Bulk sizes of the run inserted before
// the switch point.
func allRows(sz Sizes) []row {
	var out []row
	for _, rw := range rows {
		if rw.key == "bulk.switch" {
			for _, n := range sz.Bulk {
				lbl := fmt.Sprintf("%d records", n)
				if n > sz.BulkEmul {
					lbl += fmt.Sprintf(" (emulated with %d: see notes)", n/sz.BulkShrink)
				}
				out = append(out,
					row{"G", fmt.Sprintf("bulk.%d.collections", n), "drain " + lbl + ", Collections, 16 calls, realistic model", "s", 1},
					row{"G", fmt.Sprintf("bulk.%d.bulk", n), "drain " + lbl + ", Bulk API 2.0, realistic model", "s", 1},
					row{"G", fmt.Sprintf("bulk.%d.auto_ratio", n), fmt.Sprintf("auto's choice with the measured switch point / the better path, %d", n), "×", 3},
					row{"G", fmt.Sprintf("bulk.%d.default_ratio", n), fmt.Sprintf("(secondary) auto's choice with the default bulk_threshold 10,000 / the better path, %d", n), "×", 3})
			}
		}
		out = append(out, rw)
	}
	return out
}

func allTargets(sz Sizes) []targetDef {
	var out []targetDef
	for _, d := range targetDefs {
		if d.key == "e2e.ratio_ceiling" {
			for _, n := range sz.Bulk {
				out = append(out, targetDef{fmt.Sprintf("15.3 auto's choice (measured switch point) vs the better path, %d records", n), fmt.Sprintf("bulk.%d.auto_ratio", n), "≤ 1.10×", atMost(1.10)})
			}
		}
		out = append(out, d)
	}
	return out
}

// targetDef is a target on one figure's median.
type targetDef struct {
	name, key, want string
	ok              func(v float64) bool
}

func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }

var targetDefs = []targetDef{
	{"15.1 Kinetic vs the baseline loader, throughput", "k16.ratio_base", "≥ 0.95×", atLeast(0.95)},
	{"15.1 Kinetic vs the baseline loader, CPU per record (worker process vs loader process)", "k16.cpu_ratio", "≤ 2×", atMost(2)},
	{"15.2 realistic Salesforce vs the mean-latency bound, unkeyed, sustained", "real.ratio_bound", "≥ 0.85×", atLeast(0.85)},
	{"15.2 realistic Salesforce vs the mean-latency bound, unkeyed, whole job", "real.job_ratio_bound", "≥ 0.85×", atLeast(0.85)},
	{"15.2 realistic Salesforce vs the mean-latency bound, keyed, sustained", "real.keyed.ratio_bound", "≥ 0.85×", atLeast(0.85)},
	{"15.2 realistic: records lost, unkeyed", "real.lost", "0 in every trial", nil},
	{"15.2 realistic: records lost, keyed", "real.keyed.lost", "0 in every trial", nil},
	{"15.4 end to end vs the like-for-like broker ceiling", "e2e.ratio_ceiling", "≥ 0.75×", atLeast(0.75)},
	{"15.5 3-node cluster, R3: ratio to single node (reported, no target)", "cluster.ratio_single", "reported", nil},
	{"15.6 4×4 processes vs 1×16 (reported: measures concurrency)", "k4x4.ratio_k16", "reported", nil},
	{"15.7 peak RSS, 256 KiB records, large backlog", "mem.256.large.rss", "≤ budget + 64 MiB", nil},
	{"15.7 peak RSS flat, small → large backlog", "mem.256.growth", "≤ 1.25×", atMost(1.25)},
	{"10.6 keyed throughput vs W×C×200/latency, distinct keys", "keyed.distinct.ratio_bound", "≥ 0.90×", atLeast(0.9)},
	{"10.6 keyed throughput vs W×C×200/latency, 30% repeats", "keyed.repeat.ratio_bound", "≥ 0.90×", atLeast(0.9)},
	{"10.6 records per call, distinct keys (each replica's tail call left out)", "keyed.distinct.records_per_call_steady", "≥ 199", atLeast(199)},
	{"10.6 keyed end to end vs the raw JetStream figure", "keyed.e2e.ratio_raw", "≥ 0.50×", atLeast(0.5)},
	{"10.6 the keyed broker ceiling vs the raw figure (reported: the most the target could be with a free worker and Salesforce)", "keyed.ceiling.ratio_raw", "reported", nil},
	{"10.6 API calls per change, 30% repeats vs distinct keys", "keyed.repeat.calls_ratio", "< 1×", func(v float64) bool { return v < 1 }},
}

// evaluate summarizes every figure and checks every target on medians.
func (r *Report) evaluate() {
	r.Figures = map[string]Stat{}
	for k := range r.Samples {
		r.Figures[k], _ = r.stat(k)
	}
	r.Targets = nil
	for _, d := range allTargets(r.Sizes) {
		s, ok := r.stat(d.key)
		if !ok {
			r.Targets = append(r.Targets, Target{Name: d.name, Target: d.want, Measured: "n/a (not run)", Met: "n/a"})
			continue
		}
		t := Target{Name: d.name, Target: d.want, Measured: fmtStat(s, digitsOf(r.Sizes, d.key))}
		switch {
		case d.key == "real.lost" || d.key == "real.keyed.lost":
			t.Met = yesNo(s.Max == 0)
		case d.key == "mem.256.large.rss":
			b, okb := r.stat("mem.256.budget")
			if okb {
				t.Target = fmt.Sprintf("≤ %.0f MiB (budget %.0f + 64)", b.Median+64, b.Median)
				t.Met = yesNo(s.Max <= b.Median+64)
			} else {
				t.Met = "n/a"
			}
		case d.ok == nil:
			t.Met = "reported"
		default:
			t.Met = yesNo(d.ok(s.Median))
		}
		r.Targets = append(r.Targets, t)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func digitsOf(sz Sizes, key string) int {
	for _, rw := range allRows(sz) {
		if rw.key == key {
			return rw.digits
		}
	}
	return 2
}

func fmtNum(v float64, digits int) string {
	if math.Abs(v) >= 10000 && digits == 0 {
		s := fmt.Sprintf("%.0f", v)
		// thousands separators
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	}
	return fmt.Sprintf("%.*f", digits, v)
}

// fmtStat prints "median (min–max, n)".
func fmtStat(s Stat, digits int) string {
	if s.N == 1 {
		return fmt.Sprintf("%s (1 trial)", fmtNum(s.Median, digits))
	}
	return fmt.Sprintf("%s (%s–%s, %d trials)", fmtNum(s.Median, digits), fmtNum(s.Min, digits), fmtNum(s.Max, digits), s.N)
}

func (r *Report) markdown() string {
	var b strings.Builder
	mode := "full run"
	if r.Short {
		mode = "short run (CI check: sizes and latencies are small; figures mean nothing)"
	}
	fmt.Fprintf(&b, "Benchmark %s — %s, %s, %d trial(s), took %s\n\n", r.Date, r.Machine, mode, r.Trials, r.Elapsed)
	b.WriteString("| | measurement | median (min–max, trials) | unit |\n|---|---|---|---|\n")
	for _, rw := range allRows(r.Sizes) {
		s, ok := r.stat(rw.key)
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", rw.sec, rw.label, fmtStat(s, rw.digits), rw.unit)
	}
	if len(r.Targets) > 0 {
		b.WriteString("\n| target | wanted | measured (median, min–max) | met |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Target, t.Measured, t.Met)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func (r *Report) write(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644)
}
