package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is one test's embedded JetStream server with Kinetic's streams.
type env struct {
	t    *testing.T
	js   jetstream.JetStream
	topo messages.Topology
	n    int // batches published, for batch ids
}

func setup(t *testing.T, topo messages.Topology) *env {
	t.Helper()
	ns := devenv.StartTestNATS(t)
	_, js := ns.ConnectTest(t)
	if err := topo.Ensure(ctxT(t, 30*time.Second), js); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, js: js, topo: topo.WithDefaults()}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// result publishes one batch result of pipeline "accounts" for job.
func (e *env) result(job string, apiCalls int, outcomes ...messages.RecordOutcome) *jetstream.PubAck {
	e.t.Helper()
	e.n++
	br := &messages.BatchResult{
		BatchID: fmt.Sprintf("b-%d", e.n), Pipeline: "accounts", SObject: "Account", Mode: "upsert", Job: job,
		Worker: "w-1", APICalls: apiCalls, StartedAt: time.Now(), FinishedAt: time.Now(), Records: outcomes,
	}
	for _, o := range outcomes {
		switch o.Status {
		case messages.StatusLoaded:
			br.Loaded++
		case messages.StatusDeadLettered:
			br.Failed++
		case messages.StatusSkipped:
			br.Skipped++
		case messages.StatusRetrying:
			br.Retrying++
		}
	}
	data, err := messages.EncodeBatchResult(br)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.publish(e.topo.Subjects().Results("accounts", job), data)
}

func (e *env) publish(subject string, data []byte) *jetstream.PubAck {
	e.t.Helper()
	ack, err := e.js.Publish(ctxT(e.t, 10*time.Second), subject, data)
	if err != nil {
		e.t.Fatal(err)
	}
	return ack
}

func loaded(seq int64, id string, created bool) messages.RecordOutcome {
	return messages.RecordOutcome{Seq: seq, StreamSeq: uint64(seq), Status: messages.StatusLoaded, ID: id, Created: created, Delivery: 1}
}

func deadLettered(seq int64, code string) messages.RecordOutcome {
	return messages.RecordOutcome{Seq: seq, StreamSeq: uint64(seq), Status: messages.StatusDeadLettered,
		Code: code, Message: "failed: " + code, Fields: []string{"Name"}, Delivery: 2}
}

func skipped(seq int64) messages.RecordOutcome {
	return messages.RecordOutcome{Seq: seq, StreamSeq: uint64(seq), Status: messages.StatusSkipped, Delivery: 1}
}

func retrying(seq int64) messages.RecordOutcome {
	return messages.RecordOutcome{Seq: seq, StreamSeq: uint64(seq), Status: messages.StatusRetrying, Code: "UNABLE_TO_LOCK_ROW", Delivery: 1}
}

func watch(t *testing.T, e *env, o jobs.Options, d time.Duration) (*jobs.Result, error) {
	t.Helper()
	if o.Topology == (messages.Topology{}) {
		o.Topology = e.topo
	}
	return jobs.Watch(ctxT(t, d), e.js, o)
}

func TestWatchCountsAddUp(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-1", 2, loaded(1, "001A", true), loaded(2, "001B", false), deadLettered(3, "REQUIRED_FIELD_MISSING"))
	e.result("job-1", 1, skipped(4), loaded(5, "001C", true))
	res, err := watch(t, e, jobs.Options{Job: "job-1", Total: 5}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sr := res.SyncResult
	if sr.TotalRecords != 5 || sr.SuccessCount != 3 || sr.ErrorCount != 1 || sr.SkippedCount != 1 {
		t.Fatalf("counts %v", sr)
	}
	if sr.SuccessCount+sr.ErrorCount+sr.SkippedCount != sr.TotalRecords {
		t.Errorf("counts do not add up: %v", sr)
	}
	if sr.Status != pipeline.Partial {
		t.Errorf("status %s", sr.Status)
	}
	if got := strings.Join(sr.SalesforceIDs, ","); got != "001A,001B,,,001C" {
		t.Errorf("ids %q", got)
	}
	if fmt.Sprint(sr.Created) != "[true false false false true]" {
		t.Errorf("created %v", sr.Created)
	}
	if len(sr.Errors) != 1 {
		t.Fatalf("errors %v", sr.Errors)
	}
	re := sr.Errors[0]
	if re.Index != 2 || re.Code != "REQUIRED_FIELD_MISSING" || re.Message != "failed: REQUIRED_FIELD_MISSING" ||
		fmt.Sprint(re.Fields) != "[Name]" || re.Attempts != 2 {
		t.Errorf("error %+v", re)
	}
	for i, want := range []string{messages.StatusLoaded, messages.StatusLoaded, messages.StatusDeadLettered, messages.StatusSkipped, messages.StatusLoaded} {
		if res.Outcomes[i].Status != want || res.Outcomes[i].Seq != int64(i+1) {
			t.Errorf("outcome %d: %+v, want %s", i+1, res.Outcomes[i], want)
		}
	}
	if res.Duplicates != 0 {
		t.Errorf("duplicates %d", res.Duplicates)
	}
	md := sr.Metadata
	if md.APICalls != 3 || md.SObject != "Account" || md.Mode != pipeline.Upsert || md.ElapsedSeconds <= 0 {
		t.Errorf("metadata %+v", md)
	}
}

func TestWatchStatuses(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("all-good", 1, loaded(1, "001A", true), loaded(2, "001B", true))
	e.result("all-bad", 1, deadLettered(1, "X"), deadLettered(2, "Y"))
	e.result("all-skipped", 0, skipped(1), skipped(2))
	for job, want := range map[string]pipeline.SyncStatus{
		"all-good": pipeline.Success, "all-bad": pipeline.Failed, "all-skipped": pipeline.Success,
	} {
		res, err := watch(t, e, jobs.Options{Job: job, Total: 2}, 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", job, err)
		}
		if res.Status != want {
			t.Errorf("%s: status %s, want %s", job, res.Status, want)
		}
	}
}

// A redelivered batch reports the same records again: each is counted once,
// the first final outcome is kept, and Duplicates counts the repeats.
func TestWatchDuplicateOutcomes(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-d", 1, loaded(1, "001A", true), deadLettered(2, "DUPLICATE_VALUE"))
	// Redelivered: the same outcomes, and a different one for record 1.
	e.result("job-d", 1, loaded(1, "001A", true), deadLettered(2, "DUPLICATE_VALUE"))
	e.result("job-d", 1, deadLettered(1, "LATE"), loaded(3, "001C", true))
	res, err := watch(t, e, jobs.Options{Job: "job-d", Total: 3}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 2 || res.ErrorCount != 1 || res.SkippedCount != 0 {
		t.Errorf("counts %v", res.SyncResult)
	}
	if res.Duplicates != 3 {
		t.Errorf("duplicates %d, want 3", res.Duplicates)
	}
	if res.Outcomes[0].Status != messages.StatusLoaded || res.SalesforceIDs[0] != "001A" {
		t.Errorf("record 1: %+v: the first final outcome must win", res.Outcomes[0])
	}
	if len(res.Errors) != 1 || res.Errors[0].Code != "DUPLICATE_VALUE" {
		t.Errorf("errors %v", res.Errors)
	}
	if res.Metadata.APICalls != 3 {
		t.Errorf("api calls %d", res.Metadata.APICalls)
	}
}

// An INSERT redelivered after a worker died between Salesforce applying it
// and the ack is loaded again as another Salesforce record: the result says
// which records and which ids, including a report that is stored after the
// last first outcome (the watcher reads what is already stored before it
// returns).
func TestWatchReportsDuplicateInserts(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-i", 1, loaded(1, "001A", true), loaded(2, "001B", true), loaded(3, "001C", true))
	// Batch of records 1 and 2 redelivered and inserted again; record 3
	// reported again with its own id (a plain duplicate report).
	e.result("job-i", 1, loaded(2, "001B2", true), loaded(1, "001A2", true), loaded(3, "001C", true))
	// Record 2 a third time, and its second copy reported twice.
	e.result("job-i", 1, loaded(2, "001B3", true), loaded(2, "001B2", true), deadLettered(1, "LATE"))
	res, err := watch(t, e, jobs.Options{Job: "job-i", Total: 3}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 3 || res.ErrorCount != 0 || res.SalesforceIDs[1] != "001B" {
		t.Errorf("counts %v ids %v: the first outcome counts", res.SyncResult, res.SalesforceIDs)
	}
	want := []jobs.DuplicateInsert{{Seq: 1, IDs: []string{"001A", "001A2"}}, {Seq: 2, IDs: []string{"001B", "001B2", "001B3"}}}
	if fmt.Sprint(res.DuplicateInserts) != fmt.Sprint(want) {
		t.Errorf("duplicate inserts %v, want %v", res.DuplicateInserts, want)
	}
	if res.Copies() != 3 {
		t.Errorf("copies %d, want 3", res.Copies())
	}
	if res.Duplicates != 6 {
		t.Errorf("duplicate reports %d, want 6", res.Duplicates)
	}
}

// Retrying is not final: the watcher waits for the record's final outcome.
func TestWatchRetryingIsNotFinal(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-r", 1, loaded(1, "001A", true), retrying(2))
	var mu sync.Mutex
	var seen []jobs.Progress
	progress := make(chan jobs.Progress, 16)
	done := make(chan struct{})
	var res *jobs.Result
	var err error
	go func() {
		defer close(done)
		res, err = watch(t, e, jobs.Options{Job: "job-r", Total: 2, OnProgress: func(p jobs.Progress) {
			mu.Lock()
			seen = append(seen, p)
			mu.Unlock()
			progress <- p
		}}, 30*time.Second)
	}()
	// The first batch is seen, and the watcher keeps waiting.
	select {
	case p := <-progress:
		if p.Done != 1 || p.Retrying != 1 || p.Loaded != 1 {
			t.Errorf("first progress %+v", p)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no progress")
	}
	select {
	case <-done:
		t.Fatalf("Watch returned with a record still retrying: %v %v", res.SyncResult, err)
	default:
	}
	e.result("job-r", 1, retrying(2))
	e.result("job-r", 1, loaded(2, "001B", false))
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Watch did not return after the final outcome")
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 2 || res.Metadata.Retries != 2 || res.Duplicates != 0 {
		t.Errorf("result %v retries %d duplicates %d", res.SyncResult, res.Metadata.Retries, res.Duplicates)
	}
	mu.Lock()
	defer mu.Unlock()
	last := seen[len(seen)-1]
	if last.Done != 2 || last.Total != 2 || last.Loaded != 2 || last.Retrying != 2 {
		t.Errorf("last progress %+v", last)
	}
}

// Outcomes without a sequence, or with one outside 1..Total, are not this
// job's records: they are ignored.
func TestWatchIgnoresForeignSequences(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-s", 1, loaded(0, "001Z", true), loaded(3, "001Y", true), deadLettered(-1, "X"), loaded(99, "001X", true))
	e.result("job-s", 1, loaded(1, "001A", true))
	e.result("job-s", 1, loaded(2, "001B", true))
	res, err := watch(t, e, jobs.Options{Job: "job-s", Total: 2}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 2 || res.ErrorCount != 0 || len(res.Outcomes) != 2 || res.Duplicates != 0 {
		t.Errorf("result %v outcomes %+v", res.SyncResult, res.Outcomes)
	}
	if res.SalesforceIDs[0] != "001A" || res.SalesforceIDs[1] != "001B" {
		t.Errorf("ids %v", res.SalesforceIDs)
	}
}

// Other jobs' results, and envelopes this build cannot read, are skipped.
func TestWatchSkipsOtherJobsAndUnreadableResults(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-a-2", 1, deadLettered(1, "OTHER_JOB"))
	e.result("other", 1, deadLettered(1, "OTHER_JOB"))
	e.publish(e.topo.Subjects().Results("accounts", "job-a"), []byte(`{"v":2,"records":[{"seq":1,"status":"dead_lettered"}]}`))
	e.publish(e.topo.Subjects().Results("accounts", "job-a"), []byte(`not json`))
	e.result("job-a", 1, loaded(1, "001A", true))
	res, err := watch(t, e, jobs.Options{Job: "job-a", Total: 1}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 1 || res.ErrorCount != 0 || res.Metadata.APICalls != 1 {
		t.Errorf("result %v, api calls %d", res.SyncResult, res.Metadata.APICalls)
	}
}

// Results of every pipeline count for a job (a job can be replayed into
// another pipeline).
func TestWatchResultsFromAnyPipeline(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{Prefix: "acme.prod"})
	e.result("job-p", 1, loaded(1, "001A", true))
	br := &messages.BatchResult{Pipeline: "other", Job: "job-p", Records: []messages.RecordOutcome{loaded(2, "001B", true)}}
	data, err := messages.EncodeBatchResult(br)
	if err != nil {
		t.Fatal(err)
	}
	e.publish(e.topo.Subjects().Results("other", "job-p"), data)
	res, err := watch(t, e, jobs.Options{Job: "job-p", Total: 2}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 2 {
		t.Errorf("result %v", res.SyncResult)
	}
}

func TestWatchSince(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	old := e.result("job-t", 1, deadLettered(1, "OLD_RUN"))
	s, err := e.js.Stream(ctxT(t, 10*time.Second), e.topo.ResultsStream())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetMsg(ctxT(t, 10*time.Second), old.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	e.result("job-t", 1, loaded(1, "001NEW", true))
	res, err := watch(t, e, jobs.Options{Job: "job-t", Total: 1, Since: raw.Time.Add(time.Nanosecond)}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 1 || res.SalesforceIDs[0] != "001NEW" || res.Duplicates != 0 {
		t.Errorf("with Since: %v %v: the older result was not skipped", res.SyncResult, res.SalesforceIDs)
	}
	// Without Since, every stored result counts: the first one wins.
	res, err = watch(t, e, jobs.Options{Job: "job-t", Total: 1}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorCount != 1 || res.Errors[0].Code != "OLD_RUN" {
		t.Errorf("without Since: %v", res.SyncResult)
	}
}

func TestWatchTotalZero(t *testing.T) {
	t.Parallel()
	ns := devenv.StartTestNATS(t)
	_, js := ns.ConnectTest(t)
	// No streams at all: nothing to wait for, so nothing is read.
	start := time.Now()
	res, err := jobs.Watch(ctxT(t, 10*time.Second), js, jobs.Options{Job: "empty", Total: 0, SObject: "Account", Mode: pipeline.Insert})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Total 0 took %v", time.Since(start))
	}
	if res.Status != pipeline.Success || res.TotalRecords != 0 || res.SkippedCount != 0 || len(res.Outcomes) != 0 {
		t.Errorf("result %v", res.SyncResult)
	}
	if res.Metadata.SObject != "Account" || res.Metadata.Mode != pipeline.Insert {
		t.Errorf("metadata %+v", res.Metadata)
	}
	// With records but no results stream: a clear error.
	_, err = jobs.Watch(ctxT(t, 10*time.Second), js, jobs.Options{Job: "j", Total: 1})
	if err == nil || !strings.Contains(err.Error(), "KINETIC_RESULTS") {
		t.Errorf("no results stream: %v", err)
	}
}

func TestWatchTimeoutReturnsPartial(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-p", 1, loaded(1, "001A", true), deadLettered(3, "X"), retrying(4))
	start := time.Now()
	res, err := watch(t, e, jobs.Options{Job: "job-p", Total: 5}, 500*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("returned after %v", el)
	}
	if res == nil {
		t.Fatal("no partial result")
	}
	if res.SuccessCount != 1 || res.ErrorCount != 1 || res.SkippedCount != 3 || res.TotalRecords != 5 {
		t.Errorf("partial counts %v: the missing records count as skipped", res.SyncResult)
	}
	if res.Status != pipeline.InProgress {
		t.Errorf("status %s, want in_progress: outcomes are missing", res.Status)
	}
	for i, want := range []string{messages.StatusLoaded, "", messages.StatusDeadLettered, "", ""} {
		if res.Outcomes[i].Status != want {
			t.Errorf("outcome %d %q, want %q", i+1, res.Outcomes[i].Status, want)
		}
	}
	// A context canceled by the caller is reported as such.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = jobs.Watch(ctx, e.js, jobs.Options{Job: "job-p", Total: 5})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestWatchInvalidOptions(t *testing.T) {
	t.Parallel()
	for _, job := range []string{"", "a.b", "job*", "job>", "a b"} {
		res, err := jobs.Watch(context.Background(), nil, jobs.Options{Job: job, Total: 1})
		if err == nil || res != nil {
			t.Errorf("job %q: %v, %v", job, res, err)
			continue
		}
		if !strings.Contains(err.Error(), "not a valid job id") {
			t.Errorf("job %q: %v", job, err)
		}
	}
	if _, err := jobs.Watch(context.Background(), nil, jobs.Options{Job: "ok", Total: -1}); err == nil {
		t.Error("negative Total accepted")
	}
}

func TestWatchProgress(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-g", 1, loaded(1, "a", true), loaded(2, "b", true))
	e.result("job-g", 1, loaded(1, "a", true)) // duplicate only: nothing changes, no progress call
	e.result("job-g", 1, deadLettered(3, "X"), skipped(4))
	var calls []jobs.Progress
	res, err := watch(t, e, jobs.Options{Job: "job-g", Total: 4, OnProgress: func(p jobs.Progress) { calls = append(calls, p) }}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 {
		t.Fatalf("progress calls %+v, want 2 (one per batch that changed something)", calls)
	}
	if p := calls[0]; p.Total != 4 || p.Done != 2 || p.Loaded != 2 || p.DeadLettered != 0 {
		t.Errorf("first %+v", p)
	}
	if p := calls[1]; p.Done != 4 || p.Loaded != 2 || p.DeadLettered != 1 || p.Skipped != 1 || p.Elapsed <= 0 || p.Elapsed < calls[0].Elapsed {
		t.Errorf("second %+v", p)
	}
	if res.Duplicates != 1 {
		t.Errorf("duplicates %d", res.Duplicates)
	}
}

func TestWatchErrorsSortedByIndex(t *testing.T) {
	t.Parallel()
	e := setup(t, messages.Topology{})
	e.result("job-o", 1, deadLettered(6, "F"))
	e.result("job-o", 1, deadLettered(4, "D"), loaded(5, "x", true))
	e.result("job-o", 1, deadLettered(2, "B"), deadLettered(1, "A"), loaded(3, "y", true))
	res, err := watch(t, e, jobs.Options{Job: "job-o", Total: 6}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, re := range res.Errors {
		got = append(got, fmt.Sprintf("%d:%s", re.Index, re.Code))
	}
	if strings.Join(got, " ") != "0:A 1:B 3:D 5:F" {
		t.Errorf("errors %v, want in input order", got)
	}
}
