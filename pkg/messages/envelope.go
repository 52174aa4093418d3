package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	v2text "github.com/go-json-experiment/json/jsontext"
	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// Version is the envelope version this build writes and reads.
const Version = 1

// Record statuses in a BatchResult.
const (
	StatusLoaded       = "loaded"        // Salesforce confirmed it
	StatusDeadLettered = "dead_lettered" // failed for good; in the dead-letter stream
	StatusSkipped      = "skipped"       // its job stopped on an earlier error
	StatusRetrying     = "retrying"      // failed for now; JetStream redelivers it later (not final)
)

// Final reports whether a status ends the record's story.
func Final(status string) bool {
	return status == StatusLoaded || status == StatusDeadLettered || status == StatusSkipped
}

// BatchResult is what a worker publishes after each batch, one per job the
// batch held, in place of the original's callbacks. A producer waiting on a
// job folds them into its SyncResult; batches can be redelivered, so a
// record's outcome can appear twice and readers keep the first final one
// (by Seq).
type BatchResult struct {
	V          int             `json:"v"`
	BatchID    string          `json:"batch_id"` // unique per batch; shared by the per-job results of one batch
	Pipeline   string          `json:"pipeline"`
	SObject    string          `json:"sobject"`
	Mode       string          `json:"mode"`
	Job        string          `json:"job"` // "" for records published without a job
	Worker     string          `json:"worker"`
	Loaded     int             `json:"loaded"`
	Failed     int             `json:"failed"` // dead-lettered
	Skipped    int             `json:"skipped"`
	Retrying   int             `json:"retrying"`
	APICalls   int             `json:"api_calls"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	Records    []RecordOutcome `json:"records"`
}

// RecordOutcome is one record's line in a BatchResult.
type RecordOutcome struct {
	Seq       int64    `json:"seq,omitempty"` // Kinetic-Seq, when the record had one
	StreamSeq uint64   `json:"stream_seq"`
	Key       string   `json:"key,omitempty"`
	Status    string   `json:"status"`
	ID        string   `json:"id,omitempty"`
	Created   bool     `json:"created,omitempty"`
	Code      string   `json:"code,omitempty"`
	Message   string   `json:"message,omitempty"`
	Fields    []string `json:"fields,omitempty"`
	Delivery  int      `json:"delivery"` // JetStream delivery count of this attempt
	// Attempts is how many times the record was sent to Salesforce in all,
	// over its deliveries (a worker retries some errors in place); 0 in
	// results of older workers: Delivery then.
	Attempts int `json:"attempts,omitempty"`
}

// DeadLetter is a record that cannot be loaded. On the wire the message body
// is the original payload, byte for byte (so a replay publishes exactly what
// the producer sent, and a record as large as the server allows still fits),
// and everything else is this envelope as JSON in the Kinetic-Dead-Letter
// header.
type DeadLetter struct {
	V            int                 `json:"v"`
	Pipeline     string              `json:"pipeline"`
	SObject      string              `json:"sobject"`
	Mode         string              `json:"mode"`
	Subject      string              `json:"subject"`    // where the record was published
	Stream       string              `json:"stream"`     // the records stream
	StreamSeq    uint64              `json:"stream_seq"` // its sequence there
	Job          string              `json:"job,omitempty"`
	Seq          int64               `json:"seq,omitempty"`
	Key          string              `json:"key,omitempty"`
	MsgID        string              `json:"msg_id,omitempty"`
	Headers      map[string][]string `json:"headers,omitempty"` // the record's original headers
	Data         []byte              `json:"-"`                 // original payload: the message body
	Code         string              `json:"code"`
	Message      string              `json:"message"`
	Fields       []string            `json:"fields,omitempty"`
	Attempts     int                 `json:"attempts"` // deliveries used
	FirstFailure time.Time           `json:"first_failure"`
	LastFailure  time.Time           `json:"last_failure"`
	Worker       string              `json:"worker,omitempty"`
}

// EncodeBatchResult encodes r, setting its version, as encoding/json does
// with HTML escaping off (appendBatchResult): strings are not HTML-escaped,
// since a result is read by programs, not embedded in pages.
func EncodeBatchResult(r *BatchResult) ([]byte, error) {
	r.V = Version
	b, err := appendBatchResult(make([]byte, 0, 256+128*len(r.Records)), r)
	if err != nil {
		return nil, fmt.Errorf("encoding batch result: %w", err)
	}
	return b, nil
}

// DecodeBatchResult decodes a batch result strictly.
func DecodeBatchResult(data []byte) (*BatchResult, error) {
	var r BatchResult
	if err := decodeEnvelope("batch result", data, &r, &r.V); err != nil {
		return nil, err
	}
	if err := checkStatuses(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

func checkStatuses(r *BatchResult) error {
	for i, rec := range r.Records {
		switch rec.Status {
		case StatusLoaded, StatusDeadLettered, StatusSkipped, StatusRetrying:
		default:
			return &DecodeError{Code: CodeUndecodable, Msg: fmt.Sprintf("batch result: record %d has unknown status %q", i, rec.Status)}
		}
	}
	return nil
}

// HeaderDeadLetter carries a dead letter's envelope.
const HeaderDeadLetter = "Kinetic-Dead-Letter"

// maxMessageLen bounds the error message kept in a dead letter.
const maxMessageLen = 4000

// EncodeDeadLetter encodes d as a message: its header and body. It sets the
// version and shortens an over-long error message.
func EncodeDeadLetter(d *DeadLetter) (nats.Header, []byte, error) {
	d.V = Version
	if len(d.Message) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(d.Message[cut]) {
			cut--
		}
		d.Message = d.Message[:cut] + "…"
	}
	env, err := json.Marshal(d)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding dead letter: %w", err)
	}
	h := nats.Header{}
	h.Set(HeaderDeadLetter, string(env))
	return h, d.Data, nil
}

// DecodeDeadLetter decodes a dead-letter message strictly.
func DecodeDeadLetter(h nats.Header, body []byte) (*DeadLetter, error) {
	env := h.Get(HeaderDeadLetter)
	if env == "" {
		return nil, &DecodeError{Code: CodeUndecodable, Msg: "dead letter: no " + HeaderDeadLetter + " header"}
	}
	var d DeadLetter
	if err := decodeEnvelope("dead letter", []byte(env), &d, &d.V); err != nil {
		return nil, err
	}
	if d.Subject == "" || d.Code == "" {
		return nil, &DecodeError{Code: CodeUndecodable, Msg: "dead letter: subject and code are required"}
	}
	d.Data = body
	return &d, nil
}

// decodeEnvelope decodes strictly in one pass. Only when that fails does it
// look at the version, so that a newer envelope (whose new fields would fail
// the strict decode) is reported as a *VersionError rather than a
// malformed one.
//
// It reads with encoding/json/v2 in v1's strict reading (jsontext.V1Strict):
// the same documents, values and errors as a json.Decoder with
// DisallowUnknownFields, in a third of the time, which the results follower
// of every job pays per batch.
func decodeEnvelope(kind string, data []byte, v any, version *int) error {
	dec := v2text.NewDecoder(bytes.NewReader(data), jsontext.V1Strict)
	err := jsonv2.UnmarshalDecode(dec, v)
	if err == nil {
		if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
			return &DecodeError{Code: CodeUndecodable, Msg: kind + " has trailing data"}
		}
		switch {
		case *version == 0:
			return &DecodeError{Code: CodeUndecodable, Msg: kind + " has no version field \"v\""}
		case *version != Version:
			return &VersionError{Kind: kind, Version: *version}
		}
		return nil
	}
	var probe struct {
		V *int `json:"v"`
	}
	if json.Unmarshal(data, &probe) == nil && probe.V != nil && *probe.V != Version {
		return &VersionError{Kind: kind, Version: *probe.V}
	}
	return &DecodeError{Code: CodeUndecodable, Msg: "malformed " + kind, Err: err}
}
