package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Comparing two builds in one run (-compare DIR). A change that claims to
// cost nothing is measured against the code before it on the same machine,
// under the same load: this tree's harness and DIR's (a checkout of the
// code before the change, with its own bench/) are built, then run one trial
// each, alternately — before then after in odd trials, after then before in
// even ones, so that a drift in the machine's load favours neither — and
// every figure's samples are gathered per side. Each side runs its own
// product code: its in-process workers and simulator, and the worker binary
// it builds from its own cmd/worker. The groups that run once (sweep,
// memory) run in the first trial of each side.

// compareSide is one build under comparison.
type compareSide struct {
	name string // "before" or "after"
	dir  string // its source tree
	bin  string // its bench binary
	at   string // its commit when the harness was built (commitOf)
	rep  *Report
}

func runCompare(ctx context.Context, o options, beforeDir string, stdout io.Writer) error {
	work, err := os.MkdirTemp("", "kinetic-compare-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	here, err := os.Getwd()
	if err != nil {
		return err
	}
	if beforeDir, err = filepath.Abs(beforeDir); err != nil {
		return err
	}
	sides := []*compareSide{
		{name: "before", dir: beforeDir, bin: filepath.Join(work, "bench-before")},
		{name: "after", dir: here, bin: filepath.Join(work, "bench-after")},
	}
	for _, s := range sides {
		s.at = commitOf(s.dir)
		fmt.Fprintf(stdout, "building %s's harness (%s, %s)\n", s.name, s.dir, s.at)
		build := exec.CommandContext(ctx, "go", "build", "-o", s.bin, "./bench")
		build.Dir = s.dir
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s's bench in %s: %w\n%s", s.name, s.dir, err, out)
		}
		s.rep = &Report{Samples: map[string][]float64{}}
	}
	var once, repeated []string
	var h harness
	for _, g := range h.groups() {
		if o.only != "" && !contains(strings.Split(o.only, ","), g.name) {
			continue
		}
		if g.once {
			once = append(once, g.name)
		} else {
			repeated = append(repeated, g.name)
		}
	}
	start := time.Now()
	for k := 1; k <= o.trials; k++ {
		groups := repeated
		if k == 1 {
			groups = append(append([]string(nil), repeated...), once...)
		}
		order := []*compareSide{sides[0], sides[1]}
		if k%2 == 0 {
			order = []*compareSide{sides[1], sides[0]}
		}
		for _, s := range order {
			out := filepath.Join(o.out, fmt.Sprintf("%s-%d", s.name, k))
			fmt.Fprintf(stdout, "%s  trial %d of %d: %s (%s)\n", time.Now().Format("15:04:05"), k, o.trials, s.name, strings.Join(groups, ","))
			if err := s.runTrial(ctx, groups, out, o.short); err != nil {
				return err
			}
		}
	}
	intro := fmt.Sprintf("%d trial(s) a side, alternating, took %s.", o.trials, time.Since(start).Round(time.Second))
	rep := compareReport(sides[0].rep, sides[1].rep, intro)
	rep = fmt.Sprintf("Comparison %s — before: %s (%s); after: %s (%s)\n\n%s",
		time.Now().UTC().Format(time.RFC3339), beforeDir, sides[0].at, here, sides[1].at, rep)
	if err := os.WriteFile(filepath.Join(o.out, "compare.md"), []byte(rep), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\nwrote compare.md in %s\n", rep, o.out)
	return nil
}

// runTrial runs one trial of the side's harness in its own tree and adds
// its samples to the side's.
func (s *compareSide) runTrial(ctx context.Context, groups []string, out string, short bool) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(out, "bench.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	args := []string{"-trials", "1", "-only", strings.Join(groups, ","), "-out", out}
	if short {
		args = append(args, "-short")
	}
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s's trial (log in %s): %w", s.name, log.Name(), err)
	}
	return addTrial(s.rep, out)
}

// addTrial adds the samples of the trial written to dir (its results.json)
// to rep's.
func addTrial(rep *Report, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "results.json"), err)
	}
	for k, xs := range r.Samples {
		rep.Samples[k] = append(rep.Samples[k], xs...)
	}
	rep.Sizes = r.Sizes
	return nil
}

// poolCompares writes one comparison over the trials of earlier ones
// (-pool): each -compare run's trials are few, and this machine's noise
// moves a median across the other side's spread from one run to the next;
// pooled, each side has every trial of every run. The runs must compare the
// same two builds: their compare.md headers are printed for the reader to
// check.
func poolCompares(o options, dirs []string, stdout io.Writer) error {
	sides := []string{"before", "after"}
	reps := map[string]*Report{}
	trials := map[string]int{}
	for _, side := range sides {
		reps[side] = &Report{Samples: map[string][]float64{}}
	}
	var heads []string
	for _, dir := range dirs {
		head, err := os.ReadFile(filepath.Join(dir, "compare.md"))
		if err != nil {
			return fmt.Errorf("%s holds no finished comparison: %w", dir, err)
		}
		first, _, _ := strings.Cut(string(head), "\n")
		heads = append(heads, fmt.Sprintf("- %s: %s", dir, first))
		for _, side := range sides {
			outs, err := filepath.Glob(filepath.Join(dir, side+"-*"))
			if err != nil {
				return err
			}
			for _, out := range outs {
				if err := addTrial(reps[side], out); err != nil {
					return err
				}
			}
			trials[side] += len(outs)
		}
	}
	if trials["before"] == 0 || trials["after"] == 0 {
		return fmt.Errorf("-pool: found %d before and %d after trials in %s", trials["before"], trials["after"], strings.Join(dirs, ", "))
	}
	intro := fmt.Sprintf("Pooled: %d before and %d after trials of %d comparisons.", trials["before"], trials["after"], len(dirs))
	rep := fmt.Sprintf("Pooled comparison %s, of:\n%s\n\n%s", time.Now().UTC().Format(time.RFC3339),
		strings.Join(heads, "\n"), compareReport(reps["before"], reps["after"], intro))
	if err := os.WriteFile(filepath.Join(o.out, "compare.md"), []byte(rep), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\nwrote compare.md in %s\n", rep, o.out)
	return nil
}

// commitOf names a tree's commit, "+ changes" when it has uncommitted ones.
func commitOf(dir string) string {
	out, err := exec.Command("git", "-C", dir, "describe", "--always", "--dirty=+changes").Output()
	if err != nil {
		return "unknown commit"
	}
	return strings.TrimSpace(string(out))
}

// betterHigher tells which way a figure improves, for the verdict: ratios
// to a bound or a reference and rates are better higher; CPU, memory, drain
// times, calls per record and ratios of those are better lower. Figures with
// no better side (switch points, budgets, losses, which have their own
// checks) return ok false.
func betterHigher(key string) (higher, ok bool) {
	switch {
	case strings.HasSuffix(key, ".cpu"), strings.Contains(key, "cpu_ratio"), strings.HasSuffix(key, "cpu_broker"),
		strings.HasSuffix(key, "cpu_total_ratio"), strings.HasSuffix(key, ".rss"), strings.HasSuffix(key, ".growth"),
		strings.HasSuffix(key, "calls_per_record"), strings.HasSuffix(key, "calls_per_change"), strings.HasSuffix(key, "calls_ratio"),
		strings.HasSuffix(key, "auto_ratio"), strings.HasSuffix(key, "default_ratio"),
		strings.HasSuffix(key, ".collections"), strings.HasSuffix(key, ".bulk"), strings.HasSuffix(key, "partial_calls"):
		return false, true
	case strings.Contains(key, "ratio"), strings.HasSuffix(key, ".rate"), strings.Contains(key, "records_per_call"):
		return true, true
	}
	return false, false
}

// compareReport prints every figure measured on both sides: the medians,
// after ÷ before, and a verdict for the figures that have a better side:
// "better", "same (within the spread)" when after's median lies inside
// before's min–max (the machine's noise), "worse" otherwise.
func compareReport(before, after *Report, intro string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s Verdict: better, same (after's median within before's min–max) or worse; ratios (×) are the figures the targets judge.\n\n", intro)
	b.WriteString("| | measurement | before: median (min–max, trials) | after: median (min–max, trials) | after ÷ before | verdict |\n|---|---|---|---|---|---|\n")
	worse := 0
	for _, rw := range allRows(after.Sizes) {
		sb, ok1 := before.stat(rw.key)
		sa, ok2 := after.stat(rw.key)
		if !ok1 && !ok2 {
			continue
		}
		fb, fa, div, verdict := "n/a (not measured)", "n/a (not measured)", "", ""
		if ok1 {
			fb = fmtStat(sb, rw.digits)
		}
		if ok2 {
			fa = fmtStat(sa, rw.digits)
		}
		if ok1 && ok2 {
			if sb.Median != 0 {
				div = strconv.FormatFloat(sa.Median/sb.Median, 'f', 3, 64)
			}
			if higher, ok := betterHigher(rw.key); ok {
				switch {
				case sa.Median >= sb.Min && sa.Median <= sb.Max:
					verdict = "same"
				case (sa.Median > sb.Max) == higher:
					verdict = "better"
				default:
					verdict = "**worse**"
					if rw.unit == "×" {
						worse++
					}
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", rw.sec, rw.label, fb, fa, div, verdict)
	}
	fmt.Fprintf(&b, "\nRatios worse after than before (beyond before's spread): %d\n", worse)
	return b.String()
}
