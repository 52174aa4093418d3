//go:build integration

package integration

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// Poison and bad input mixed into a normal run: payloads that are not JSON
// objects, an oversized one, records whose mapping fails, missing or
// unusable external ids, an id Salesforce refuses, malformed headers. Each
// ends in the dead-letter stream at once, with its original bytes and a
// clear code; every other record loads on its first delivery; no worker
// crashes.
func TestPoisonAndBadInput(t *testing.T) {
	const n = 5_000
	c := NewCluster(t, Options{Workers: 3})
	j := c.UpsertJob("poison", n)

	record := func(rec map[string]any) []byte {
		b, err := messages.EncodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Over the worker's max_record_bytes (512 KiB by default), under the
	// stream's limit (1 MiB − 64 KiB): it is stored, then refused by the worker.
	oversized := record(map[string]any{"key": "poison-big", "company": "big", "padding": strings.Repeat("x", 600<<10)})
	bad := []struct {
		seq     int
		what    string
		payload []byte
		code    string
	}{
		{101, "not JSON", []byte(`{not json`), messages.CodeUndecodable},
		{502, "a JSON array", []byte(`["an", "array"]`), messages.CodeUndecodable},
		{903, "empty", []byte{}, messages.CodeUndecodable},
		{1304, "a JSON string", []byte(`"just a string"`), messages.CodeUndecodable},
		{1705, "JSON null", []byte(`null`), messages.CodeUndecodable},
		{2106, "an object with trailing data", []byte(`{"key": "poison-x", "company": "c"} {"more": 1}`), messages.CodeUndecodable},
		{2507, "600 KiB", oversized, messages.CodeTooLarge},
		{2908, "revenue not a number (mapping fails)", record(map[string]any{"key": j.Keys[2907], "company": "c", "revenue": "lots"}), pipeline.CodeMappingFailed},
		{3309, "no external id", record(map[string]any{"company": "no key"}), pipeline.CodeMissingExternalID},
		{3710, "a blank external id", record(map[string]any{"key": "   ", "company": "blank key"}), pipeline.CodeMissingExternalID},
		{4111, "an object as external id", record(map[string]any{"key": map[string]any{"a": 1}, "company": "object key"}), pipeline.CodeMissingExternalID},
		{4512, "an external id longer than the field (Salesforce refuses it)", record(map[string]any{"key": "poison-" + strings.Repeat("9", 40), "company": "long key"}), "STRING_TOO_LONG"},
	}
	for _, b := range bad {
		j.Payloads[b.seq-1] = b.payload
	}
	started := map[string]string{}
	for _, w := range c.Workers {
		st, err := w.State()
		if err != nil {
			t.Fatal(err)
		}
		started[w.Name] = st.StartedAt
	}

	start := time.Now()
	c.Publish(j, 1, n)
	// Malformed headers: a sequence that is not a number (the record then
	// has no sequence in the job; it is checked in the dead-letter stream),
	// and a job id that cannot be a subject token.
	for _, h := range []map[string]string{
		{messages.HeaderJob: j.ID, messages.HeaderSeq: "abc"},
		{messages.HeaderJob: "bad job!", messages.HeaderSeq: "1"},
	} {
		m := nats.NewMsg(j.Subject)
		m.Data = record(map[string]any{"key": "poison-header", "company": "bad header"})
		for k, v := range h {
			m.Header.Set(k, v)
		}
		if _, err := c.JS.PublishMsg(c.ctx, m); err != nil {
			t.Fatalf("publishing a record with headers %v: %v", h, err)
		}
	}
	// Too large for the records stream itself: refused at publish time,
	// never stored, so never half-processed.
	huge := record(map[string]any{"key": "poison-huge", "padding": strings.Repeat("x", 1_000_000)})
	_, err := c.JS.Publish(c.ctx, j.Subject, huge)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamMessageExceedsMaximum {
		t.Errorf("publishing %d bytes: %v; want the stream to refuse it (err_code %d)", len(huge), err, jetstream.JSErrCodeStreamMessageExceedsMaximum)
	}

	res := c.Watch(j, 10*time.Minute)
	a := c.Audit(j, res, time.Since(start), AuditOptions{ExtraDeadLetters: 1})
	Report(t, fmt.Sprintf("poison and bad input: %d bad records and 2 bad headers among %d", len(bad), n), a)

	isBad := map[int]bool{}
	for _, b := range bad {
		isBad[b.seq] = true
		o := res.Outcomes[b.seq-1]
		if o.Status != messages.StatusDeadLettered || o.Code != b.code || o.Delivery != 1 {
			t.Errorf("record %d (%s): %s %s on delivery %d; want dead-lettered %s on the first delivery", b.seq, b.what, o.Status, o.Code, o.Delivery, b.code)
		} else {
			t.Logf("record %d (%s): dead-lettered %s: %.120s", b.seq, b.what, o.Code, o.Message)
		}
	}
	for i, o := range res.Outcomes {
		if !isBad[i+1] && (o.Status != messages.StatusLoaded || o.Delivery != 1) {
			t.Errorf("record %d: %s %s on delivery %d; want loaded on the first delivery (the bad input must not disturb the rest)", i+1, o.Status, o.Code, o.Delivery)
		}
	}
	for _, e := range a.DeadLetters {
		if d := e.DeadLetter; d.Attempts != 1 {
			t.Errorf("dead letter of record %d (%s) after %d deliveries, want 1", d.Seq, d.Code, d.Attempts)
		}
	}
	// The bad headers, found by their code.
	// A record whose Kinetic-Job is not a valid id belongs to no job (it
	// cannot name a results subject); its dead letter keeps the header.
	headerDLs := c.DeadLettersWith(deadletter.Filter{Code: messages.CodeBadHeader})
	jobsSeen := map[string]bool{}
	for _, e := range headerDLs {
		job := e.DeadLetter.Job
		if job == "" {
			job = http.Header(e.DeadLetter.Headers).Get(messages.HeaderJob)
		}
		jobsSeen[job] = true
		t.Logf("dead letter %d: job %q (header %q) seq %d %s: %s", e.Seq, e.DeadLetter.Job, job, e.DeadLetter.Seq, e.DeadLetter.Code, e.DeadLetter.Message)
	}
	if len(headerDLs) != 2 || !jobsSeen[j.ID] || !jobsSeen["bad job!"] {
		t.Errorf("%d dead letters with %s (jobs %v), want the 2 records with malformed headers", len(headerDLs), messages.CodeBadHeader, jobsSeen)
	}
	// What the workers logged as errors meanwhile (evidence, not asserted).
	for _, w := range c.Workers {
		for _, line := range w.LogLines(`"level":"error"`) {
			t.Logf("%s logged: %s", w.Name, line)
		}
	}
	// No worker crashed or restarted.
	for _, w := range c.Workers {
		st, err := w.State()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running || st.StartedAt != started[w.Name] {
			t.Errorf("%s: running %v, started %s (was %s): bad input made a worker crash", w.Name, st.Running, st.StartedAt, started[w.Name])
		}
	}
}
