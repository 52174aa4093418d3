package sfsim

import "sync/atomic"

// Limits are the API limits in force, changeable at run time.
type Limits struct {
	// DailyAPILimit is the LIMIT of api-usage=N/LIMIT.
	DailyAPILimit int `json:"daily_api_limit"`
	// ConcurrentLimit bounds the data calls in flight (0 = unlimited).
	ConcurrentLimit int `json:"concurrent_limit"`
	// APIUsage is N of api-usage=N/LIMIT: the data calls counted so far.
	APIUsage int64 `json:"api_usage"`
}

// limitState tracks usage and in-flight calls with atomics.
type limitState struct {
	daily      atomic.Int64
	concurrent atomic.Int64
	usage      atomic.Int64
	inFlight   atomic.Int64
}

func newLimitState(daily, concurrent int) *limitState {
	l := &limitState{}
	l.daily.Store(int64(daily))
	l.concurrent.Store(int64(concurrent))
	return l
}

func (l *limitState) get() Limits {
	return Limits{DailyAPILimit: int(l.daily.Load()), ConcurrentLimit: int(l.concurrent.Load()), APIUsage: l.usage.Load()}
}

func (l *limitState) set(v Limits) {
	l.setLimits(v)
	l.usage.Store(v.APIUsage)
}

func (l *limitState) setLimits(v Limits) {
	l.daily.Store(int64(v.DailyAPILimit))
	l.concurrent.Store(int64(v.ConcurrentLimit))
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
