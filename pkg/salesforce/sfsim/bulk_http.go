package sfsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// Bulk API 2.0 HTTP handlers: create, list, get, upload, close or abort,
// delete (routes in routes.go).

func errJob(status int, code, msg string) *apiError { return newAPIError(status, code, msg) }

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
	b := c.body.b
	b = append(b, `{"done":true,"records":[`...)
	for i, j := range jobs {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.appendJobInfo(b, j, false)
	}
	b = append(b, `],"nextRecordsUrl":null}`...)
	c.body.b = b
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
		j.ctx, j.cancel = context.WithCancel(c.s.ctx)
		j.closedAt = c.s.clock()
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
		// A running job stops after its current chunk (at once while it
		// waits on the timing model); the result endpoints wait for that.
		j.abort = true
		if j.cancel != nil {
			j.cancel()
		}
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
	j.stop()
	c.status = http.StatusNoContent
	return nil
}
