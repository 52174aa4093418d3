package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Report is one harness run.
type Report struct {
	Date     string         `json:"date"`
	Machine  string         `json:"machine"`
	Short    bool           `json:"short"`
	Elapsed  string         `json:"elapsed"`
	Sizes    Sizes          `json:"sizes"`
	Limit    LimitResult    `json:"limit"`
	EndToEnd EndToEndResult `json:"end_to_end"`
	Latency  LatencyResult  `json:"latency_bound"`
	Seed     SeedResult     `json:"original_approach"`
	Memory   MemoryResult   `json:"memory"`
	Scaling  []ScalingPoint `json:"scaling"`
	Bulk     BulkResult     `json:"bulk"`
	Targets  []Target       `json:"targets"`
}

type LimitResult struct {
	N            int     `json:"n"`
	PayloadBytes int     `json:"payload_bytes"`
	PublishRate  float64 `json:"publish_msgs_per_s"`
	ConsumeRate  float64 `json:"consume_msgs_per_s"`
	Rate         float64 `json:"msgs_per_s"` // N / (publish time + consume time)
}

type EndToEndResult struct {
	N              int     `json:"n"`
	Workers        int     `json:"workers"`
	Rate           float64 `json:"records_per_s"`
	Seconds        float64 `json:"seconds"`
	RatioToLimit   float64 `json:"ratio_to_limit"`
	APICalls       int     `json:"api_calls"`
	RecordsPerCall float64 `json:"records_per_call"`
}

type LatencyResult struct {
	N              int     `json:"n"`
	Workers        int     `json:"workers"`
	Concurrency    int     `json:"calls_per_worker"`
	CallLatency    string  `json:"full_call_latency"`
	Rate           float64 `json:"records_per_s"`
	Bound          float64 `json:"bound_records_per_s"`
	RatioToBound   float64 `json:"ratio_to_bound"`
	APICalls       int     `json:"api_calls"`
	RecordsPerCall float64 `json:"records_per_call"`
}

type SeedResult struct {
	N       int     `json:"n"`
	Rate    float64 `json:"records_per_s"`
	Speedup float64 `json:"kinetic_speedup"` // (3) / (4)
}

type MemoryResult struct {
	Backlog        int     `json:"backlog"`
	PeakHeapMiB    float64 `json:"peak_heap_mib"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	DrainRate      float64 `json:"drain_records_per_s"`
	BacklogRef     int     `json:"backlog_ref"`
	RefPeakHeapMiB float64 `json:"ref_peak_heap_mib"`
	RefPeakRSSMiB  float64 `json:"ref_peak_rss_mib"`
	HeapGrowth     float64 `json:"heap_growth"` // sampled peak heap with the backlog / with the 10× smaller one
	RSSGrowth      float64 `json:"rss_growth"`  // peak RSS (the kernel's high-water mark) with the backlog / with the smaller one
}

type ScalingPoint struct {
	Workers int     `json:"workers"`
	Rate    float64 `json:"records_per_s"`
	Bound   float64 `json:"bound_records_per_s"`
	Speedup float64 `json:"speedup"`
}

type BulkResult struct {
	N                  int     `json:"n"`
	BulkSeconds        float64 `json:"bulk_seconds"`
	BulkCalls          int     `json:"bulk_api_calls"`
	CollectionsSeconds float64 `json:"collections_seconds"`
	CollectionsCalls   int     `json:"collections_api_calls"`
	CallRatio          float64 `json:"call_ratio"`
}

// Target is one of the targets, measured.
type Target struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func newReport(o options) *Report {
	host, _ := os.Hostname()
	return &Report{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: fmt.Sprintf("%s, %d CPUs, %s %s/%s", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH),
		Short:   o.short, Sizes: o.sizes,
	}
}

// evaluate computes the ratios and checks every target.
func (r *Report) evaluate() {
	if r.Limit.Rate > 0 {
		r.EndToEnd.RatioToLimit = r.EndToEnd.Rate / r.Limit.Rate
	}
	if r.Seed.Rate > 0 {
		r.Seed.Speedup = r.Latency.Rate / r.Seed.Rate
	}
	add := func(name, target, measured string, met, have bool) {
		if have {
			r.Targets = append(r.Targets, Target{Name: name, Target: target, Measured: measured, Met: met})
		}
	}
	add("(2) end to end vs the limit", "≥ 50% of (1)", pct(r.EndToEnd.RatioToLimit), r.EndToEnd.RatioToLimit >= 0.5, r.EndToEnd.Rate > 0 && r.Limit.Rate > 0)
	add("(3) latency-bound vs its bound", "≥ 90%", pct(r.Latency.RatioToBound), r.Latency.RatioToBound >= 0.9, r.Latency.Rate > 0)
	add("(3) vs the original's approach (4)", "≥ 100×", fmt.Sprintf("%.0f×", r.Seed.Speedup), r.Seed.Speedup >= 100, r.Seed.Rate > 0 && r.Latency.Rate > 0)
	add("(5) records per call, end to end", "≥ 199", fmt.Sprintf("%.1f", r.EndToEnd.RecordsPerCall), r.EndToEnd.RecordsPerCall >= 199, r.EndToEnd.APICalls > 0)
	add("(5) records per call, latency-bound", "≥ 199", fmt.Sprintf("%.1f", r.Latency.RecordsPerCall), r.Latency.RecordsPerCall >= 199, r.Latency.APICalls > 0)
	add("(6) worker peak heap", "< 256 MiB", fmt.Sprintf("%.1f MiB", r.Memory.PeakHeapMiB), r.Memory.PeakHeapMiB < 256, r.Memory.Backlog > 0)
	// Flatness is judged on peak RSS, the kernel's exact high-water mark:
	// the heap is sampled every 100 ms, so a run ten times longer sees more
	// of the GC sawtooth's tops and its sampled peak creeps up by chance.
	add("(6) memory flat with the backlog", fmt.Sprintf("peak RSS, %d vs %d records: within 1.25×", r.Memory.Backlog, r.Memory.BacklogRef),
		fmt.Sprintf("%.2f× (heap %.2f×)", r.Memory.RSSGrowth, r.Memory.HeapGrowth), r.Memory.RSSGrowth <= 1.25, r.Memory.Backlog > 0)
	if len(r.Scaling) == 3 {
		add("(7) W=4 vs W=1", "≥ 3.5×", fmt.Sprintf("%.2f×", r.Scaling[2].Speedup), r.Scaling[2].Speedup >= 3.5, true)
	}
	add("(8) Bulk API 2.0 API calls vs Collections", "≥ 50× fewer", fmt.Sprintf("%.0f× fewer", r.Bulk.CallRatio), r.Bulk.CallRatio >= 50, r.Bulk.BulkCalls > 0)
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

func (r *Report) markdown() string {
	var b strings.Builder
	mode := "full run"
	if r.Short {
		mode = "short run (CI check: sizes and latencies are small; figures mean nothing)"
	}
	fmt.Fprintf(&b, "Benchmark %s — %s, %s, took %s\n\n", r.Date, r.Machine, mode, r.Elapsed)
	b.WriteString("| # | measurement | N | result |\n|---|---|---|---|\n")
	if r.Limit.N > 0 {
		fmt.Fprintf(&b, "| 1 | raw JetStream (file storage, %d-byte messages): async publish, then pull 200 at a time with acks | %d | publish %.0f msg/s, consume %.0f msg/s, **%.0f msg/s** overall |\n",
			r.Limit.PayloadBytes, r.Limit.N, r.Limit.PublishRate, r.Limit.ConsumeRate, r.Limit.Rate)
	}
	if r.EndToEnd.N > 0 {
		fmt.Fprintf(&b, "| 2 | end to end, no latency: publish → %d workers → simulator → results | %d | **%.0f records/s** (%.1fs), %s of (1) |\n",
			r.EndToEnd.Workers, r.EndToEnd.N, r.EndToEnd.Rate, r.EndToEnd.Seconds, pct(r.EndToEnd.RatioToLimit))
	}
	if r.Latency.N > 0 {
		fmt.Fprintf(&b, "| 3 | latency-bound: %d workers × %d calls, %s per 200-record call | %d | **%.0f records/s**, bound %.0f: %s |\n",
			r.Latency.Workers, r.Latency.Concurrency, r.Latency.CallLatency, r.Latency.N, r.Latency.Rate, r.Latency.Bound, pct(r.Latency.RatioToBound))
	}
	if r.Seed.N > 0 {
		fmt.Fprintf(&b, "| 4 | the original's approach: one sequential call per record, same latency | %d | **%.2f records/s**; Kinetic (3) is %.0f× faster |\n", r.Seed.N, r.Seed.Rate, r.Seed.Speedup)
	}
	if r.EndToEnd.APICalls > 0 || r.Latency.APICalls > 0 {
		fmt.Fprintf(&b, "| 5 | records per Salesforce call | | (2) %.1f in %d calls; (3) %.1f in %d calls |\n", r.EndToEnd.RecordsPerCall, r.EndToEnd.APICalls, r.Latency.RecordsPerCall, r.Latency.APICalls)
	}
	if r.Memory.Backlog > 0 {
		fmt.Fprintf(&b, "| 6 | one worker process draining a backlog | %d | peak heap **%.1f MiB**, peak RSS %.1f MiB (%d: %.1f / %.1f MiB; growth heap %.2f×, RSS %.2f×), %.0f records/s |\n",
			r.Memory.Backlog, r.Memory.PeakHeapMiB, r.Memory.PeakRSSMiB, r.Memory.BacklogRef, r.Memory.RefPeakHeapMiB, r.Memory.RefPeakRSSMiB, r.Memory.HeapGrowth, r.Memory.RSSGrowth, r.Memory.DrainRate)
	}
	for _, p := range r.Scaling {
		fmt.Fprintf(&b, "| 7 | scaling, latency-bound, W = %d | %d | **%.0f records/s** (bound %.0f), %.2f× W=1 |\n", p.Workers, r.Sizes.Scaling, p.Rate, p.Bound, p.Speedup)
	}
	if r.Bulk.N > 0 {
		fmt.Fprintf(&b, "| 8 | Bulk API 2.0 vs Collections (Pipeline.Sync, no latency) | %d | bulk %.1fs in **%d calls**; collections %.1fs in %d calls: %.0f× fewer calls |\n",
			r.Bulk.N, r.Bulk.BulkSeconds, r.Bulk.BulkCalls, r.Bulk.CollectionsSeconds, r.Bulk.CollectionsCalls, r.Bulk.CallRatio)
	}
	if len(r.Targets) > 0 {
		b.WriteString("\n| target | wanted | measured | met |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Target, t.Measured, met)
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
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if len(r.Scaling) > 0 {
		return r.chart(filepath.Join(dir, "scaling.png"))
	}
	return nil
}

// chart draws throughput against worker count, with the bound.
func (r *Report) chart(path string) error {
	p := plot.New()
	p.Title.Text = "Kinetic: throughput against worker replicas (latency-bound)"
	p.X.Label.Text = "worker replicas (W)"
	p.Y.Label.Text = "records/s"
	measured, bound := make(plotter.XYs, len(r.Scaling)), make(plotter.XYs, len(r.Scaling))
	for i, s := range r.Scaling {
		measured[i] = plotter.XY{X: float64(s.Workers), Y: s.Rate}
		bound[i] = plotter.XY{X: float64(s.Workers), Y: s.Bound}
	}
	if err := plotutil.AddLinePoints(p, "measured", measured, "bound W×C×200/latency", bound); err != nil {
		return err
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
