// Package jobs follows a job's batch results and folds them into the
// original's SyncResult. It is what `producer publish --wait` runs, and what
// an upstream system uses to learn what became of the records it published.
//
// Workers publish one BatchResult per batch and job. A batch can be
// redelivered (a worker died after publishing its result but before acking),
// so a record's outcome can be reported twice; the watcher keeps the first
// final outcome of each job sequence, so every record is counted exactly once.
// When the reports of one record name different Salesforce ids, the record
// was inserted more than once (INSERT is at-least-once): Result.DuplicateInserts
// lists them, with every id, so that the extra copies can be found and removed.
// Watch reads every result already stored before it returns; a redelivery
// reported later still shows in a later Watch of the job (producer wait).
package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// Options describes the job to follow.
type Options struct {
	Topology messages.Topology
	Job      string
	// Total is how many records the job has (sequences 1..Total). Wait
	// returns when each has a final outcome.
	Total int
	// Since skips results older than this (a little before the job's first
	// publish). Default: every stored result.
	Since time.Time
	// Exclude lists sequences that will have no outcome under this job: the
	// stream dropped them as duplicates of an earlier publish (for instance
	// by business key, in another job). Wait does not wait for them; one
	// whose outcome arrives anyway is counted.
	Exclude []int64
	// OnProgress is called after each batch result that changed something,
	// from the watcher's goroutine.
	OnProgress func(Progress)
	// Mode and SObject fill the result's metadata.
	Mode    pipeline.SyncMode
	SObject string
}

// Progress is a snapshot of a job.
type Progress struct {
	Total        int
	Done         int // records with a final outcome
	Loaded       int
	DeadLettered int
	Skipped      int
	Retrying     int // retrying reports seen (a record can retry several times)
	Elapsed      time.Duration
}

// Outcome is a record's final outcome.
type Outcome = messages.RecordOutcome

// Result is a finished (or interrupted) job.
type Result struct {
	// SyncResult in the original's vocabulary: indexes are job sequences - 1.
	*pipeline.SyncResult
	// Outcomes[seq-1] is the final outcome of the record with that sequence;
	// the zero value (empty Status) when it has none yet.
	Outcomes []Outcome
	// Duplicates counts final outcomes reported more than once (redelivered
	// batches); they are not counted again.
	Duplicates int
	// DuplicateInserts lists the records reported loaded more than once as
	// different Salesforce records: an INSERT redelivered after a worker
	// died between Salesforce applying it and the ack is inserted again
	// (INSERT is at-least-once). Salesforce holds a record for each id; in
	// job sequence order.
	DuplicateInserts []DuplicateInsert
}

// DuplicateInsert is a record loaded more than once as different Salesforce
// records. IDs[0] is the id in Outcomes and SalesforceIDs; the others are
// the extra copies, in the order they were reported.
type DuplicateInsert struct {
	Seq int64
	IDs []string
}

// Copies is how many extra Salesforce records the duplicate inserts made.
func (r *Result) Copies() int {
	n := 0
	for _, d := range r.DuplicateInserts {
		n += len(d.IDs) - 1
	}
	return n
}

// Watch follows the job until every record has a final outcome or ctx ends.
// On ctx's end it returns the partial result (status IN_PROGRESS) and ctx's
// error; records without an outcome are counted as skipped there, and
// Result.Outcomes tells which they are.
func Watch(ctx context.Context, js jetstream.JetStream, o Options) (*Result, error) {
	if o.Total < 0 {
		return nil, errors.New("jobs: Total must not be negative")
	}
	if !messages.ValidToken(o.Job) {
		return nil, fmt.Errorf("jobs: %q is not a valid job id", o.Job)
	}
	topo := o.Topology.WithDefaults()
	start := time.Now()
	res := &Result{
		SyncResult: &pipeline.SyncResult{
			Status: pipeline.InProgress, TotalRecords: o.Total,
			SalesforceIDs: make([]string, o.Total), Created: make([]bool, o.Total),
			Metadata: pipeline.Metadata{Mode: o.Mode, SObject: o.SObject},
		},
		Outcomes: make([]Outcome, o.Total),
	}
	var p Progress
	p.Total = o.Total
	excluded := map[int]bool{}
	for _, seq := range o.Exclude {
		if seq >= 1 && seq <= int64(o.Total) {
			excluded[int(seq)-1] = true
		}
	}
	need, got := o.Total-len(excluded), 0 // outcomes waited for, and received
	finish := func(err error) (*Result, error) {
		sr := res.SyncResult
		slices.SortFunc(sr.Errors, func(a, b *pipeline.RecordError) int { return a.Index - b.Index })
		sr.SkippedCount = o.Total - sr.SuccessCount - sr.ErrorCount
		sr.Status = pipeline.StatusFor(sr.SuccessCount, sr.ErrorCount)
		slices.SortFunc(res.DuplicateInserts, func(a, b DuplicateInsert) int { return int(a.Seq - b.Seq) })
		if got < need {
			sr.Status = pipeline.InProgress // interrupted: outcomes are missing
		}
		el := time.Since(start)
		sr.Metadata.ElapsedSeconds = el.Seconds()
		if s := el.Seconds(); s > 0 {
			sr.Metadata.RecordsPerSecond = float64(sr.SuccessCount+sr.ErrorCount) / s
		}
		return res, err
	}
	if need == 0 {
		return finish(nil)
	}

	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topo.Subjects().JobResults(o.Job)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if !o.Since.IsZero() {
		since := o.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, topo.ResultsStream(), cfg)
	if err != nil {
		return finish(fmt.Errorf("jobs: following %s: %w", topo.ResultsStream(), err))
	}
	it, err := cons.Messages()
	if err != nil {
		return finish(fmt.Errorf("jobs: following %s: %w", topo.ResultsStream(), err))
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	// Once every record has an outcome, the results already stored are
	// still read (NumPending says how many): a redelivered batch's report
	// of an INSERT applied twice may come after the last first outcome.
	pending := uint64(1)
	dups := map[int]int{} // record index → its entry in DuplicateInserts
	for got < need || pending > 0 {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return finish(ctx.Err())
			}
			return finish(fmt.Errorf("jobs: reading results: %w", err))
		}
		if md, err := msg.Metadata(); err == nil {
			pending = md.NumPending
		}
		br, err := messages.DecodeBatchResult(msg.Data())
		if err != nil {
			continue // not ours to judge; a newer worker's envelope is skipped, not guessed
		}
		res.Metadata.APICalls += br.APICalls
		if res.Metadata.SObject == "" {
			res.Metadata.SObject, res.Metadata.Mode = br.SObject, pipeline.SyncMode(br.Mode)
		}
		changed := false
		for _, ro := range br.Records {
			if ro.Status == messages.StatusRetrying {
				p.Retrying++
				res.Metadata.Retries++
				changed = true
				continue
			}
			i := int(ro.Seq) - 1
			if i < 0 || i >= o.Total {
				continue // no sequence, or not one of ours
			}
			if first := res.Outcomes[i]; first.Status != "" {
				res.Duplicates++
				if first.Status == messages.StatusLoaded && ro.Status == messages.StatusLoaded && ro.ID != "" && ro.ID != first.ID {
					j, ok := dups[i]
					if !ok {
						j = len(res.DuplicateInserts)
						dups[i] = j
						res.DuplicateInserts = append(res.DuplicateInserts, DuplicateInsert{Seq: int64(i + 1), IDs: []string{first.ID}})
					}
					if d := &res.DuplicateInserts[j]; !slices.Contains(d.IDs, ro.ID) {
						d.IDs = append(d.IDs, ro.ID)
					}
				}
				continue
			}
			res.Outcomes[i] = ro
			changed = true
			p.Done++
			if !excluded[i] {
				got++
			}
			sr := res.SyncResult
			switch ro.Status {
			case messages.StatusLoaded:
				p.Loaded++
				sr.SuccessCount++
				sr.SalesforceIDs[i] = ro.ID
				sr.Created[i] = ro.Created
			case messages.StatusDeadLettered:
				p.DeadLettered++
				sr.ErrorCount++
				sr.Errors = append(sr.Errors, &pipeline.RecordError{
					Index: i, Code: ro.Code, Message: ro.Message, Fields: ro.Fields, Attempts: cmp.Or(ro.Attempts, ro.Delivery),
				})
			case messages.StatusSkipped:
				p.Skipped++
			}
		}
		if changed && o.OnProgress != nil {
			p.Elapsed = time.Since(start)
			o.OnProgress(p)
		}
	}
	return finish(nil)
}
