package testutil

import (
	"testing"
	"time"
)

// pollInterval is how often WaitFor evaluates its condition: short enough not
// to slow tests down, long enough not to starve the code under test on a
// busy two-core machine.
const pollInterval = 10 * time.Millisecond

// WaitFor polls cond until it returns true and fails the test if it has not
// within timeout. what names the awaited event in the failure message
// ("timed out after 10s waiting for <what>"). cond runs on the test's
// goroutine and should not block.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if cond() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			if cond() {
				return
			}
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
			return // for a testing.TB whose Fatalf returns
		case <-tick.C:
			if cond() {
				return
			}
		}
	}
}
