package producer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// InputError is a bad row (or a bad file), with where it is: the file as
// given ("-" for standard input), the 1-based line, the 1-based column in
// characters when the error is at one place in the line (0 otherwise), and
// the CSV column's name when it is about one.
type InputError struct {
	File   string
	Line   int
	Col    int
	Column string
	Msg    string

	byteCol bool // Col counts bytes of the UTF-8 line, not characters yet
	fatal   bool // the rest of the file cannot be read
}

func (e *InputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d", e.File, e.Line)
	if e.Col > 0 {
		fmt.Fprintf(&b, ":%d", e.Col)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Encodings of input files. Text that is not in the one given is refused
// with its position, never replaced.
const (
	EncodingUTF8        = "utf-8"
	EncodingLatin1      = "latin1" // ISO-8859-1
	EncodingWindows1252 = "windows-1252"
)

// encodingByName maps the accepted names (case-insensitive) to the single-
// byte charset to convert from; nil is UTF-8.
var encodingByName = map[string]*charmap.Charmap{
	"utf-8": nil, "utf8": nil,
	"latin1": charmap.ISO8859_1, "latin-1": charmap.ISO8859_1, "iso-8859-1": charmap.ISO8859_1, "iso8859-1": charmap.ISO8859_1,
	"windows-1252": charmap.Windows1252, "cp1252": charmap.Windows1252,
}

func lookupEncoding(name string) (*charmap.Charmap, string, error) {
	if name == "" {
		return nil, EncodingUTF8, nil
	}
	cm, ok := encodingByName[strings.ToLower(name)]
	if !ok {
		return nil, "", fmt.Errorf("--encoding %q: want utf-8, latin1 (iso-8859-1) or windows-1252", name)
	}
	switch cm {
	case nil:
		return nil, EncodingUTF8, nil
	case charmap.ISO8859_1:
		return cm, EncodingLatin1, nil
	}
	return cm, EncodingWindows1252, nil
}

// maxLineBytes bounds one physical line: no NATS message is larger
// (nats-server's max_payload cannot exceed 64 MiB).
const maxLineBytes = 64 << 20

var utf8BOM = []byte("\xEF\xBB\xBF")

// lineDecoder reads an input's physical lines and turns them into UTF-8:
// it checks UTF-8 (dropping a byte order mark that starts the file) or
// converts from a single-byte charset. A byte that is not a character of
// the encoding is reported, once per line, with its line and column; the
// line goes on with U+FFFD in its place so that parsing can report the
// rest of the file, and the file is then never published.
type lineDecoder struct {
	name    string
	br      *bufio.Reader
	cm      *charmap.Charmap // nil: UTF-8
	encName string
	line    int // lines returned so far
	long    []byte
	out     []byte
	errs    []*InputError // encoding errors not yet taken
	bad     bool          // an encoding error was found
}

func newLineDecoder(r io.Reader, name string, cm *charmap.Charmap, encName string) *lineDecoder {
	return &lineDecoder{name: name, br: bufio.NewReaderSize(r, 64<<10), cm: cm, encName: encName}
}

// next returns the next line, its "\n" included when it has one, valid
// until the next call; io.EOF after the last.
func (d *lineDecoder) next() ([]byte, error) {
	raw, err := d.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		d.long = append(d.long[:0], raw...)
		for errors.Is(err, bufio.ErrBufferFull) {
			raw, err = d.br.ReadSlice('\n')
			d.long = append(d.long, raw...)
			if len(d.long) > maxLineBytes {
				return nil, &InputError{File: d.name, Line: d.line + 1, Msg: fmt.Sprintf("line longer than %d MiB", maxLineBytes>>20), fatal: true}
			}
		}
		raw = d.long
	}
	if err != nil && err != io.EOF {
		return nil, &InputError{File: d.name, Line: d.line + 1, Msg: "reading: " + err.Error(), fatal: true}
	}
	if len(raw) == 0 {
		return nil, io.EOF
	}
	d.line++
	if d.line == 1 && bytes.HasPrefix(raw, utf8BOM) {
		if d.cm != nil {
			d.bad = true
			d.errs = append(d.errs, &InputError{File: d.name, Line: 1, Col: 1, fatal: true,
				Msg: fmt.Sprintf("the file starts with a UTF-8 byte order mark, but --encoding is %s: it is UTF-8", d.encName)})
			return nil, io.EOF
		}
		raw = raw[len(utf8BOM):] // Excel and PowerShell's Export-Csv write one
	}
	if d.cm == nil {
		return d.checkUTF8(raw), nil
	}
	return d.convert(raw), nil
}

func (d *lineDecoder) checkUTF8(raw []byte) []byte {
	if utf8.Valid(raw) {
		return raw
	}
	col := 1
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size <= 1 {
			msg := fmt.Sprintf("byte 0x%02X is not UTF-8: the file is not UTF-8 (if it is Latin-1 or Windows-1252, say so with --encoding)", raw[i])
			if d.line == 1 && i == 0 && len(raw) > 1 && (raw[0] == 0xFF && raw[1] == 0xFE || raw[0] == 0xFE && raw[1] == 0xFF) {
				msg = "the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8"
			}
			d.bad = true
			d.errs = append(d.errs, &InputError{File: d.name, Line: d.line, Col: col, Msg: msg})
			break
		}
		i += size
		col++
	}
	return bytes.ToValidUTF8(raw, []byte("\uFFFD"))
}

func (d *lineDecoder) convert(raw []byte) []byte {
	d.out = d.out[:0]
	reported := false
	for i, b := range raw {
		if b < utf8.RuneSelf {
			d.out = append(d.out, b)
			continue
		}
		r := d.cm.DecodeByte(b)
		if r == utf8.RuneError && !reported {
			// Windows-1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined.
			d.bad, reported = true, true
			d.errs = append(d.errs, &InputError{File: d.name, Line: d.line, Col: i + 1,
				Msg: fmt.Sprintf("byte 0x%02X is not a %s character", b, d.encName)})
		}
		d.out = utf8.AppendRune(d.out, r)
	}
	return d.out
}

// takeErrors returns the encoding errors found since the last call.
func (d *lineDecoder) takeErrors() []*InputError {
	errs := d.errs
	d.errs = nil
	return errs
}

// decodedReader serves a lineDecoder's lines as a stream, for encoding/csv.
type decodedReader struct {
	d   *lineDecoder
	cur []byte
	err error
}

func (r *decodedReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.cur, r.err = r.d.next()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// row is one record read from an input.
type row struct {
	line int // where it starts
	rec  map[string]any
}

// rowReader reads the records of one input. Next returns a *InputError for
// a bad row and goes on with the next; after a fatal one (a bad header, a
// read error) it returns io.EOF.
type rowReader struct {
	name   string
	d      *lineDecoder
	csv    *csv.Reader
	header []string
	done   bool
	f      *os.File
}

func openRows(in *input) (*rowReader, error) {
	f, err := os.Open(in.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.name, unwrapPathError(err))
	}
	d := newLineDecoder(f, in.name, in.charmap, in.encoding)
	rr := &rowReader{name: in.name, d: d, f: f}
	if in.format == "csv" {
		cr := csv.NewReader(&decodedReader{d: d})
		cr.FieldsPerRecord = -1 // counted here, to name the missing or extra cells
		cr.ReuseRecord = true
		rr.csv = cr
	}
	return rr, nil
}

func (rr *rowReader) Close() { rr.f.Close() }

// Header returns the CSV columns (nil for JSON Lines, or before the first Next).
func (rr *rowReader) Header() []string { return rr.header }

// encodingErrors returns the encoding errors found so far and not taken yet.
func (rr *rowReader) encodingErrors() []*InputError { return rr.d.takeErrors() }

// clean reports that no encoding error was found so far.
func (rr *rowReader) clean() bool { return !rr.d.bad }

// Next returns the next record, or io.EOF after the last.
func (rr *rowReader) Next() (row, error) {
	if rr.done {
		return row{}, io.EOF
	}
	var r row
	var err error
	if rr.csv != nil {
		r, err = rr.nextCSV()
	} else {
		r, err = rr.nextJSONL()
	}
	var ie *InputError
	if errors.As(err, &ie) && ie.fatal {
		rr.done = true
	}
	if errors.Is(err, io.EOF) {
		rr.done = true
	}
	return r, err
}

func (rr *rowReader) nextCSV() (row, error) {
	if rr.header == nil {
		h, err := rr.csv.Read()
		if errors.Is(err, io.EOF) {
			if rr.d.bad {
				return row{}, io.EOF // the encoding error says why
			}
			return row{}, &InputError{File: rr.name, Line: 1, Msg: "empty file: want a header row naming the columns", fatal: true}
		}
		if err != nil {
			e := rr.csvErr(err)
			e.fatal = true
			e.Msg = "header: " + e.Msg
			return row{}, e
		}
		header := make([]string, len(h))
		seen := map[string]bool{}
		for i, c := range h {
			c = strings.TrimSpace(c)
			if c == "" {
				return row{}, &InputError{File: rr.name, Line: 1, Msg: fmt.Sprintf("header: column %d has no name", i+1), fatal: true}
			}
			if seen[c] {
				return row{}, &InputError{File: rr.name, Line: 1, Column: c, Msg: "header: the column is named twice", fatal: true}
			}
			seen[c] = true
			header[i] = c
		}
		rr.header = header
	}
	cells, err := rr.csv.Read()
	if errors.Is(err, io.EOF) {
		return row{}, io.EOF
	}
	if err != nil {
		return row{}, rr.csvErr(err)
	}
	line, _ := rr.csv.FieldPos(0)
	if len(cells) != len(rr.header) {
		e := &InputError{File: rr.name, Line: line, Msg: fmt.Sprintf("wrong number of cells: %d; the header has %d columns", len(cells), len(rr.header))}
		if len(cells) < len(rr.header) {
			e.Column = rr.header[len(cells)]
			e.Msg += " (this one has no cell)"
		} else {
			l, c := rr.csv.FieldPos(len(rr.header))
			if l == line {
				e.Col, e.byteCol = c, true
			}
			e.Msg += fmt.Sprintf(" (cell %d has no column)", len(rr.header)+1)
		}
		return row{}, e
	}
	rec := make(map[string]any, len(cells))
	for i, v := range cells {
		if v == "" {
			rec[rr.header[i]] = nil
		} else {
			rec[rr.header[i]] = v
		}
	}
	return row{line: line, rec: rec}, nil
}

func (rr *rowReader) csvErr(err error) *InputError {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &InputError{File: rr.name, Line: pe.Line, Col: pe.Column, byteCol: true, Msg: csvMessage(pe.Err)}
	}
	var ie *InputError
	if errors.As(err, &ie) {
		return ie
	}
	return &InputError{File: rr.name, Line: rr.d.line, Msg: err.Error(), fatal: true}
}

func csvMessage(err error) string {
	switch {
	case errors.Is(err, csv.ErrBareQuote):
		return `a " in a cell that does not start with one (quote the whole cell and double the inner ": "a ""b"" c")`
	case errors.Is(err, csv.ErrQuote):
		return `a quoted cell is not closed, or a " inside it is not doubled`
	}
	return err.Error()
}

func (rr *rowReader) nextJSONL() (row, error) {
	for {
		raw, err := rr.d.next()
		if err != nil {
			return row{}, err
		}
		line := rr.d.line
		lead := len(raw) - len(bytes.TrimLeft(raw, " \t\r\n"))
		b := bytes.TrimSpace(raw)
		if len(b) == 0 {
			continue
		}
		if b[0] != '{' {
			return row{}, &InputError{File: rr.name, Line: line, Col: runeCol(raw, lead), Msg: "not a JSON object (each line holds one {…})"}
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			e := &InputError{File: rr.name, Line: line, Msg: "invalid JSON: " + err.Error()}
			var se *json.SyntaxError
			if errors.As(err, &se) {
				e.Col = runeCol(raw, lead+int(se.Offset)-1)
				e.Msg = "invalid JSON: " + se.Error()
			} else if errors.Is(err, io.ErrUnexpectedEOF) {
				e.Col = runeCol(raw, lead+len(b))
				e.Msg = "invalid JSON: the object is not closed"
			}
			return row{}, e
		}
		if end := int(dec.InputOffset()); len(bytes.TrimSpace(b[end:])) > 0 {
			more := end + len(b[end:]) - len(bytes.TrimLeft(b[end:], " \t\r\n"))
			return row{}, &InputError{File: rr.name, Line: line, Col: runeCol(raw, lead+more),
				Msg: "invalid JSON: more after the object (one object per line)"}
		}
		if err := exactValues(rec); err != nil {
			return row{}, &InputError{File: rr.name, Line: line, Col: runeCol(raw, lead+bytes.Index(b, []byte(err.at))), Msg: err.msg}
		}
		if lost := replacedEscapes(b, rec); lost >= 0 {
			return row{}, &InputError{File: rr.name, Line: line, Col: runeCol(raw, lead+lost),
				Msg: `a \u escape that is not a character (a lone UTF-16 surrogate) would be replaced by U+FFFD`}
		}
		return row{line: line, rec: rec}, nil
	}
}

// runeCol is the 1-based character column of byte offset off in line.
func runeCol(line []byte, off int) int {
	off = min(max(off, 0), len(line))
	return utf8.RuneCount(line[:off]) + 1
}

// valueError is a JSON value that cannot be carried exactly; at is its text.
type valueError struct{ at, msg string }

// exactValues turns every json.Number of v into the float64 the workers
// read (encoding/json's numbers), after checking that the float64 is the
// number written: a number with more digits than a float64 holds (an id of
// 20 digits) would reach Salesforce changed.
func exactValues(v map[string]any) *valueError {
	var walk func(any) (any, *valueError)
	walk = func(x any) (any, *valueError) {
		switch x := x.(type) {
		case json.Number:
			return exactNumber(string(x))
		case map[string]any:
			for k, e := range x {
				n, err := walk(e)
				if err != nil {
					return nil, err
				}
				x[k] = n
			}
		case []any:
			for i, e := range x {
				n, err := walk(e)
				if err != nil {
					return nil, err
				}
				x[i] = n
			}
		}
		return x, nil
	}
	_, err := walk(v)
	return err
}

func exactNumber(s string) (float64, *valueError) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, &valueError{at: s, msg: fmt.Sprintf("the number %s is out of range: write it as a string", s)}
	}
	// Up to 15 significant digits always survive a float64.
	digits := 0
	for i := 0; i < len(s) && s[i] != 'e' && s[i] != 'E'; i++ {
		if s[i] >= '0' && s[i] <= '9' && (digits > 0 || s[i] != '0') {
			digits++
		}
	}
	if digits <= 15 {
		return f, nil
	}
	want, ok1 := new(big.Rat).SetString(s)
	got, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok1 || !ok2 || want.Cmp(got) != 0 {
		arrives, _ := json.Marshal(f)
		return 0, &valueError{at: s, msg: fmt.Sprintf("the number %s has more digits than Kinetic carries exactly (it would arrive as %s): write it as a string", s, arrives)}
	}
	return f, nil
}

// replacedEscapes finds a \u escape that encoding/json replaced by U+FFFD
// (a lone surrogate): it returns its offset in line, or -1. It looks only
// when the decoded record holds more U+FFFD than the line writes.
func replacedEscapes(line []byte, rec map[string]any) int {
	decoded := countReplacement(rec)
	if decoded == 0 {
		return -1
	}
	written := bytes.Count(line, []byte("\uFFFD"))
	for i := 0; i+6 <= len(line); i++ {
		if line[i] == '\\' && line[i+1] == 'u' && strings.EqualFold(string(line[i+2:i+6]), "fffd") {
			written++
		}
	}
	if decoded <= written {
		return -1
	}
	for i := 0; i+6 <= len(line); i++ {
		if line[i] == '\\' {
			if line[i+1] == 'u' {
				if n, err := strconv.ParseUint(string(line[i+2:i+6]), 16, 16); err == nil && n >= 0xD800 && n <= 0xDFFF {
					return i
				}
			}
			i++ // skip the escaped character
		}
	}
	return 0
}

func countReplacement(v any) int {
	switch v := v.(type) {
	case string:
		return strings.Count(v, "\uFFFD")
	case map[string]any:
		n := 0
		for k, e := range v {
			n += strings.Count(k, "\uFFFD") + countReplacement(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range v {
			n += countReplacement(e)
		}
		return n
	}
	return 0
}

// resolveColumns turns the byte columns that encoding/csv gives into
// character columns, reading the lines of those errors again.
func resolveColumns(inputs []*input, errs []*InputError) {
	for _, in := range inputs {
		want := map[int][]*InputError{}
		maxLine := 0
		for _, e := range errs {
			if e.File == in.name && e.byteCol && e.Col > 0 {
				want[e.Line] = append(want[e.Line], e)
				maxLine = max(maxLine, e.Line)
			}
		}
		if len(want) == 0 {
			continue
		}
		f, err := os.Open(in.path)
		if err != nil {
			continue
		}
		d := newLineDecoder(f, in.name, in.charmap, in.encoding)
		for d.line < maxLine {
			text, err := d.next()
			if err != nil {
				break
			}
			for _, e := range want[d.line] {
				e.Col, e.byteCol = runeCol(text, e.Col-1), false
			}
		}
		f.Close()
	}
	for _, e := range errs {
		e.byteCol = false
	}
}

// errorList keeps the first maxErrors errors by position (file order, line,
// column) and counts the rest, in bounded memory.
type errorList struct {
	fileOrder map[string]int
	errs      []*InputError
	total     int
}

// maxErrors is how many bad rows a check reports; the rest are counted.
const maxErrors = 20

func (l *errorList) add(e *InputError) {
	l.total++
	l.errs = append(l.errs, e)
	if len(l.errs) >= 8*maxErrors {
		l.compact()
	}
}

func (l *errorList) compact() {
	slices.SortStableFunc(l.errs, func(a, b *InputError) int {
		if c := l.fileOrder[a.File] - l.fileOrder[b.File]; c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	if len(l.errs) > maxErrors {
		l.errs = l.errs[:maxErrors]
	}
}

// CheckError is what the pre-publish check found wrong: nothing was
// published. Errors holds the first 20 by position; More counts the rest.
type CheckError struct {
	Errors []*InputError
	More   int
}

func (e *CheckError) Error() string {
	var b strings.Builder
	n := len(e.Errors) + e.More
	if n == 1 {
		b.WriteString("1 error in the input; nothing was published:")
	} else {
		fmt.Fprintf(&b, "%d errors in the input; nothing was published:", n)
	}
	for _, ie := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(ie.Error())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", e.More)
	}
	return b.String()
}

// Unwrap gives the errors, so errors.As finds an *InputError.
func (e *CheckError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, ie := range e.Errors {
		out[i] = ie
	}
	return out
}
