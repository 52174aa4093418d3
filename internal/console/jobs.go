package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// jobRow is one line of the jobs page.
type jobRow struct {
	jobInfo
	Status   string
	Level    level
	Note     string
	Progress template.HTML
	Duration time.Duration
	Rate     float64
}

func (s *Server) jobRow(j jobInfo, now time.Time) jobRow {
	r := jobRow{jobInfo: j, Duration: j.Last.Sub(j.First)}
	if d := r.Duration.Seconds(); d > 0 {
		r.Rate = float64(j.Counts.Loaded+j.Counts.DeadLettered) / d
	}
	r.Progress = progressBar(j.Counts, int(j.MaxSeq))
	switch {
	case int64(j.Counts.Final()) < j.MaxSeq:
		r.Status = string(pipeline.InProgress)
		r.Note = formatInt(j.MaxSeq-int64(j.Counts.Final())) + " without an outcome yet"
		if idle := now.Sub(j.Last); idle > 5*time.Minute {
			r.Level = levelWarn
			r.Note += ", no result for " + formatDuration(idle)
		}
	default:
		r.Status = string(pipeline.StatusFor(j.Counts.Loaded, j.Counts.DeadLettered))
	}
	switch pipeline.SyncStatus(r.Status) {
	case pipeline.Failed:
		r.Level = levelCrit
	case pipeline.Partial:
		r.Level = levelWarn
	}
	return r
}

// jobsPage is the data of the jobs page.
type jobsPage struct {
	Jobs     []jobRow
	History  time.Duration
	CaughtUp bool
}

func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now()
	jp := &jobsPage{History: s.opts.History, CaughtUp: s.results.status().CaughtUp}
	var errs []string
	if st := s.results.status(); st.Err != nil {
		errs = append(errs, "results stream: "+st.Err.Error())
	}
	if _, err := s.js(); err != nil {
		errs = append(errs, err.Error())
	}
	for _, j := range s.results.jobList() {
		jp.Jobs = append(jp.Jobs, s.jobRow(j, now))
	}
	s.render(w, r, http.StatusOK, "jobs", view{Title: "Jobs", Nav: "jobs", Data: jp, Errors: errs})
}

// jobPage is the data of one job's page.
type jobPage struct {
	Row      jobRow
	Result   *pipeline.SyncResult
	Errors   []*pipeline.RecordError
	More     int // errors not listed
	Partial  bool
	Duration time.Duration
}

// watchJob folds a job's results into a SyncResult with pkg/jobs, as
// `producer publish --wait` does. A job still in progress gives a partial
// result (status in_progress) after a short wait.
func (s *Server) watchJob(ctx context.Context, j jobInfo) (*jobs.Result, bool, error) {
	js, err := s.js()
	if err != nil {
		return nil, false, err
	}
	wait := 10 * time.Second
	if int64(j.Counts.Final()) < j.MaxSeq {
		wait = 2 * time.Second // in progress: take what is there
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	res, err := jobs.Watch(ctx, js, jobs.Options{
		Topology: s.opts.Topology, Job: j.ID, Total: int(j.MaxSeq), Since: j.First.Add(-time.Minute),
		Mode: pipeline.SyncMode(j.Mode), SObject: j.SObject,
	})
	partial := false
	if errors.Is(err, context.DeadlineExceeded) && res != nil {
		partial, err = true, nil
	}
	if err != nil {
		return res, partial, err
	}
	// The job's clock: from its first stored result to its last.
	d := j.Last.Sub(j.First)
	res.Metadata.ElapsedSeconds = d.Seconds()
	res.Metadata.RecordsPerSecond = 0
	if d > 0 {
		res.Metadata.RecordsPerSecond = float64(res.SuccessCount+res.ErrorCount) / d.Seconds()
	}
	return res, partial, nil
}

func (s *Server) lookupJob(w http.ResponseWriter, r *http.Request) (jobInfo, bool) {
	id := r.PathValue("id")
	if !messages.ValidToken(id) {
		s.renderError(w, r, http.StatusBadRequest, "Bad job id", "A job id is letters, digits, - and _.")
		return jobInfo{}, false
	}
	j, ok := s.results.job(id)
	if !ok {
		s.renderError(w, r, http.StatusNotFound, "Unknown job",
			"No result of job "+id+" was stored in the last "+formatDuration(s.opts.History)+" (the console reads that far back; see --history).")
		return jobInfo{}, false
	}
	return j, true
}

func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.lookupJob(w, r)
	if !ok {
		return
	}
	jp := &jobPage{Row: s.jobRow(j, s.opts.Now()), Duration: j.Last.Sub(j.First)}
	var errs []string
	res, partial, err := s.watchJob(r.Context(), j)
	if err != nil {
		errs = append(errs, "reading the job's results: "+err.Error())
	}
	if res != nil {
		jp.Result, jp.Partial = res.SyncResult, partial
		jp.Errors = res.Errors
		if len(jp.Errors) > 100 {
			jp.More, jp.Errors = len(jp.Errors)-100, jp.Errors[:100]
		}
	}
	s.render(w, r, http.StatusOK, "job", view{Title: "Job " + j.ID, Nav: "jobs", Data: jp, Errors: errs})
}

// handleJobCSV writes a job's result files, Data Loader style, as
// `producer publish` does:
//
//	success-<job>.csv  ID, SEQ, KEY, STATUS (Item Created, Item Updated, Item Deleted)
//	error-<job>.csv    SEQ, the record's columns, ERROR ("CODE: message"; skipped records say SKIPPED)
//
// The console cannot read a loaded record again (the records stream deletes
// it once loaded), so the success file has the job sequence and key where
// the producer's has the input's columns; the error file takes each
// record's columns from its dead letter while it is in the dead-letter
// stream.
func (s *Server) handleJobCSV(w http.ResponseWriter, r *http.Request) {
	j, ok := s.lookupJob(w, r)
	if !ok {
		return
	}
	res, _, err := s.watchJob(r.Context(), j)
	if err != nil || res == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Job results unavailable", "Reading the job's results failed: "+errString(err))
		return
	}
	var buf bytes.Buffer
	name := "success-" + j.ID + ".csv"
	if strings.HasSuffix(r.URL.Path, "/errors.csv") {
		name = "error-" + j.ID + ".csv"
		var records map[int64]sourceRecord
		records, err = s.deadLetterRecords(r.Context(), j.ID)
		if err != nil {
			s.renderError(w, r, http.StatusServiceUnavailable, "Dead letters unavailable", "Reading the job's dead letters failed: "+err.Error())
			return
		}
		err = writeErrorCSV(&buf, res.Outcomes, records)
	} else {
		err = writeSuccessCSV(&buf, res.Outcomes, pipeline.SyncMode(j.Mode))
	}
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, "CSV failed", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func errString(err error) string {
	if err == nil {
		return "no result"
	}
	return err.Error()
}

// sourceRecord is a dead letter's original record: its columns in order.
type sourceRecord struct {
	keys   []string
	values map[string]any
}

// deadLetterRecords reads the original records of a job's dead letters, by
// job sequence.
func (s *Server) deadLetterRecords(ctx context.Context, job string) (map[int64]sourceRecord, error) {
	js, err := s.js()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	insp, err := deadletter.NewInspector(ctx, js, s.opts.Topology)
	if err != nil {
		return nil, err
	}
	entries, err := insp.List(ctx, deadletter.Filter{Job: job, Limit: s.opts.MaxDeadLetters})
	if err != nil {
		return nil, err
	}
	out := map[int64]sourceRecord{}
	for _, e := range entries {
		if rec, ok := parseObject(e.DeadLetter.Data); ok && e.DeadLetter.Seq > 0 {
			out[e.DeadLetter.Seq] = rec
		}
	}
	return out, nil
}

// parseObject decodes a JSON object keeping the order of its keys.
func parseObject(data []byte) (sourceRecord, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return sourceRecord{}, false
	}
	rec := sourceRecord{values: map[string]any{}}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return sourceRecord{}, false
		}
		k, _ := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return sourceRecord{}, false
		}
		if _, dup := rec.values[k]; !dup {
			rec.keys = append(rec.keys, k)
		}
		rec.values[k] = v
	}
	return rec, true
}

func writeSuccessCSV(w io.Writer, outcomes []jobs.Outcome, mode pipeline.SyncMode) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"ID", "SEQ", "KEY", "STATUS"}); err != nil {
		return err
	}
	for i, oc := range outcomes {
		if oc.Status != messages.StatusLoaded {
			continue
		}
		if err := cw.Write([]string{oc.ID, strconv.Itoa(i + 1), oc.Key, itemStatus(mode, oc.Created)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeErrorCSV(w io.Writer, outcomes []jobs.Outcome, records map[int64]sourceRecord) error {
	var columns []string
	seen := map[string]bool{}
	seqs := make([]int64, 0, len(records))
	for seq := range records {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		for _, k := range records[seq].keys {
			if !seen[k] {
				seen[k] = true
				columns = append(columns, k)
			}
		}
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(slices.Concat([]string{"SEQ"}, columns, []string{"ERROR"})); err != nil {
		return err
	}
	for i, oc := range outcomes {
		var msg string
		switch oc.Status {
		case messages.StatusLoaded:
			continue
		case messages.StatusDeadLettered:
			msg = oc.Code + ": " + oc.Message
		case messages.StatusSkipped:
			msg = "SKIPPED: the job stopped on an earlier error"
		default:
			msg = "NO_OUTCOME: no result has arrived yet"
		}
		row := make([]string, 0, len(columns)+2)
		row = append(row, strconv.Itoa(i+1))
		rec := records[int64(i+1)]
		for _, c := range columns {
			row = append(row, cell(rec.values[c]))
		}
		if err := cw.Write(append(row, msg)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// itemStatus and cell are internal/producer's (output.go), which are not
// exported: the same words and formatting as `producer publish` writes.
func itemStatus(mode pipeline.SyncMode, created bool) string {
	switch {
	case mode == pipeline.Delete:
		return "Item Deleted"
	case mode == pipeline.Insert || created:
		return "Item Created"
	default:
		return "Item Updated"
	}
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
