package producer

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/kinetic-sync/kinetic/pkg/jobs"
)

// progress shows a job's progress: a bar (done/total, rate, ETA) on a
// terminal, a plain line every few seconds otherwise.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	total int
	last  time.Time
	p     jobs.Progress
}

func newProgress(w io.Writer, plain bool, name string, total int) *progress {
	pr := &progress{w: w, total: total}
	if w == nil {
		return pr
	}
	if f, ok := w.(*os.File); ok && !plain && term.IsTerminal(int(f.Fd())) {
		pr.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rec"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return pr
}

func (pr *progress) update(p jobs.Progress) {
	pr.p = p
	switch {
	case pr.w == nil:
	case pr.bar != nil:
		_ = pr.bar.Set(p.Done)
	case time.Since(pr.last) >= 2*time.Second || p.Done == p.Total:
		pr.last = time.Now()
		pr.line()
	}
}

func (pr *progress) line() {
	p := pr.p
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(p.Done) / s
	}
	pct := 0.0
	if p.Total > 0 {
		pct = float64(p.Done) / float64(p.Total) * 100
	}
	fmt.Fprintf(pr.w, "progress: %d/%d (%.0f%%) loaded=%d dead-lettered=%d skipped=%d retries=%d rate=%.0f rec/s\n",
		p.Done, p.Total, pct, p.Loaded, p.DeadLettered, p.Skipped, p.Retrying, rate)
}

func (pr *progress) finish() {
	if pr.bar != nil {
		_ = pr.bar.Finish()
	} else if pr.w != nil && pr.p.Done != pr.p.Total {
		pr.line()
	}
}
