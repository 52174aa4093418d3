package messages_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"ext_id":"A-1","company":"Acme","revenue":1e6,"ok":true,"x":null}`,
		`{"a":{"b":[1,2,{"c":"d"}]}}`, ` {"a":1} `, `{"a":1}{"b":2}`, `[1]`, `"s"`, `12`, ``, `{`,
		`{"\u00e9":"\ud83d\ude00"}`, "{\"bad\":\"\xff\"}", `{"n":-0}`, `{"n":1e308}`, `{"a":1,"a":2}`,
		`{"n":1e400}`, `{"a":{"x":1},"a":{"y":2}}`, `{"a":{"x":1,"x":{"y":2}}}`, `null`, ` {"a":1} x`,
	} {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 8)
	}
	f.Fuzz(func(t *testing.T, data []byte, maxBytes int) {
		rec, err := messages.DecodeRecord(data, maxBytes)
		// encoding/json (v1) is the reference: the same documents are
		// records, with the same values.
		var want map[string]any
		werr := json.Unmarshal(data, &want)
		isObject := werr == nil && want != nil
		if tooLarge := maxBytes > 0 && len(data) > maxBytes; !tooLarge && (err == nil) != isObject {
			t.Fatalf("%q: encoding/json: %v (object %v); DecodeRecord: %v", data, werr, isObject, err)
		}
		if err == nil && !reflect.DeepEqual(rec, want) {
			t.Fatalf("%q: got %#v, encoding/json %#v", data, rec, want)
		}
		if err != nil {
			var de *messages.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if de.Code != messages.CodeUndecodable && de.Code != messages.CodeTooLarge {
				t.Fatalf("code %q", de.Code)
			}
			if rec != nil {
				t.Fatalf("record with error")
			}
			return
		}
		if rec == nil {
			t.Fatal("nil record without an error")
		}
		if maxBytes > 0 && len(data) > maxBytes {
			t.Fatalf("%d bytes accepted with a limit of %d", len(data), maxBytes)
		}
		enc, err := messages.EncodeRecord(rec)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", rec, err)
		}
		back, err := messages.DecodeRecord(enc, 0)
		if err != nil {
			t.Fatalf("decoding the re-encoding %s: %v", enc, err)
		}
		if !reflect.DeepEqual(back, rec) {
			t.Fatalf("round trip changed the record:\n%#v\n%#v", rec, back)
		}
	})
}

func FuzzDecodeBatchResult(f *testing.F) {
	good, err := messages.EncodeBatchResult(sampleBatchResult())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(good), `{"v":1}`, `{"v":1,"records":null}`, `{"v":1,"records":[]}`,
		`{"v":1,"records":[{"seq":1,"status":"loaded","fields":[]}]}`,
		`{"v":2}`, `{"v":0}`, `{}`, `null`, `{"v":1,"x":1}`, `{"v":1} {}`,
		`{"v":1,"started_at":"2026-11-26T10:15:00.5+05:30"}`, `{"V":1,"Pipeline":"p"}`,
		`{"v":1,"records":[{"status":"loaded","seq":1,"seq":2}]}`, `{"v":1,"pipeline":"a\xffb"}`, `{"v":1,"BATCH_ID":"x"}`,
		`{"v":1,"started_at":"not a time"}`, `{"v":1,"loaded":1.5}`, `{"v":1,"records":[null]}`, `{"v":1} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br, err := messages.DecodeBatchResult(data)
		// encoding/json (v1) with DisallowUnknownFields is the reference
		// for the v2 reading: the same documents decode, to the same value.
		want, ok := v1BatchResult(data)
		if (err == nil) != ok {
			t.Fatalf("%q: DecodeBatchResult error %v; encoding/json accepts: %v", data, err, ok)
		}
		if err == nil && !reflect.DeepEqual(br, want) {
			t.Fatalf("%q: got %+v, encoding/json %+v", data, br, want)
		}
		if err != nil {
			checkEnvelopeError(t, err)
			if br != nil {
				t.Fatal("result with error")
			}
			return
		}
		if br.V != messages.Version {
			t.Fatalf("decoded version %d", br.V)
		}
		enc, err := messages.EncodeBatchResult(br)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		back, err := messages.DecodeBatchResult(enc)
		if err != nil {
			t.Fatalf("decoding the re-encoding %s: %v", enc, err)
		}
		normalizeBatch(br)
		normalizeBatch(back)
		if !reflect.DeepEqual(back, br) {
			t.Fatalf("round trip changed the result:\n%+v\n%+v", br, back)
		}
	})
}

// v1BatchResult is DecodeBatchResult as it was on encoding/json (v1): a
// strict Decoder, nothing after the value, version 1, known statuses.
func v1BatchResult(data []byte) (*messages.BatchResult, bool) {
	var r messages.BatchResult
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if dec.Decode(&r) != nil {
		return nil, false
	}
	var rest json.RawMessage
	if !errors.Is(dec.Decode(&rest), io.EOF) || r.V != messages.Version {
		return nil, false
	}
	for _, rec := range r.Records {
		switch rec.Status {
		case messages.StatusLoaded, messages.StatusDeadLettered, messages.StatusSkipped, messages.StatusRetrying:
		default:
			return nil, false
		}
	}
	return &r, true
}

func FuzzDecodeDeadLetter(f *testing.F) {
	h, body, err := messages.EncodeDeadLetter(sampleDeadLetter())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(h.Get(messages.HeaderDeadLetter), body)
	for _, s := range []string{
		`{"v":1,"subject":"s","code":"C"}`, `{"v":1,"subject":"s","code":"C","headers":{}}`,
		`{"v":1,"subject":"s","code":"C","headers":{"a":null,"b":[]}}`, `{"v":1,"subject":"s","code":"C","fields":[]}`,
		`{"v":1,"subject":"","code":"C"}`, `{"v":2,"subject":"s","code":"C"}`, ``, `{`, `{"v":1,"subject":"s","code":"C"}x`,
		`{"v":1,"subject":"s","code":"C","message":"ü"}`,
	} {
		f.Add(s, []byte(`{"a":1}`))
		f.Add(s, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, env string, body []byte) {
		h := nats.Header{}
		h.Set(messages.HeaderDeadLetter, env)
		d, err := messages.DecodeDeadLetter(h, body)
		if err != nil {
			checkEnvelopeError(t, err)
			if d != nil {
				t.Fatal("dead letter with error")
			}
			return
		}
		if d.V != messages.Version || d.Subject == "" || d.Code == "" {
			t.Fatalf("accepted %+v", d)
		}
		if string(d.Data) != string(body) {
			t.Fatalf("payload changed: %q → %q", body, d.Data)
		}
		// The first encoding may shorten an over-long message; after that,
		// encoding and decoding is the identity.
		h1, b1, err := messages.EncodeDeadLetter(d)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		d1, err := messages.DecodeDeadLetter(h1, b1)
		if err != nil {
			t.Fatalf("decoding the re-encoding %s: %v", h1.Get(messages.HeaderDeadLetter), err)
		}
		if string(d1.Data) != string(body) {
			t.Fatalf("payload changed on re-encoding")
		}
		h2, b2, err := messages.EncodeDeadLetter(d1)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		d2, err := messages.DecodeDeadLetter(h2, b2)
		if err != nil {
			t.Fatalf("decoding the second re-encoding: %v", err)
		}
		normalizeDeadLetter(d1)
		normalizeDeadLetter(d2)
		if !reflect.DeepEqual(d2, d1) {
			t.Fatalf("round trip changed the dead letter:\n%+v\n%+v", d1, d2)
		}
		if len(d.Message) <= 4000 {
			normalizeDeadLetter(d)
			if !reflect.DeepEqual(d1, d) {
				t.Fatalf("round trip changed the dead letter:\n%+v\n%+v", d, d1)
			}
		}
	})
}

// checkEnvelopeError fails unless err is one of the documented decode errors.
func checkEnvelopeError(t *testing.T, err error) {
	t.Helper()
	var de *messages.DecodeError
	var ve *messages.VersionError
	switch {
	case errors.As(err, &de):
		if de.Code != messages.CodeUndecodable {
			t.Fatalf("code %q", de.Code)
		}
	case errors.As(err, &ve):
		if ve.Version == messages.Version {
			t.Fatalf("version error for the current version: %v", ve)
		}
	default:
		t.Fatalf("error %T %v", err, err)
	}
}

// normalizeBatch makes values that encode the same compare equal: an empty
// list that omitempty drops, and times in different zones.
func normalizeBatch(b *messages.BatchResult) {
	b.StartedAt, b.FinishedAt = normTime(b.StartedAt), normTime(b.FinishedAt)
	if len(b.Records) == 0 {
		b.Records = nil
	}
	for i := range b.Records {
		if len(b.Records[i].Fields) == 0 {
			b.Records[i].Fields = nil
		}
	}
}

func normalizeDeadLetter(d *messages.DeadLetter) {
	d.FirstFailure, d.LastFailure = normTime(d.FirstFailure), normTime(d.LastFailure)
	if len(d.Fields) == 0 {
		d.Fields = nil
	}
	if len(d.Headers) == 0 {
		d.Headers = nil
	}
	if len(d.Data) == 0 {
		d.Data = nil
	}
}

// normTime keeps the instant and the offset, not the *Location pointer.
func normTime(t time.Time) time.Time {
	_, off := t.Zone()
	return t.In(time.FixedZone("", off))
}
