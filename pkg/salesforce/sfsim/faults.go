package sfsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	// LatencyP50 and LatencyP99, both set, add a log-normal delay per data
	// call with that median and 99th percentile (mu = ln P50, sigma =
	// (ln P99 − ln P50) / 2.326), drawn from the seeded RNG. Both zero: off.
	LatencyP50 time.Duration
	LatencyP99 time.Duration
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

	// Bulk API 2.0 processing time (all zero: a job is processed as soon as
	// it is closed). A closed job waits BulkQueueDelay in UploadComplete,
	// then runs InProgress: its internal batches (Config.BulkBatchSize rows)
	// take BulkBatchOverhead plus BulkPerRecord per row each, at most
	// BulkParallelism (default 1 when a duration is set) at a time; a
	// batch's rows are applied, and counted in numberRecordsProcessed, when
	// it completes.
	BulkQueueDelay    time.Duration
	BulkBatchOverhead time.Duration
	BulkPerRecord     time.Duration
	BulkParallelism   int
}

// bulkTimed reports whether the Bulk timing model is on.
func (f Faults) bulkTimed() bool {
	return f.BulkQueueDelay > 0 || f.BulkBatchOverhead > 0 || f.BulkPerRecord > 0
}

// Published figures behind RealisticFaults (docs/performance.md,
// "Simulator models").
const (
	// RealisticLatencyP50 and RealisticLatencyP99 are the per-call
	// latency of a Collections or single-record call; RealisticPerRecord
	// is added per record (a 200-record call: about 0.8 s at the median).
	RealisticLatencyP50 = 300 * time.Millisecond
	RealisticLatencyP99 = 2 * time.Second
	RealisticPerRecord  = 2500 * time.Microsecond
	// RealisticLockRowRate and RealisticRate503 are the shares of records
	// failing UNABLE_TO_LOCK_ROW and of calls answered 503.
	RealisticLockRowRate = 0.05
	RealisticRate503     = 0.01
	// Bulk API 2.0: queueing, per-batch overhead, per-row time and
	// parallel batches.
	RealisticBulkQueueDelay    = 5 * time.Second
	RealisticBulkBatchOverhead = 2 * time.Second
	RealisticBulkPerRecord     = 700 * time.Microsecond
	RealisticBulkParallelism   = 4
)

// RealisticFaults is the "realistic" preset: log-normal call latency with a
// per-record time, 5% of records failing UNABLE_TO_LOCK_ROW, 1% of calls
// answered 503, and Bulk API jobs that queue and take time.
func RealisticFaults() Faults {
	return Faults{LatencyP50: RealisticLatencyP50, LatencyP99: RealisticLatencyP99, LatencyPerRecord: RealisticPerRecord,
		LockRowRate: RealisticLockRowRate, Rate503: RealisticRate503,
		BulkQueueDelay: RealisticBulkQueueDelay, BulkBatchOverhead: RealisticBulkBatchOverhead,
		BulkPerRecord: RealisticBulkPerRecord, BulkParallelism: RealisticBulkParallelism}
}

// FaultsPreset returns the named preset: "none" (the zero Faults) or
// "realistic" (RealisticFaults).
func FaultsPreset(name string) (Faults, error) {
	switch name {
	case "", "none":
		return Faults{}, nil
	case "realistic":
		return RealisticFaults(), nil
	}
	return Faults{}, fmt.Errorf("sfsim: unknown faults preset %q (want none or realistic)", name)
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
	if f.Latency < 0 || f.LatencyPerRecord < 0 || f.Jitter < 0 || f.LatencyP50 < 0 || f.LatencyP99 < 0 ||
		f.BulkQueueDelay < 0 || f.BulkBatchOverhead < 0 || f.BulkPerRecord < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if (f.LatencyP50 > 0) != (f.LatencyP99 > 0) || f.LatencyP99 < f.LatencyP50 {
		errs = append(errs, errors.New("LatencyP50 and LatencyP99 are set together, with LatencyP99 ≥ LatencyP50"))
	}
	if f.BulkParallelism < 0 {
		errs = append(errs, errors.New("BulkParallelism must not be negative"))
	}
	if f.SessionExpiryEvery < 0 || f.SessionExpiryEvery == 1 {
		errs = append(errs, errors.New("SessionExpiryEvery must be 0 (off) or at least 2"))
	}
	return errors.Join(errs...)
}

// faultsJSON is the admin API form of Faults: durations as Go strings.
type faultsJSON struct {
	Latency            string  `json:"latency"`
	LatencyP50         string  `json:"latency_p50"`
	LatencyP99         string  `json:"latency_p99"`
	LatencyPerRecord   string  `json:"latency_per_record"`
	Jitter             string  `json:"jitter"`
	Rate503            float64 `json:"rate_503"`
	Rate503AfterCommit float64 `json:"rate_503_after_commit"`
	LockRowRate        float64 `json:"lock_row_rate"`
	SessionExpiryEvery int     `json:"session_expiry_every"`
	BulkQueueDelay     string  `json:"bulk_queue_delay"`
	BulkBatchOverhead  string  `json:"bulk_batch_overhead"`
	BulkPerRecord      string  `json:"bulk_per_record"`
	BulkParallelism    int     `json:"bulk_parallelism"`
	// Preset ("realistic"), when given in a PUT, is the base the other
	// keys change.
	Preset string `json:"preset,omitempty"`
}

// MarshalJSON writes durations as Go duration strings ("200ms").
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency: f.Latency.String(), LatencyP50: f.LatencyP50.String(), LatencyP99: f.LatencyP99.String(),
		LatencyPerRecord: f.LatencyPerRecord.String(), Jitter: f.Jitter.String(),
		Rate503: f.Rate503, Rate503AfterCommit: f.Rate503AfterCommit, LockRowRate: f.LockRowRate,
		SessionExpiryEvery: f.SessionExpiryEvery, BulkQueueDelay: f.BulkQueueDelay.String(),
		BulkBatchOverhead: f.BulkBatchOverhead.String(), BulkPerRecord: f.BulkPerRecord.String(),
		BulkParallelism: f.BulkParallelism,
	})
}

// UnmarshalJSON reads the form MarshalJSON writes; absent keys are zero,
// or the preset's value when "preset" names one.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out, err := FaultsPreset(j.Preset)
	if err != nil {
		return err
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(b, &present); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"latency", j.Latency, &out.Latency}, {"latency_p50", j.LatencyP50, &out.LatencyP50},
		{"latency_p99", j.LatencyP99, &out.LatencyP99}, {"latency_per_record", j.LatencyPerRecord, &out.LatencyPerRecord},
		{"jitter", j.Jitter, &out.Jitter}, {"bulk_queue_delay", j.BulkQueueDelay, &out.BulkQueueDelay},
		{"bulk_batch_overhead", j.BulkBatchOverhead, &out.BulkBatchOverhead}, {"bulk_per_record", j.BulkPerRecord, &out.BulkPerRecord}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		*d.dst = v
	}
	set := func(name string, dst *float64, v float64) {
		if _, ok := present[name]; ok {
			*dst = v
		}
	}
	set("rate_503", &out.Rate503, j.Rate503)
	set("rate_503_after_commit", &out.Rate503AfterCommit, j.Rate503AfterCommit)
	set("lock_row_rate", &out.LockRowRate, j.LockRowRate)
	if _, ok := present["session_expiry_every"]; ok {
		out.SessionExpiryEvery = j.SessionExpiryEvery
	}
	if _, ok := present["bulk_parallelism"]; ok {
		out.BulkParallelism = j.BulkParallelism
	}
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

// z99 is the standard normal quantile of 0.99.
const z99 = 2.3263478740408408

// logNormal returns mu and sigma of the log-normal with median p50 and 99th
// percentile p99 (in nanoseconds).
func logNormal(p50, p99 time.Duration) (mu, sigma float64) {
	mu = math.Log(float64(p50))
	return mu, (math.Log(float64(p99)) - mu) / z99
}

// latency returns the delay of a call carrying n records (n may be
// fractional: bulk rows count 1/1000 each): the fixed latency, the
// log-normal draw when LatencyP50/P99 are set, the per-record time, then
// the jitter.
func (fs *faultState) latency(f Faults, records float64) time.Duration {
	d := f.Latency + time.Duration(float64(f.LatencyPerRecord)*records)
	if f.LatencyP50 > 0 {
		mu, sigma := logNormal(f.LatencyP50, f.LatencyP99)
		fs.mu.Lock()
		z := fs.rng.NormFloat64()
		fs.mu.Unlock()
		d += time.Duration(math.Exp(mu + sigma*z))
	}
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
