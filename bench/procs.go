package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// workerBinary builds cmd/worker once per run into the harness's temporary
// directory.
func (h *harness) workerBinary(ctx context.Context) (string, error) {
	if h.workerBin != "" {
		return h.workerBin, nil
	}
	bin := filepath.Join(h.work, "worker")
	h.printf("building cmd/worker")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building the worker: %w", err)
	}
	h.workerBin = bin
	return bin, nil
}

// proc is a child process of the harness: a worker replica or the baseline
// loader.
type proc struct {
	cmd         *exec.Cmd
	metricsPort int
}

func sfEnv(sf salesforce.Config) []string {
	return []string{"SF_LOGIN_URL=" + sf.LoginURL, "SF_ALLOW_HTTP=true", "SF_CLIENT_ID=" + sf.ClientID,
		"SF_USERNAME=" + sf.Username, "SF_PRIVATE_KEY=" + sf.PrivateKey}
}

// startWorkerProcs starts n worker processes with concurrency calls each and
// waits until every one answers /readyz.
func (h *harness) startWorkerProcs(ctx context.Context, natsURL string, sf salesforce.Config, pipelinesFile string, n, concurrency int, extraEnv ...string) ([]*proc, error) {
	bin, err := h.workerBinary(ctx)
	if err != nil {
		return nil, err
	}
	var ps []*proc
	for i := range n {
		port, err := freePort()
		if err != nil {
			stopProcs(ps)
			return nil, err
		}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(),
			"NATS_URL="+natsURL,
			"KINETIC_PIPELINES="+pipelinesFile,
			"KINETIC_CONCURRENCY="+strconv.Itoa(concurrency),
			"KINETIC_WORKER_ID="+fmt.Sprintf("bench-%d", i+1),
			"KINETIC_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port),
			"KINETIC_LOG_LEVEL=warn",
		)
		cmd.Env = append(cmd.Env, sfEnv(sf)...)
		cmd.Env = append(cmd.Env, extraEnv...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stopProcs(ps)
			return nil, err
		}
		ps = append(ps, &proc{cmd: cmd, metricsPort: port})
	}
	for _, p := range ps {
		if err := waitReady(ctx, p.metricsPort); err != nil {
			stopProcs(ps)
			return nil, err
		}
	}
	return ps, nil
}

func waitReady(ctx context.Context, port int) error {
	c := http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("worker on port %d not ready in 60s", port)
}

// stopProcs sends SIGTERM to each process and waits (30 s, then kills it).
func stopProcs(ps []*proc) {
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range ps {
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
}

// procCPU is a running process's user+sys CPU time so far, from
// /proc/<pid>/stat (utime and stime, in clock ticks of 1/100 s).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, true
}

func procsCPU(ps []*proc) time.Duration {
	var sum time.Duration
	for _, p := range ps {
		if c, ok := procCPU(p.cmd.Process.Pid); ok {
			sum += c
		}
	}
	return sum
}

// selfCPU is this process's user+sys CPU time so far (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perMillion is CPU seconds per million records.
func perMillion(cpu time.Duration, n int) float64 { return cpu.Seconds() / float64(n) * 1e6 }
