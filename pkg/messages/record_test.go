package messages_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

func TestDecodeRecordObject(t *testing.T) {
	t.Parallel()
	rec, err := messages.DecodeRecord([]byte(" \n\t{\"ext_id\":\"A-1\",\"n\":42,\"ok\":true,\"none\":null,\"nested\":{\"x\":[1,\"two\"]}}\r\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"ext_id": "A-1", "n": 42.0, "ok": true, "none": nil,
		"nested": map[string]any{"x": []any{1.0, "two"}},
	}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("got %#v, want %#v", rec, want)
	}
	empty, err := messages.DecodeRecord([]byte(`{}`), 0)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("{}: %#v, %v", empty, err)
	}
}

func TestDecodeRecordUndecodable(t *testing.T) {
	t.Parallel()
	for name, payload := range map[string]string{
		"empty":               "",
		"whitespace":          " \r\n\t ",
		"not JSON":            "hello",
		"array":               `[{"a":1}]`,
		"string":              `"a string"`,
		"number":              `42`,
		"true":                `true`,
		"null":                `null`,
		"truncated object":    `{"a":1`,
		"trailing object":     `{"a":1}{"b":2}`,
		"trailing garbage":    `{"a":1} x`,
		"trailing comma":      `{"a":1,}`,
		"single quotes":       `{'a':1}`,
		"unquoted key":        `{a:1}`,
		"byte order mark":     "\ufeff{\"a\":1}",
		"nul byte":            "\x00",
		"object then array":   `{"a":1}[]`,
		"leading vertical":    "\v{\"a\":1}",
		"bad escape in key":   `{"\x":1}`,
		"number out of range": `{"a":1e999}`,
	} {
		rec, err := messages.DecodeRecord([]byte(payload), 0)
		var de *messages.DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: got %#v, %v; want a *DecodeError", name, rec, err)
			continue
		}
		if de.Code != messages.CodeUndecodable {
			t.Errorf("%s: code %s, want %s", name, de.Code, messages.CodeUndecodable)
		}
		if rec != nil {
			t.Errorf("%s: record %#v returned with the error", name, rec)
		}
	}
}

func TestDecodeRecordTooLarge(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"k":"` + strings.Repeat("x", 100) + `"}`)
	n := len(payload)
	if _, err := messages.DecodeRecord(payload, n); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
	if _, err := messages.DecodeRecord(payload, 0); err != nil {
		t.Errorf("no limit: %v", err)
	}
	_, err := messages.DecodeRecord(payload, n-1)
	var de *messages.DecodeError
	if !errors.As(err, &de) || de.Code != messages.CodeTooLarge {
		t.Fatalf("over the limit: %v, want %s", err, messages.CodeTooLarge)
	}
	if !strings.Contains(err.Error(), "limit") {
		t.Errorf("message %q does not say what the limit is", err)
	}
	// Size is checked first: an over-long payload that is not JSON is too large, not undecodable.
	_, err = messages.DecodeRecord([]byte(strings.Repeat("z", 50)), 10)
	if !errors.As(err, &de) || de.Code != messages.CodeTooLarge {
		t.Errorf("over-long garbage: %v, want %s", err, messages.CodeTooLarge)
	}
}

func TestDecodeErrorUnwraps(t *testing.T) {
	t.Parallel()
	_, err := messages.DecodeRecord([]byte(`{"a":`), 0)
	var de *messages.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%v", err)
	}
	if de.Err == nil || errors.Unwrap(err) != de.Err { //nolint:errorlint // identity: Unwrap returns the JSON error itself
		t.Errorf("the JSON error is not wrapped: %#v", de)
	}
	if !strings.HasPrefix(err.Error(), messages.CodeUndecodable+": ") {
		t.Errorf("message %q does not start with the code", err)
	}
}

func TestEncodeRecord(t *testing.T) {
	t.Parallel()
	rec := map[string]any{"b": 1.5, "a": "x", "c": nil, "d": []any{true}}
	data, err := messages.EncodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"a":"x","b":1.5,"c":null,"d":[true]}` {
		t.Errorf("encoded %s", data)
	}
	back, err := messages.DecodeRecord(data, 0)
	if err != nil || !reflect.DeepEqual(back, rec) {
		t.Errorf("decode(encode) = %#v, %v", back, err)
	}
	if _, err := messages.EncodeRecord(map[string]any{"ch": make(chan int)}); err == nil {
		t.Error("a channel value encoded")
	}
}
