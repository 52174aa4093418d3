package salesforce

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// Record is one sObject's fields: API field name → value. Values are
// string, float64 (or any Go integer), bool, nil (sends JSON null, which
// clears the field), json.Number, or a nested Record / map[string]any for a
// relationship set by external id, e.g.
//
//	Record{"LastName": "Doe", "Account": Record{"External_Key__c": "A-1"}}
//
// Query results use the same shape, with the "attributes" entries removed.
type Record = map[string]any

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 8<<20 { // do not keep huge buffers alive
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// appendCollectionBody writes {"allOrNone":…,"records":[…]} with each record
// tagged {"attributes":{"type":sobject}}.
func appendCollectionBody(b []byte, sobject string, recs []Record, allOrNone bool) ([]byte, error) {
	b = append(b, `{"allOrNone":`...)
	b = strconv.AppendBool(b, allOrNone)
	b = append(b, `,"records":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"attributes":{"type":`...)
		b = jsontext.AppendString(b, sobject)
		b = append(b, `}`...)
		var err error
		for k, v := range r {
			if k == "attributes" {
				continue
			}
			b = append(b, ',')
			b = jsontext.AppendString(b, k)
			b = append(b, ':')
			if b, err = appendJSONValue(b, v); err != nil {
				return b, fmt.Errorf("record %d field %q: %w", i, k, err)
			}
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	return b, nil
}

// appendRecord writes one record as a JSON object (single-record endpoints).
func appendRecord(b []byte, r Record) ([]byte, error) {
	b = append(b, '{')
	first := true
	for k, v := range r {
		if k == "attributes" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsontext.AppendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, v); err != nil {
			return b, fmt.Errorf("field %q: %w", k, err)
		}
	}
	return append(b, '}'), nil
}

func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsontext.AppendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case float64:
		return appendJSONFloat(b, x)
	case float32:
		return appendJSONFloat(b, float64(x))
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case json.Number:
		if _, err := strconv.ParseFloat(string(x), 64); err != nil {
			return b, fmt.Errorf("invalid number %q", string(x))
		}
		return append(b, x...), nil
	case map[string]any:
		return appendRecord(b, x)
	default:
		enc, err := json.Marshal(x)
		if err != nil {
			return b, err
		}
		return append(b, enc...), nil
	}
}

func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("unsupported number %v", f)
	}
	// The same formatting as encoding/json.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64), nil
}

// stripAttributes removes Salesforce's "attributes" entries from a decoded
// record and from the relationship records nested in it.
func stripAttributes(r Record) Record {
	delete(r, "attributes")
	for _, v := range r {
		if m, ok := v.(map[string]any); ok {
			stripAttributes(m)
		}
	}
	return r
}
