// Package jsontext holds Kinetic's hand-written JSON, each piece kept only
// where a benchmark of the production case shows it pays
// (docs/performance.md, "Hand-written codecs") and each held to
// encoding/json by a differential fuzz test:
//   - AppendString, the one escaper, byte for byte encoding/json's
//     (FuzzAppendJSONString): the simulator's responses and batch results
//     are written with it;
//   - AppendValue and AppendObject (value.go), the Collections request
//     bodies (FuzzAppendValue);
//   - ParseObject (object.go), the worker's record decoder
//     (FuzzParseObject).
//
// V1Reading and V1Strict (read.go) make encoding/json/v2 decode as
// encoding/json does, for the other decoders.
package jsontext

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// safe and htmlSafe report the ASCII bytes that need no escape.
var safe, htmlSafe [utf8.RuneSelf]bool

func init() {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\'
		htmlSafe[c] = safe[c] && c != '<' && c != '>' && c != '&'
	}
}

// AppendString appends s as a JSON string, byte for byte as encoding/json
// writes it with HTML escaping off: quote, backslash, control characters,
// U+2028 and U+2029 escaped; each invalid UTF-8 byte becomes U+FFFD.
func AppendString(b []byte, s string) []byte { return appendString(b, s, &safe) }

// AppendStringHTML is AppendString that also escapes <, > and &, as
// encoding/json.Marshal does.
func AppendStringHTML(b []byte, s string) []byte { return appendString(b, s, &htmlSafe) }

func appendString(b []byte, s string, safe *[utf8.RuneSelf]bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
