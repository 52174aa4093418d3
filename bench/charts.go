package main

import (
	"fmt"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// charts draws what the run measured: throughput against concurrency
// (Kinetic, the baseline, the bound), Bulk against Collections over N, and
// peak RSS against record size. Each point is a median over the trials that
// measured it.
func (r *Report) charts(dir string) error {
	med := func(key string) (float64, bool) {
		s, ok := r.stat(key)
		return s.Median, ok
	}
	// Throughput against concurrency.
	var cs []int
	for _, c := range r.Sizes.Sweep {
		if _, ok := med(fmt.Sprintf("sweep.%d.kinetic", c)); ok {
			cs = append(cs, c)
		}
	}
	if len(cs) > 0 {
		var k, b, bound plotter.XYs
		for _, c := range cs {
			kv, _ := med(fmt.Sprintf("sweep.%d.kinetic", c))
			bv, _ := med(fmt.Sprintf("sweep.%d.base", c))
			ub, _ := med(fmt.Sprintf("sweep.%d.bound", c))
			k = append(k, plotter.XY{X: float64(c), Y: kv})
			b = append(b, plotter.XY{X: float64(c), Y: bv})
			bound = append(bound, plotter.XY{X: float64(c), Y: ub})
		}
		p := plot.New()
		p.Title.Text = "Throughput against concurrency (450 ms per 200-record call)"
		p.X.Label.Text = "calls in flight (Kinetic: one worker process; baseline: goroutines)"
		p.Y.Label.Text = "records/s"
		if err := plotutil.AddLinePoints(p, "Kinetic", k, "baseline Go loader", b, "bound C×200/latency", bound); err != nil {
			return err
		}
		if err := r.save(p, dir, "throughput.png"); err != nil {
			return err
		}
	}
	// Bulk against Collections over N.
	var ns []int
	for _, n := range r.Sizes.Bulk {
		if _, ok := med(fmt.Sprintf("bulk.%d.bulk", n)); ok {
			ns = append(ns, n)
		}
	}
	if len(ns) > 0 {
		var c, b plotter.XYs
		for _, n := range ns {
			cv, _ := med(fmt.Sprintf("bulk.%d.collections", n))
			bv, _ := med(fmt.Sprintf("bulk.%d.bulk", n))
			c = append(c, plotter.XY{X: float64(n), Y: cv})
			b = append(b, plotter.XY{X: float64(n), Y: bv})
		}
		p := plot.New()
		p.Title.Text = "Drain time: Bulk API 2.0 vs Collections (16 calls), realistic model"
		p.X.Label.Text = "records (log scale)"
		p.Y.Label.Text = "seconds (log scale)"
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
		if err := plotutil.AddLinePoints(p, "Collections", c, "Bulk API 2.0", b); err != nil {
			return err
		}
		if sw, ok := med("bulk.switch"); ok {
			line := plotter.XYs{{X: sw, Y: minY(c, b)}, {X: sw, Y: maxY(c, b)}}
			l, err := plotter.NewLine(line)
			if err != nil {
				return err
			}
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("switch point ≈ %.0f", sw), l)
		}
		if err := r.save(p, dir, "bulk.png"); err != nil {
			return err
		}
	}
	// Memory against record size.
	var sizes []int
	for _, kib := range r.Sizes.MemSizes {
		if _, ok := med(fmt.Sprintf("mem.size.%d.rss", kib)); ok {
			sizes = append(sizes, kib)
		}
	}
	if len(sizes) > 0 {
		sort.Ints(sizes)
		var rss, heap, budget plotter.XYs
		bm, _ := med("mem.256.budget")
		for _, kib := range sizes {
			rv, _ := med(fmt.Sprintf("mem.size.%d.rss", kib))
			hv, _ := med(fmt.Sprintf("mem.size.%d.heap", kib))
			rss = append(rss, plotter.XY{X: float64(kib), Y: rv})
			heap = append(heap, plotter.XY{X: float64(kib), Y: hv})
			budget = append(budget, plotter.XY{X: float64(kib), Y: bm + 64})
		}
		p := plot.New()
		p.Title.Text = "Worker memory against record size (8 calls, 450 ms a call)"
		p.X.Label.Text = "record size, KiB (log scale)"
		p.Y.Label.Text = "MiB"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		if err := plotutil.AddLinePoints(p, "peak RSS", rss, "peak heap (sampled)", heap, "budget + 64 MiB", budget); err != nil {
			return err
		}
		p.Y.Min = 0
		if err := r.save(p, dir, "memory.png"); err != nil {
			return err
		}
	}
	return nil
}

func (r *Report) save(p *plot.Plot, dir, name string) error {
	p.Legend.Top, p.Legend.Left = true, true
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, name)); err != nil {
		return err
	}
	r.Charts = append(r.Charts, name)
	return nil
}

func minY(xs ...plotter.XYs) float64 {
	m := xs[0][0].Y
	for _, s := range xs {
		for _, p := range s {
			m = min(m, p.Y)
		}
	}
	return m
}

func maxY(xs ...plotter.XYs) float64 {
	m := xs[0][0].Y
	for _, s := range xs {
		for _, p := range s {
			m = max(m, p.Y)
		}
	}
	return m
}
