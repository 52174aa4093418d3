package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Job-level stop_on_error. A record published with Kinetic-Stop-On-Error
// belongs to a job that stops at its first failure: the first record of the
// job to be dead-lettered writes job.<id>.stopped to the state bucket, and
// every replica then skips the job's records it has not loaded yet
// (acknowledged and reported as skipped, never sent to Salesforce). Records
// already being loaded when the flag is written finish: "stop" is prompt,
// not instantaneous, across replicas.

func jobStopKey(job string) string { return "job." + job + ".stopped" }

// jobStops caches stop flags briefly, so a replica reads each job's flag at
// most once per jobStopTTL however many fetches bring its records.
type jobStops struct {
	mu   sync.Mutex
	seen map[string]jobStopSeen
}

type jobStopSeen struct {
	stopped bool
	at      time.Time
}

const jobStopTTL = 500 * time.Millisecond

// applyJobStops skips the records of jobs that have stopped, and the
// records after a failure of their job within these entries.
func (r *runner) applyJobStops(entries []*entry) {
	stopped := map[string]bool{}
	for _, e := range entries {
		if !e.meta.StopOnError || e.meta.Job == "" {
			continue
		}
		job := e.meta.Job
		isStopped, seen := stopped[job]
		if !seen {
			isStopped = r.w.jobStopped(job)
			stopped[job] = isStopped
		}
		switch {
		case isStopped:
			e.v = decide(situation{final: true, skipped: true}, r.schedules())
		case e.v.kind == vDeadLetter:
			// This record fails before reaching Salesforce: the job's later
			// records here are skipped.
			stopped[job] = true
		}
	}
}

func (w *Worker) jobStopped(job string) bool {
	w.stops.mu.Lock()
	if s, ok := w.stops.seen[job]; ok && (s.stopped || time.Since(s.at) < jobStopTTL) {
		w.stops.mu.Unlock()
		return s.stopped
	}
	w.stops.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	_, err := w.state.Get(ctx, jobStopKey(job))
	stopped := err == nil
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		w.log.Warn().Err(err).Str("job", job).Msg("reading job stop flag failed; not skipping")
	}
	w.stops.mu.Lock()
	if w.stops.seen == nil || len(w.stops.seen) > 10_000 {
		w.stops.seen = map[string]jobStopSeen{}
	}
	w.stops.seen[job] = jobStopSeen{stopped: stopped, at: time.Now()}
	w.stops.mu.Unlock()
	return stopped
}

// recordJobStops writes the stop flag of every stop-on-error job that has a
// record dead-lettered among entries (whose dead letters are stored).
func (r *runner) recordJobStops(ctx context.Context, entries []*entry) {
	done := map[string]bool{}
	for _, e := range entries {
		if e.v.kind != vDeadLetter || !e.meta.StopOnError || e.meta.Job == "" || done[e.meta.Job] {
			continue
		}
		done[e.meta.Job] = true
		if _, err := r.w.state.Create(ctx, jobStopKey(e.meta.Job), []byte(r.w.cfg.ID)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			r.log.Warn().Err(err).Str("job", e.meta.Job).Msg("writing job stop flag failed")
		} else {
			r.log.Info().Str("job", e.meta.Job).Str("sf_code", e.v.code).Msg("job stopped on error: its remaining records will be skipped")
		}
		r.w.stops.mu.Lock()
		if r.w.stops.seen != nil {
			r.w.stops.seen[e.meta.Job] = jobStopSeen{stopped: true, at: time.Now()}
		}
		r.w.stops.mu.Unlock()
	}
}
