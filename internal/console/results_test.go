package console

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

func batch(job string, outcomes ...messages.RecordOutcome) *messages.BatchResult {
	return &messages.BatchResult{Pipeline: "p", SObject: "Account", Mode: "upsert", Job: job, APICalls: 1, Records: outcomes}
}

func TestResultsIndexWindowsSeriesAndJobs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 55, 0, time.UTC)
	ix := newResultsIndex(messages.Topology{}, time.Hour, 2, zerolog.Nop(), func() time.Time { return now })
	loaded := func(seq int64) messages.RecordOutcome {
		return messages.RecordOutcome{Seq: seq, Status: messages.StatusLoaded}
	}
	dead := func(seq int64) messages.RecordOutcome {
		return messages.RecordOutcome{Seq: seq, Status: messages.StatusDeadLettered, Code: "X"}
	}
	ix.add(batch("j1", loaded(1), loaded(2), dead(3)), now.Add(-10*time.Minute))
	ix.add(batch("j1", loaded(1), loaded(4)), now.Add(-30*time.Second)) // 1 again: a redelivered batch
	ix.add(batch("", loaded(0), messages.RecordOutcome{Status: messages.StatusRetrying}), now.Add(-5*time.Second))
	ix.add(batch("j1", loaded(5)), now.Add(-2*time.Hour)) // older than the history: pruned with its bucket later

	if c := ix.window("p", now, time.Minute); c.Loaded != 2 || c.DeadLettered != 0 || c.Retrying != 1 {
		t.Errorf("last minute = %+v", c)
	}
	if c := ix.window("p", now, 15*time.Minute); c.Loaded != 4 || c.DeadLettered != 1 {
		t.Errorf("last 15 minutes = %+v", c)
	}
	s := ix.series("p", now, time.Minute, 60)
	if len(s) != 60 || s[59].Loaded != 2 || s[49].Loaded != 2 || s[49].DeadLettered != 1 {
		t.Errorf("series: last %+v, 10 min ago %+v", s[59], s[49])
	}
	j, ok := ix.job("j1")
	if !ok || j.Counts.Loaded != 4 || j.Counts.DeadLettered != 1 || j.Duplicates != 1 || j.MaxSeq != 5 || j.Counts.APICalls != 3 {
		t.Errorf("job = %+v", j)
	}
	// Only the most recent jobs are kept.
	ix.add(batch("j2", loaded(1)), now)
	ix.add(batch("j3", loaded(1)), now)
	if _, ok := ix.job("j1"); ok || len(ix.jobList()) != 2 {
		t.Errorf("jobs kept: %v", ix.jobList())
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	for in, want := range map[any]string{0: "0", 999: "999", 1000: "1,000", int64(-1234567): "-1,234,567", uint64(12345): "12,345"} {
		if got := formatInt(in); got != want {
			t.Errorf("formatInt(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0", 0.354: "0.35", 12.44: "12.4", 1234.4: "1,234"} {
		if got := formatRate(in); got != want {
			t.Errorf("formatRate(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0%", 0.0004: "<0.1%", 0.0175: "1.8%", 0.5: "50%"} {
		if got := formatPct(in); got != want {
			t.Errorf("formatPct(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{1500 * time.Millisecond: "2s", 95 * time.Second: "1m35s", 26 * time.Hour: "26h00m", 50 * time.Hour: "2d02h"} {
		if got := formatDuration(in); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", in, got, want)
		}
	}
}
