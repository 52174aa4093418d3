package jsontext

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
)

// FuzzParseObject holds ParseObject to encoding/json: for any input,
// ParseObject succeeds exactly when encoding/json.Unmarshal into a
// map[string]any does (a JSON object), with the same map: numbers as
// float64, invalid UTF-8 and lone surrogates as U+FFFD, the last of a
// repeated key kept.
//
//	go test -run '^$' -fuzz FuzzParseObject -fuzztime 60s ./internal/jsontext/
func FuzzParseObject(f *testing.F) {
	for _, doc := range []string{
		`{}`, ` {"a":1} `, `{"Name":"Acme","Score__c":12.5,"Active__c":true,"Parent":{"Ext__c":"P-1"},"Tags":["a",1,null]}`,
		`{"a":1,"a":2}`, `{"a":{"x":1},"a":{"y":2}}`, `{"s":"\u00e9\ud83d\ude00\ud800x\/\b\f\n\r\t\"\\"}`,
		"{\"bad\":\"\xff\xfe\"}", `{"n":-0.0e+10,"m":1E400}`, `{"n":01}`, `{"a":1}x`, `[1]`, `"s"`, `{"a":}`,
		`{"a":tru}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":[1,]}`, `{,}`, strings.Repeat(`{"a":`, 30) + `1` + strings.Repeat(`}`, 30),
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var want map[string]any
		werr := json.Unmarshal(doc, &want)
		if werr == nil && want == nil {
			werr = errNotObject // null: not an object
		}
		got, err := ParseObject(doc)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: ParseObject error %v, encoding/json error %v", doc, err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: ParseObject %#v, encoding/json %#v", doc, got, want)
		}
	})
}

var errNotObject = &syntaxError{msg: "null"}

// Nesting is refused where encoding/json refuses it, and not before.
func TestParseObjectDepth(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1))
	}
	for _, n := range []int{maxObjectDepth, maxObjectDepth + 1} {
		var v map[string]any
		werr := json.Unmarshal(deep(n), &v)
		_, err := ParseObject(deep(n))
		if (err == nil) != (werr == nil) {
			t.Errorf("depth %d: ParseObject error %v, encoding/json error %v", n, err, werr)
		}
	}
}

// BenchmarkParseObject decodes a record of the shape the benchmarks
// publish, by ParseObject, by encoding/json/v2 with V1Reading (what
// DecodeRecord used before), and by encoding/json (v1).
//
//	go test -run '^$' -bench ParseObject -benchmem ./internal/jsontext/
func BenchmarkParseObject(b *testing.B) {
	doc := []byte(`{"ext_id":"EXT-0001234","company":"Company 1234 Ltd","email":"contact1234@example.com","phone":"+1 555 0100 1234","revenue":1234000.5,"employees":1234,"active":true,"tier":"Gold","notes":"Imported from the legacy CRM, row 1234"}`)
	b.Run("ParseObject", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := ParseObject(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v2", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			var m map[string]any
			if err := jsonv2.Unmarshal(doc, &m, V1Reading); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v1", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(doc, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
