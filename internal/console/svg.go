package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// The charts are SVG drawn here, inline in the page: bars of loaded (green)
// and dead-lettered (red) records per step, stacked. Only numbers computed
// here and escaped text go into the markup.

const (
	colorLoaded  = "#2e7d32"
	colorDead    = "#c62828"
	colorSkipped = "#9e9e9e"
	colorPending = "#e0e0e0"
)

// sparkline draws a pipeline's last hour, one bar per minute.
func sparkline(series []counts, title string) template.HTML {
	const w, h = 120, 26
	return bars(series, w, h, title, false)
}

// areaChart draws every pipeline's outcomes per step, with labels.
func areaChart(series []counts, now time.Time, step time.Duration) template.HTML {
	const w, h = 720, 90
	return bars(series, w, h, fmt.Sprintf("records per %s, all pipelines, last %d %ss", unit(step), len(series), unit(step)), true)
}

func unit(step time.Duration) string {
	if step == time.Minute {
		return "minute"
	}
	return step.String()
}

func bars(series []counts, w, h int, title string, labels bool) template.HTML {
	peak := 1
	for _, c := range series {
		peak = max(peak, c.Loaded+c.DeadLettered+c.Skipped)
	}
	top, bottom, left := 0, h, 0
	if labels {
		top, bottom, left = 12, h-14, 44
	}
	plotW, plotH := float64(w-left), float64(bottom-top)
	n := max(len(series), 1)
	bw := plotW / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		w, h, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="#fafafa"/>`, left, top, plotW, plotH)
	for i, c := range series {
		x := float64(left) + float64(i)*bw
		y := float64(bottom)
		for _, part := range []struct {
			n     int
			color string
		}{{c.Loaded, colorLoaded}, {c.DeadLettered, colorDead}, {c.Skipped, colorSkipped}} {
			if part.n == 0 {
				continue
			}
			ph := plotH * float64(part.n) / float64(peak)
			if ph < 1 {
				ph = 1
			}
			y -= ph
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x, y, max(bw-0.5, 0.5), ph, part.color)
		}
	}
	if labels {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="end">%s</text>`, left-4, top+8, formatInt(peak))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="end">0</text>`, left-4, bottom)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">−%d min</text>`, left, h-2, len(series))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="end">now</text>`, w, h-2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// progressBar draws a job's outcomes against its (known) size.
func progressBar(c counts, total int) template.HTML {
	const w, h = 160, 12
	total = max(total, c.Final(), 1)
	var b strings.Builder
	title := fmt.Sprintf("%d loaded, %d dead-lettered, %d skipped of %d", c.Loaded, c.DeadLettered, c.Skipped, total)
	fmt.Fprintf(&b, `<svg class="progress" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		w, h, w, h, template.HTMLEscapeString(title), template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="%s"/>`, w, h, colorPending)
	x := 0.0
	for _, part := range []struct {
		n     int
		color string
	}{{c.Loaded, colorLoaded}, {c.DeadLettered, colorDead}, {c.Skipped, colorSkipped}} {
		pw := float64(w) * float64(part.n) / float64(total)
		if part.n > 0 && pw < 1 {
			pw = 1
		}
		if pw > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" width="%.1f" height="%d" fill="%s"/>`, x, pw, h, part.color)
		}
		x += pw
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
