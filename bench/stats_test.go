package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		in             []float64
		med, min, maxv float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		s := summarize(c.in)
		if s.Median != c.med || s.Min != c.min || s.Max != c.maxv || s.N != len(c.in) {
			t.Errorf("summarize(%v) = %+v", c.in, s)
		}
	}
	if s := summarize(nil); !math.IsNaN(s.Median) || s.N != 0 {
		t.Errorf("summarize(nil) = %+v", s)
	}
}

// A ratio whose reference was not run is left out of the trial, and the
// report says n/a for its target.
func TestRatioWithoutReferenceIsNA(t *testing.T) {
	tr := &trial{k: 1, vals: map[string]float64{"e2e.rate": 100}}
	derive(tr)
	if _, ok := tr.get("e2e.ratio_ceiling"); ok {
		t.Fatal("ratio set without its reference")
	}
	r := newReport(options{trials: 1, sizes: shortSizes})
	r.addTrial(tr)
	r.evaluate()
	for _, tg := range r.Targets {
		if tg.Name == "15.4 end to end vs the like-for-like broker ceiling" {
			if tg.Met != "n/a" || !strings.HasPrefix(tg.Measured, "n/a") {
				t.Errorf("target = %+v, want n/a", tg)
			}
			return
		}
	}
	t.Fatal("target missing")
}

func TestSwitchPoint(t *testing.T) {
	// Collections: 1 ms a record; Bulk: 60 s + 0.5 ms a record: they cross
	// at 120,000.
	tr := &trial{vals: map[string]float64{}}
	for _, n := range []int{100_000, 1_000_000} {
		tr.set(fmt.Sprintf("bulk.%d.collections", n), float64(n)*1e-3)
		tr.set(fmt.Sprintf("bulk.%d.bulk", n), 60+float64(n)*0.5e-3)
	}
	sw, ok := switchPoint(tr, []int{10_000, 100_000, 1_000_000})
	if !ok || math.Abs(sw-120_000) > 1 {
		t.Fatalf("switchPoint = %v, %v; want 120000", sw, ok)
	}
}

func TestCompareReportVerdicts(t *testing.T) {
	before := &Report{Samples: map[string][]float64{
		"k16.ratio_base": {0.90, 0.94, 0.96}, // after 0.95: inside the spread
		"k16.cpu_ratio":  {2.0, 2.1, 2.2},    // after 2.5: worse (lower is better)
		"e2e.ratio_raw":  {0.30, 0.31, 0.32}, // after 0.40: better
		"real.lost":      {0, 0, 0},          // no better side
	}}
	after := &Report{Samples: map[string][]float64{
		"k16.ratio_base": {0.95, 0.95, 0.95},
		"k16.cpu_ratio":  {2.5, 2.5, 2.5},
		"e2e.ratio_raw":  {0.40, 0.40, 0.40},
		"real.lost":      {0, 0, 0},
		"seed.rate":      {4},
	}}
	out := compareReport(before, after, "3 trial(s) a side.")
	for _, want := range []string{
		"| B | Kinetic 1×16 / baseline, throughput | 0.940 (0.900–0.960, 3 trials) | 0.950 (0.950–0.950, 3 trials) | 1.011 | same |",
		"| B | Kinetic worker CPU / baseline CPU | 2.10 (2.00–2.20, 3 trials) | 2.50 (2.50–2.50, 3 trials) | 1.190 | **worse** |",
		"| A | (secondary) end to end / raw figure | 0.310 (0.300–0.320, 3 trials) | 0.400 (0.400–0.400, 3 trials) | 1.290 | better |",
		"| D | unkeyed, records lost (published − loaded − dead-lettered) | 0 (0–0, 3 trials) | 0 (0–0, 3 trials) |  |  |",
		"| B | (secondary) the original's approach: one sequential call per record, same latency | n/a (not measured) | 4.00 (1 trial) |  |  |",
		"Ratios worse after than before (beyond before's spread): 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// Pooling reads every trial of every comparison again: the medians and
// spreads are over all of them.
func TestPoolCompares(t *testing.T) {
	write := func(dir string, name string, samples map[string][]float64) {
		t.Helper()
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(Report{Samples: samples})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "results.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runs := []string{t.TempDir(), t.TempDir()}
	for i, dir := range runs {
		if err := os.WriteFile(filepath.Join(dir, "compare.md"), fmt.Appendf(nil, "Comparison %d\n\nrest", i), 0o644); err != nil {
			t.Fatal(err)
		}
		for k := 1; k <= 2; k++ {
			v := float64(10*i + k) // 1, 2, 11, 12
			write(dir, fmt.Sprintf("before-%d", k), map[string][]float64{"e2e.ratio_raw": {v / 100}})
			write(dir, fmt.Sprintf("after-%d", k), map[string][]float64{"e2e.ratio_raw": {v / 100}})
		}
	}
	out := t.TempDir()
	var stdout strings.Builder
	if err := poolCompares(options{out: out}, runs, &stdout); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "compare.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Pooled: 4 before and 4 after trials of 2 comparisons.",
		"- " + runs[1] + ": Comparison 1",
		"| A | (secondary) end to end / raw figure | 0.065 (0.010–0.120, 4 trials) | 0.065 (0.010–0.120, 4 trials) | 1.000 | same |",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("missing %q in\n%s", want, data)
		}
	}
	if err := poolCompares(options{out: out}, []string{t.TempDir()}, &stdout); err == nil {
		t.Error("pooling a directory with no comparison: no error")
	}
}
