package pipeline

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SourceError is a source record that cannot be read, with where it is.
type SourceError struct {
	File   string // name given to the reader ("-" for standard input)
	Line   int    // 1-based line of the record
	Column string // the CSV column, when the error is about one
	Msg    string
}

func (e *SourceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d", e.File, e.Line)
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// RecordReader reads source records one at a time, with the line each came
// from, so that a bad row is reported by file, line and column and nothing
// needs the whole file in memory.
//
// CSV: the first row names the columns (blank or repeated names are an
// error); every row must have as many cells; values are text; an empty cell
// is null — omitted by the mapper, or sent as null with insert_nulls, as
// Data Loader's insertNulls does. JSON Lines: one JSON object per line,
// blank lines skipped.
type RecordReader struct {
	name   string
	csv    *csv.Reader
	header []string
	lines  *bufio.Scanner
	line   int
}

// NewCSVReader reads CSV with a header row.
func NewCSVReader(r io.Reader, name string) *RecordReader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // every row like the header
	cr.ReuseRecord = true
	return &RecordReader{name: name, csv: cr}
}

// NewJSONLReader reads JSON Lines.
func NewJSONLReader(r io.Reader, name string) *RecordReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &RecordReader{name: name, lines: sc}
}

// Line is the line of the record Next returned last.
func (rr *RecordReader) Line() int { return rr.line }

// Header returns the CSV columns (nil for JSON Lines, or before the first Next).
func (rr *RecordReader) Header() []string { return rr.header }

// Next returns the next record, or io.EOF after the last. Other errors are
// *SourceError; reading may continue after one.
func (rr *RecordReader) Next() (map[string]any, error) {
	if rr.csv != nil {
		return rr.nextCSV()
	}
	return rr.nextJSONL()
}

func (rr *RecordReader) nextCSV() (map[string]any, error) {
	if rr.header == nil {
		h, err := rr.csv.Read()
		if errors.Is(err, io.EOF) {
			return nil, &SourceError{File: rr.name, Line: 1, Msg: "empty file: want a header row naming the columns"}
		}
		if err != nil {
			return nil, rr.csvErr(err)
		}
		rr.header = make([]string, len(h))
		seen := map[string]bool{}
		for i, c := range h {
			c = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
			if c == "" {
				return nil, &SourceError{File: rr.name, Line: 1, Msg: fmt.Sprintf("header: column %d has no name", i+1)}
			}
			if seen[c] {
				return nil, &SourceError{File: rr.name, Line: 1, Column: c, Msg: "header: the column is named twice"}
			}
			seen[c] = true
			rr.header[i] = c
		}
	}
	row, err := rr.csv.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, rr.csvErr(err) // a ParseError knows its line; FieldPos may not
	}
	rr.line, _ = rr.csv.FieldPos(0)
	rec := make(map[string]any, len(row))
	for i, v := range row {
		if v == "" {
			rec[rr.header[i]] = nil
		} else {
			rec[rr.header[i]] = v
		}
	}
	return rec, nil
}

func (rr *RecordReader) csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		rr.line = pe.StartLine
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) && rr.header != nil {
			msg = fmt.Sprintf("wrong number of cells: the header has %d columns", len(rr.header))
		}
		return &SourceError{File: rr.name, Line: pe.Line, Msg: msg}
	}
	return &SourceError{File: rr.name, Line: rr.line, Msg: err.Error()}
}

func (rr *RecordReader) nextJSONL() (map[string]any, error) {
	for rr.lines.Scan() {
		rr.line++
		b := bytes.TrimSpace(rr.lines.Bytes())
		if len(b) == 0 {
			continue
		}
		if b[0] != '{' {
			return nil, &SourceError{File: rr.name, Line: rr.line, Msg: "not a JSON object"}
		}
		var rec map[string]any
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, &SourceError{File: rr.name, Line: rr.line, Msg: "invalid JSON: " + err.Error()}
		}
		return rec, nil
	}
	if err := rr.lines.Err(); err != nil {
		return nil, &SourceError{File: rr.name, Line: rr.line + 1, Msg: err.Error()}
	}
	return nil, io.EOF
}

// ReadCSV reads a whole CSV (header row first) into records, as the
// original's csv.DictReader examples do. It stops at the first bad row.
func ReadCSV(r io.Reader) ([]map[string]any, error) {
	rr := NewCSVReader(r, "csv")
	var out []map[string]any
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}
