package jsontext

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// Both escapers must round-trip through encoding/json, replacing invalid
// UTF-8 as encoding/json does, and write encoding/json's bytes.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x1f\n\t\r", "é日本\u2028\u2029", "bad\xffutf8", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, appendFn := range map[string]func([]byte, string) []byte{"AppendString": AppendString, "AppendStringHTML": AppendStringHTML} {
			got := appendFn(nil, s)
			var back string
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("%s(%q) = %s: invalid JSON: %v", name, s, got, err)
			}
			want := s
			if !utf8.ValidString(s) {
				// Both encoders replace each invalid byte with U+FFFD.
				if err := json.Unmarshal(mustMarshal(t, s), &want); err != nil {
					t.Fatal(err)
				}
			}
			if back != want {
				t.Fatalf("%s: round trip of %q gave %q, want %q", name, s, back, want)
			}
		}
		checkSameBytes(t, s)
	})
}

// AppendStringHTML writes exactly what encoding/json.Marshal writes;
// AppendString the same with HTML escaping off.
func TestSameBytesAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x1f\n\t\r\b\f", "é日本\u2028\u2029", "bad\xffutf8\xc3", "<a href=\"x\">&amp;</a>"} {
		checkSameBytes(t, s)
	}
}

func checkSameBytes(t *testing.T, s string) {
	t.Helper()
	if got, want := AppendStringHTML(nil, s), mustMarshal(t, s); !bytes.Equal(got, want) {
		t.Errorf("AppendStringHTML(%q) = %s, encoding/json %s", s, got, want)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	if got, want := AppendString(nil, s), bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
		t.Errorf("AppendString(%q) = %s, encoding/json without HTML escaping %s", s, got, want)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
