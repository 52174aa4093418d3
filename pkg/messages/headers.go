package messages

import (
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Record headers. Every one is optional.
const (
	HeaderJob         = "Kinetic-Job"           // job id (a subject token)
	HeaderSeq         = "Kinetic-Seq"           // 1-based sequence of the record in its job
	HeaderKey         = "Kinetic-Key"           // business key, for people and for dedup
	HeaderStopOnError = "Kinetic-Stop-On-Error" // "true": the job stops at its first failed record
	HeaderReplayOf    = "Kinetic-Replay-Of"     // dead-letter stream sequence this record was replayed from
	HeaderMsgID       = nats.MsgIdHdr           // Nats-Msg-Id: JetStream deduplication id
)

// RecordMeta is what a record's headers say.
type RecordMeta struct {
	Job         string
	Seq         int64
	Key         string
	MsgID       string
	StopOnError bool
	ReplayOf    uint64
}

// Header writes m into h (nil fields are left out).
func (m RecordMeta) Header(h nats.Header) {
	if m.Job != "" {
		h.Set(HeaderJob, m.Job)
	}
	if m.Seq > 0 {
		h.Set(HeaderSeq, strconv.FormatInt(m.Seq, 10))
	}
	if m.Key != "" {
		h.Set(HeaderKey, m.Key)
	}
	if m.MsgID != "" {
		h.Set(HeaderMsgID, m.MsgID)
	}
	if m.StopOnError {
		h.Set(HeaderStopOnError, "true")
	}
	if m.ReplayOf > 0 {
		h.Set(HeaderReplayOf, strconv.FormatUint(m.ReplayOf, 10))
	}
}

// ParseRecordMeta reads a record's headers. A malformed header is a
// *DecodeError: the record then goes to the dead-letter stream.
func ParseRecordMeta(h nats.Header) (RecordMeta, error) {
	m := RecordMeta{
		Job:         h.Get(HeaderJob),
		Key:         h.Get(HeaderKey),
		MsgID:       h.Get(HeaderMsgID),
		StopOnError: h.Get(HeaderStopOnError) == "true",
	}
	if m.Job != "" && !ValidToken(m.Job) {
		// The record is reported without a job: the id cannot be a subject token.
		job := m.Job
		m.Job = ""
		return m, &DecodeError{Code: CodeBadHeader, Msg: fmt.Sprintf("header %s: %q is not a valid job id (letters, digits, _ and -)", HeaderJob, job)}
	}
	if s := h.Get(HeaderSeq); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return m, &DecodeError{Code: CodeBadHeader, Msg: fmt.Sprintf("header %s: %q is not a positive integer", HeaderSeq, s)}
		}
		m.Seq = n
	}
	if s := h.Get(HeaderReplayOf); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return m, &DecodeError{Code: CodeBadHeader, Msg: fmt.Sprintf("header %s: %q is not a sequence number", HeaderReplayOf, s)}
		}
		m.ReplayOf = n
	}
	return m, nil
}
