package messages

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeRecordMatchesEncodingJSON checks the record parser against
// encoding/json: the same inputs succeed, with the same values.
//
//	go test ./pkg/messages -run '^$' -fuzz FuzzDecodeRecordMatchesEncodingJSON -fuzztime 60s
func FuzzDecodeRecordMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, ` {"a": [1, 2.5e3, -0, true, false, null, {"b": "c"}]} `,
		`{"s":"\u00e9\ud83d\ude00 \ud800 \udc00x \"\\\/\b\f\n\r\t"}`, "{\"bad\":\"\xff\xfe\"}",
		`{"a":1,"a":2}`, `{"n":1e400}`, `{"n":01}`, `{"n":-}`, `{"n":1.}`, `{"x":tru}`, `{"a":1}x`,
		`{"a":"\u12"}`, "{\"ctl\":\"\x01\"}", `[1]`, `"s"`, `{"a":[}`, `{"a" 1}`, `{,}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseObject(data)
		var want map[string]any
		werr := json.Unmarshal(data, &want)
		if werr == nil && want == nil {
			werr = errors.New("not an object") // "null" decodes to a nil map
		}
		var se *syntaxError
		if err != nil && errors.As(err, &se) && se.msg == "nested too deep" {
			return // encoding/json allows 10000 levels; records never need 1000
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("input %q: parseObject error %v, encoding/json error %v", data, err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q:\nparseObject  %#v\nencoding/json %#v", data, got, want)
		}
	})
}

func TestParseObjectTable(t *testing.T) {
	t.Parallel()
	ok := []string{`{}`, `{"a":{"b":[1,{"c":null}]},"d":"\u00e9"}`, "\t{\"x\":-1.5e-3}\n"}
	for _, s := range ok {
		got, err := parseObject([]byte(s))
		var want map[string]any
		if json.Unmarshal([]byte(s), &want) != nil || err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v %v, want %v", s, got, err, want)
		}
	}
	bad := map[string]string{
		`[]`: "want a JSON object", `{"a":1} {}`: "trailing data", `{"a":1e999}`: "out of range",
		`{"a":"\x"}`: "invalid escape", `{"a":01}`: "want ','", strings.Repeat(`{"a":`, 1001) + "1" + strings.Repeat("}", 1001): "nested too deep",
	}
	for in, want := range bad {
		if _, err := parseObject([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: err %v, want %q", in, err, want)
		}
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	data := []byte(`{"ext_id":"K-00012345","company":"Company 12345 Holdings","email":"Contact12345@Example.COM","revenue":"13345","employees":"2346","industry":"Technology"}`)
	b.Run("parseObject", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := parseObject(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
