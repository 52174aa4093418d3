package sfsim

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Bulk API 2.0 result CSVs: successfulResults, failedResults and
// unprocessedrecords.

// sfError renders a record error as sf__Error: CODE:message:fields, each
// field followed by a space, then "--" ("REQUIRED_FIELD_MISSING:Required
// fields are missing: [LastName]:LastName --", "…:--" without fields).
func sfError(e *recErr) string {
	var b strings.Builder
	b.WriteString(e.code)
	b.WriteByte(':')
	b.WriteString(e.message)
	b.WriteByte(':')
	for _, f := range e.fields {
		b.WriteString(f)
		b.WriteByte(' ')
	}
	b.WriteString("--")
	return b.String()
}

// bulkResults serves the three result CSVs, always text/csv.
func (c *call) bulkResults(j *bulkJob, which string) *apiError {
	j.mu.Lock()
	done := j.done
	if j.state != stateAborted {
		done = nil
	}
	j.mu.Unlock()
	if done != nil {
		// An aborted job may still be finishing its chunk.
		select {
		case <-done:
		case <-c.r.Context().Done():
			return newAPIError(http.StatusServiceUnavailable, codeServerUnavailable, "request cancelled")
		case <-c.s.ctx.Done():
			return newAPIError(http.StatusServiceUnavailable, codeServerUnavailable, "server closing")
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	d, _ := delimiter(j.delimiter)
	w := resultWriter{b: c.body.b, comma: d, crlf: j.lineEnding == "CRLF"}
	switch which {
	case "successfulresults":
		w.header(j.header, "sf__Id", "sf__Created")
		for _, r := range j.success {
			created := "false"
			if r.created {
				created = "true"
			}
			w.row(r.row, r.id, created)
		}
	case "failedresults":
		w.header(j.header, "sf__Id", "sf__Error")
		for _, r := range j.failures {
			w.row(r.row, r.id, r.err)
		}
	default:
		if len(j.header) > 0 { // nothing was uploaded otherwise
			w.header(j.header)
		}
		for _, r := range j.unprocessed {
			w.row(r)
		}
	}
	c.body.b = w.b
	c.contentType = "text/csv"
	c.gzipOK = true
	return nil
}

// resultWriter writes a result CSV in Salesforce's form, with the job's
// delimiter and line ending: the sf__ columns and every value are quoted
// ("0018c00002FInboAAD","true","Lorem Ipsum"), the uploaded header names
// are written as encoding/csv writes them, quoted only when they must be
// (the Bulk API 2.0 guide's example: "sf__Id","sf__Created",Name,ShippingCity).
// encoding/csv's Writer has no way to quote a field that does not need it,
// so the always-quoted fields go through quoted.
type resultWriter struct {
	b     []byte
	comma rune
	crlf  bool
}

func (w *resultWriter) eol() {
	if w.crlf {
		w.b = append(w.b, '\r', '\n')
	} else {
		w.b = append(w.b, '\n')
	}
}

// header writes the quoted sf__ column names, then names.
func (w *resultWriter) header(names []string, prefix ...string) {
	w.quoted(prefix...)
	if len(names) == 0 {
		w.eol()
		return
	}
	if len(prefix) > 0 {
		w.b = utf8.AppendRune(w.b, w.comma)
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Comma, cw.UseCRLF = w.comma, w.crlf
	_ = cw.Write(names) // writes to memory; the names came from a parsed CSV
	cw.Flush()
	w.b = append(w.b, buf.Bytes()...)
}

// row writes prefix and values, every field quoted.
func (w *resultWriter) row(values []string, prefix ...string) {
	w.quoted(prefix...)
	if len(prefix) > 0 && len(values) > 0 {
		w.b = utf8.AppendRune(w.b, w.comma)
	}
	w.quoted(values...)
	w.eol()
}

// quoted writes fields, each in double quotes with inner quotes doubled.
func (w *resultWriter) quoted(fields ...string) {
	for i, f := range fields {
		if i > 0 {
			w.b = utf8.AppendRune(w.b, w.comma)
		}
		w.b = append(w.b, '"')
		for k := 0; k < len(f); k++ {
			if f[k] == '"' {
				w.b = append(w.b, '"')
			}
			w.b = append(w.b, f[k])
		}
		w.b = append(w.b, '"')
	}
}
