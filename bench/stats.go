package main

import (
	"math"
	"sort"
)

// Stat summarizes one figure over the trials of a run: the median and the
// spread (min–max). Every figure the report prints is one of these.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"trials"`
}

func summarize(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// trial collects the figures of one trial. Ratios are taken within a trial
// (both sides measured minutes apart at most, under the same load), then
// summarized across trials.
type trial struct {
	k    int // 1-based
	vals map[string]float64
}

func (t *trial) set(key string, v float64) { t.vals[key] = v }

func (t *trial) get(key string) (float64, bool) {
	v, ok := t.vals[key]
	return v, ok && !math.IsNaN(v) && !math.IsInf(v, 0)
}

// ratio sets key to num/den when the trial has both.
func (t *trial) ratio(key, num, den string) {
	n, ok1 := t.get(num)
	d, ok2 := t.get(den)
	if ok1 && ok2 && d != 0 {
		t.set(key, n/d)
	}
}
