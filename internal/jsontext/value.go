package jsontext

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// AppendValue appends v as JSON, as encoding/json.Marshal encodes it with
// HTML escaping off, with two differences: an object's keys come in the
// map's order (JSON objects are unordered; encoding/json sorts them), and
// every object member named omit is left out, at every depth ("" omits
// nothing). It is the request encoder of pkg/salesforce: a Salesforce record
// is a map[string]any of strings, numbers, booleans, nulls and nested
// records, and a record read by a query carries "attributes" entries that a
// request must not send.
//
// Values of other types are encoded by encoding/json. NaN and infinities are
// errors, as in encoding/json. FuzzAppendValue holds the output to
// encoding/json's: the same JSON value, and an error for the same inputs.
//
// Why it is hand-written: encoding/json sorts each record's keys through
// reflection and, with "attributes" to drop, needs a copy of every record
// first. On a 200-record Collections body it took about 6x the CPU, 7.5% of
// the zero-latency end-to-end run's samples against 1.1%, and its deletion
// lowered that run's ratio to the broker ceiling (docs/performance.md,
// "Issue 13's codec deletions against the code before them").
func AppendValue(b []byte, v any, omit string) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return AppendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case float64:
		return appendFloat(b, x, 64)
	case float32:
		return appendFloat(b, float64(x), 32)
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case json.Number:
		if x == "" {
			return append(b, '0'), nil // as encoding/json
		}
		if c := x[0]; (c != '-' && (c < '0' || c > '9')) || !json.Valid([]byte(x)) {
			return b, fmt.Errorf("json: invalid number literal %q", string(x))
		}
		return append(b, x...), nil
	case map[string]any:
		return AppendObject(b, x, omit)
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = AppendValue(b, e, omit); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	default:
		enc, err := json.Marshal(x)
		if err != nil {
			return b, err
		}
		return append(b, enc...), nil
	}
}

// AppendObject appends m as a JSON object without the members named omit
// (at every depth), as AppendValue does; a nil map is null.
func AppendObject(b []byte, m map[string]any, omit string) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	b, err := AppendMembers(append(b, '{'), m, omit, true)
	if err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

// AppendMembers appends m's members, without those named omit (at every
// depth), inside an object the caller opened: first says whether they are
// the object's first members, else each is preceded by a comma.
func AppendMembers(b []byte, m map[string]any, omit string, first bool) ([]byte, error) {
	for k, v := range m {
		if omit != "" && k == omit {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = AppendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = AppendValue(b, v, omit); err != nil {
			return b, fmt.Errorf("%q: %w", k, err)
		}
	}
	return b, nil
}

// appendFloat formats f as encoding/json does (ES6 number formatting).
func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, errors.New("json: unsupported value: " + strconv.FormatFloat(f, 'g', -1, bits))
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}
