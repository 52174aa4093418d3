package worker

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// Job-level stop_on_error. A record published with Kinetic-Stop-On-Error
// belongs to a job that stops at its first failure: the first record of the
// job to be dead-lettered writes job.<id>.stopped to the state bucket, and
// every replica then skips the job's records it has not loaded yet
// (acknowledged and reported as skipped, never sent to Salesforce). Records
// already being loaded by other replicas when the flag is written finish.

func jobStopKey(job string) string { return "job." + job + ".stopped" }

// applyJobStops skips the records of jobs that have stopped, including
// records after the first failure of their job within this batch.
func (r *runner) applyJobStops(ctx context.Context, entries []*entry) {
	stopped := map[string]bool{}
	for _, e := range entries {
		if !e.meta.StopOnError || e.meta.Job == "" {
			continue
		}
		job := e.meta.Job
		isStopped, seen := stopped[job]
		if !seen {
			isStopped = r.jobStopped(ctx, job)
			stopped[job] = isStopped
		}
		switch {
		case isStopped:
			e.fail(vSkipped, "", "job stopped on an earlier error", nil)
		case e.verdict == vDeadLetter:
			// This record fails before reaching Salesforce: the job's later
			// records in this batch are skipped.
			stopped[job] = true
		}
	}
}

func (r *runner) jobStopped(ctx context.Context, job string) bool {
	_, err := r.w.state.Get(ctx, jobStopKey(job))
	if err == nil {
		return true
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		r.log.Warn().Err(err).Str("job", job).Msg("reading job stop flag failed; not skipping")
	}
	return false
}

// recordJobStops writes the stop flag of every stop-on-error job that has a
// record to dead-letter in this batch.
func (r *runner) recordJobStops(ctx context.Context, entries []*entry) {
	done := map[string]bool{}
	for _, e := range entries {
		if e.verdict != vDeadLetter || !e.meta.StopOnError || e.meta.Job == "" || done[e.meta.Job] {
			continue
		}
		done[e.meta.Job] = true
		if _, err := r.w.state.Create(ctx, jobStopKey(e.meta.Job), []byte(r.w.opts.ID)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			r.log.Warn().Err(err).Str("job", e.meta.Job).Msg("writing job stop flag failed")
		} else {
			r.log.Info().Str("job", e.meta.Job).Str("sf_code", e.code).Msg("job stopped on error: its remaining records will be skipped")
		}
	}
}
