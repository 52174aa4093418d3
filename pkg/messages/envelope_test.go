package messages_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

func sampleBatchResult() *messages.BatchResult {
	t0 := time.Date(2026, 11, 26, 10, 15, 0, 123456789, time.UTC)
	return &messages.BatchResult{
		BatchID: "worker-1-7", Pipeline: "accounts", SObject: "Account", Mode: "upsert", Job: "job-1",
		Worker: "worker-1", Loaded: 2, Failed: 1, Skipped: 1, Retrying: 1, APICalls: 3,
		StartedAt: t0, FinishedAt: t0.Add(1500 * time.Millisecond),
		Records: []messages.RecordOutcome{
			{Seq: 1, StreamSeq: 10, Key: "A-1", Status: messages.StatusLoaded, ID: "001000000000001AAA", Created: true, Delivery: 1},
			{Seq: 2, StreamSeq: 11, Status: messages.StatusLoaded, ID: "001000000000002AAA", Delivery: 2},
			{Seq: 3, StreamSeq: 12, Status: messages.StatusDeadLettered, Code: "REQUIRED_FIELD_MISSING",
				Message: "Required fields are missing: [Name]", Fields: []string{"Name"}, Delivery: 1},
			{Seq: 4, StreamSeq: 13, Status: messages.StatusSkipped, Delivery: 1},
			{StreamSeq: 14, Status: messages.StatusRetrying, Code: "UNABLE_TO_LOCK_ROW", Delivery: 3},
		},
	}
}

func TestBatchResultRoundTrip(t *testing.T) {
	t.Parallel()
	in := sampleBatchResult()
	data, err := messages.EncodeBatchResult(in)
	if err != nil {
		t.Fatal(err)
	}
	if in.V != messages.Version {
		t.Errorf("EncodeBatchResult left V = %d", in.V)
	}
	out, err := messages.DecodeBatchResult(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	// The wire names are the documented ones.
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "batch_id", "pipeline", "sobject", "mode", "job", "worker", "loaded", "failed",
		"skipped", "retrying", "api_calls", "started_at", "finished_at", "records"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("encoded batch result has no %q: %s", k, data)
		}
	}
	if raw["v"] != float64(1) {
		t.Errorf("v = %v", raw["v"])
	}
}

func TestFinal(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]bool{
		messages.StatusLoaded: true, messages.StatusDeadLettered: true, messages.StatusSkipped: true,
		messages.StatusRetrying: false, "": false, "LOADED": false,
	} {
		if messages.Final(status) != want {
			t.Errorf("Final(%q) = %v", status, !want)
		}
	}
}

func TestDecodeBatchResultStrict(t *testing.T) {
	t.Parallel()
	good, err := messages.EncodeBatchResult(sampleBatchResult())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"missing v":            `{"batch_id":"b","records":[]}`,
		"v null":               `{"v":null,"records":[]}`,
		"v string":             `{"v":"1"}`,
		"not JSON":             `nope`,
		"empty":                ``,
		"array":                `[{"v":1}]`,
		"unknown field":        `{"v":1,"batch_id":"b","surprise":true}`,
		"unknown record field": `{"v":1,"records":[{"seq":1,"status":"loaded","extra":1}]}`,
		"wrong type":           `{"v":1,"loaded":"two"}`,
		"trailing data":        string(good) + `{"v":1}`,
		"trailing junk":        string(good) + ` x`,
		"unknown status":       `{"v":1,"records":[{"seq":1,"status":"loaded"},{"seq":2,"status":"exploded"}]}`,
		"empty status":         `{"v":1,"records":[{"seq":1}]}`,
	} {
		br, err := messages.DecodeBatchResult([]byte(data))
		var de *messages.DecodeError
		if !errors.As(err, &de) || de.Code != messages.CodeUndecodable {
			t.Errorf("%s: got %+v, %v; want a *DecodeError %s", name, br, err, messages.CodeUndecodable)
		}
		if br != nil {
			t.Errorf("%s: result returned with the error", name)
		}
	}
	// The unknown status error says which record.
	_, err = messages.DecodeBatchResult([]byte(`{"v":1,"records":[{"seq":1,"status":"loaded"},{"seq":2,"status":"exploded"}]}`))
	if err == nil || !strings.Contains(err.Error(), "record 1") || !strings.Contains(err.Error(), "exploded") {
		t.Errorf("unknown status error %q should name the record and the status", err)
	}
	// Whitespace around a valid envelope is fine.
	if _, err := messages.DecodeBatchResult([]byte("\n " + string(good) + " \n")); err != nil {
		t.Errorf("surrounding whitespace: %v", err)
	}
}

func TestDecodeUnknownVersion(t *testing.T) {
	t.Parallel()
	h := nats.Header{}
	h.Set(messages.HeaderDeadLetter, `{"v":2,"subject":"s","code":"C","from_the_future":true}`)
	for name, decode := range map[string]func() error{
		"batch result": func() error {
			_, err := messages.DecodeBatchResult([]byte(`{"v":2,"from_the_future":true}`))
			return err
		},
		"dead letter": func() error {
			_, err := messages.DecodeDeadLetter(h, []byte(`{}`))
			return err
		},
	} {
		err := decode()
		var ve *messages.VersionError
		if !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a *VersionError", name, err)
			continue
		}
		if ve.Version != 2 || ve.Kind != name {
			t.Errorf("%s: %+v", name, ve)
		}
		var de *messages.DecodeError
		if errors.As(err, &de) {
			t.Errorf("%s: a version error is also a DecodeError: %v", name, err)
		}
		if !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "version 1") {
			t.Errorf("%s: message %q should give both versions", name, err)
		}
	}
	// Version 0 is not a guess at version 1 either.
	if br, err := messages.DecodeBatchResult([]byte(`{"v":0}`)); err == nil {
		t.Errorf("v 0 decoded: %+v", br)
	}
}

func sampleDeadLetter() *messages.DeadLetter {
	t0 := time.Date(2026, 11, 26, 10, 15, 0, 0, time.UTC)
	return &messages.DeadLetter{
		Pipeline: "accounts", SObject: "Account", Mode: "upsert",
		Subject: "kinetic.records.Account.upsert", Stream: "KINETIC_RECORDS", StreamSeq: 77,
		Job: "job-1", Seq: 3, Key: "A-3", MsgID: "job-1-3",
		Headers: map[string][]string{"Kinetic-Job": {"job-1"}, "Kinetic-Seq": {"3"}, "X-Many": {"a", "b"}},
		Data:    []byte("{\"ext_id\":\"A-3\",\"company\":null}\n\x00\xff not even UTF-8"),
		Code:    "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [Name]", Fields: []string{"Name"},
		Attempts: 2, FirstFailure: t0, LastFailure: t0.Add(time.Minute), Worker: "worker-1",
	}
}

func TestDeadLetterRoundTrip(t *testing.T) {
	t.Parallel()
	in := sampleDeadLetter()
	h, body, err := messages.EncodeDeadLetter(in)
	if err != nil {
		t.Fatal(err)
	}
	if in.V != messages.Version {
		t.Errorf("V = %d", in.V)
	}
	if string(body) != string(in.Data) {
		t.Errorf("body %q, want the original bytes %q", body, in.Data)
	}
	env := h.Get(messages.HeaderDeadLetter)
	if env == "" || strings.Contains(env, "not even") {
		t.Errorf("envelope header %q: missing, or it carries the payload", env)
	}
	out, err := messages.DecodeDeadLetter(h, body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	// An empty body (a record that was empty) is kept as it is.
	in2 := sampleDeadLetter()
	in2.Data = nil
	h2, body2, err := messages.EncodeDeadLetter(in2)
	if err != nil {
		t.Fatal(err)
	}
	out2, err := messages.DecodeDeadLetter(h2, body2)
	if err != nil || len(out2.Data) != 0 {
		t.Errorf("empty payload: %q, %v", out2.Data, err)
	}
}

func TestDecodeDeadLetterStrict(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]string{
		"no header":       "",
		"not JSON":        "{{",
		"missing v":       `{"subject":"s","code":"C"}`,
		"no subject":      `{"v":1,"code":"C"}`,
		"no code":         `{"v":1,"subject":"s"}`,
		"empty subject":   `{"v":1,"subject":"","code":"C"}`,
		"unknown field":   `{"v":1,"subject":"s","code":"C","data":"aGk="}`,
		"trailing data":   `{"v":1,"subject":"s","code":"C"} {}`,
		"wrong type":      `{"v":1,"subject":"s","code":"C","attempts":"3"}`,
		"bad time":        `{"v":1,"subject":"s","code":"C","first_failure":"yesterday"}`,
		"headers as list": `{"v":1,"subject":"s","code":"C","headers":["a"]}`,
	} {
		h := nats.Header{}
		if env != "" {
			h.Set(messages.HeaderDeadLetter, env)
		}
		d, err := messages.DecodeDeadLetter(h, []byte(`{"a":1}`))
		var de *messages.DecodeError
		if !errors.As(err, &de) || de.Code != messages.CodeUndecodable {
			t.Errorf("%s: got %+v, %v; want a *DecodeError", name, d, err)
		}
		if d != nil {
			t.Errorf("%s: dead letter returned with the error", name)
		}
	}
	// The minimal valid envelope.
	h := nats.Header{}
	h.Set(messages.HeaderDeadLetter, `{"v":1,"subject":"kinetic.records.A.insert","code":"C"}`)
	d, err := messages.DecodeDeadLetter(h, []byte("raw"))
	if err != nil || d.Subject != "kinetic.records.A.insert" || d.Code != "C" || string(d.Data) != "raw" {
		t.Errorf("minimal dead letter: %+v, %v", d, err)
	}
}

func TestDeadLetterMessageTruncated(t *testing.T) {
	t.Parallel()
	const limit = 4000
	for name, msg := range map[string]string{
		"short":          "short message",
		"exactly limit":  strings.Repeat("a", limit),
		"over limit":     strings.Repeat("b", limit+1),
		"far over limit": strings.Repeat("c", 3*limit),
		"multibyte":      strings.Repeat("é", limit), // 8000 bytes, the cut falls between characters
	} {
		d := sampleDeadLetter()
		d.Message = msg
		h, body, err := messages.EncodeDeadLetter(d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := messages.DecodeDeadLetter(h, body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(msg) <= limit {
			if got.Message != msg {
				t.Errorf("%s: a message within the limit was changed", name)
			}
			continue
		}
		kept, ok := strings.CutSuffix(got.Message, "…")
		if !ok {
			t.Errorf("%s: a shortened message does not end in …", name)
		}
		if len(kept) != limit {
			t.Errorf("%s: kept %d bytes of the message, want %d", name, len(kept), limit)
		}
		if !strings.HasPrefix(msg, kept) {
			t.Errorf("%s: the kept part is not the start of the message", name)
		}
		if d.Message != got.Message {
			t.Errorf("%s: EncodeDeadLetter left %d bytes in the struct, the wire has %d", name, len(d.Message), len(got.Message))
		}
		// The record itself is never shortened.
		if string(got.Data) != string(sampleDeadLetter().Data) {
			t.Errorf("%s: payload changed", name)
		}
	}
}

// A long message is cut at a rune boundary: cut inside a multi-byte
// character, the envelope would carry invalid UTF-8 (stored as U+FFFD), and
// the stored message would not be a prefix of the original.
func TestDeadLetterMessageTruncatedOnRuneBoundary(t *testing.T) {
	t.Parallel()
	const limit = 4000
	msg := strings.Repeat("x", limit-1) + strings.Repeat("€", 10) // € is 3 bytes: byte 4000 is inside one
	d := sampleDeadLetter()
	d.Message = msg
	h, body, err := messages.EncodeDeadLetter(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := messages.DecodeDeadLetter(h, body)
	if err != nil {
		t.Fatal(err)
	}
	kept, ok := strings.CutSuffix(got.Message, "…")
	if !ok || len(kept) > limit || len(kept) < limit-utf8.UTFMax {
		t.Errorf("kept %d bytes (suffix … %v), want just under %d", len(kept), ok, limit)
	}
	if !strings.HasPrefix(msg, kept) {
		t.Errorf("the kept part is not a prefix of the message (cut inside a character): ends %q", kept[max(0, len(kept)-6):])
	}
	if !utf8.ValidString(d.Message) || d.Message != got.Message {
		t.Errorf("EncodeDeadLetter left invalid UTF-8 in the struct (valid=%v), %d bytes; the wire has %d",
			utf8.ValidString(d.Message), len(d.Message), len(got.Message))
	}
}
