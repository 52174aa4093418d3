package sfsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// Request bodies are read with encoding/json's streaming Decoder: the fields of
// a record in document order (for the first error in document order) with
// the byte offsets of their values (for JSON_PARSER_ERROR positions). A
// hand-written reader was 5-10x faster per record but did not pay where it
// matters, when calls wait on Salesforce's latency (docs/performance.md,
// "Simulator decoder"), and was removed.

// jsonField is one key and value of a record, in document order. Values are
// nil, string, float64, bool, map[string]any or []any. start and end are the
// byte offsets of the value in the body (end exclusive), for error positions
// and the raw text of numbers.
type jsonField struct {
	key        string
	val        any
	start, end int
}

// jsonRecord is one element of a "records" array; null marks a JSON null.
type jsonRecord struct {
	fields []jsonField
	null   bool
}

// stdDecoder reads one body.
type stdDecoder struct {
	data []byte
	dec  *json.Decoder
}

func newStdDecoder(data []byte) *stdDecoder {
	return &stdDecoder{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
}

func (d *stdDecoder) fail(err error) error {
	return errors.New("JSON parse error at offset " + strconv.FormatInt(d.dec.InputOffset(), 10) + ": " + err.Error())
}

// delim reads the next token and checks that it is want.
func (d *stdDecoder) delim(want json.Delim) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.fail(err)
	}
	if got, ok := tok.(json.Delim); !ok || got != want {
		return d.fail(errors.New("expected '" + want.String() + "'"))
	}
	return nil
}

// valueStart is the offset of the value that follows the last token read (a
// key): past white space and the colon.
func (d *stdDecoder) valueStart() int {
	i := int(d.dec.InputOffset())
	for i < len(d.data) {
		switch d.data[i] {
		case ' ', '\t', '\n', '\r', ':':
			i++
			continue
		}
		break
	}
	return i
}

// fields reads the rest of an object whose '{' was read, in order.
func (d *stdDecoder) fields() ([]jsonField, error) {
	out := make([]jsonField, 0, 8)
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, d.fail(err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, d.fail(errors.New("expected a key"))
		}
		start := d.valueStart()
		var v any
		if start < len(d.data) && (d.data[start] == '{' || d.data[start] == '[') {
			err = d.dec.Decode(&v) // a nested object or array
		} else {
			v, err = d.dec.Token() // a scalar: cheaper than Decode
		}
		if err != nil {
			return nil, d.fail(err)
		}
		out = append(out, jsonField{key: k, val: v, start: start, end: int(d.dec.InputOffset())})
	}
	if err := d.delim('}'); err != nil {
		return nil, err
	}
	return out, nil
}

// end checks that nothing but white space follows.
func (d *stdDecoder) end() error {
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return d.fail(errors.New("unexpected data after the top-level value"))
	}
	return nil
}

// decodeRecord reads a body that is one JSON object.
func decodeRecord(data []byte) ([]jsonField, error) {
	d := newStdDecoder(data)
	if err := d.delim('{'); err != nil {
		return nil, err
	}
	fs, err := d.fields()
	if err != nil {
		return nil, err
	}
	return fs, d.end()
}

// decodeCollectionBody reads {"allOrNone":bool,"records":[…]}; other keys
// are ignored, as Salesforce ignores them. It stops after maxCollection+1
// records (the caller answers EXCEEDED_ID_LIMIT).
func decodeCollectionBody(data []byte) (allOrNone bool, recs []jsonRecord, err error) {
	d := newStdDecoder(data)
	if err := d.delim('{'); err != nil {
		return false, nil, err
	}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return false, nil, d.fail(err)
		}
		switch tok {
		case "allOrNone":
			var v any
			if err := d.dec.Decode(&v); err != nil {
				return false, nil, d.fail(err)
			}
			b, ok := v.(bool)
			if !ok && v != nil {
				return false, nil, d.fail(errors.New("allOrNone must be a boolean"))
			}
			allOrNone = b
		case "records":
			tok, err := d.dec.Token()
			if err != nil {
				return false, nil, d.fail(err)
			}
			if tok == nil {
				recs = nil
				break
			}
			if tok != json.Delim('[') {
				return false, nil, d.fail(errors.New("records must be an array"))
			}
			recs = make([]jsonRecord, 0, maxCollection)
			for d.dec.More() {
				tok, err := d.dec.Token()
				if err != nil {
					return false, nil, d.fail(err)
				}
				switch tok {
				case nil:
					recs = append(recs, jsonRecord{null: true})
				case json.Delim('{'):
					fs, err := d.fields()
					if err != nil {
						return false, nil, err
					}
					recs = append(recs, jsonRecord{fields: fs})
				default:
					return false, nil, d.fail(errors.New("each record must be a JSON object"))
				}
				if len(recs) > maxCollection {
					return false, recs, nil
				}
			}
			if err := d.delim(']'); err != nil {
				return false, nil, err
			}
		default:
			var skip json.RawMessage
			if err := d.dec.Decode(&skip); err != nil {
				return false, nil, d.fail(err)
			}
		}
	}
	if err := d.delim('}'); err != nil {
		return false, nil, err
	}
	return allOrNone, recs, d.end()
}
