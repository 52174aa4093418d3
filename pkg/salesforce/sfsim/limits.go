package sfsim

import (
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the API limits in force, changeable at run time.
type Limits struct {
	// DailyAPILimit is the LIMIT of api-usage=N/LIMIT.
	DailyAPILimit int `json:"daily_api_limit"`
	// ConcurrentLimit bounds the data calls in flight (0 = unlimited).
	ConcurrentLimit int `json:"concurrent_limit"`
	// LongRunningLimit is Salesforce's concurrent long-running request
	// limit: when that many data calls have each been running for at least
	// Config.LongRunningAfter (20 s), a new call answers 403
	// REQUEST_LIMIT_EXCEEDED (0 = off; Salesforce: 25, 5 on Developer
	// Edition).
	LongRunningLimit int `json:"long_running_limit"`
	// APIUsage is N of api-usage=N/LIMIT: the data calls counted so far.
	APIUsage int64 `json:"api_usage"`
}

// limitState tracks usage and in-flight calls with atomics.
type limitState struct {
	daily      atomic.Int64
	concurrent atomic.Int64
	usage      atomic.Int64
	inFlight   atomic.Int64

	longLimit atomic.Int64
	longAfter time.Duration
	mu        sync.Mutex
	started   map[uint64]time.Time // data calls in flight by token, with their start
	nextTok   uint64
}

func newLimitState(daily, concurrent, long int, longAfter time.Duration) *limitState {
	l := &limitState{longAfter: longAfter, started: map[uint64]time.Time{}}
	l.daily.Store(int64(daily))
	l.concurrent.Store(int64(concurrent))
	l.longLimit.Store(int64(long))
	return l
}

// admit registers a data call starting at now, unless LongRunningLimit calls
// have each been running for at least longAfter (Salesforce counts the
// requests that have run 20 s or more when a new one arrives: a call cannot
// know how long it will run). The token releases it.
func (l *limitState) admit(now time.Time) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim := l.longLimit.Load(); lim > 0 {
		long := int64(0)
		for _, st := range l.started {
			if now.Sub(st) >= l.longAfter {
				long++
			}
		}
		if long >= lim {
			return 0, false
		}
	}
	l.nextTok++
	l.started[l.nextTok] = now
	return l.nextTok, true
}

// leave releases a call admitted with tok.
func (l *limitState) leave(tok uint64) {
	l.mu.Lock()
	delete(l.started, tok)
	l.mu.Unlock()
}

func (l *limitState) get() Limits {
	return Limits{DailyAPILimit: int(l.daily.Load()), ConcurrentLimit: int(l.concurrent.Load()),
		LongRunningLimit: int(l.longLimit.Load()), APIUsage: l.usage.Load()}
}

func (l *limitState) set(v Limits) {
	l.setLimits(v)
	l.usage.Store(v.APIUsage)
}

func (l *limitState) setLimits(v Limits) {
	l.daily.Store(int64(v.DailyAPILimit))
	l.concurrent.Store(int64(v.ConcurrentLimit))
	l.longLimit.Store(int64(v.LongRunningLimit))
}

// acquire counts one call in flight; false when that exceeds the limit (the
// count is then undone).
func (l *limitState) acquire() bool {
	n := l.inFlight.Add(1)
	if c := l.concurrent.Load(); c > 0 && n > c {
		l.inFlight.Add(-1)
		return false
	}
	return true
}

func (l *limitState) release() { l.inFlight.Add(-1) }

// spend counts one API request; false when the daily limit was already
// reached (nothing is counted then).
func (l *limitState) spend() bool {
	for {
		u := l.usage.Load()
		if u >= l.daily.Load() {
			return false
		}
		if l.usage.CompareAndSwap(u, u+1) {
			return true
		}
	}
}

// appendLimitInfo appends the Sforce-Limit-Info value.
func (l *limitState) appendLimitInfo(b []byte) []byte {
	b = append(b, "api-usage="...)
	b = appendInt(b, l.usage.Load())
	b = append(b, '/')
	return appendInt(b, l.daily.Load())
}
