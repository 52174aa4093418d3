package sfsim

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzBodyReaderMatchesEncodingJSON holds the record reader (ordered fields
// with offsets, on encoding/json/v2's tokenizer) to encoding/json (v1), which
// it replaced: the same documents are accepted, with the same values, and
// every field's offsets frame its value's text.
//
//	go test -run '^$' -fuzz FuzzBodyReaderMatchesEncodingJSON -fuzztime 60s ./pkg/salesforce/sfsim/
func FuzzBodyReaderMatchesEncodingJSON(f *testing.F) {
	for _, doc := range []string{
		`{}`,
		`{"a":1,"b":"x","c":true,"d":null,"e":[1,"2",{"f":false}],"g":{"h":-1.5e3}}`,
		`{"s":"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \ud800"}`,
		` { "k" : [ ] , "m" : { } } `,
		`{"n":0,"o":-0.25,"p":12E-2}`, `{"big":1e400}`, `{"a":{"b":1,"b":2},"a":3}`, `{"a":{"x":1,"x":{"y":2}}}`,
		`{"a":1,}`, `{"a"}`, `{"a":01}`, `{"a":"\x"}`, `{"a":tru}`, `{"a":1} x`, `[1]`, `{"a":"` + "\x01" + `"}`,
		`{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":"\u12"}`, `{"a":[1,]}`, `{`, "{\"a\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var want map[string]any
		werr := json.Unmarshal(doc, &want)
		got, gerr := decodeRecord(doc)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json error %v, ours %v", doc, werr, gerr)
		}
		if werr != nil {
			return
		}
		m := map[string]any{}
		for _, kv := range got {
			m[kv.key] = kv.val
			var v any
			if err := json.Unmarshal(doc[kv.start:kv.end], &v); err != nil || !reflect.DeepEqual(v, kv.val) {
				t.Fatalf("%q: field %q framed as %q (%v)", doc, kv.key, doc[kv.start:kv.end], err)
			}
		}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("%q: got %#v, want %#v", doc, m, want)
		}
	})
}

func TestDecodeCollectionBody(t *testing.T) {
	t.Parallel()
	aon, recs, err := decodeCollectionBody([]byte(`{"allOrNone":true,"other":{"x":[1]},"records":[{"Name":"a"},null,{"Name":"b","Name":"c"}]}`))
	if err != nil || !aon || len(recs) != 3 || !recs[1].null || recs[2].fields[1].val != "c" {
		t.Fatalf("%v %v %+v", aon, err, recs)
	}
	for _, bad := range []string{`{"allOrNone":"yes","records":[]}`, `{"records":[1]}`, `{"records":{}}`, `{"records":[{}]`, `[]`} {
		if _, _, err := decodeCollectionBody([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	deep := make([]byte, 0, 300)
	deep = append(deep, `{"a":`...)
	for i := 0; i < 100; i++ {
		deep = append(deep, '[')
	}
	if _, err := decodeRecord(deep); err == nil {
		t.Error("deep nesting accepted")
	}
}
