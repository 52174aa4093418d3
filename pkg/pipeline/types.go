package pipeline

import (
	"fmt"
	"strings"
	"time"
)

// SyncMode is what a pipeline does with each record, as in the original
// SyncPipeline: INSERT, UPDATE, UPSERT or DELETE. The values are the
// original's lower-case strings, which the YAML config and the message
// subjects use too.
type SyncMode string

// Sync modes.
const (
	Insert SyncMode = "insert" // create new records
	Update SyncMode = "update" // update records by Id
	Upsert SyncMode = "upsert" // insert or update on the external id field
	Delete SyncMode = "delete" // delete records by Id (to the recycle bin)
)

// Modes lists every SyncMode.
var Modes = []SyncMode{Insert, Update, Upsert, Delete}

// ParseSyncMode parses a mode name, case-insensitively ("upsert", "UPSERT").
func ParseSyncMode(s string) (SyncMode, error) {
	m := SyncMode(strings.ToLower(strings.TrimSpace(s)))
	if m.Valid() {
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want insert, update, upsert or delete)", s)
}

// Valid reports whether m is one of the four modes.
func (m SyncMode) Valid() bool {
	switch m {
	case Insert, Update, Upsert, Delete:
		return true
	}
	return false
}

func (m SyncMode) String() string { return string(m) }

// SyncStatus is the state of a sync, as in the original.
type SyncStatus string

// Sync statuses.
const (
	Pending    SyncStatus = "pending"
	InProgress SyncStatus = "in_progress"
	Success    SyncStatus = "success" // no record failed (also for empty input)
	Failed     SyncStatus = "failed"  // records failed and none succeeded
	Partial    SyncStatus = "partial" // some succeeded, some failed
)

func (s SyncStatus) String() string { return string(s) }

// StatusFor applies the status rules: SUCCESS when nothing failed, FAILED when
// something failed and nothing succeeded, PARTIAL otherwise.
func StatusFor(success, errors int) SyncStatus {
	switch {
	case errors == 0:
		return Success
	case success == 0:
		return Failed
	default:
		return Partial
	}
}

// Kinetic's own error codes, for failures that happen before Salesforce sees
// a record. Salesforce's codes (REQUIRED_FIELD_MISSING, …) pass through as
// they are.
const (
	CodeMappingFailed     = "KINETIC_MAPPING_FAILED"      // a mapping rule or transform failed
	CodeMissingID         = "KINETIC_MISSING_ID"          // update/delete record without Id
	CodeMalformedID       = "KINETIC_MALFORMED_ID"        // Id is not a 15/18-character Salesforce id
	CodeMissingExternalID = "KINETIC_MISSING_EXTERNAL_ID" // upsert record without the external id value
	CodeInvalidRecord     = "KINETIC_INVALID_RECORD"      // record is not a JSON object / has unusable values
	CodeCanceled          = "KINETIC_CANCELED"            // the call was interrupted; the record may or may not be applied
	CodeCallFailed        = "KINETIC_CALL_FAILED"         // the call kept failing after every retry
)

// RecordError is why one record failed.
type RecordError struct {
	Index    int            `json:"index"`            // index in the input of Sync (or sequence in a job)
	Record   map[string]any `json:"record,omitempty"` // the original (unmapped) record
	Code     string         `json:"code"`             // Salesforce status code or a KINETIC_ code
	Message  string         `json:"message"`
	Fields   []string       `json:"fields,omitempty"`
	Attempts int            `json:"attempts"` // how many times the record was sent (0: never)
}

func (e *RecordError) Error() string {
	s := fmt.Sprintf("record %d: %s: %s", e.Index, e.Code, e.Message)
	if len(e.Fields) > 0 {
		s += " (fields: " + strings.Join(e.Fields, ", ") + ")"
	}
	return s
}

// Metadata carries a sync's timing and cost, as the original's metadata dict
// did (elapsed_seconds, records_per_second, mode, sobject) plus what Kinetic
// measures (API calls, retries, which API).
type Metadata struct {
	ElapsedSeconds   float64  `json:"elapsed_seconds"`
	RecordsPerSecond float64  `json:"records_per_second"`
	Mode             SyncMode `json:"mode"`
	SObject          string   `json:"sobject"`
	API              API      `json:"api"`
	APICalls         int      `json:"api_calls"` // Salesforce REST calls, token requests excluded
	Retries          int      `json:"retries"`   // calls repeated after a transient failure or for retryable records
	Merged           int      `json:"merged"`    // changes merged into one write with an earlier change of their key
	CallbackErrors   int      `json:"callback_errors"`
}

// SyncResult is the outcome of a sync. Counts always add up:
// SuccessCount + ErrorCount + SkippedCount == TotalRecords.
type SyncResult struct {
	Status       SyncStatus `json:"status"`
	TotalRecords int        `json:"total_records"`
	SuccessCount int        `json:"success_count"`
	ErrorCount   int        `json:"error_count"`
	SkippedCount int        `json:"skipped_count"` // not attempted: stop_on_error or cancellation
	// Errors lists every failed record, in input order.
	Errors []*RecordError `json:"errors"`
	// SalesforceIDs[i] is the id of input record i: the created or updated
	// record (an updating upsert returns the existing id, unlike the
	// original's None), or "" when the record failed or was skipped.
	SalesforceIDs []string `json:"salesforce_ids"`
	// Created[i] reports whether input record i created a record (insert, or
	// an upsert that inserted).
	Created []bool `json:"created"`
	// CallbackErrors holds errors returned by, or panics recovered from,
	// callbacks. They never change a record's outcome or the counts.
	CallbackErrors []error  `json:"-"`
	Metadata       Metadata `json:"metadata"`
}

// SuccessRate returns the percentage of records that succeeded (0–100), 0
// for empty input, as the original's success_rate.
func (r *SyncResult) SuccessRate() float64 {
	if r.TotalRecords == 0 {
		return 0
	}
	return float64(r.SuccessCount) / float64(r.TotalRecords) * 100
}

func (r *SyncResult) String() string {
	return fmt.Sprintf("SyncResult(status=%s, total=%d, success=%d, errors=%d, skipped=%d, rate=%.1f%%)",
		r.Status, r.TotalRecords, r.SuccessCount, r.ErrorCount, r.SkippedCount, r.SuccessRate())
}

// snapshot copies r for a callback, so the callback cannot race with or
// corrupt the running sync.
func (r *SyncResult) snapshot() SyncResult {
	s := *r
	s.Errors = append([]*RecordError(nil), r.Errors...)
	s.SalesforceIDs = append([]string(nil), r.SalesforceIDs...)
	s.Created = append([]bool(nil), r.Created...)
	s.CallbackErrors = append([]error(nil), r.CallbackErrors...)
	return s
}

func (r *SyncResult) finish(elapsed time.Duration) {
	r.Status = StatusFor(r.SuccessCount, r.ErrorCount)
	r.Metadata.ElapsedSeconds = elapsed.Seconds()
	if s := elapsed.Seconds(); s > 0 {
		r.Metadata.RecordsPerSecond = float64(r.SuccessCount+r.ErrorCount) / s
	}
}
