package main

import (
	"fmt"
	"math"
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
