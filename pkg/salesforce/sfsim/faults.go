package sfsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Faults are injected into data calls (every authenticated call under
// /services/data/vNN.0/). The token endpoint, the version list and the admin
// API are never faulted.
type Faults struct {
	// Latency is added to every data call.
	Latency time.Duration
	// LatencyPerRecord is added per record of the call: records of a
	// collections call, 1 for a single-record write, rows/1000 of a bulk
	// upload.
	LatencyPerRecord time.Duration
	// Jitter adds a uniform random duration in [-Jitter, +Jitter] to the
	// sum (never going below zero). It applies only when there is latency.
	Jitter time.Duration
	// Rate503 is the share of data calls answered 503 SERVER_UNAVAILABLE
	// before doing anything.
	Rate503 float64
	// Rate503AfterCommit is the share of data calls answered 503 after the
	// work was done (a lost response).
	Rate503AfterCommit float64
	// LockRowRate is the share of records failing UNABLE_TO_LOCK_ROW (and
	// not applied), in collections, single-record writes and bulk rows.
	LockRowRate float64
	// SessionExpiryEvery makes every N-th data call (counting every call
	// with a valid session) find all sessions expired: it answers 401
	// INVALID_SESSION_ID and every token issued so far stops working.
	// 0 turns it off; 1 is refused (no call could succeed).
	SessionExpiryEvery int
}

func (f Faults) validate() error {
	var errs []error
	rate := func(name string, v float64) {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%s is %v, want 0..1", name, v))
		}
	}
	rate("Rate503", f.Rate503)
	rate("Rate503AfterCommit", f.Rate503AfterCommit)
	rate("LockRowRate", f.LockRowRate)
	if f.Latency < 0 || f.LatencyPerRecord < 0 || f.Jitter < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if f.SessionExpiryEvery < 0 || f.SessionExpiryEvery == 1 {
		errs = append(errs, errors.New("SessionExpiryEvery must be 0 (off) or at least 2"))
	}
	return errors.Join(errs...)
}

// faultsJSON is the admin API form of Faults: durations as Go strings.
type faultsJSON struct {
	Latency            string  `json:"latency"`
	LatencyPerRecord   string  `json:"latency_per_record"`
	Jitter             string  `json:"jitter"`
	Rate503            float64 `json:"rate_503"`
	Rate503AfterCommit float64 `json:"rate_503_after_commit"`
	LockRowRate        float64 `json:"lock_row_rate"`
	SessionExpiryEvery int     `json:"session_expiry_every"`
}

// MarshalJSON writes durations as Go duration strings ("200ms").
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency: f.Latency.String(), LatencyPerRecord: f.LatencyPerRecord.String(), Jitter: f.Jitter.String(),
		Rate503: f.Rate503, Rate503AfterCommit: f.Rate503AfterCommit, LockRowRate: f.LockRowRate,
		SessionExpiryEvery: f.SessionExpiryEvery,
	})
}

// UnmarshalJSON reads the form MarshalJSON writes; absent keys are zero.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	var out Faults
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"latency", j.Latency, &out.Latency}, {"latency_per_record", j.LatencyPerRecord, &out.LatencyPerRecord}, {"jitter", j.Jitter, &out.Jitter}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		*d.dst = v
	}
	out.Rate503, out.Rate503AfterCommit, out.LockRowRate = j.Rate503, j.Rate503AfterCommit, j.LockRowRate
	out.SessionExpiryEvery = j.SessionExpiryEvery
	*f = out
	return nil
}

// faultState holds the current faults and the one seeded RNG.
type faultState struct {
	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand
	seed   int64
}

func newFaultState(f Faults, seed int64) *faultState {
	fs := &faultState{faults: f, seed: seed}
	fs.rng = newRNG(seed)
	return fs
}

func newRNG(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

func (fs *faultState) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.faults
}

func (fs *faultState) set(f Faults) {
	fs.mu.Lock()
	fs.faults = f
	fs.mu.Unlock()
}

// reset restores f and re-seeds the RNG, so a reset org replays the same
// random choices.
func (fs *faultState) reset(f Faults) {
	fs.mu.Lock()
	fs.faults = f
	fs.rng = newRNG(fs.seed)
	fs.mu.Unlock()
}

// chance draws one random choice with probability p. p of 0 or 1 draws nothing.
func (fs *faultState) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	fs.mu.Lock()
	hit := fs.rng.Float64() < p
	fs.mu.Unlock()
	return hit
}

// latency returns the delay of a call carrying n records (n may be
// fractional: bulk rows count 1/1000 each).
func (fs *faultState) latency(f Faults, records float64) time.Duration {
	d := f.Latency + time.Duration(float64(f.LatencyPerRecord)*records)
	if d <= 0 {
		return 0
	}
	if f.Jitter > 0 {
		fs.mu.Lock()
		j := time.Duration(fs.rng.Int64N(int64(2*f.Jitter)+1)) - f.Jitter
		fs.mu.Unlock()
		d += j
		if d < 0 {
			d = 0
		}
	}
	return d
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
