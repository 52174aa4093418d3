package sfsim

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// Bulk API 2.0 job states.
const (
	stateOpen           = "Open"
	stateUploadComplete = "UploadComplete"
	stateInProgress     = "InProgress"
	stateJobComplete    = "JobComplete"
	stateAborted        = "Aborted"
	stateFailed         = "Failed"
)

// bulkChunk is the number of rows applied under one acquisition of the
// object locks.
const bulkChunk = 200

// delimiter maps a columnDelimiter name to its character.
func delimiter(name string) (rune, bool) {
	switch name {
	case "COMMA":
		return ',', true
	case "TAB":
		return '\t', true
	case "PIPE":
		return '|', true
	case "SEMICOLON":
		return ';', true
	case "CARET":
		return '^', true
	case "BACKQUOTE":
		return '`', true
	}
	return 0, false
}

type bulkResult struct {
	id      string
	created bool
	err     string // "CODE:message:fields" for failures
	row     []string
}

// bulkJob is one ingest job; mu guards every field after creation.
type bulkJob struct {
	mu          sync.Mutex
	id          string
	object      string
	operation   string
	extField    string
	state       string
	createdByID string
	created     int64
	modstamp    int64
	lineEnding  string
	delimiter   string
	apiVersion  float64
	data        []byte
	uploads     int
	processed   int
	failed      int
	errorMsg    string
	procMillis  int64
	abort       bool
	done        chan struct{} // closed when processing ends; nil before the job is queued
	header      []string
	success     []bulkResult
	failures    []bulkResult
	unprocessed [][]string
}

// bulkManager holds the jobs and the workers that process them.
type bulkManager struct {
	s       *Server
	mu      sync.Mutex
	jobs    map[string]*bulkJob
	order   []*bulkJob
	pending []*bulkJob
	wake    chan struct{}
	// afterChunk, when set (by tests, before any job runs), is called after
	// each applied chunk of rows.
	afterChunk func(j *bulkJob)
}

func newBulkManager(s *Server, workers int) *bulkManager {
	m := &bulkManager{s: s, jobs: map[string]*bulkJob{}, wake: make(chan struct{}, workers)}
	for i := 0; i < workers; i++ {
		s.wg.Add(1)
		go m.worker()
	}
	return m
}

func (m *bulkManager) reset() {
	m.mu.Lock()
	for _, j := range m.order {
		j.mu.Lock()
		j.abort = true
		j.mu.Unlock()
	}
	m.jobs = map[string]*bulkJob{}
	m.order = nil
	m.pending = nil
	m.mu.Unlock()
}

func (m *bulkManager) enqueue(j *bulkJob) {
	m.mu.Lock()
	m.pending = append(m.pending, j)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *bulkManager) worker() {
	defer m.s.wg.Done()
	for {
		m.mu.Lock()
		var j *bulkJob
		if len(m.pending) > 0 {
			j = m.pending[0]
			m.pending = m.pending[1:]
		}
		m.mu.Unlock()
		if j != nil {
			m.process(j)
			continue
		}
		select {
		case <-m.s.ctx.Done():
			return
		case <-m.wake:
		}
	}
}

func (m *bulkManager) get(id string) *bulkJob {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.jobs[id]
}

// csvColumn maps a CSV header column.
type csvColumn struct {
	f         *fieldDef // field, or the reference field of a relationship column
	parentExt string    // relationship column: the parent's field name
	isID      bool
	ignore    bool
}

// mapHeader resolves a CSV header; an unknown column fails the job.
func mapHeader(od *objectDef, header []string, operation string) ([]csvColumn, string) {
	cols := make([]csvColumn, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		name := strings.TrimSpace(h)
		lower := strings.ToLower(name)
		if seen[lower] {
			return nil, "InvalidBatch : Duplicate field name: " + name
		}
		seen[lower] = true
		if rel, ext, ok := strings.Cut(name, "."); ok {
			rf := od.byRel[strings.ToLower(rel)]
			if rf == nil || strings.Contains(ext, ".") {
				return nil, "InvalidBatch : Field name not found : " + name
			}
			cols[i] = csvColumn{f: rf, parentExt: ext}
			continue
		}
		f := od.field(name)
		if f == nil {
			return nil, "InvalidBatch : Field name not found : " + name
		}
		cols[i] = csvColumn{f: f, isID: f.sys == sysID}
		if (operation == "delete" || operation == "hardDelete") && !cols[i].isID {
			cols[i].ignore = true
		}
	}
	return cols, ""
}

// prepareCSV fills op from one CSV row. An empty value is ignored, #N/A sets
// null.
func (p *preparer) prepareCSV(op *dmlOp, cols []csvColumn, row []string) {
	op.sets = make([]fieldSet, 0, len(row))
	for i, col := range cols {
		if col.ignore || i >= len(row) {
			continue
		}
		v := row[i]
		if v == "" {
			continue
		}
		null := v == "#N/A"
		if col.isID {
			if null {
				continue
			}
			id, ok := normID(strings.TrimSpace(v))
			if !ok {
				op.err = newRecErr(codeMalformedID, "malformed id "+shown(v), "Id")
				return
			}
			switch {
			case op.kind == opInsert:
				op.err = errIDInBody()
				return
			case op.kind == opUpsert && op.ext.sys != sysID:
				continue
			}
			if !strings.HasPrefix(id, op.od.keyPrefix) {
				op.err = errCrossRef("Id")
				return
			}
			op.id, op.idShown = id, v
			continue
		}
		if op.kind == opDelete || op.kind == opHardDelete {
			continue
		}
		f := col.f
		if col.parentExt != "" {
			if !f.createable && !f.updateable {
				op.err = errReadOnly(f)
				return
			}
			if null {
				op.sets = append(op.sets, fieldSet{f: f})
				continue
			}
			id, err := p.parentByExternal(f, col.parentExt, v, true)
			if err != nil {
				op.err = err
				return
			}
			op.sets = append(op.sets, fieldSet{f: f, v: id})
			continue
		}
		if !f.createable && !f.updateable {
			op.err = errReadOnly(f)
			return
		}
		var val any
		if !null {
			var err *recErr
			if val, err = coerceCSV(f, v); err != nil {
				if err.code == codeInvalidTypeOnField {
					err = bulkDeserializeErr(f, i, v)
				}
				op.err = err
				return
			}
			if f.typ == TypeReference {
				if err := p.checkParentID(f, val.(string)); err != nil {
					op.err = err
					return
				}
			}
		}
		if op.kind == opUpsert && op.ext == f && val != nil {
			op.extKey, op.extShown = indexKey(f, val), v
		}
		op.sets = append(op.sets, fieldSet{f: f, v: val})
	}
	switch op.kind {
	case opUpdate, opDelete, opHardDelete:
		if op.id == "" {
			op.err = newRecErr(codeMissingArgument, "Id not specified in an update call", "Id")
		}
	case opUpsert:
		if op.ext.sys != sysID && op.extKey == "" {
			op.err = newRecErr(codeMissingArgument, op.ext.name+" not specified", op.ext.name)
		}
	}
}

// csvKey reads the key of an upsert, update or delete row whose preparation
// stopped at an error before reaching its key column, so that
// markDuplicates sees every row's key.
func csvKey(op *dmlOp, cols []csvColumn, row []string) {
	for i, col := range cols {
		v := row[i]
		if v == "" || v == "#N/A" {
			continue
		}
		switch {
		case col.isID && op.id == "" && op.kind != opInsert && (op.kind != opUpsert || op.ext.sys == sysID):
			if id, ok := normID(strings.TrimSpace(v)); ok && strings.HasPrefix(id, op.od.keyPrefix) {
				op.id, op.idShown = id, v
			}
		case op.kind == opUpsert && op.extKey == "" && col.f == op.ext && col.parentExt == "":
			if val, err := coerceCSV(op.ext, v); err == nil {
				op.extKey, op.extShown = indexKey(op.ext, val), v
			}
		}
	}
}

// unprocessedFromData makes every uploaded row unprocessed, for a job that
// failed or was aborted before it applied any row. Caller holds j.mu.
func (j *bulkJob) unprocessedFromData() {
	if len(j.data) == 0 || j.processed > 0 {
		return
	}
	rd := csv.NewReader(bytes.NewReader(j.data))
	rd.Comma, _ = delimiter(j.delimiter)
	rd.FieldsPerRecord = -1
	header, err := rd.Read()
	if err != nil {
		return
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	j.header = header
	j.unprocessed = j.unprocessed[:0]
	for {
		row, err := rd.Read()
		if row != nil {
			j.unprocessed = append(j.unprocessed, row)
		}
		if err != nil && row == nil {
			break
		}
	}
	j.data = nil
}

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

// process runs one job to completion (or abort).
func (m *bulkManager) process(j *bulkJob) {
	defer close(j.done)
	start := time.Now()
	j.mu.Lock()
	if j.state != stateUploadComplete || j.abort {
		j.mu.Unlock()
		return
	}
	j.state = stateInProgress
	j.modstamp = m.s.clock().UnixMilli()
	data, operation, delim, object, extName := j.data, j.operation, j.delimiter, j.object, j.extField
	j.mu.Unlock()

	fail := func(msg string) {
		j.mu.Lock()
		j.unprocessedFromData()
		j.state, j.errorMsg = stateFailed, msg
		j.modstamp = m.s.clock().UnixMilli()
		j.procMillis = time.Since(start).Milliseconds()
		j.mu.Unlock()
		m.s.log.Info().Str("job", j.id).Str("sobject", object).Str("mode", operation).Str("error", msg).Msg("sfsim bulk job failed")
	}
	if len(data) == 0 {
		fail("InvalidBatch : No data uploaded to the job")
		return
	}
	cat := m.s.org.cat.Load()
	st := cat.store(object)
	if st == nil {
		fail("InvalidJob : Unable to find object: " + object)
		return
	}
	od := st.def.Load()
	rd := csv.NewReader(bytes.NewReader(data))
	rd.Comma, _ = delimiter(delim)
	rd.FieldsPerRecord = -1
	header, err := rd.Read()
	if err != nil {
		fail("InvalidBatch : Failed to parse the CSV header: " + err.Error())
		return
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	cols, msg := mapHeader(od, header, operation)
	if msg != "" {
		fail(msg)
		return
	}
	var ext *fieldDef
	if operation == "upsert" {
		ext = od.field(extName)
	}
	kind := map[string]opKind{"insert": opInsert, "update": opUpdate, "upsert": opUpsert,
		"delete": opDelete, "hardDelete": opHardDelete}[operation]
	j.mu.Lock()
	j.header = header
	j.mu.Unlock()

	p := &preparer{cat: cat}
	codes := map[string]int{}
	batchSize := m.s.cfg.BulkBatchSize
	apply := func(rows [][]string, ops []*dmlOp) {
		faults := m.s.faults.get()
		var lockFault func() bool
		if rate := faults.LockRowRate; rate > 0 {
			lockFault = func() bool { return m.s.faults.chance(rate) }
		}
		m.s.org.execute(cat, ops, false, lockFault)
		j.mu.Lock()
		for i, op := range ops {
			if op.err != nil {
				j.failures = append(j.failures, bulkResult{id: op.id, err: sfError(op.err), row: rows[i]})
				j.failed++
				codes[op.err.code]++
			} else {
				j.success = append(j.success, bulkResult{id: op.resID, created: op.created, row: rows[i]})
			}
			j.processed++
		}
		j.mu.Unlock()
		if m.afterChunk != nil {
			m.afterChunk(j)
		}
	}
	stopped := func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.abort || m.s.ctx.Err() != nil
	}
	// unprocess makes rows, and every row not read yet, unprocessed.
	unprocess := func(rows [][]string) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.unprocessed = append(j.unprocessed, rows...)
		for {
			r, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if r != nil {
				j.unprocessed = append(j.unprocessed, r)
			}
		}
	}
	aborted := false
	rows := make([][]string, 0, min(batchSize, 1024))
	opsArr := make([]dmlOp, 0, min(batchSize, 1024))
	eof := false
	for !eof && !aborted {
		// Read one batch: Salesforce splits a job into batches of
		// BulkBatchSize records and checks duplicate keys per batch.
		rows, opsArr = rows[:0], opsArr[:0]
		for len(rows) < batchSize {
			row, err := rd.Read()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil && row == nil {
				fail("InvalidBatch : Failed to parse CSV: " + err.Error())
				return
			}
			rows = append(rows, row)
			opsArr = append(opsArr, dmlOp{kind: kind, st: st, od: od, ext: ext})
		}
		if stopped() {
			aborted = true
			unprocess(rows)
			break
		}
		ops := make([]*dmlOp, len(rows))
		for i, row := range rows {
			op := &opsArr[i]
			ops[i] = op
			if len(row) != len(header) {
				op.err = newRecErr("INVALID_ROW", "the row has "+itoa(len(row))+" columns, the header "+itoa(len(header)))
				continue
			}
			p.prepareCSV(op, cols, row)
			csvKey(op, cols, row)
		}
		markDuplicates(ops)
		// Apply the batch in chunks of bulkChunk rows, each under one
		// acquisition of the object locks; an abort stops between chunks.
		for lo := 0; lo < len(ops); lo += bulkChunk {
			if lo > 0 && stopped() {
				aborted = true
				unprocess(rows[lo:])
				break
			}
			hi := min(lo+bulkChunk, len(ops))
			apply(rows[lo:hi], ops[lo:hi])
		}
	}
	m.s.stats.addErrors(codes)
	j.mu.Lock()
	if aborted || j.abort || j.state == stateAborted {
		j.state = stateAborted
	} else {
		j.state = stateJobComplete
	}
	j.data = nil
	j.modstamp = m.s.clock().UnixMilli()
	j.procMillis = time.Since(start).Milliseconds()
	state, processed, failed := j.state, j.processed, j.failed
	j.mu.Unlock()
	m.s.log.Info().Str("job", j.id).Str("sobject", object).Str("mode", operation).Str("state", state).
		Int("processed", processed).Int("failed", failed).Msg("sfsim bulk job done")
}

func itoa(n int) string { return string(appendInt(nil, int64(n))) }

// ---- HTTP ----

func errJob(status int, code, msg string) *apiError { return newAPIError(status, code, msg) }

func (c *call) routeBulk(seg []string) *apiError {
	m := c.r.Method
	if len(seg) == 0 || len(seg) == 1 && seg[0] == "" {
		switch m {
		case http.MethodPost:
			c.st.kind = "bulk_create"
			return c.bulkCreate()
		case http.MethodGet:
			c.st.kind = "bulk_list"
			return c.bulkList()
		}
		return errMethod(m, "GET", "POST")
	}
	j := c.s.bulk.get(seg[0])
	if j == nil {
		c.st.kind = "bulk_get"
		return errNotFound()
	}
	if len(seg) == 1 {
		switch m {
		case http.MethodGet:
			c.st.kind = "bulk_get"
			c.body.b = c.appendJobInfo(c.body.b, j, true)
			return nil
		case http.MethodPatch:
			c.st.kind = "bulk_close"
			return c.bulkSetState(j)
		case http.MethodDelete:
			c.st.kind = "bulk_delete"
			return c.bulkDelete(j)
		}
		return errMethod(m, "GET", "PATCH", "DELETE")
	}
	if len(seg) != 2 {
		return errNotFound()
	}
	switch {
	case seg[1] == "batches":
		c.st.kind = "bulk_upload"
		if m != http.MethodPut {
			return errMethod(m, "PUT")
		}
		return c.bulkUpload(j)
	case strings.EqualFold(seg[1], "successfulResults"), strings.EqualFold(seg[1], "failedResults"),
		strings.EqualFold(seg[1], "unprocessedrecords"):
		c.st.kind = "bulk_results"
		if m != http.MethodGet {
			return errMethod(m, "GET")
		}
		return c.bulkResults(j, strings.ToLower(seg[1]))
	}
	return errNotFound()
}

type jobRequest struct {
	Object              string `json:"object"`
	Operation           string `json:"operation"`
	ExternalIDFieldName string `json:"externalIdFieldName"`
	ContentType         string `json:"contentType"`
	LineEnding          string `json:"lineEnding"`
	ColumnDelimiter     string `json:"columnDelimiter"`
	AssignmentRuleID    string `json:"assignmentRuleId"`
}

func (c *call) bulkCreate() *apiError {
	if ct := c.r.Header.Get("Content-Type"); strings.HasPrefix(strings.ToLower(ct), "multipart/") {
		return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : multipart job creation is not supported by the simulator")
	}
	data, aerr := c.readBody(maxJSONBody)
	if aerr != nil {
		return aerr
	}
	var req jobRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return newAPIError(http.StatusBadRequest, codeJSONParserError, err.Error())
	}
	if req.Object == "" {
		return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : Object is required")
	}
	st := c.cat.store(req.Object)
	if st == nil {
		return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : Unable to find object: "+req.Object)
	}
	od := st.def.Load()
	switch req.Operation {
	case "insert", "update", "delete", "hardDelete":
	case "upsert":
		if req.ExternalIDFieldName == "" {
			return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : External ID was blank for "+od.name+". An External ID must be specified for upsert.")
		}
		f := od.field(req.ExternalIDFieldName)
		if f == nil {
			return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : Field name not found : "+req.ExternalIDFieldName)
		}
		if !f.externalID && f.sys != sysID {
			return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : The field "+f.name+" is not an External ID field of "+od.name)
		}
		req.ExternalIDFieldName = f.name
	default:
		return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : Invalid operation: "+req.Operation)
	}
	if req.ContentType == "" {
		req.ContentType = "CSV"
	}
	if req.ContentType != "CSV" {
		return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : Invalid content type: "+req.ContentType)
	}
	if req.LineEnding == "" {
		req.LineEnding = "LF"
	}
	if req.LineEnding != "LF" && req.LineEnding != "CRLF" {
		return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : Invalid line ending: "+req.LineEnding)
	}
	if req.ColumnDelimiter == "" {
		req.ColumnDelimiter = "COMMA"
	}
	if _, ok := delimiter(req.ColumnDelimiter); !ok {
		return errJob(http.StatusBadRequest, codeInvalidJob, "InvalidJob : Invalid column delimiter: "+req.ColumnDelimiter)
	}
	now := c.s.clock().UnixMilli()
	j := &bulkJob{id: c.s.ids.next(prefixJob), object: od.name, operation: req.Operation, state: stateOpen,
		createdByID: c.sess.user.id, created: now, modstamp: now, lineEnding: req.LineEnding,
		delimiter: req.ColumnDelimiter, apiVersion: c.verNum}
	if req.Operation == "upsert" {
		j.extField = req.ExternalIDFieldName
	}
	m := c.s.bulk
	m.mu.Lock()
	m.jobs[j.id] = j
	m.order = append(m.order, j)
	m.mu.Unlock()
	c.body.b = c.appendJobInfo(c.body.b, j, false)
	return nil
}

// appendJobInfo appends a job's JSON; full adds the processing figures.
func (c *call) appendJobInfo(b []byte, j *bulkJob, full bool) []byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	str := func(k, v string) {
		b = append(b, ',', '"')
		b = append(b, k...)
		b = append(b, `":`...)
		b = jsontext.AppendStringHTML(b, v)
	}
	num := func(k string, v int64) {
		b = append(b, ',', '"')
		b = append(b, k...)
		b = append(b, `":`...)
		b = appendInt(b, v)
	}
	b = append(b, `{"id":`...)
	b = jsontext.AppendStringHTML(b, j.id)
	str("operation", j.operation)
	str("object", j.object)
	str("createdById", j.createdByID)
	str("createdDate", formatMillis(j.created))
	str("systemModstamp", formatMillis(j.modstamp))
	str("state", j.state)
	if j.extField != "" {
		str("externalIdFieldName", j.extField)
	}
	str("concurrencyMode", "Parallel")
	str("contentType", "CSV")
	b = append(b, `,"apiVersion":`...)
	b = appendInt(b, int64(j.apiVersion))
	b = append(b, ".0"...)
	ver := "v" + itoa(int(j.apiVersion)) + ".0"
	str("contentUrl", "services/data/"+ver+"/jobs/ingest/"+j.id+"/batches")
	str("lineEnding", j.lineEnding)
	str("columnDelimiter", j.delimiter)
	if full {
		str("jobType", "V2Ingest")
		num("numberRecordsProcessed", int64(j.processed))
		num("numberRecordsFailed", int64(j.failed))
		num("retries", 0)
		num("totalProcessingTime", j.procMillis)
		num("apiActiveProcessingTime", j.procMillis)
		num("apexProcessingTime", 0)
		if j.errorMsg != "" {
			str("errorMessage", j.errorMsg)
		}
	}
	return append(b, '}')
}

func (c *call) bulkList() *apiError {
	m := c.s.bulk
	m.mu.Lock()
	jobs := slices.Clone(m.order)
	m.mu.Unlock()
	if len(jobs) > 1000 {
		jobs = jobs[len(jobs)-1000:]
	}
	b := append(c.body.b, `{"done":true,"records":[`...)
	for i, j := range jobs {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.appendJobInfo(b, j, false)
	}
	c.body.b = append(b, `],"nextRecordsUrl":null}`...)
	return nil
}

func (c *call) bulkUpload(j *bulkJob) *apiError {
	data, aerr := c.readBody(c.s.cfg.MaxBulkJobBytes)
	if aerr != nil {
		return aerr
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != stateOpen {
		return errJob(http.StatusBadRequest, codeInvalidJobState, "Job is not in the Open state: "+j.state)
	}
	j.uploads++
	if j.uploads == 1 {
		j.data = data
	}
	rows := int64(bytes.Count(data, []byte{'\n'}))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		rows++
	}
	if rows > 0 {
		rows-- // the header
	}
	c.st.records, c.latRecs = rows, float64(rows)/1000
	c.status = http.StatusCreated
	c.contentType = "text/plain"
	return nil
}

func (c *call) bulkSetState(j *bulkJob) *apiError {
	data, aerr := c.readBody(maxJSONBody)
	if aerr != nil {
		return aerr
	}
	var req struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return newAPIError(http.StatusBadRequest, codeJSONParserError, err.Error())
	}
	j.mu.Lock()
	switch req.State {
	case stateUploadComplete:
		if j.state != stateOpen {
			st := j.state
			j.mu.Unlock()
			return errJob(http.StatusBadRequest, codeInvalidJobState, "Job is not in the Open state: "+st)
		}
		if j.uploads > 1 {
			j.mu.Unlock()
			return errJob(http.StatusBadRequest, codeInvalidJob, "Found multiple contents for job: <"+j.id+
				">, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.")
		}
		j.state = stateUploadComplete
		j.modstamp = c.s.clock().UnixMilli()
		j.done = make(chan struct{})
		j.mu.Unlock()
		c.s.bulk.enqueue(j)
	case stateAborted:
		switch j.state {
		case stateOpen, stateUploadComplete, stateInProgress:
		default:
			st := j.state
			j.mu.Unlock()
			return errJob(http.StatusBadRequest, codeInvalidJobState, "Job is already in a final state: "+st)
		}
		// A running job stops after its current chunk; the result
		// endpoints wait for that.
		j.abort = true
		if j.state != stateInProgress {
			j.unprocessedFromData() // nothing applied: every row is unprocessed
		}
		j.state = stateAborted
		j.modstamp = c.s.clock().UnixMilli()
		j.mu.Unlock()
	default:
		j.mu.Unlock()
		return errJob(http.StatusBadRequest, codeInvalidJobState, "Invalid state: "+req.State+" (use UploadComplete or Aborted)")
	}
	c.body.b = c.appendJobInfo(c.body.b, j, false)
	return nil
}

func (c *call) bulkDelete(j *bulkJob) *apiError {
	j.mu.Lock()
	st := j.state
	j.mu.Unlock()
	switch st {
	case stateUploadComplete, stateJobComplete, stateAborted, stateFailed:
	default:
		return errJob(http.StatusBadRequest, codeInvalidJobState, "Cannot delete a job in the "+st+" state")
	}
	m := c.s.bulk
	m.mu.Lock()
	delete(m.jobs, j.id)
	if i := slices.Index(m.order, j); i >= 0 {
		m.order = slices.Delete(m.order, i, i+1)
	}
	m.mu.Unlock()
	j.mu.Lock()
	j.abort = true
	j.mu.Unlock()
	c.status = http.StatusNoContent
	return nil
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
	delim := byte(d)
	eol := "\n"
	if j.lineEnding == "CRLF" {
		eol = "\r\n"
	}
	b := c.body.b
	writeHeader := func(prefix ...string) {
		if len(prefix) == 0 && len(j.header) == 0 {
			return // nothing was uploaded
		}
		for i, p := range prefix {
			if i > 0 {
				b = append(b, delim)
			}
			b = appendCSVQuoted(b, p)
		}
		for i, h := range j.header {
			if i > 0 || len(prefix) > 0 {
				b = append(b, delim)
			}
			b = appendCSVField(b, h, delim)
		}
		b = append(b, eol...)
	}
	writeRow := func(prefix []string, row []string) {
		for i, p := range prefix {
			if i > 0 {
				b = append(b, delim)
			}
			b = appendCSVQuoted(b, p)
		}
		for i, v := range row {
			if i > 0 || len(prefix) > 0 {
				b = append(b, delim)
			}
			b = appendCSVQuoted(b, v)
		}
		b = append(b, eol...)
	}
	switch which {
	case "successfulresults":
		writeHeader("sf__Id", "sf__Created")
		for _, r := range j.success {
			created := "false"
			if r.created {
				created = "true"
			}
			writeRow([]string{r.id, created}, r.row)
		}
	case "failedresults":
		writeHeader("sf__Id", "sf__Error")
		for _, r := range j.failures {
			writeRow([]string{r.id, r.err}, r.row)
		}
	default:
		writeHeader()
		for _, r := range j.unprocessed {
			writeRow(nil, r)
		}
	}
	c.body.b = b
	c.contentType = "text/csv"
	c.gzipOK = true
	return nil
}

func appendCSVQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"', '"')
		} else {
			b = append(b, s[i])
		}
	}
	return append(b, '"')
}

// appendCSVField quotes s only when it needs it.
func appendCSVField(b []byte, s string, delim byte) []byte {
	if s == "" || strings.ContainsAny(s, "\"\r\n") || strings.IndexByte(s, delim) >= 0 || s[0] == ' ' {
		return appendCSVQuoted(b, s)
	}
	return append(b, s...)
}
