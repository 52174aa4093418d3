// Package jsontext holds Kinetic's JSON text helpers. AppendString is the one
// hand-written JSON escaper left in Kinetic: the simulator writes its
// responses with it (see docs/performance.md, "Hand-written codecs", for why
// that stays while the production codecs use encoding/json), and
// FuzzAppendJSONString holds it to encoding/json. V1Reading (read.go) makes
// encoding/json/v2 decode as encoding/json does, for the decoders on the hot
// paths.
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

// AppendString appends s as a JSON string, escaped as encoding/json does with
// HTML escaping off: quote, backslash, control characters, U+2028 and
// U+2029; each invalid UTF-8 byte becomes U+FFFD.
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
