// Package clock holds Kinetic's one context-aware sleep. Product code waits
// through it, or through a timer in a select, and never with time.Sleep:
// every wait ends as soon as its context does, so a stopping worker, a
// cancelled Sync or a client gone from the simulator never waits out a
// backoff. Tests that need to control time inject their own sleep where the
// code takes one (sfsim.Config.Sleep) or replace the backoff schedules.
package clock

import (
	"context"
	"time"
)

// Sleep waits d or until ctx ends, whichever comes first; it returns
// ctx.Err() if ctx ended first (or had already ended), nil otherwise. A d of
// zero or less does not wait.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
