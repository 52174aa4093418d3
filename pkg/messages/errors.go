package messages

import "fmt"

// Codes of messages that cannot be processed; they name the dead letter.
const (
	CodeUndecodable   = "KINETIC_UNDECODABLE"       // the payload is not a JSON object
	CodeTooLarge      = "KINETIC_PAYLOAD_TOO_LARGE" // the payload exceeds the pipeline's max_record_bytes
	CodeBadHeader     = "KINETIC_BAD_HEADER"        // a Kinetic header is malformed
	CodeMaxDeliveries = "KINETIC_MAX_DELIVERIES"    // JetStream gave up redelivering (the worker never settled it)
	CodeBadSubject    = "KINETIC_BAD_SUBJECT"       // the subject is not one of the pipeline's record subjects
	CodeBadKey        = "KINETIC_BAD_KEY"           // a keyed subject whose key token is not the record's key
	CodeSuperseded    = "KINETIC_SUPERSEDED"        // redelivered after a later change of its key was loaded: not written
)

// DecodeError is input that cannot be decoded. Code is one of the codes above.
type DecodeError struct {
	Code string
	Msg  string
	Err  error
}

func (e *DecodeError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return e.Code + ": " + e.Msg
}

func (e *DecodeError) Unwrap() error { return e.Err }

// VersionError is an envelope of a version this code does not know.
type VersionError struct {
	Kind    string // "batch result" or "dead letter"
	Version int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s envelope version %d is not supported (this build reads version %d)", e.Kind, e.Version, Version)
}
