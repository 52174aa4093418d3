package sfsim

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestJSONDecoderMatchesEncodingJSON compares the record reader (ordered
// fields with offsets) with json.Unmarshal on valid and invalid documents.
func TestJSONDecoderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{}`,
		`{"a":1,"b":"x","c":true,"d":null,"e":[1,"2",{"f":false}],"g":{"h":-1.5e3}}`,
		`{"s":"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \ud800"}`,
		` { "k" : [ ] , "m" : { } } `,
		`{"n":0,"o":-0.25,"p":12E-2}`,
		`{"a":1,}`, `{"a"}`, `{"a":01}`, `{"a":"\x"}`, `{"a":tru}`, `{"a":1} x`, `[1]`, `{"a":"` + "\x01" + `"}`,
		`{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":"\u12"}`, `{"a":[1,]}`, `{`,
	}
	for _, doc := range docs {
		var want map[string]any
		werr := json.Unmarshal([]byte(doc), &want)
		got, gerr := decodeRecord([]byte(doc))
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%q: encoding/json error %v, ours %v", doc, werr, gerr)
			continue
		}
		if werr != nil {
			continue
		}
		m := map[string]any{}
		for _, kv := range got {
			m[kv.key] = kv.val
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%q: got %#v, want %#v", doc, m, want)
		}
	}
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
