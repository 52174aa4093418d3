package pipeline

import (
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// RetryPolicy says how the loader retries. The zero value takes every default.
type RetryPolicy struct {
	// CallAttempts is how many times one Collections call (or Bulk job) is
	// tried when it fails as a whole with a transient error (timeout,
	// connection reset, HTTP 5xx) or a session that stayed expired.
	// Default 6; negative: until the context ends (the worker: an outage
	// pauses a pipeline, it never fails a record).
	CallAttempts int
	// RecordAttempts is how many times a record failing with a retryable
	// record error (UNABLE_TO_LOCK_ROW) is sent; only the failed records go
	// again. Default 5. The worker uses 1 and lets JetStream redeliver.
	RecordAttempts int
	// RateLimitWait is how long to keep waiting while Salesforce answers
	// REQUEST_LIMIT_EXCEEDED before giving up on the records; a negative
	// value waits until the context ends. Default 10m. The worker waits
	// without limit: a rate limit pauses the pipeline, it never dead-letters.
	RateLimitWait time.Duration
	// AuthWait is how long to keep trying while Salesforce refuses to
	// authenticate (invalid_grant …): 0 fails at once (Sync), negative waits
	// until the context ends (the worker: a refused login pauses the
	// pipeline and makes the worker unready; it never dead-letters).
	AuthWait time.Duration
	// NewBackOff returns the pause schedule between attempts. Default:
	// exponential from 100ms, ×2, up to 5s, ±50% jitter. Tests pass one that
	// does not sleep.
	NewBackOff func() backoff.BackOff
	// NewRateLimitBackOff is the schedule while rate limited. Default:
	// exponential from 1s up to 30s, ±50% jitter.
	NewRateLimitBackOff func() backoff.BackOff
}

// WithDefaults fills unset fields.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.CallAttempts == 0 {
		p.CallAttempts = 6
	}
	if p.RecordAttempts <= 0 {
		p.RecordAttempts = 5
	}
	if p.RateLimitWait == 0 {
		p.RateLimitWait = 10 * time.Minute
	}
	if p.NewBackOff == nil {
		p.NewBackOff = func() backoff.BackOff {
			return exponential(100*time.Millisecond, 5*time.Second)
		}
	}
	if p.NewRateLimitBackOff == nil {
		p.NewRateLimitBackOff = func() backoff.BackOff {
			return exponential(time.Second, 30*time.Second)
		}
	}
	return p
}

// Decide is the policy's Decision after a failed attempt (the default
// StreamOptions.Decide): a transient call failure is retried up to
// CallAttempts, a rate limit waited out up to RateLimitWait, a refused
// login up to AuthWait, a retryable record error retried up to
// RecordAttempts; anything else fails.
func (p RetryPolicy) Decide(f Failure) Decision {
	retry := func(d time.Duration) Decision { return Decision{Action: Retry, After: d} }
	waited := time.Since(f.Since)
	switch f.Class {
	case salesforce.ClassTransient, salesforce.ClassSessionExpired:
		if p.CallAttempts > 0 && f.CallFails >= p.CallAttempts {
			break
		}
		return retry(backoffAt(p.NewBackOff, f.CallFails))
	case salesforce.ClassRateLimited:
		if p.RateLimitWait > 0 && waited >= p.RateLimitWait {
			break
		}
		return retry(backoffAt(p.NewRateLimitBackOff, int(waited/time.Second)+1))
	case salesforce.ClassAuth:
		if p.AuthWait == 0 || (p.AuthWait > 0 && waited >= p.AuthWait) {
			break
		}
		return retry(backoffAt(p.NewRateLimitBackOff, f.CallFails))
	case salesforce.ClassRetryableRecord:
		if f.Answers < p.RecordAttempts {
			return retry(backoffAt(p.NewBackOff, f.Answers))
		}
	}
	return Decision{Action: Fail}
}

// NoWait returns a policy that retries like p but never sleeps, for tests.
func (p RetryPolicy) NoWait() RetryPolicy {
	p.NewBackOff = func() backoff.BackOff { return &backoff.ZeroBackOff{} }
	p.NewRateLimitBackOff = p.NewBackOff
	return p
}

func exponential(initial, max time.Duration) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxElapsedTime = 0 // attempts and contexts bound the retrying
	b.Reset()
	return b
}
