package testutil_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/testutil"
)

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	testutil.WaitFor(t, 10*time.Second, "three polls", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Errorf("cond evaluated %d times, want 3 (WaitFor must stop polling once it holds)", got)
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	failed atomic.Bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed.Store(true)
	r.msg = format
}

func TestWaitForFailsAfterTheTimeout(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	start := time.Now()
	testutil.WaitFor(r, 50*time.Millisecond, "never", func() bool { return false })
	if !r.failed.Load() {
		t.Fatal("WaitFor did not fail on a condition that never holds")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("WaitFor gave up after %v, before its 50ms timeout", d)
	}
}
