package deadletter

import (
	"time"
)

// Outcome is what a replay did (or, in a dry run, would do) with one dead
// letter.
type Outcome string

const (
	// Replayed: this replay published the record (Result.RecordsSeq is its
	// sequence in the records stream) or, in a dry run, would publish it.
	Replayed Outcome = "replayed"
	// AlreadyReplayed: an earlier replay published it (Result.By, At,
	// RecordsSeq); this one published nothing, and removed the dead letter
	// if that replay had not.
	AlreadyReplayed Outcome = "already_replayed"
	// ReplayedConcurrently: a replay running at the same time published it.
	ReplayedConcurrently Outcome = "replayed_concurrently"
	// Refused: it fails the checks (Result.Reason); nothing was published
	// and the dead letter is still there.
	Refused Outcome = "refused"
	// InDoubt: a replay may have published it and stopped before recording
	// whether it did, and republishing now could store it twice (Result.Reason,
	// Result.Action). Nothing was published; the dead letter is still there.
	InDoubt Outcome = "in_doubt"
	// Failed: publishing failed for a reason that leaves no doubt that it
	// was not published (Result.Reason); the dead letter is still there.
	Failed Outcome = "failed"
	// Gone: the dead letter was no longer in the stream when its turn came
	// (purged meanwhile); nothing was published.
	Gone Outcome = "gone"
	// NotReached: the replay stopped (canceled) before this dead letter;
	// nothing was done with it.
	NotReached Outcome = "not_reached"
)

// Outcomes lists every outcome, in the order reports show them.
var Outcomes = []Outcome{Replayed, AlreadyReplayed, ReplayedConcurrently, Refused, InDoubt, Failed, Gone, NotReached}

// Result is what happened to one dead letter.
type Result struct {
	Seq     uint64  `json:"seq"` // dead-letter stream sequence
	Outcome Outcome `json:"outcome"`
	// Pipeline and Subject: where it was (or would be) published.
	Pipeline string `json:"pipeline,omitempty"`
	Subject  string `json:"subject,omitempty"`
	// MsgID is the Nats-Msg-Id of the republished record.
	MsgID string `json:"msg_id,omitempty"`
	// RecordsSeq is the republished record's sequence in the records stream.
	RecordsSeq uint64 `json:"records_seq,omitempty"`
	// Duplicate: the records stream already held this republish (under
	// MsgID), from an earlier replay that stopped before recording it; it
	// did not store a second copy.
	Duplicate bool `json:"duplicate,omitempty"`
	// Removed: the dead letter is no longer in the dead-letter stream
	// (false when its deletion was not confirmed: Reason says so).
	Removed bool `json:"removed"`
	// By, Run and At: who published it, in which replay, when (for
	// AlreadyReplayed and ReplayedConcurrently: the other replay).
	By  string    `json:"by,omitempty"`
	Run string    `json:"run,omitempty"`
	At  time.Time `json:"at,omitzero"`
	// Reason says why, for every outcome but Replayed; for Replayed, what
	// is left to do (a dead letter that could not be removed yet).
	Reason string `json:"reason,omitempty"`
	// Action says what the operator can do, for InDoubt and Refused.
	Action string `json:"action,omitempty"`
	// DroppedHeaders names the original record's headers the republish
	// leaves out: any Nats-* header and any header Kinetic does not define.
	DroppedHeaders []string `json:"dropped_headers,omitempty"`
	// Entry is the dead letter as listed.
	Entry Entry `json:"-"`
}

// ReplayReport says exactly what a replay did with each dead letter.
type ReplayReport struct {
	Run      string    `json:"run"` // this replay's id
	By       string    `json:"by"`
	DryRun   bool      `json:"dry_run"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Results holds one result per matching dead letter, in dead-letter
	// stream order.
	Results []Result `json:"results"`
	// Counts counts the results by outcome.
	Counts map[Outcome]int `json:"counts"`
}

// Count is how many results have outcome o.
func (r *ReplayReport) Count(o Outcome) int { return r.Counts[o] }

// Unsettled is how many matching dead letters this replay left in the
// dead-letter stream without their record having been published: refused,
// in doubt, failed or not reached.
func (r *ReplayReport) Unsettled() int {
	return r.Counts[Refused] + r.Counts[InDoubt] + r.Counts[Failed] + r.Counts[NotReached]
}

func (r *ReplayReport) count() {
	r.Counts = map[Outcome]int{}
	for _, res := range r.Results {
		r.Counts[res.Outcome]++
	}
}
