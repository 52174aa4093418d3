package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// (6) Memory: one worker, as its own process, drains a backlog published
// before it starts. Its heap (go_memstats_heap_inuse_bytes from /metrics) is
// sampled every 100 ms and its peak RSS read from /proc (VmHWM). The same is
// done with a backlog ten times smaller: flat memory means the two peaks
// match. Flatness is judged on RSS, whose peak the kernel records exactly;
// the sampled heap peak is reported beside it. The backlog cycles over
// 10,000 external ids so that the simulator's org does not grow with it.
func (h *harness) measureMemory(ctx context.Context, r *Report) error {
	bin := filepath.Join(h.work, "worker")
	h.printf("(6) memory: building the worker binary")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the worker: %w", err)
	}
	ref, err := h.drain(ctx, bin, h.o.sizes.BacklogRef)
	if err != nil {
		return err
	}
	big, err := h.drain(ctx, bin, h.o.sizes.Backlog)
	if err != nil {
		return err
	}
	r.Memory = MemoryResult{
		Backlog: h.o.sizes.Backlog, PeakHeapMiB: big.heap, PeakRSSMiB: big.rss, DrainRate: big.rate,
		BacklogRef: h.o.sizes.BacklogRef, RefPeakHeapMiB: ref.heap, RefPeakRSSMiB: ref.rss,
		HeapGrowth: big.heap / ref.heap, RSSGrowth: big.rss / ref.rss,
	}
	return nil
}

type drainResult struct{ heap, rss, rate float64 }

func (h *harness) drain(ctx context.Context, bin string, n int) (drainResult, error) {
	var out drainResult
	e, err := h.newEnv(sfsim.Faults{})
	if err != nil {
		return out, err
	}
	defer e.close()
	if err := ensureStreams(ctx, e.nc); err != nil {
		return out, err
	}
	h.printf("(6) memory: publishing a backlog of %d records", n)
	data, err := payloads(n, 10_000)
	if err != nil {
		return out, err
	}
	if err := e.publish(ctx, fmt.Sprintf("backlog-%d", n), data); err != nil {
		return out, err
	}
	_, pipelinesFile, err := e.pipelines(perWorkerCalls)
	if err != nil {
		return out, err
	}
	port, err := freePort()
	if err != nil {
		return out, err
	}
	sf := e.sim.SalesforceConfig()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"NATS_URL="+e.nats.ClientURL(),
		"KINETIC_PIPELINES="+pipelinesFile,
		"KINETIC_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"KINETIC_LOG_LEVEL=warn",
		"SF_LOGIN_URL="+sf.LoginURL, "SF_ALLOW_HTTP=true", "SF_CLIENT_ID="+sf.ClientID, "SF_USERNAME="+sf.Username, "SF_PRIVATE_KEY="+sf.PrivateKey,
	)
	cmd.Stderr = os.Stderr
	h.printf("(6) memory: one worker process drains it")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return out, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	stream, err := e.js.Stream(ctx, messages.Topology{}.WithDefaults().RecordsStream())
	if err != nil {
		return out, err
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
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
	if rss, ok := peakRSS(cmd.Process.Pid); ok {
		out.rss = rss
	}
	h.printf("    backlog %d: peak heap %.1f MiB, peak RSS %.1f MiB, drained at %.0f records/s", n, out.heap, out.rss, out.rate)
	return out, nil
}

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
