package sfsim

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader for request bodies. It keeps the fields of a record in
// document order, interns repeated keys, and allocates only for the values it
// returns, which makes the 200-record Collections path several times cheaper
// than decoding into maps with encoding/json.

// maxJSONDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxJSONDepth = 64

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

type jsonDecoder struct {
	data  []byte
	pos   int
	depth int
	keys  map[string]string
}

func newJSONDecoder(data []byte) *jsonDecoder {
	return &jsonDecoder{data: data, keys: make(map[string]string, 16)}
}

func (d *jsonDecoder) fail(msg string) error {
	return errors.New("JSON parse error at offset " + strconv.Itoa(d.pos) + ": " + msg)
}

func (d *jsonDecoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (d *jsonDecoder) peek() byte {
	d.ws()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

func (d *jsonDecoder) expect(c byte) error {
	if d.peek() != c {
		return d.fail("expected '" + string(c) + "'")
	}
	d.pos++
	return nil
}

// end checks that only white space follows.
func (d *jsonDecoder) end() error {
	if d.peek() != 0 {
		return d.fail("unexpected data after the top-level value")
	}
	return nil
}

func (d *jsonDecoder) literal(word string, v any) (any, error) {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return nil, d.fail("invalid literal")
	}
	d.pos += len(word)
	return v, nil
}

// value reads any JSON value.
func (d *jsonDecoder) value() (any, error) {
	switch c := d.peek(); {
	case c == '"':
		return d.str(false)
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == 't':
		return d.literal("true", true)
	case c == 'f':
		return d.literal("false", false)
	case c == 'n':
		return d.literal("null", nil)
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 0:
		return nil, d.fail("unexpected end of input")
	}
	return nil, d.fail("unexpected character")
}

func (d *jsonDecoder) enter() error {
	d.depth++
	if d.depth > maxJSONDepth {
		return d.fail("nesting too deep")
	}
	return nil
}

// fields reads an object into ordered fields (for records).
func (d *jsonDecoder) fields() ([]jsonField, error) {
	if err := d.expect('{'); err != nil {
		return nil, err
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	out := make([]jsonField, 0, 8)
	if d.peek() == '}' {
		d.pos++
		return out, nil
	}
	for {
		if d.peek() != '"' {
			return nil, d.fail("expected a key")
		}
		k, err := d.str(true)
		if err != nil {
			return nil, err
		}
		if err := d.expect(':'); err != nil {
			return nil, err
		}
		d.ws()
		start := d.pos
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		out = append(out, jsonField{key: k, val: v, start: start, end: d.pos})
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return out, nil
		default:
			return nil, d.fail("expected ',' or '}'")
		}
	}
}

// object reads an object into a map (nested values).
func (d *jsonDecoder) object() (map[string]any, error) {
	fs, err := d.fields()
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(fs))
	for _, f := range fs {
		m[f.key] = f.val
	}
	return m, nil
}

func (d *jsonDecoder) array() ([]any, error) {
	if err := d.expect('['); err != nil {
		return nil, err
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	out := []any{}
	if d.peek() == ']' {
		d.pos++
		return out, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return out, nil
		default:
			return nil, d.fail("expected ',' or ']'")
		}
	}
}

func (d *jsonDecoder) number() (float64, error) {
	start := d.pos
	p := d.pos
	if p < len(d.data) && d.data[p] == '-' {
		p++
	}
	digits := func() int {
		n := 0
		for p < len(d.data) && d.data[p] >= '0' && d.data[p] <= '9' {
			p++
			n++
		}
		return n
	}
	if p < len(d.data) && d.data[p] == '0' {
		p++
	} else if digits() == 0 {
		return 0, d.fail("invalid number")
	}
	if p < len(d.data) && d.data[p] == '.' {
		p++
		if digits() == 0 {
			return 0, d.fail("invalid number")
		}
	}
	if p < len(d.data) && (d.data[p] == 'e' || d.data[p] == 'E') {
		p++
		if p < len(d.data) && (d.data[p] == '+' || d.data[p] == '-') {
			p++
		}
		if digits() == 0 {
			return 0, d.fail("invalid number")
		}
	}
	d.pos = p
	f, err := strconv.ParseFloat(string(d.data[start:p]), 64)
	if err != nil {
		return 0, d.fail("number out of range")
	}
	return f, nil
}

// str reads a string; intern shares repeated keys.
func (d *jsonDecoder) str(intern bool) (string, error) {
	if err := d.expect('"'); err != nil {
		return "", err
	}
	start := d.pos
	for i := d.pos; i < len(d.data); i++ {
		c := d.data[i]
		if c == '"' {
			raw := d.data[start:i]
			d.pos = i + 1
			if intern {
				if s, ok := d.keys[string(raw)]; ok {
					return s, nil
				}
				s := string(raw)
				if len(d.keys) < 256 {
					d.keys[s] = s
				}
				return s, nil
			}
			return string(raw), nil
		}
		if c == '\\' || c < 0x20 {
			return d.slowStr(start)
		}
	}
	return "", d.fail("unterminated string")
}

// slowStr decodes a string with escapes, from start (after the quote).
func (d *jsonDecoder) slowStr(start int) (string, error) {
	buf := make([]byte, 0, 32)
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			d.pos = i
			return "", d.fail("control character in string")
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		i++
		if i >= len(d.data) {
			break
		}
		switch e := d.data[i]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(d.data, i+1)
			if !ok {
				d.pos = i
				return "", d.fail("invalid \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(d.data, i+3); ok && i+2 < len(d.data) && d.data[i+1] == '\\' && d.data[i+2] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			d.pos = i
			return "", d.fail("invalid escape")
		}
		i++
	}
	d.pos = len(d.data)
	return "", d.fail("unterminated string")
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// decodeRecord reads a body that is one JSON object.
func decodeRecord(data []byte) ([]jsonField, error) {
	d := newJSONDecoder(data)
	fs, err := d.fields()
	if err != nil {
		return nil, err
	}
	return fs, d.end()
}

// decodeCollection reads {"allOrNone":bool,"records":[…]}; other keys are
// ignored, as Salesforce ignores them.
func decodeCollectionBody(data []byte) (allOrNone bool, recs []jsonRecord, err error) {
	d := newJSONDecoder(data)
	if err := d.expect('{'); err != nil {
		return false, nil, err
	}
	if d.peek() == '}' {
		d.pos++
		return false, nil, d.end()
	}
	for {
		if d.peek() != '"' {
			return false, nil, d.fail("expected a key")
		}
		k, err := d.str(true)
		if err != nil {
			return false, nil, err
		}
		if err := d.expect(':'); err != nil {
			return false, nil, err
		}
		switch k {
		case "allOrNone":
			v, err := d.value()
			if err != nil {
				return false, nil, err
			}
			b, ok := v.(bool)
			if !ok && v != nil {
				return false, nil, d.fail("allOrNone must be a boolean")
			}
			allOrNone = b
		case "records":
			if d.peek() == 'n' {
				if _, err := d.literal("null", nil); err != nil {
					return false, nil, err
				}
				recs = nil
				break
			}
			if err := d.expect('['); err != nil {
				return false, nil, err
			}
			recs = make([]jsonRecord, 0, 200)
			if d.peek() == ']' {
				d.pos++
				break
			}
			for {
				switch d.peek() {
				case '{':
					fs, err := d.fields()
					if err != nil {
						return false, nil, err
					}
					recs = append(recs, jsonRecord{fields: fs})
				case 'n':
					if _, err := d.literal("null", nil); err != nil {
						return false, nil, err
					}
					recs = append(recs, jsonRecord{null: true})
				default:
					return false, nil, d.fail("each record must be a JSON object")
				}
				if len(recs) > maxCollection {
					return false, recs, nil // the caller answers EXCEEDED_ID_LIMIT
				}
				c := d.peek()
				d.pos++
				if c == ']' {
					break
				}
				if c != ',' {
					d.pos--
					return false, nil, d.fail("expected ',' or ']'")
				}
			}
		default:
			if _, err := d.value(); err != nil {
				return false, nil, err
			}
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return allOrNone, recs, d.end()
		default:
			return false, nil, d.fail("expected ',' or '}'")
		}
	}
}
