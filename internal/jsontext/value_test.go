package jsontext

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// FuzzAppendValue holds AppendValue to encoding/json: for any JSON document
// decoded into an any (numbers as float64, and again as json.Number), the
// output decodes to what encoding/json.Marshal's does, with the omitted key
// gone at every depth; a float64 or float32 is written byte for byte as
// encoding/json writes it, and NaN and infinities are errors.
//
//	go test -run '^$' -fuzz FuzzAppendValue -fuzztime 60s ./internal/jsontext/
func FuzzAppendValue(f *testing.F) {
	for _, doc := range []string{
		`{}`, `{"a":1,"attributes":{"type":"Account"},"b":{"attributes":{"url":"/x"},"Ext__c":"K-1"}}`,
		`[1,"2",null,true,{"x":[{"attributes":1}]}]`, `{"s":"<&>\u2028\ud83d\ude00"}`, `-0`, `1e21`, `1e-7`, `123456789012345678901234567890`,
	} {
		f.Add([]byte(doc), math.Float64bits(1e21), "attributes")
		f.Add([]byte(doc), math.Float64bits(0.000001), "")
	}
	f.Fuzz(func(t *testing.T, doc []byte, fbits uint64, omit string) {
		for _, useNumber := range []bool{false, true} {
			dec := json.NewDecoder(bytes.NewReader(doc))
			if useNumber {
				dec.UseNumber()
			}
			var v any
			if dec.Decode(&v) != nil {
				return
			}
			got, err := AppendValue(nil, v, omit)
			if err != nil {
				t.Fatalf("%s: %v", doc, err)
			}
			want, err := json.Marshal(without(v, omit))
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%s: wrote invalid JSON %s: %v", doc, got, err)
			}
			_ = json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("%s (omit %q): wrote %s, encoding/json %s", doc, omit, got, want)
			}
		}
		fl := math.Float64frombits(fbits)
		for _, x := range []any{fl, float32(fl)} {
			got, err := AppendValue(nil, x, "")
			want, werr := json.Marshal(x)
			if (err == nil) != (werr == nil) || !bytes.Equal(got, want) && err == nil {
				t.Fatalf("%T %v: wrote %s (%v), encoding/json %s (%v)", x, x, got, err, want, werr)
			}
		}
	})
}

// without is v with every object member named omit removed, at every depth.
func without(v any, omit string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if omit != "" && k == omit {
				continue
			}
			out[k] = without(e, omit)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = without(e, omit)
		}
		return out
	}
	return v
}

func TestAppendValueTypes(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, `null`}, {int(-3), `-3`}, {int64(1 << 40), `1099511627776`}, {int32(7), `7`}, {json.Number("12.50"), `12.50`},
		{json.Number(""), `0`}, {[]any(nil), `null`}, {map[string]any(nil), `null`}, {[]string{"a"}, `["a"]`},
		{map[string]any{"k": "<b>"}, `{"k":"<b>"}`},
	} {
		got, err := AppendValue(nil, c.v, "")
		if err != nil || string(got) != c.want {
			t.Errorf("%#v: %s %v, want %s", c.v, got, err, c.want)
		}
	}
	for _, bad := range []any{json.Number("1x"), json.Number("true"), math.Inf(1), map[string]any{"x": math.NaN()}, make(chan int)} {
		if got, err := AppendValue(nil, bad, ""); err == nil {
			t.Errorf("%#v accepted: %s", bad, got)
		}
	}
}
