package worker

import (
	"context"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// TestDecide is the table of a message's fate: one row per case decide
// distinguishes, with the verdict, the delay and the code it must give.
func TestDecide(t *testing.T) {
	t.Parallel()
	sch := schedules{
		hold: func(n int) time.Duration { return time.Duration(n) * time.Second },
		nak:  func(n int) time.Duration { return time.Duration(n) * time.Minute },
	}
	lock := &salesforce.SaveError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "locked"}
	required := &salesforce.SaveError{StatusCode: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [Name]", Fields: []string{"Name"}}
	parse := &salesforce.APIError{HTTPStatus: 400, Code: "JSON_PARSER_ERROR", Message: "Cannot deserialize"}
	outage := &salesforce.APIError{HTTPStatus: 503}
	grant := &salesforce.AuthError{HTTPStatus: 400, Code: "invalid_grant", Description: "expired"}
	limit := &salesforce.APIError{HTTPStatus: 403, Code: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded."}
	for _, c := range []struct {
		name   string
		s      situation
		kind   verdictKind
		delay  time.Duration
		status string
		code   string
	}{
		{"loaded", situation{final: true, loaded: true}, vAck, 0, messages.StatusLoaded, ""},
		{"skipped: its job stopped", situation{final: true, skipped: true}, vAck, 0, messages.StatusSkipped, ""},
		{"superseded by a later change of its key", situation{final: true, superseded: true, delivered: 2}, vAck, 0, messages.StatusSkipped, messages.CodeSuperseded},
		{"failed before sending (mapping)", situation{final: true, preCode: pipeline.CodeMappingFailed, preMsg: "float"}, vDeadLetter, 0, messages.StatusDeadLettered, pipeline.CodeMappingFailed},
		{"permanent record error", situation{final: true, class: salesforce.ClassPermanentRecord, err: required, keyed: true, delivered: 1, maxDeliver: 8}, vDeadLetter, 0, messages.StatusDeadLettered, "REQUIRED_FIELD_MISSING"},
		{"request refused (a value Salesforce cannot parse)", situation{final: true, class: salesforce.ClassPermanentRequest, err: parse, delivered: 1, maxDeliver: 8}, vDeadLetter, 0, messages.StatusDeadLettered, "JSON_PARSER_ERROR"},
		{"permanent error while shutting down: still a dead letter", situation{final: true, class: salesforce.ClassPermanentRecord, err: required, shuttingDown: true, maxDeliver: 8}, vDeadLetter, 0, messages.StatusDeadLettered, "REQUIRED_FIELD_MISSING"},
		{"lock, keyed, attempts left: hold", situation{class: salesforce.ClassRetryableRecord, err: lock, answers: 2, keyed: true, delivered: 1, maxDeliver: 8}, vHold, 2 * time.Second, messages.StatusRetrying, "UNABLE_TO_LOCK_ROW"},
		{"lock, no key, attempts left: nak with delay", situation{class: salesforce.ClassRetryableRecord, err: lock, answers: 1, delivered: 3, maxDeliver: 8}, vNak, 3 * time.Minute, messages.StatusRetrying, "UNABLE_TO_LOCK_ROW"},
		{"lock, attempts exhausted in place", situation{class: salesforce.ClassRetryableRecord, err: lock, answers: 8, keyed: true, delivered: 1, maxDeliver: 8}, vDeadLetter, 0, messages.StatusDeadLettered, "UNABLE_TO_LOCK_ROW"},
		{"lock, attempts exhausted across deliveries", situation{class: salesforce.ClassRetryableRecord, err: lock, answers: 2, keyed: true, delivered: 7, maxDeliver: 8}, vDeadLetter, 0, messages.StatusDeadLettered, "UNABLE_TO_LOCK_ROW"},
		{"lock, final (the loader gave up)", situation{final: true, class: salesforce.ClassRetryableRecord, err: lock, answers: 8, delivered: 1, maxDeliver: 8}, vDeadLetter, 0, messages.StatusDeadLettered, "UNABLE_TO_LOCK_ROW"},
		{"outage: hold, never a dead letter", situation{class: salesforce.ClassTransient, err: outage, callFails: 4, keyed: true, delivered: 8, maxDeliver: 8}, vHold, 4 * time.Second, messages.StatusRetrying, "HTTP_503"},
		{"rate limit: hold", situation{class: salesforce.ClassRateLimited, err: limit, callFails: 1, delivered: 1, maxDeliver: 8}, vHold, time.Second, messages.StatusRetrying, "REQUEST_LIMIT_EXCEEDED"},
		{"refused login: hold", situation{class: salesforce.ClassAuth, err: grant, callFails: 2, delivered: 1, maxDeliver: 8}, vHold, 2 * time.Second, messages.StatusRetrying, "AUTH_INVALID_GRANT"},
		{"outage, final: back to JetStream", situation{final: true, class: salesforce.ClassTransient, err: outage, delivered: 1, maxDeliver: 8}, vNak, time.Second, messages.StatusRetrying, "HTTP_503"},
		{"released by the loader: nak with its delay", situation{final: true, released: true, after: 90 * time.Second, class: salesforce.ClassRetryableRecord, err: lock}, vNak, 90 * time.Second, messages.StatusRetrying, "UNABLE_TO_LOCK_ROW"},
		{"interrupted by shutdown (cancelled call)", situation{final: true, class: salesforce.ClassTransient, err: context.Canceled, delivered: 1, maxDeliver: 8}, vNak, 0, messages.StatusRetrying, pipeline.CodeCanceled},
		{"never sent: shutdown", situation{final: true, skipped: true, shuttingDown: true}, vNak, 0, messages.StatusRetrying, pipeline.CodeCanceled},
		{"an attempt fails while shutting down: give it back", situation{class: salesforce.ClassRetryableRecord, err: lock, answers: 1, keyed: true, delivered: 1, maxDeliver: 8, shuttingDown: true}, vNak, 0, messages.StatusRetrying, pipeline.CodeCanceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := decide(c.s, sch)
			if v.kind != c.kind || v.delay != c.delay || v.status != c.status || v.code != c.code {
				t.Errorf("decide = %s after %v, status %q, code %q; want %s after %v, status %q, code %q",
					v.kind, v.delay, v.status, v.code, c.kind, c.delay, c.status, c.code)
			}
			if v.kind == vDeadLetter && v.msg == "" {
				t.Error("a dead letter without a message")
			}
		})
	}
}

// The loader's Decision follows the verdict: hold is a retry in place, nak
// a release, a dead letter a failure.
func TestVerdictDecision(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    verdict
		want pipeline.Decision
	}{
		{verdict{kind: vHold, delay: time.Second}, pipeline.Decision{Action: pipeline.Retry, After: time.Second}},
		{verdict{kind: vNak, delay: time.Minute}, pipeline.Decision{Action: pipeline.Release, After: time.Minute}},
		{verdict{kind: vDeadLetter, code: "X"}, pipeline.Decision{Action: pipeline.Fail}},
	} {
		if got := c.v.decision(); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.v.kind, got, c.want)
		}
	}
}

// The production retry schedules, as they are (tests elsewhere inject ones
// that do not wait).
func TestDefaultSchedules(t *testing.T) {
	t.Parallel()
	check := func(name string, nthDelay func(int) time.Duration, first, ceiling time.Duration, jitter float64) {
		t.Helper()
		lo, hi := time.Duration(float64(first)*(1-jitter)), time.Duration(float64(first)*(1+jitter))
		if d := nthDelay(1); d < lo || d > hi {
			t.Errorf("%s: first delay %v, want %v ±%.0f%%", name, d, first, jitter*100)
		}
		for n := 1; n <= 30; n++ {
			d := nthDelay(n)
			if d > time.Duration(float64(ceiling)*(1+jitter)) {
				t.Errorf("%s: delay %d is %v, above %v ±%.0f%%", name, n, d, ceiling, jitter*100)
			}
			if n == 30 && d < time.Duration(float64(ceiling)*(1-jitter)) {
				t.Errorf("%s: delay 30 is %v: it never reaches %v", name, d, ceiling)
			}
		}
	}
	check("hold", func(n int) time.Duration { return nth(DefaultHoldBackOff, n) }, time.Second, 30*time.Second, 0.2)
	check("nak", func(n int) time.Duration { return nth(DefaultNakBackOff, n) }, 2*time.Second, 2*time.Minute, 0.2)
	check("setup", func(n int) time.Duration { return nth(DefaultSetupBackOff, n) }, 500*time.Millisecond, 10*time.Second, 0.2)
	check("store", func(n int) time.Duration { return nth(DefaultStoreBackOff, n) }, time.Second, 10*time.Second, 0.2)
	check("fetch", func(n int) time.Duration { return nth(DefaultFetchBackOff, n) }, 200*time.Millisecond, 5*time.Second, 0.2)
	// Doubling: the fourth delay of the hold schedule is about 8s.
	if d := nth(DefaultHoldBackOff, 4); d < 6400*time.Millisecond || d > 9600*time.Millisecond {
		t.Errorf("hold: delay 4 is %v, want 8s ±20%%", d)
	}
}

// A busy fetch waits a quarter of the linger, within [1ms, 100ms]: its
// records must reach the loader well before the linger sends a call.
func TestBusyWait(t *testing.T) {
	for _, c := range []struct{ linger, want time.Duration }{
		{100 * time.Millisecond, 25 * time.Millisecond}, // the default linger
		{20 * time.Millisecond, 5 * time.Millisecond},
		{2 * time.Second, 100 * time.Millisecond},
		{2 * time.Millisecond, time.Millisecond},
	} {
		if got := busyWait(c.linger); got != c.want {
			t.Errorf("busyWait(%v) = %v, want %v", c.linger, got, c.want)
		}
	}
}
