package worker

import (
	"context"
	"errors"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// The fate of a message is decided in one place, decide: a pure function
// of what happened to the record and the state of its delivery. The loader
// asks it after every failed attempt (retry in place, give back, or give
// up), and the worker asks it for every final outcome (how to settle).
// Settling then only carries the verdict out (settle.go).

// verdictKind is what happens to a message.
type verdictKind int

const (
	vPending    verdictKind = iota // not decided yet
	vAck                           // loaded, or skipped because its job stopped: ack
	vHold                          // keep it and try again in place, after delay: the key's later changes wait
	vNak                           // give it back to JetStream, redelivered after delay (0: at once, to any replica)
	vDeadLetter                    // failed for good: store the dead letter, then term
)

var verdictNames = [...]string{"pending", "ack", "hold", "nak", "dead_letter"}

func (k verdictKind) String() string { return verdictNames[k] }

// verdict is decide's answer.
type verdict struct {
	kind   verdictKind
	delay  time.Duration
	status string // the record's status in its batch result
	code   string // dead letters and failures: the error code (pipeline.ErrorCode)
	msg    string
	fields []string
}

// situation is everything decide looks at.
type situation struct {
	// final: the loader is done with the record (its outcome below); false:
	// an attempt failed and the loader asks what to do next.
	final bool
	// What happened. A record failing before it was sent (undecodable,
	// mapping) has preCode set.
	loaded, skipped, released bool
	// superseded: a redelivered change of a key older than one this
	// replica has already loaded (its previous holder lost it, its lease
	// ran out): writing it now would make an older change win.
	superseded      bool
	class           salesforce.Class
	err             error
	preCode, preMsg string
	preFields       []string
	after           time.Duration // released: the delay the loader was told
	// answers: record-level answers about the record in this delivery;
	// callFails: whole-call failures in a row.
	answers, callFails int
	keyed              bool // the record has a key: its order matters
	delivered          uint64
	maxDeliver         int
	shuttingDown       bool
}

// schedules are the delays decide draws from: the n-th delay of each.
type schedules struct {
	hold func(n int) time.Duration // in-place retries
	nak  func(n int) time.Duration // redelivery of an unkeyed record, by delivery count
}

// decide maps a situation to a verdict:
//
//	loaded                                          ack
//	skipped (its job stopped on an earlier error)   ack, reported skipped
//	superseded (redelivered after a later change    ack, reported skipped (KINETIC_SUPERSEDED)
//	  of its key was loaded here)
//	failed before sending (undecodable, mapping,    dead letter, the project's code
//	  missing key, value refused by the pre-check)
//	interrupted by shutdown                         nak at once: another replica takes it
//	permanent (record or request)                   dead letter, Salesforce's code
//	retryable record error (UNABLE_TO_LOCK_ROW)
//	  attempts left, keyed                          hold: retried in place; the key waits
//	  attempts left, no key                         nak with a delay from the delivery count
//	  attempts exhausted (max_deliver in all)       dead letter
//	outage, rate limit, session, refused login      hold: retried in place until it passes or
//	                                                the worker shuts down; never dead-lettered
//
// Attempts of a retryable record error count across deliveries: the
// answers of this delivery plus one per earlier delivery.
func decide(s situation, sch schedules) verdict {
	switch {
	case s.loaded:
		return verdict{kind: vAck, status: messages.StatusLoaded}
	case s.superseded:
		return verdict{kind: vAck, status: messages.StatusSkipped, code: messages.CodeSuperseded,
			msg: "a later change of the record's key was already loaded: writing this older one now would undo it"}
	case s.skipped && s.final && !s.shuttingDown && s.err == nil:
		return verdict{kind: vAck, status: messages.StatusSkipped, msg: "job stopped on an earlier error"}
	case s.preCode != "":
		return deadLetter(s.preCode, s.preMsg, s.preFields)
	}
	code, msg, fields := pipeline.ErrorCode(s.err)
	interrupted := errors.Is(s.err, context.Canceled) || errors.Is(s.err, context.DeadlineExceeded)
	switch {
	case s.skipped || interrupted || (s.shuttingDown && s.class != salesforce.ClassPermanentRecord && s.class != salesforce.ClassPermanentRequest):
		return verdict{kind: vNak, status: messages.StatusRetrying, code: pipeline.CodeCanceled, msg: "worker shutting down: redelivered to another replica"}
	case s.released:
		return verdict{kind: vNak, delay: s.after, status: messages.StatusRetrying, code: code, msg: msg, fields: fields}
	}
	switch s.class {
	case salesforce.ClassPermanentRecord, salesforce.ClassPermanentRequest:
		return deadLetter(code, msg, fields)
	case salesforce.ClassRetryableRecord:
		attempts := int(max(s.delivered, 1)-1) + s.answers
		switch {
		case attempts >= s.maxDeliver:
			return deadLetter(code, msg, fields)
		case s.keyed && !s.final:
			return verdict{kind: vHold, delay: sch.hold(s.answers), status: messages.StatusRetrying, code: code, msg: msg, fields: fields}
		default:
			return verdict{kind: vNak, delay: sch.nak(int(max(s.delivered, 1))), status: messages.StatusRetrying, code: code, msg: msg, fields: fields}
		}
	}
	// Not the records' fault: an outage, a rate limit, a session, a refused
	// login. Hold and retry; a final outcome of that kind (the loader gave
	// up) goes back to JetStream.
	if s.final {
		return verdict{kind: vNak, delay: sch.hold(1), status: messages.StatusRetrying, code: code, msg: msg, fields: fields}
	}
	return verdict{kind: vHold, delay: sch.hold(s.callFails), status: messages.StatusRetrying, code: code, msg: msg, fields: fields}
}

func deadLetter(code, msg string, fields []string) verdict {
	return verdict{kind: vDeadLetter, status: messages.StatusDeadLettered, code: code, msg: msg, fields: fields}
}

// decision turns an attempt's verdict into the loader's Decision.
func (v verdict) decision() pipeline.Decision {
	switch v.kind {
	case vHold:
		return pipeline.Decision{Action: pipeline.Retry, After: v.delay}
	case vNak:
		return pipeline.Decision{Action: pipeline.Release, After: v.delay}
	}
	return pipeline.Decision{Action: pipeline.Fail}
}
