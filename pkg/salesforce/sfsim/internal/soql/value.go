package soql

import (
	"cmp"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// temporal is a parsed date or datetime.
type temporal struct {
	t        time.Time // the instant, in UTC; midnight UTC for a date
	dateOnly bool
}

// day is the number of whole days between 1970-01-01 and the UTC date of t.
func (tm temporal) day() int64 { return dayOf(tm.t) }

func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// parseTemporal parses "2006-01-02" or "2006-01-02T15:04:05[.fff][zone]" with
// zone "Z", "±hh:mm" or "±hhmm". The zone may be absent (meaning UTC) only
// when requireZone is false.
func parseTemporal(s string, requireZone bool) (temporal, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return temporal{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	dom, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || dom < 1 || dom > daysIn(year, month) {
		return temporal{}, false
	}
	if len(s) == 10 {
		return temporal{t: time.Date(year, time.Month(month), dom, 0, 0, 0, 0, time.UTC), dateOnly: true}, true
	}
	if len(s) < 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return temporal{}, false
	}
	hour, ok1 := digits(s[11:13])
	minute, ok2 := digits(s[14:16])
	sec, ok3 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 59 {
		return temporal{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		frac := rest[1:n]
		if len(frac) == 0 || len(frac) > 9 {
			return temporal{}, false
		}
		nsec, _ = digits(frac)
		for i := len(frac); i < 9; i++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case rest == "":
		if requireZone {
			return temporal{}, false
		}
	case rest == "Z":
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		if len(z) == 5 && z[2] == ':' {
			z = z[:2] + z[3:]
		}
		if len(z) != 4 {
			return temporal{}, false
		}
		oh, ok1 := digits(z[:2])
		om, ok2 := digits(z[2:])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return temporal{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return temporal{}, false
	}
	t := time.Date(year, time.Month(month), dom, hour, minute, sec, nsec, time.UTC)
	return temporal{t: t.Add(-time.Duration(offset) * time.Second)}, true
}

// digits parses a short run of ASCII digits.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// kind orders values of unrelated kinds in Compare: null < bool < number < text < other.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kOther // a Go type a Resolver should not return
)

// key is a value prepared for comparison: a text value is parsed once as a
// number and as a date or datetime, so sorting and filtering need not repeat it.
type key struct {
	kind  kind
	b     bool
	num   float64 // kNumber, or a kString that is a plain decimal number (numOK)
	numOK bool
	s     string
	tm    temporal // a kString that is a date or datetime (tmOK)
	tmOK  bool
}

// keyOf prepares v. It reports false for a type a Resolver may not return;
// the key is then kOther.
func keyOf(v any) (key, bool) {
	switch x := v.(type) {
	case nil:
		return key{kind: kNull}, true
	case string:
		return textKey(x), true
	case bool:
		return key{kind: kBool, b: x}, true
	case float64:
		return key{kind: kNumber, num: x}, true
	case float32:
		return key{kind: kNumber, num: float64(x)}, true
	case int:
		return key{kind: kNumber, num: float64(x)}, true
	case int8:
		return key{kind: kNumber, num: float64(x)}, true
	case int16:
		return key{kind: kNumber, num: float64(x)}, true
	case int32:
		return key{kind: kNumber, num: float64(x)}, true
	case int64:
		return key{kind: kNumber, num: float64(x)}, true
	case uint:
		return key{kind: kNumber, num: float64(x)}, true
	case uint8:
		return key{kind: kNumber, num: float64(x)}, true
	case uint16:
		return key{kind: kNumber, num: float64(x)}, true
	case uint32:
		return key{kind: kNumber, num: float64(x)}, true
	case uint64:
		return key{kind: kNumber, num: float64(x)}, true
	}
	return key{kind: kOther}, false
}

func textKey(s string) key {
	if s == "" {
		return key{kind: kNull} // Salesforce stores empty text as null
	}
	k := key{kind: kString, s: s}
	if tm, ok := parseTemporal(s, false); ok {
		k.tm, k.tmOK = tm, true
	} else if isDecimal(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			k.num, k.numOK = f, true
		}
	}
	return k
}

// isDecimal reports whether s is an optionally signed decimal number such as
// 42, -7 or 3.25 (no exponent, no spaces).
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		frac := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == frac {
			return false
		}
	}
	return i == len(s)
}

// compareKeys compares two non-null keys. It reports false when the values are
// of kinds that do not compare (a bool with a number, text that is not a number
// with a number, …).
func compareKeys(a, b *key) (int, bool) {
	switch {
	case a.kind == kNumber && b.kind == kNumber:
		return cmp.Compare(a.num, b.num), true
	case a.kind == kString && b.kind == kString:
		if a.tmOK && b.tmOK {
			return a.tm.t.Compare(b.tm.t), true
		}
		return foldCompare(a.s, b.s), true
	case a.kind == kBool && b.kind == kBool:
		return compareBool(a.b, b.b), true
	case a.kind == kString && b.kind == kNumber && a.numOK:
		return cmp.Compare(a.num, b.num), true
	case a.kind == kNumber && b.kind == kString && b.numOK:
		return cmp.Compare(a.num, b.num), true
	}
	return 0, false
}

// compareTotal orders any two keys: null first, then by compareKeys, then by kind.
func compareTotal(a, b *key) int {
	if a.kind == kNull || b.kind == kNull {
		return cmp.Compare(a.kind, b.kind) // kNull is the smallest kind
	}
	if c, ok := compareKeys(a, b); ok {
		return c
	}
	return cmp.Compare(a.kind, b.kind)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Compare orders two field values as ORDER BY does. nil (and the empty
// string, which Salesforce stores as null) sorts before everything; numbers
// compare numerically; bools false < true; text case-insensitively, except
// that two date or datetime strings compare chronologically; text that is a
// plain decimal number compares numerically with a number. Values of kinds
// that do not compare are ordered null < bool < number < text < anything else.
// It returns -1, 0 or +1.
func Compare(a, b any) int {
	ka, _ := keyOf(a)
	kb, _ := keyOf(b)
	return compareTotal(&ka, &kb)
}

// foldCompare compares a and b case-insensitively: rune by rune, each folded
// by foldRune.
func foldCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if ca < utf8.RuneSelf && cb < utf8.RuneSelf {
			ca, cb = lowerASCII(ca), lowerASCII(cb)
			if ca != cb {
				return cmp.Compare(ca, cb)
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(a[i:])
		rb, nb := utf8.DecodeRuneInString(b[j:])
		if fa, fb := foldRune(ra), foldRune(rb); fa != fb {
			return cmp.Compare(fa, fb)
		}
		i += na
		j += nb
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// foldRune maps every case variant of r to one rune (ToUpper then ToLower, so
// that for example 'ſ' and 'S' both become 's').
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return rune(lowerASCII(byte(r)))
	}
	return unicode.ToLower(unicode.ToUpper(r))
}

// likeElem is one element of a compiled LIKE pattern.
type likeElem struct {
	op likeOp
	r  rune // likeRune: the folded rune to match
}

type likeOp uint8

const (
	likeRune likeOp = iota // one given character
	likeOne                // _ : any one character
	likeAny                // % : any run of characters
)

// compileLike compiles the source text of a LIKE pattern (between the quotes,
// escapes checked by the lexer). Unescaped % and _ are wildcards; \% and \_
// are the literal characters.
func compileLike(raw string) []likeElem {
	pat := make([]likeElem, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '%':
			if len(pat) == 0 || pat[len(pat)-1].op != likeAny {
				pat = append(pat, likeElem{op: likeAny})
			}
			i++
		case c == '_':
			pat = append(pat, likeElem{op: likeOne})
			i++
		case c == '\\' && i+1 < len(raw):
			e := raw[i+1]
			if u, ok := unescape(e); ok {
				e = u
			}
			pat = append(pat, likeElem{r: foldRune(rune(e))})
			i += 2
		default:
			r, n := utf8.DecodeRuneInString(raw[i:])
			pat = append(pat, likeElem{r: foldRune(r)})
			i += n
		}
	}
	return pat
}

// likeMatch reports whether s matches pat, case-insensitively. Matching is
// greedy with one backtracking point (the last %), so it takes at most
// O(len(s)·len(pat)) steps.
func likeMatch(pat []likeElem, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(pat) {
			switch e := pat[pi]; e.op {
			case likeAny:
				starP, starS = pi, si
				pi++
				continue
			case likeOne:
				_, n := utf8.DecodeRuneInString(s[si:])
				si += n
				pi++
				continue
			default:
				r, n := utf8.DecodeRuneInString(s[si:])
				if foldRune(r) == e.r {
					si += n
					pi++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		si, pi = starS, starP+1
	}
	for pi < len(pat) && pat[pi].op == likeAny {
		pi++
	}
	return pi == len(pat)
}
