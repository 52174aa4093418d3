package sfsim

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"sync"
	"time"
)

// Bulk API 2.0 ingest jobs: the job state machine (Open → UploadComplete →
// InProgress → JobComplete, Aborted or Failed) and the workers that process
// uploaded data. The CSV preparation is in bulk_csv.go, the HTTP handlers
// in bulk_http.go, the result CSVs in bulk_results.go.

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
	// ctx is cancelled when the job is aborted or deleted, so a job waiting
	// on the Bulk timing model stops; closedAt is when it was closed.
	ctx         context.Context
	cancel      context.CancelFunc
	closedAt    time.Time
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
		j.stop()
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

// process runs one job to completion (or abort).
func (m *bulkManager) process(j *bulkJob) {
	defer close(j.done)
	defer j.cancel()
	start := time.Now()
	timing := m.s.faults.get()
	timed := timing.bulkTimed()
	if timed {
		// Queueing: the job stays UploadComplete for BulkQueueDelay after
		// it was closed.
		if wait := timing.BulkQueueDelay - m.s.clock().Sub(j.closedAt); wait > 0 {
			_ = m.s.cfg.Sleep(j.ctx, wait) // an abort is seen below
		}
	}
	j.mu.Lock()
	if j.state != stateUploadComplete || j.abort || j.ctx.Err() != nil {
		j.mu.Unlock()
		return
	}
	j.state = stateInProgress
	inProgress := m.s.clock()
	j.modstamp = inProgress.UnixMilli()
	data, operation, delim, object, extName := j.data, j.operation, j.delimiter, j.object, j.extField
	j.mu.Unlock()
	// Batches run on at most BulkParallelism slots; slots[k] is when slot
	// k is free (timing model only).
	slots := make([]time.Time, max(timing.BulkParallelism, 1))
	for k := range slots {
		slots[k] = inProgress
	}

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
		if timed {
			// The batch takes the overhead plus the per-row time on the
			// slot that frees first; its rows are applied when it ends.
			k := 0
			for i := range slots {
				if slots[i].Before(slots[k]) {
					k = i
				}
			}
			slots[k] = slots[k].Add(timing.BulkBatchOverhead + time.Duration(len(rows))*timing.BulkPerRecord)
			if wait := slots[k].Sub(m.s.clock()); wait > 0 && m.s.cfg.Sleep(j.ctx, wait) != nil {
				aborted = true
				unprocess(rows)
				break
			}
		}
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

// stop aborts a job's processing: it stops after its current chunk, or at
// once while it waits on the Bulk timing model.
func (j *bulkJob) stop() {
	j.mu.Lock()
	j.abort = true
	cancel := j.cancel
	j.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func itoa(n int) string { return string(appendInt(nil, int64(n))) }
