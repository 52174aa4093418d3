package salesforce

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxJobBytes is the largest CSV BulkIngest uploads in one job.
// Salesforce accepts 150 MB after base64 encoding and advises 100 MB of raw
// data; larger inputs are split over several jobs.
const DefaultMaxJobBytes = 100_000_000

// BulkRequest loads records with Bulk API 2.0.
type BulkRequest struct {
	Object          string
	Operation       BulkOperation
	ExternalIDField string   // upsert only
	Records         []Record // nil values are sent as #N/A (set the field to null)
	// MaxJobBytes splits the CSV over several jobs. Default DefaultMaxJobBytes.
	MaxJobBytes int
	Poll        PollPolicy
}

// BulkResult is the outcome of one input record of a BulkIngest.
type BulkResult struct {
	ID          string     // Salesforce id, when known
	Success     bool       // the record was processed successfully
	Created     bool       // sf__Created
	Error       *SaveError // set when the record failed
	Unprocessed bool       // the job ended before reaching the record (aborted or failed job)
	JobID       string
}

// BulkOutcome is what BulkIngest did.
type BulkOutcome struct {
	Results  []BulkResult // Results[i] belongs to Records[i]
	Jobs     []*JobInfo   // final state of every job
	APICalls int          // REST calls made, polls included
}

// BulkIngest runs a whole Bulk API 2.0 ingest: it writes the records as CSV
// (columns are the union of the records' fields; a nested relationship record
// becomes "Rel.Field" columns; nil is #N/A; an absent field is an empty cell,
// which Salesforce ignores), splits it into jobs under MaxJobBytes, creates,
// uploads and closes every job, polls them with backoff, and correlates every
// row of the successful, failed and unprocessed result CSVs back to its input
// index. Salesforce does not keep row order in results, so rows are matched on
// the record id (update, delete), the external id (upsert) or the whole row's
// normalised values (insert); identical input rows are interchangeable.
//
// If ctx ends while jobs run, they are aborted (processed records stay
// processed) and ctx's error is returned with the partial outcome.
func (c *Client) BulkIngest(ctx context.Context, req BulkRequest) (*BulkOutcome, error) {
	if req.Operation == BulkUpsert && req.ExternalIDField == "" {
		return nil, errors.New("salesforce: bulk upsert needs an external id field")
	}
	out := &BulkOutcome{Results: make([]BulkResult, len(req.Records))}
	if len(req.Records) == 0 {
		return out, nil
	}
	cols := bulkColumns(req.Operation, req.Records)
	maxBytes := req.MaxJobBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxJobBytes
	}
	parts, err := writeBulkCSV(cols, req.Records, maxBytes)
	if err != nil {
		return nil, err
	}

	type running struct {
		job  *JobInfo
		part *csvPart
	}
	var jobs []running
	abortAll := func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, r := range jobs {
			if _, err := c.AbortJob(actx, r.job.ID); err == nil {
				out.APICalls++
			}
		}
	}
	for i := range parts {
		jr := JobRequest{Object: req.Object, Operation: req.Operation, ContentType: "CSV", LineEnding: "LF", ColumnDelimiter: "COMMA"}
		if req.Operation == BulkUpsert {
			jr.ExternalIDFieldName = req.ExternalIDField
		}
		job, err := c.CreateIngestJob(ctx, jr)
		out.APICalls++
		if err != nil {
			abortAll()
			return out, err
		}
		jobs = append(jobs, running{job: job, part: &parts[i]})
		err = c.UploadJobData(ctx, job.ID, parts[i].data, len(parts[i].rows))
		out.APICalls++
		if err == nil {
			_, err = c.CloseJob(ctx, job.ID)
			out.APICalls++
		}
		parts[i].data = nil // uploaded: let it go
		if err != nil {
			abortAll()
			return out, err
		}
	}
	for _, r := range jobs {
		final, calls, err := c.WaitForJob(ctx, r.job.ID, req.Poll)
		out.APICalls += calls
		if err != nil {
			if ctx.Err() != nil {
				abortAll()
			}
			return out, err
		}
		out.Jobs = append(out.Jobs, final)
		if err := c.collectResults(ctx, req, cols, final, r.part, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// collectResults reads a finished job's three result sets into out.Results.
func (c *Client) collectResults(ctx context.Context, req BulkRequest, cols []string, job *JobInfo, part *csvPart, out *BulkOutcome) error {
	m := newRowMatcher(req.Operation, req.ExternalIDField, cols, part)
	for _, kind := range []ResultKind{SuccessfulResults, FailedResults, UnprocessedResult} {
		rc, err := c.JobResults(ctx, job.ID, kind)
		out.APICalls++
		if err != nil {
			return err
		}
		var idOf, createdOf, errorOf int
		err = readResultCSV(rc, func(header []string) {
			m.bind(header)
			idOf = slices.Index(header, "sf__Id")
			createdOf = slices.Index(header, "sf__Created")
			errorOf = slices.Index(header, "sf__Error")
		}, func(row []string) error {
			idx, ok := m.match(row)
			if !ok {
				return fmt.Errorf("salesforce: bulk job %s: a %s row matches no input record", job.ID, strings.TrimSuffix(string(kind), "/"))
			}
			cell := func(i int) string {
				if i >= 0 && i < len(row) {
					return row[i]
				}
				return ""
			}
			res := BulkResult{JobID: job.ID}
			switch kind {
			case SuccessfulResults:
				res.Success = true
				res.ID = cell(idOf)
				res.Created = strings.EqualFold(cell(createdOf), "true")
			case FailedResults:
				res.ID = cell(idOf)
				res.Error = ParseBulkError(cell(errorOf))
			default:
				res.Unprocessed = true
			}
			out.Results[part.rows[idx]] = res
			return nil
		})
		rc.Close()
		if err != nil {
			return err
		}
	}
	// Rows that appear in no result set were not reached.
	for _, i := range m.unmatched() {
		out.Results[part.rows[i]] = BulkResult{JobID: job.ID, Unprocessed: true}
	}
	return nil
}

// ParseBulkError parses an sf__Error cell, "CODE:message:fields" with "--"
// for no fields, into a SaveError. A cell without that shape becomes the
// message of an UNKNOWN_EXCEPTION.
func ParseBulkError(s string) *SaveError {
	code, rest, ok := strings.Cut(s, ":")
	if !ok || code == "" || strings.ContainsAny(code, " \t") {
		return &SaveError{StatusCode: "UNKNOWN_EXCEPTION", Message: s}
	}
	e := &SaveError{StatusCode: code, Message: rest}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		e.Message = rest[:i]
		if f := rest[i+1:]; f != "--" && f != "" {
			e.Fields = strings.Split(f, ",")
		}
	}
	return e
}

// bulkColumns picks the CSV columns: only Id for deletes; otherwise the union
// of every record's fields (relationship records flattened to Rel.Field),
// sorted, with Id first when present.
func bulkColumns(op BulkOperation, recs []Record) []string {
	if op == BulkDelete || op == BulkHardDelete {
		return []string{"Id"}
	}
	seen := map[string]bool{}
	var cols []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			cols = append(cols, k)
		}
	}
	for _, r := range recs {
		for k, v := range r {
			if k == "attributes" {
				continue
			}
			if m, ok := v.(map[string]any); ok {
				for sk := range m {
					if sk != "attributes" {
						add(k + "." + sk)
					}
				}
				continue
			}
			add(k)
		}
	}
	slices.SortFunc(cols, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "Id":
			return -1
		case b == "Id":
			return 1
		}
		return strings.Compare(a, b)
	})
	return cols
}

// csvPart is one job's CSV and the input indices of its rows.
type csvPart struct {
	data  []byte
	rows  []int      // rows[k] = input index of data row k
	cells [][]string // cells[k] = the values written for data row k
}

func writeBulkCSV(cols []string, recs []Record, maxBytes int) ([]csvPart, error) {
	var (
		parts  []csvPart
		buf    bytes.Buffer
		cur    csvPart
		header []byte
	)
	{
		var h bytes.Buffer
		w := csv.NewWriter(&h)
		if err := w.Write(cols); err != nil {
			return nil, err
		}
		w.Flush()
		header = h.Bytes()
	}
	var rowBuf bytes.Buffer
	rw := csv.NewWriter(&rowBuf)
	for i, r := range recs {
		cells := make([]string, len(cols))
		for j, col := range cols {
			v, ok := lookupColumn(r, col)
			if !ok {
				continue
			}
			s, err := csvValue(v)
			if err != nil {
				return nil, fmt.Errorf("salesforce: bulk record %d field %s: %w", i, col, err)
			}
			cells[j] = s
		}
		rowBuf.Reset()
		if err := rw.Write(cells); err != nil {
			return nil, err
		}
		rw.Flush()
		if buf.Len() > 0 && buf.Len()+rowBuf.Len() > maxBytes {
			cur.data = bytes.Clone(buf.Bytes())
			parts = append(parts, cur)
			cur = csvPart{}
			buf.Reset()
		}
		if buf.Len() == 0 {
			buf.Write(header)
		}
		buf.Write(rowBuf.Bytes())
		cur.rows = append(cur.rows, i)
		cur.cells = append(cur.cells, cells)
	}
	if buf.Len() > 0 {
		cur.data = bytes.Clone(buf.Bytes())
		parts = append(parts, cur)
	}
	return parts, nil
}

func lookupColumn(r Record, col string) (any, bool) {
	if v, ok := r[col]; ok {
		if _, nested := v.(map[string]any); !nested {
			return v, true
		}
	}
	rel, field, ok := strings.Cut(col, ".")
	if !ok {
		return nil, false
	}
	m, ok := r[rel].(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := m[field]
	return v, ok
}

// csvValue formats a record value as a Bulk API 2.0 CSV cell.
func csvValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "#N/A", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("unsupported number %v", x)
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case json.Number:
		return string(x), nil
	default:
		return "", fmt.Errorf("unsupported value of type %T", v)
	}
}

// rowMatcher maps result rows back to the rows of one job's CSV.
type rowMatcher struct {
	cols    []string
	pos     []int            // pos[i] = index of cols[i] in the bound result header, or -1
	keyCols []int            // the columns that form the key
	byKey   map[string][]int // key → data rows (FIFO)
	used    []bool
}

func newRowMatcher(op BulkOperation, extField string, cols []string, part *csvPart) *rowMatcher {
	m := &rowMatcher{cols: cols, byKey: map[string][]int{}, used: make([]bool, len(part.rows))}
	switch op {
	case BulkUpdate, BulkDelete, BulkHardDelete:
		if i := slices.Index(cols, "Id"); i >= 0 {
			m.keyCols = []int{i}
		}
	case BulkUpsert:
		if i := slices.IndexFunc(cols, func(c string) bool { return strings.EqualFold(c, extField) }); i >= 0 {
			m.keyCols = []int{i}
		}
	}
	if m.keyCols == nil {
		for i := range cols {
			m.keyCols = append(m.keyCols, i)
		}
	}
	for k, cells := range part.cells {
		key := m.key(func(i int) string { return cells[i] })
		m.byKey[key] = append(m.byKey[key], k)
	}
	return m
}

func (m *rowMatcher) key(cell func(i int) string) string {
	var b strings.Builder
	for n, i := range m.keyCols {
		if n > 0 {
			b.WriteByte(0)
		}
		b.WriteString(normCell(m.cols[i], cell(i)))
	}
	return b.String()
}

// bind locates the input columns in a result CSV's header.
func (m *rowMatcher) bind(header []string) {
	m.pos = make([]int, len(m.cols))
	for i, c := range m.cols {
		m.pos[i] = slices.IndexFunc(header, func(h string) bool { return strings.EqualFold(h, c) })
	}
}

// match finds the data row a result row belongs to and marks it used.
func (m *rowMatcher) match(row []string) (int, bool) {
	key := m.key(func(i int) string {
		if p := m.pos[i]; p >= 0 && p < len(row) {
			return row[p]
		}
		return ""
	})
	q := m.byKey[key]
	for len(q) > 0 {
		k := q[0]
		q = q[1:]
		m.byKey[key] = q
		if !m.used[k] {
			m.used[k] = true
			return k, true
		}
	}
	return 0, false
}

func (m *rowMatcher) unmatched() []int {
	var out []int
	for k, u := range m.used {
		if !u {
			out = append(out, k)
		}
	}
	return out
}

// normCell normalises a cell so that a value reads the same whether it comes
// from our CSV or from Salesforce's result CSV, which echoes values as stored
// (numbers like 9.12260031E8, ids in 18 characters, true/TRUE, datetimes with
// or without milliseconds). Text is compared exactly.
func normCell(col, s string) string {
	s = strings.TrimSpace(s)
	if s == "#N/A" {
		return ""
	}
	if strings.EqualFold(col, "Id") && (len(s) == 15 || len(s) == 18) {
		return s[:15]
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpP") {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	if strings.EqualFold(s, "true") || strings.EqualFold(s, "false") {
		return strings.ToLower(s)
	}
	if len(s) >= 19 && s[4] == '-' && s[10] == 'T' {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC().Format(time.RFC3339Nano)
			}
		}
	}
	return s
}

// readResultCSV reads a result CSV: onHeader gets its header, onRow each data row.
func readResultCSV(r io.Reader, onHeader func([]string), onRow func(row []string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("salesforce: bulk results: %w", err)
	}
	onHeader(header)
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("salesforce: bulk results: %w", err)
		}
		if err := onRow(row); err != nil {
			return err
		}
	}
}
