package worker

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// The worker's retry schedules, as backoff.BackOff values: Options holds a
// constructor for each, so tests inject schedules that do not wait, and
// the production ones below are tested as they are (TestDefaultSchedules
// in decide_internal_test.go).

// exponential is initial doubling up to maxInterval, ±jitter, forever.
func exponential(initial, maxInterval time.Duration, jitter float64) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.Multiplier, b.RandomizationFactor = initial, 2, jitter
	b.MaxInterval, b.MaxElapsedTime = maxInterval, 0
	b.Reset()
	return b
}

// DefaultSetupBackOff spaces set-up attempts while the cluster is not
// ready: 500ms doubling up to 10s, ±20%, without end.
func DefaultSetupBackOff() backoff.BackOff {
	return exponential(500*time.Millisecond, 10*time.Second, 0.2)
}

// DefaultStoreBackOff spaces attempts to store a batch result while the
// results stream cannot (an election): 1s doubling up to 10s, ±20%.
func DefaultStoreBackOff() backoff.BackOff { return exponential(time.Second, 10*time.Second, 0.2) }

// DefaultHoldBackOff spaces in-place retries of a held write: 1s doubling
// up to 30s, ±20%, without end (an outage pauses, it never fails a record;
// a keyed record's retryable error has MaxDeliver attempts).
func DefaultHoldBackOff() backoff.BackOff { return exponential(time.Second, 30*time.Second, 0.2) }

// DefaultNakBackOff gives the redelivery delay of an unkeyed record that
// failed with a retryable error: 2s doubling per delivery up to 2m, ±20%.
func DefaultNakBackOff() backoff.BackOff { return exponential(2*time.Second, 2*time.Minute, 0.2) }

// DefaultFetchBackOff spaces fetches after a failed one (NATS unreachable,
// a consumer leader election): 200ms doubling up to 5s, ±20%.
func DefaultFetchBackOff() backoff.BackOff {
	return exponential(200*time.Millisecond, 5*time.Second, 0.2)
}

// nth is the n-th delay (1-based) of a fresh schedule.
func nth(newBackOff func() backoff.BackOff, n int) time.Duration {
	b := newBackOff()
	var d time.Duration
	for range max(n, 1) {
		d = b.NextBackOff()
	}
	return max(d, 0)
}

// retryUntil calls op until it succeeds, returns a backoff.Permanent error
// or ctx ends, waiting as b says between tries; notify hears of each
// failure that will be retried. When ctx ends it returns op's last error,
// which says more than ctx's.
func retryUntil(ctx context.Context, b backoff.BackOff, op func() error, notify func(err error, wait time.Duration)) error {
	var last error
	err := backoff.RetryNotify(func() error {
		last = op()
		return last
	}, backoff.WithContext(b, ctx), notify)
	if err != nil && ctx.Err() != nil && last != nil {
		return last
	}
	return err
}
