package sfsim

import (
	"bytes"
	"errors"
	"io"
	"strconv"

	jsonv2 "github.com/go-json-experiment/json"
	v2text "github.com/go-json-experiment/json/jsontext"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// Request bodies are read with the streaming tokenizer of encoding/json/v2
// (internal/jsontext says which module and why), in encoding/json's (v1)
// reading (jsontext.V1Reading): the fields of a record in document order (for
// the first error in document order) with the byte offsets of their values
// (for JSON_PARSER_ERROR positions). FuzzBodyReaderMatchesEncodingJSON holds
// the reader to encoding/json.
//
// v1's Decoder.Token allocated for every token and cost 2-4x the CPU per
// record. That showed in the zero-latency end-to-end benchmark, where the
// simulator shares the two cores with the workers and nats-server
// (docs/performance.md, "encoding/json/v2 on the decoding paths"). The
// hand-written reader before v1 ("Simulator decoder") was 467 lines of parsing
// held to the grammar only by a differential test.

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
	dec  *v2text.Decoder
}

func newStdDecoder(data []byte) *stdDecoder {
	return &stdDecoder{data: data, dec: v2text.NewDecoder(bytes.NewReader(data), jsontext.V1Reading)}
}

func (d *stdDecoder) fail(err error) error {
	return errors.New("JSON parse error at offset " + strconv.FormatInt(d.dec.InputOffset(), 10) + ": " + err.Error())
}

// delim reads the next token and checks that it is want ('{', '}', '[' or
// ']').
func (d *stdDecoder) delim(want v2text.Kind) error {
	tok, err := d.dec.ReadToken()
	if err != nil {
		return d.fail(err)
	}
	if tok.Kind() != want {
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

// value reads the next value as encoding/json decodes it into an any.
func (d *stdDecoder) value() (any, error) {
	switch d.dec.PeekKind() {
	case '{', '[':
		var v any
		if err := jsonv2.UnmarshalDecode(d.dec, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	tok, err := d.dec.ReadToken() // a scalar: no reflection
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case 'n':
		return nil, nil
	case 't', 'f':
		return tok.Bool(), nil
	case '"':
		return tok.String(), nil
	case '0':
		return tok.Float() // an error past float64's range, as encoding/json
	}
	return nil, errors.New("expected a value")
}

// fields reads the rest of an object whose '{' was read, in order.
func (d *stdDecoder) fields() ([]jsonField, error) {
	out := make([]jsonField, 0, 8)
	for d.dec.PeekKind() != '}' {
		tok, err := d.dec.ReadToken()
		if err != nil {
			return nil, d.fail(err)
		}
		if tok.Kind() != '"' {
			return nil, d.fail(errors.New("expected a key"))
		}
		k := tok.String()
		start := d.valueStart()
		v, err := d.value()
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
	if _, err := d.dec.ReadToken(); !errors.Is(err, io.EOF) {
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
	for d.dec.PeekKind() != '}' {
		tok, err := d.dec.ReadToken()
		if err != nil {
			return false, nil, d.fail(err)
		}
		if tok.Kind() != '"' {
			return false, nil, d.fail(errors.New("expected a key"))
		}
		switch tok.String() {
		case "allOrNone":
			v, err := d.value()
			if err != nil {
				return false, nil, d.fail(err)
			}
			b, ok := v.(bool)
			if !ok && v != nil {
				return false, nil, d.fail(errors.New("allOrNone must be a boolean"))
			}
			allOrNone = b
		case "records":
			tok, err := d.dec.ReadToken()
			if err != nil {
				return false, nil, d.fail(err)
			}
			if tok.Kind() == 'n' {
				recs = nil
				break
			}
			if tok.Kind() != '[' {
				return false, nil, d.fail(errors.New("records must be an array"))
			}
			recs = make([]jsonRecord, 0, maxCollection)
			for d.dec.PeekKind() != ']' {
				tok, err := d.dec.ReadToken()
				if err != nil {
					return false, nil, d.fail(err)
				}
				switch tok.Kind() {
				case 'n':
					recs = append(recs, jsonRecord{null: true})
				case '{':
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
			if err := d.dec.SkipValue(); err != nil {
				return false, nil, d.fail(err)
			}
		}
	}
	if err := d.delim('}'); err != nil {
		return false, nil, err
	}
	return allOrNone, recs, d.end()
}
