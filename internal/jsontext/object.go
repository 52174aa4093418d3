package jsontext

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ParseObject decodes one JSON object into map[string]any exactly as
// encoding/json.Unmarshal into a map[string]any does — numbers as float64,
// invalid UTF-8 and lone surrogates as U+FFFD, the last of repeated keys
// kept, the same documents refused — in half the time of encoding/json/v2
// with V1Reading and a fifth of v1's: a worker decodes every record it
// fetches with it, the hottest decoding path (docs/performance.md,
// "Hand-written codecs", measures it). FuzzParseObject holds it to
// encoding/json. Objects and arrays may nest maxObjectDepth deep.
//
// The input is copied into one string and every key and value without
// escapes is a substring of it: one allocation per record instead of one
// per string. The strings keep that copy alive as long as the map is used.
func ParseObject(data []byte) (map[string]any, error) {
	p := objParser{data: string(data)}
	p.ws()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return nil, p.fail("want a JSON object")
	}
	v, err := p.object()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(p.data) {
		return nil, p.fail("trailing data after the object")
	}
	return v, nil
}

// maxObjectDepth is encoding/json's nesting limit (its scanner's
// maxNestingDepth): the same documents are refused for depth.
const maxObjectDepth = 10000

type objParser struct {
	data  string
	pos   int
	depth int
}

type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string {
	return e.msg + " at offset " + strconv.Itoa(e.offset)
}

func (p *objParser) fail(msg string) error { return &syntaxError{msg: msg, offset: p.pos} }

func (p *objParser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *objParser) value() (any, error) {
	p.ws()
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		return p.literal("null", nil)
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, p.fail("invalid character")
}

func (p *objParser) enter() error {
	p.depth++
	if p.depth > maxObjectDepth {
		return p.fail("nested too deep")
	}
	return nil
}

func (p *objParser) object() (map[string]any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // {
	m := make(map[string]any, 8)
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return m, nil
	}
	for {
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("want a string key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("want ':' after a key")
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		done, err := p.after('}', "an object")
		if err != nil {
			return nil, err
		}
		if done {
			return m, nil
		}
	}
}

func (p *objParser) array() ([]any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // [
	a := []any{}
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return a, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		done, err := p.after(']', "an array")
		if err != nil {
			return nil, err
		}
		if done {
			return a, nil
		}
	}
}

// after reads what follows a member of an object or an element of an
// array (in names which): a comma, more follow; the closing byte, done.
func (p *objParser) after(closing byte, in string) (done bool, err error) {
	p.ws()
	if p.pos >= len(p.data) {
		return false, p.fail("unexpected end of input in " + in)
	}
	switch p.data[p.pos] {
	case ',':
		p.pos++
		return false, nil
	case closing:
		p.pos++
		p.depth--
		return true, nil
	}
	return false, p.fail("want ',' or '" + string(closing) + "' in " + in)
}

func (p *objParser) literal(word string, v any) (any, error) {
	if len(p.data)-p.pos < len(word) || p.data[p.pos:p.pos+len(word)] != word {
		return nil, p.fail("invalid literal")
	}
	p.pos += len(word)
	return v, nil
}

// number scans a JSON number (RFC 8259 grammar) and parses it as float64.
func (p *objParser) number() (any, error) {
	start := p.pos
	d := p.data
	if p.pos < len(d) && d[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(d) && d[p.pos] == '0':
		p.pos++
	case p.pos < len(d) && d[p.pos] >= '1' && d[p.pos] <= '9':
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	default:
		return nil, p.fail("invalid number")
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if p.pos >= len(d) || d[p.pos] < '0' || d[p.pos] > '9' {
			return nil, p.fail("invalid number")
		}
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(d) || d[p.pos] < '0' || d[p.pos] > '9' {
			return nil, p.fail("invalid number")
		}
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	}
	f, err := strconv.ParseFloat(d[start:p.pos], 64)
	if err != nil {
		return nil, &syntaxError{msg: "number out of range", offset: start}
	}
	return f, nil
}

// str scans a JSON string. The common case — no escapes, valid UTF-8 — is
// a substring of the input, without allocating.
func (p *objParser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	d := p.data
	for p.pos < len(d) {
		c := d[p.pos]
		switch {
		case c == '"':
			s := d[start:p.pos]
			p.pos++
			return s, nil
		case c == '\\':
			return p.slowStr(start)
		case c < 0x20:
			return "", p.fail("control character in a string")
		case c < utf8.RuneSelf:
			p.pos++
		default:
			r, size := utf8.DecodeRuneInString(d[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return p.slowStr(start)
			}
			p.pos += size
		}
	}
	return "", p.fail("unterminated string")
}

// slowStr decodes a string with escapes or invalid UTF-8 from start (just
// after the opening quote), as encoding/json does.
func (p *objParser) slowStr(start int) (string, error) {
	d := p.data
	b := make([]byte, 0, p.pos-start+16)
	b = append(b, d[start:p.pos]...)
	for p.pos < len(d) {
		c := d[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.fail("control character in a string")
		case c == '\\':
			if p.pos+1 >= len(d) {
				return "", p.fail("unterminated string")
			}
			e := d[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid escape")
				}
				if utf16.IsSurrogate(r) {
					// A high surrogate followed by \uDC00–\uDFFF is one rune;
					// anything else is U+FFFD, as in encoding/json.
					save := p.pos
					if p.pos+1 < len(d) && d[p.pos] == '\\' && d[p.pos+1] == 'u' {
						p.pos += 2
						if r2, ok := p.hex4(); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								b = utf8.AppendRune(b, dec)
								continue
							}
						}
					}
					p.pos = save
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", p.fail("invalid escape")
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRuneInString(d[p.pos:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, d[p.pos:p.pos+size]...)
			}
			p.pos += size
		}
	}
	return "", p.fail("unterminated string")
}

func (p *objParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
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
	p.pos += 4
	return r, true
}
