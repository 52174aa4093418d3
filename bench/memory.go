package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// (H) Memory under large records: one worker process, 8 calls, a slow
// Salesforce (450 ms a 200-record call), drains a backlog of records
// carrying a `size` KiB field the mapping does not use, published before it
// starts. Its peak RSS is the kernel's high-water mark (VmHWM, exact); its
// heap is sampled from /metrics every 100 ms. The byte budget is the
// worker's max_inflight_bytes default. 256 KiB records with a small and a
// large backlog give the target (flat, under the budget + 64 MiB); the
// other sizes, one backlog each, the chart.
func (h *harness) measureMemory(ctx context.Context, r *Report, t *trial) error {
	budget := float64(worker.DefaultMaxInflightBytes) / (1 << 20)
	t.set("mem.256.budget", budget)
	for _, kib := range h.o.sizes.MemSizes {
		n := h.o.sizes.MemSweepN
		if kib == 256 {
			n = h.o.sizes.MemSmall
		}
		d, err := h.drain(ctx, n, kib)
		if err != nil {
			return err
		}
		t.set(fmt.Sprintf("mem.size.%d.rss", kib), d.rss)
		t.set(fmt.Sprintf("mem.size.%d.heap", kib), d.heap)
		if kib == 256 {
			t.set("mem.256.small.rss", d.rss)
		}
	}
	// The same small backlog with the Go runtime's soft memory limit set
	// to the budget + 32 MiB (an operator's setting, GOMEMLIMIT): how much
	// of the peak is garbage the collector has not yet reclaimed.
	limit := fmt.Sprintf("GOMEMLIMIT=%dMiB", int(budget)+32)
	d, err := h.drain(ctx, h.o.sizes.MemSmall, 256, limit)
	if err != nil {
		return err
	}
	t.set("mem.256.gomemlimit.rss", d.rss)
	d, err = h.drain(ctx, h.o.sizes.MemLarge, 256)
	if err != nil {
		return err
	}
	t.set("mem.256.large.rss", d.rss)
	t.set("mem.256.rate", d.rate)
	t.ratio("mem.256.growth", "mem.256.large.rss", "mem.256.small.rss")
	return nil
}

type drainResult struct{ heap, rss, rate float64 }

// bigPayload is the i-th benchmark record with a `blob` field of kib KiB.
func bigPayload(i, kib int, blob string) ([]byte, error) {
	rec := record(i, 10_000)
	rec["blob"] = blob
	return messages.EncodeRecord(rec)
}

func (h *harness) drain(ctx context.Context, n, kib int, env ...string) (drainResult, error) {
	var out drainResult
	e, err := h.newEnv(h.latencyFaults())
	if err != nil {
		return out, err
	}
	defer e.close()
	if err := ensureStreams(ctx, e.nc); err != nil {
		return out, err
	}
	h.printf("(H) memory: publishing a backlog of %d records of %d KiB", n, kib)
	blob := strings.Repeat("x", kib<<10-200)
	pub := messages.NewPublisher(e.js, messages.PublisherOptions{MaxPending: max(16, min(2000, 16<<20/(kib<<10)))})
	subj := messages.Subjects{}.Records("Account", "upsert")
	job := fmt.Sprintf("backlog-%d-%d", n, kib)
	for i := range n {
		b, err := bigPayload(i, kib, blob)
		if err != nil {
			return out, err
		}
		if err := pub.PublishAsync(ctx, subj, b, messages.RecordMeta{Job: job, Seq: int64(i + 1), MsgID: job + "-" + strconv.Itoa(i+1)}); err != nil {
			return out, err
		}
	}
	if err := pub.Flush(ctx); err != nil {
		return out, err
	}
	_, pipelinesFile, err := e.pipelines(memoryCalls)
	if err != nil {
		return out, err
	}
	h.printf("(H) memory: one worker process × %d calls drains it %v", memoryCalls, env)
	start := time.Now()
	ps, err := h.startWorkerProcs(ctx, e.url, e.sim.SalesforceConfig(), pipelinesFile, 1, memoryCalls, env...)
	if err != nil {
		return out, err
	}
	defer stopProcs(ps)
	stream, err := e.js.Stream(ctx, messages.Topology{}.WithDefaults().RecordsStream())
	if err != nil {
		return out, err
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", ps[0].metricsPort)
	deadline := time.Now().Add(30 * time.Minute)
	for {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return out, fmt.Errorf("the backlog was not drained in time")
		}
		if heap, ok := scrape(metricsURL, "go_memstats_heap_inuse_bytes"); ok {
			out.heap = max(out.heap, heap/(1<<20))
		}
		info, err := stream.Info(ctx)
		if err == nil && info.State.Msgs == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	out.rate = float64(n) / time.Since(start).Seconds()
	if rss, ok := peakRSS(ps[0].cmd.Process.Pid); ok {
		out.rss = rss
	}
	h.printf("    %d × %d KiB: peak heap %.1f MiB, peak RSS %.1f MiB, drained at %.0f records/s", n, kib, out.heap, out.rss, out.rate)
	return out, nil
}

// memoryCalls is the concurrency of the memory measurement.
const memoryCalls = 8

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// scrape reads one gauge from a Prometheus text endpoint.
func scrape(url, metric string) (float64, bool) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, metric+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, metric)), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// peakRSS reads a process's peak resident set (VmHWM) in MiB.
func peakRSS(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

// ensureStreams creates Kinetic's streams (as a worker would) before a
// backlog is published.
func ensureStreams(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return messages.Topology{}.Ensure(ctx, js)
}
