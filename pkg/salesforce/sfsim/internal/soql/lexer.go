package soql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF       tokKind = iota
	tIdent             // Name, SELECT, LAST_N_DAYS, Custom__c
	tString            // 'text', escapes undecoded
	tNumber            // 42, -7, 3.25
	tDate              // 2024-01-31
	tDateTime          // 2024-01-31T10:00:00Z
	tComma             // ,
	tDot               // .
	tLParen            // (
	tRParen            // )
	tColon             // :
	tSemicolon         // ;
	tEq                // =
	tNe                // != or <>
	tLt                // <
	tLe                // <=
	tGt                // >
	tGe                // >=
)

type token struct {
	kind tokKind
	pos  int    // byte offset of the first character
	text string // the source text
}

// display is how the token is quoted in "unexpected token" messages.
func (t *token) display() string {
	if t.kind == tEOF {
		return "<EOF>"
	}
	return t.text
}

type lexer struct {
	src  string
	toks []token
}

// lex splits src into tokens, ending with a tEOF token at len(src).
func lex(src string) ([]token, *ParseError) {
	lx := lexer{src: src, toks: make([]token, 0, len(src)/5+2)}
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			lx.toks = append(lx.toks, token{kind: tEOF, pos: len(src)})
			return lx.toks, nil
		}
		next, err := lx.scan(i)
		if err != nil {
			return nil, err
		}
		i = next
	}
}

// scan reads the token starting at src[i] and returns the offset after it.
func (lx *lexer) scan(i int) (int, *ParseError) {
	src := lx.src
	c := src[i]
	switch {
	case isIdentStart(c):
		j := i + 1
		for j < len(src) && isIdentPart(src[j]) {
			j++
		}
		return lx.emit(tIdent, i, j), nil
	case isDigit(c):
		return lx.scanNumber(i, i)
	case (c == '-' || c == '+') && i+1 < len(src) && isDigit(src[i+1]):
		return lx.scanNumber(i, i+1)
	case c == '\'':
		return lx.scanString(i)
	}
	kind, n := tEOF, 1
	switch c {
	case ',':
		kind = tComma
	case '.':
		kind = tDot
	case '(':
		kind = tLParen
	case ')':
		kind = tRParen
	case ':':
		kind = tColon
	case ';':
		kind = tSemicolon
	case '=':
		kind = tEq
	case '!':
		if i+1 < len(src) && src[i+1] == '=' {
			kind, n = tNe, 2
		}
	case '<':
		kind = tLt
		if i+1 < len(src) && src[i+1] == '=' {
			kind, n = tLe, 2
		} else if i+1 < len(src) && src[i+1] == '>' {
			kind, n = tNe, 2
		}
	case '>':
		kind = tGt
		if i+1 < len(src) && src[i+1] == '=' {
			kind, n = tGe, 2
		}
	}
	if kind == tEOF {
		return 0, lx.noViableAlt(i)
	}
	return lx.emit(kind, i, i+n), nil
}

func (lx *lexer) emit(kind tokKind, start, end int) int {
	lx.toks = append(lx.toks, token{kind: kind, pos: start, text: lx.src[start:end]})
	return end
}

// scanNumber reads a number, or a date or datetime literal, starting at
// src[start]; digits start at src[digits] (after an optional sign).
func (lx *lexer) scanNumber(start, digits int) (int, *ParseError) {
	src := lx.src
	j := digits
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	if start == digits && j-digits == 4 && j+1 < len(src) && src[j] == '-' && isDigit(src[j+1]) {
		return lx.scanDate(start)
	}
	if j+1 < len(src) && src[j] == '.' && isDigit(src[j+1]) {
		j += 2
		for j < len(src) && isDigit(src[j]) {
			j++
		}
	}
	return lx.emit(tNumber, start, j), nil
}

// scanDate reads 2024-01-31 or 2024-01-31T10:00:00.000+01:00.
func (lx *lexer) scanDate(start int) (int, *ParseError) {
	src := lx.src
	j := start
	for j < len(src) && (isDigit(src[j]) || src[j] == '-') {
		j++
	}
	kind := tDate
	if j < len(src) && src[j] == 'T' {
		kind = tDateTime
		j++
		for j < len(src) && (isDigit(src[j]) || strings.IndexByte(":.+-Z", src[j]) >= 0) {
			j++
		}
	}
	text := src[start:j]
	if tm, ok := parseTemporal(text, true); !ok || (kind == tDate) != tm.dateOnly {
		what := "date"
		if kind == tDateTime {
			what = "datetime"
		}
		return 0, &ParseError{Pos: start, Msg: fmt.Sprintf("invalid %s literal: %s", what, text)}
	}
	return lx.emit(kind, start, j), nil
}

// scanString reads a single-quoted string starting at the quote at src[start]
// and checks its escapes; decoding is left to decodeString and compileLike.
func (lx *lexer) scanString(start int) (int, *ParseError) {
	src := lx.src
	j := start + 1
	for {
		if j >= len(src) {
			line, col := lineCol(src, len(src))
			return 0, &ParseError{Pos: len(src), Msg: fmt.Sprintf("line %d:%d mismatched character '<EOF>' expecting '''", line, col)}
		}
		switch src[j] {
		case '\'':
			return lx.emit(tString, start, j+1), nil
		case '\\':
			if j+1 >= len(src) {
				j++
				continue // reported as an unterminated string
			}
			if !validEscape(src[j+1]) {
				r, _ := utf8.DecodeRuneInString(src[j+1:])
				return 0, &ParseError{Pos: j, Msg: fmt.Sprintf("illegal escape sequence '\\%s' in string literal", displayRune(r, src[j+1]))}
			}
			j += 2
		default:
			j++
		}
	}
}

func (lx *lexer) noViableAlt(i int) *ParseError {
	line, col := lineCol(lx.src, i)
	r, _ := utf8.DecodeRuneInString(lx.src[i:])
	return &ParseError{Pos: i, Msg: fmt.Sprintf("line %d:%d no viable alternative at character '%s'", line, col, displayRune(r, lx.src[i]))}
}

// lineCol returns the 1-based line and the 0-based column, in characters, of
// byte offset pos.
func lineCol(src string, pos int) (line, col int) {
	if pos > len(src) {
		pos = len(src)
	}
	before := src[:pos]
	line = 1 + strings.Count(before, "\n")
	col = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:])
	return line, col
}

// displayRune shows r for an error message; b is its first byte, shown in hex
// when r is not valid UTF-8.
func displayRune(r rune, b byte) string {
	if r == utf8.RuneError {
		return fmt.Sprintf("\\x%02x", b)
	}
	if unicode.IsPrint(r) {
		return string(r)
	}
	q := strconv.QuoteRune(r)
	return q[1 : len(q)-1]
}

func validEscape(c byte) bool {
	switch c {
	case 'n', 'N', 'r', 'R', 't', 'T', 'b', 'B', 'f', 'F', '"', '\'', '\\', '%', '_':
		return true
	}
	return false
}

// unescape returns the character an escape sequence \c stands for outside a
// LIKE pattern, and false for \% and \_, which stay as written there.
func unescape(c byte) (byte, bool) {
	switch c {
	case 'n', 'N':
		return '\n', true
	case 'r', 'R':
		return '\r', true
	case 't', 'T':
		return '\t', true
	case 'b', 'B':
		return '\b', true
	case 'f', 'F':
		return '\f', true
	case '%', '_':
		return 0, false
	}
	return c, true // " ' \
}

// decodeString returns the value of a string literal's source text (the part
// between the quotes, already checked by scanString).
func decodeString(raw string) string {
	if strings.IndexByte(raw, '\\') < 0 {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			b.WriteByte(c)
			continue
		}
		i++
		if u, ok := unescape(raw[i]); ok {
			b.WriteByte(u)
		} else {
			b.WriteByte('\\')
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }
