package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. It gives goroutines a few seconds
// to end first: Inspector.List returns while the fetch it started is still
// waiting out its expiry (see TestListLeavesNoFetchRunning in
// pkg/deadletter), a goroutine that ends on its own within two seconds.
// A goroutine still there after five seconds is a leak.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runDemo(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// The whole flow on the example data: 2,000 accounts (8 designed to fail)
// and 500 contacts (3 designed to fail).
func TestDemo(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	code, stdout, stderr := runDemo(t, "--examples", "../../examples", "--latency", "0s", "--out-dir", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"SyncResult(status=partial, total=2000, success=1992, errors=8, skipped=0",
		"1992 loaded, 8 dead-lettered, 0 skipped",
		"SyncResult(status=partial, total=500, success=497, errors=3, skipped=0",
		"497 loaded, 3 dead-lettered, 0 skipped",
		"11 dead letters in total",
		"Account      1992 records",
		"Contact      497 records",
		"== done; result files in " + out,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output does not contain %q:\n%s", want, stdout)
		}
	}
	// Each dead letter is listed with its pipeline and code.
	listed := regexp.MustCompile(`(?m)^\s+#\d+\s+(accounts|contacts)\s+seq \d+\s+[A-Z_]+`).FindAllString(stdout, -1)
	if len(listed) != 11 {
		t.Errorf("%d dead letters listed, want 11:\n%s", len(listed), stdout)
	}
	// Two jobs, a success and an error file each; the error files hold the failures.
	success, _ := filepath.Glob(filepath.Join(out, "success-*.csv"))
	errs, _ := filepath.Glob(filepath.Join(out, "error-*.csv"))
	if len(success) != 2 || len(errs) != 2 {
		t.Fatalf("result files %v %v", success, errs)
	}
	failures := 0
	for _, f := range errs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		failures += strings.Count(strings.TrimSpace(string(b)), "\n") // rows after the header
	}
	if failures != 11 {
		t.Errorf("%d rows in the error files, want 11", failures)
	}
}

func TestDemoUsage(t *testing.T) {
	t.Parallel()
	if code, _, stderr := runDemo(t, "--workers", "0"); code != 2 || !strings.Contains(stderr, "--workers must be at least 1") {
		t.Errorf("--workers 0: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runDemo(t, "--bogus"); code != 2 || !strings.Contains(stderr, "bogus") {
		t.Errorf("--bogus: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runDemo(t, "--help"); code != 0 || !strings.Contains(stderr, "-examples") || !strings.Contains(stderr, "-latency") {
		t.Errorf("--help: exit %d, %q", code, stderr)
	}
	// A missing examples directory fails cleanly, before starting anything.
	code, _, stderr := runDemo(t, "--examples", filepath.Join(t.TempDir(), "nowhere"))
	if code != 1 || !strings.Contains(stderr, "pipelines.yaml") {
		t.Errorf("missing examples: exit %d, %q", code, stderr)
	}
}
