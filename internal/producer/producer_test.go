package producer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/producer"
	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

const accountsCSV = `key,company,revenue,note
A-1,Acme,100,first
A-2,,200,
A-3,Beta,abc,third
A-4,"Gamma, Inc",300,"says ""hi"""
`

func TestPublishCSVWaitWritesResultFiles(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.startWorker()
	in := w.file("accounts.csv", accountsCSV)
	o := w.opts("accounts", in)
	o.Wait, o.Job = true, "csv-job-1"
	var progress bytes.Buffer
	o.Progress = &progress
	rep, err := w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Job != "csv-job-1" || rep.Subject != "kinetic.records.Account.upsert" || rep.Published != 4 || rep.Duplicates != 0 {
		t.Errorf("report %+v", rep)
	}
	res := rep.Result
	if res == nil {
		t.Fatal("no result after a wait")
	}
	if res.Status != pipeline.Partial || res.TotalRecords != 4 || res.SuccessCount != 2 || res.ErrorCount != 2 || res.SkippedCount != 0 {
		t.Fatalf("result %v", res.SyncResult)
	}
	if res.Metadata.SObject != "Account" || res.Metadata.Mode != pipeline.Upsert || res.Metadata.ElapsedSeconds <= 0 {
		t.Errorf("metadata %+v", res.Metadata)
	}
	if w.live() != 2 {
		t.Errorf("%d accounts in the org, want 2", w.live())
	}
	id1, id4 := res.SalesforceIDs[0], res.SalesforceIDs[3]
	if id1 == "" || id4 == "" || !res.Created[0] {
		t.Fatalf("ids %v created %v", res.SalesforceIDs, res.Created)
	}
	if rep.SuccessFile != filepath.Join(w.dir, "success-csv-job-1.csv") || rep.ErrorFile != filepath.Join(w.dir, "error-csv-job-1.csv") {
		t.Errorf("files %s %s", rep.SuccessFile, rep.ErrorFile)
	}
	checkRows(t, rep.SuccessFile, [][]string{
		{"ID", "key", "company", "revenue", "note", "STATUS"},
		{id1, "A-1", "Acme", "100", "first", "Item Created"},
		{id4, "A-4", "Gamma, Inc", "300", `says "hi"`, "Item Created"},
	})
	errCode := func(i int) string { return res.Outcomes[i].Code + ": " + res.Outcomes[i].Message }
	if res.Outcomes[1].Code != "REQUIRED_FIELD_MISSING" || res.Outcomes[2].Code != pipeline.CodeMappingFailed {
		t.Errorf("codes %q %q", res.Outcomes[1].Code, res.Outcomes[2].Code)
	}
	checkRows(t, rep.ErrorFile, [][]string{
		{"key", "company", "revenue", "note", "ERROR"},
		{"A-2", "", "200", "", errCode(1)},
		{"A-3", "Beta", "abc", "third", errCode(2)},
	})
	if !strings.Contains(progress.String(), "progress: 4/4 (100%) loaded=2 dead-lettered=2") {
		t.Errorf("progress output %q", progress.String())
	}

	// The same file again, fixed: upserts update what is there.
	fixed := w.file("accounts-fixed.csv", "key,company,revenue\nA-1,Acme Two,1\nA-2,Delta,2\n")
	o = w.opts("accounts", fixed)
	o.Wait, o.Job = true, "csv-job-2"
	rep, err = w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	res = rep.Result
	if res.Status != pipeline.Success || res.SalesforceIDs[0] != id1 || res.Created[0] || !res.Created[1] {
		t.Errorf("second job %v ids %v created %v", res.SyncResult, res.SalesforceIDs, res.Created)
	}
	checkRows(t, rep.SuccessFile, [][]string{
		{"ID", "key", "company", "revenue", "STATUS"},
		{id1, "A-1", "Acme Two", "1", "Item Updated"},
		{res.SalesforceIDs[1], "A-2", "Delta", "2", "Item Created"},
	})
	checkRows(t, rep.ErrorFile, [][]string{{"key", "company", "revenue", "ERROR"}})

	// Delete them by Id.
	del := w.file("delete.csv", fmt.Sprintf("sf_id\n%s\n%s\n001000000000000AAA\n", id1, id4))
	o = w.opts("account-deletes", del)
	o.Wait, o.Job = true, "csv-del"
	rep, err = w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result.SuccessCount != 2 || rep.Result.ErrorCount != 1 || w.live() != 1 {
		t.Errorf("delete job %v, %d live", rep.Result.SyncResult, w.live())
	}
	checkRows(t, rep.SuccessFile, [][]string{
		{"ID", "sf_id", "STATUS"},
		{id1, id1, "Item Deleted"},
		{id4, id4, "Item Deleted"},
	})
	rows := readCSV(t, rep.ErrorFile)
	if len(rows) != 2 || rows[1][0] != "001000000000000AAA" || !strings.HasPrefix(rows[1][1], rep.Result.Outcomes[2].Code+": ") || rep.Result.Outcomes[2].Code == "" {
		t.Errorf("delete error file %q", rows)
	}
}

func TestPublishJSONLInsert(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.startWorker()
	in := w.file("accounts.jsonl", `{"key":"J-1","company":"Json One","revenue":1.5,"extra":{"a":[1,2]}}

{"company":"Json Two","key":"J-2","flag":true}
{"key":"J-3","revenue":7}
`)
	o := w.opts("account-inserts", in)
	o.Wait = true
	rep, err := w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Job, time.Now().UTC().Format("20060102T")) || !messages.ValidToken(rep.Job) {
		t.Errorf("generated job id %q", rep.Job)
	}
	if rep.Subject != "kinetic.records.Account.insert" || rep.Published != 3 {
		t.Errorf("report %+v", rep)
	}
	res := rep.Result
	if res.SuccessCount != 2 || res.ErrorCount != 1 || res.Outcomes[2].Code != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("result %v outcomes %+v", res.SyncResult, res.Outcomes)
	}
	// Columns: JSON keys in order of first appearance (sorted within a record).
	checkRows(t, rep.SuccessFile, [][]string{
		{"ID", "company", "extra", "key", "revenue", "flag", "STATUS"},
		{res.SalesforceIDs[0], "Json One", `{"a":[1,2]}`, "J-1", "1.5", "", "Item Created"},
		{res.SalesforceIDs[1], "Json Two", "", "J-2", "", "true", "Item Created"},
	})
	checkRows(t, rep.ErrorFile, [][]string{
		{"company", "extra", "key", "revenue", "flag", "ERROR"},
		{"", "", "J-3", "7", "", res.Outcomes[2].Code + ": " + res.Outcomes[2].Message},
	})
	if w.live() != 2 {
		t.Errorf("%d accounts", w.live())
	}
}

// A stop-on-error job: the first failure stops it; the records after it are
// skipped, not loaded, and the error file says so.
func TestPublishStopOnError(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("stop.csv", "key,company,revenue\nS-1,One,1\nS-2,Two,not-a-number\nS-3,Three,3\nS-4,Four,4\nS-5,Five,5\n")
	o := w.opts("accounts", in)
	o.Wait, o.StopOnError, o.Job = true, true, "stop-job"
	type out struct {
		rep *producer.Report
		err error
	}
	done := make(chan out, 1)
	go func() {
		rep, err := w.publish(o)
		done <- out{rep, err}
	}()
	// The worker starts once every record is in the stream, so that it
	// fetches them in one batch: the order of failure and skip is then fixed.
	testutil.WaitFor(t, 30*time.Second, "records published", func() bool { return w.recordsInStream() == 5 })
	w.startWorker()
	var r out
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("publish --wait did not return")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	res := r.rep.Result
	if res.SuccessCount != 1 || res.ErrorCount != 1 || res.SkippedCount != 3 || res.Status != pipeline.Partial {
		t.Fatalf("result %v", res.SyncResult)
	}
	if w.live() != 1 {
		t.Errorf("%d accounts loaded; only the one before the failure may be", w.live())
	}
	const skipped = "SKIPPED: the job stopped on an earlier error"
	checkRows(t, r.rep.SuccessFile, [][]string{
		{"ID", "key", "company", "revenue", "STATUS"},
		{res.SalesforceIDs[0], "S-1", "One", "1", "Item Created"},
	})
	checkRows(t, r.rep.ErrorFile, [][]string{
		{"key", "company", "revenue", "ERROR"},
		{"S-2", "Two", "not-a-number", res.Outcomes[1].Code + ": " + res.Outcomes[1].Message},
		{"S-3", "Three", "3", skipped},
		{"S-4", "Four", "4", skipped},
		{"S-5", "Five", "5", skipped},
	})
	if res.Outcomes[1].Code != pipeline.CodeMappingFailed {
		t.Errorf("failure code %s", res.Outcomes[1].Code)
	}
}

// Every bad input fails the publish before anything is published, and the
// error says where: file, line and, when it is about one, the column.
func TestPublishBadInputPublishesNothing(t *testing.T) {
	t.Parallel()
	w := setup(t)
	good := w.file("good.csv", "key,company\nG-1,Good\n")
	dir := filepath.Join(w.dir, "directory.csv")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		mod    func(*producer.Options)
		want   []string
		format string
	}{
		{name: "missing file", mod: func(o *producer.Options) { o.Files = []string{filepath.Join(w.dir, "nope.csv")} },
			want: []string{"nope.csv", "no such file"}},
		{name: "unreadable file", mod: func(o *producer.Options) { o.Files = []string{dir} },
			want: []string{"directory.csv", "is a directory"}},
		{name: "wrong number of cells", mod: func(o *producer.Options) {
			o.Files = []string{w.file("cells.csv", "key,company,revenue\nC-1,One,1\nC-2,Two\nC-3,Three,3\n")}
		}, want: []string{"cells.csv:3:", "wrong number of cells", "3 columns"}},
		{name: "too many cells", mod: func(o *producer.Options) {
			o.Files = []string{w.file("many.csv", "key,company\nC-1,One\nC-2,Two,extra\n")}
		}, want: []string{"many.csv:3:", "wrong number of cells"}},
		{name: "duplicate header", mod: func(o *producer.Options) {
			o.Files = []string{w.file("dup.csv", "key,company,key\nD-1,One,x\n")}
		}, want: []string{"dup.csv:1:", `column "key"`, "named twice"}},
		{name: "blank header", mod: func(o *producer.Options) {
			o.Files = []string{w.file("blank.csv", "key,,company\nB-1,x,One\n")}
		}, want: []string{"blank.csv:1:", "column 2 has no name"}},
		// A parse error in a row's first field leaves no field positions:
		// the reader once called FieldPos there and panicked.
		{name: "bare quote", mod: func(o *producer.Options) {
			o.Files = []string{w.file("quote.csv", "key,company\nQ-1,One\nQ\"2,Two\n")}
		}, want: []string{"quote.csv:3"}},
		{name: "unterminated quote", mod: func(o *producer.Options) {
			o.Files = []string{w.file("unterminated.csv", "key,company\nU-1,\"One\n")}
		}, want: []string{"unterminated.csv:2"}},
		{name: "invalid JSON line", mod: func(o *producer.Options) {
			o.Files = []string{w.file("bad.jsonl", "{\"key\":\"J-1\"}\n\n{\"key\":\n{\"key\":\"J-3\"}\n")}
		}, want: []string{"bad.jsonl:3:", "invalid JSON"}},
		{name: "JSON line not an object", mod: func(o *producer.Options) {
			o.Files = []string{w.file("array.ndjson", "{\"key\":\"J-1\"}\n[1,2]\n")}
		}, want: []string{"array.ndjson:2:", "not a JSON object"}},
		{name: "empty CSV", mod: func(o *producer.Options) { o.Files = []string{w.file("empty.csv", "")} },
			want: []string{"empty.csv:1:", "empty file"}},
		{name: "header only", mod: func(o *producer.Options) { o.Files = []string{w.file("header.csv", "key,company\n")} },
			want: []string{"header.csv", "no records"}},
		{name: "empty JSONL", mod: func(o *producer.Options) { o.Files = []string{w.file("empty.jsonl", "\n\n")} },
			want: []string{"empty.jsonl", "no records"}},
		{name: "unknown extension", mod: func(o *producer.Options) { o.Files = []string{w.file("data.txt", "{\"key\":\"T\"}\n")} },
			want: []string{"data.txt", "--format"}},
		{name: "unknown format", mod: func(o *producer.Options) { o.Files, o.Format = []string{good}, "xml" },
			want: []string{`"xml"`, "csv or jsonl"}},
		{name: "key column missing", mod: func(o *producer.Options) {
			o.Files, o.KeyColumn = []string{w.file("keys.csv", "key,company\nK-1,One\n,Two\n")}, "key"
		}, want: []string{"keys.csv:3:", `column "key"`, "missing or empty"}},
		{name: "key column absent", mod: func(o *producer.Options) {
			o.Files, o.KeyColumn = []string{good}, "ext_id"
		}, want: []string{"good.csv:2:", `column "ext_id"`}},
		{name: "bad second file", mod: func(o *producer.Options) {
			o.Files = []string{good, w.file("second.jsonl", "{\"key\":\"X\"}\nnope\n")}
		}, want: []string{"second.jsonl:2:"}},
		{name: "bad job id", mod: func(o *producer.Options) { o.Files, o.Job = []string{good}, "job.1" },
			want: []string{`"job.1"`}},
		{name: "no files", mod: func(o *producer.Options) { o.Files = nil }, want: []string{"no input files"}},
		{name: "no pipeline", mod: func(o *producer.Options) { o.Files, o.Pipeline = []string{good}, nil }, want: []string{"no pipeline"}},
	} {
		o := w.opts("accounts")
		o.Wait = true
		c.mod(&o)
		rep, err := publishNoPanic(t, w, o)
		if err == nil {
			t.Errorf("%s: no error (report %+v)", c.name, rep)
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not contain %q", c.name, err, want)
			}
		}
		if rep != nil && rep.Published != 0 {
			t.Errorf("%s: report says %d published", c.name, rep.Published)
		}
	}
	if n := w.recordsInStream(); n != 0 {
		t.Errorf("%d records published by failed publishes", n)
	}
	if entries, _ := os.ReadDir(w.dir); len(entries) == 0 {
		t.Error("inputs vanished")
	} else {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "success-") || strings.HasPrefix(e.Name(), "error-") {
				t.Errorf("result file %s written by a failed publish", e.Name())
			}
		}
	}
}

// publishNoPanic turns a panic in Publish into a test failure, so that one
// bad input does not hide the others.
func publishNoPanic(t *testing.T, w *world, o producer.Options) (rep *producer.Report, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("Publish(%v) panicked: %v", o.Files, p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return w.publish(o)
}

// An explicit --format reads a file whatever its extension.
func TestPublishFormatOverridesExtension(t *testing.T) {
	t.Parallel()
	w := setup(t)
	o := w.opts("accounts", w.file("data.txt", "key,company\nF-1,One\nF-2,Two\n"))
	o.Format = "csv"
	rep, err := w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	// Without Wait there is no result, and no result file.
	if rep.Published != 2 || rep.Result != nil || rep.SuccessFile != "" || w.recordsInStream() != 2 {
		t.Errorf("report %+v, %d in the stream", rep, w.recordsInStream())
	}
	// What is published: the record as a JSON object, numbered in its job,
	// deduplicated by <job>-<seq>, on its key's subject (stored with the
	// key's partition).
	s, err := w.js.Stream(ctxT(t), w.topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64]string{1: `{"company":"One","key":"F-1"}`, 2: `{"company":"Two","key":"F-2"}`} {
		raw, err := s.GetMsg(ctxT(t), seq)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := messages.ParseRecordMeta(raw.Header)
		wantSubject := fmt.Sprintf("kinetic.records.Account.upsert.%d.f-%d", messages.Partition("Account", fmt.Sprint("f-", seq), w.topo.Partitions), seq)
		if err != nil || string(raw.Data) != want || raw.Subject != wantSubject ||
			meta.Job != rep.Job || meta.Seq != int64(seq) || meta.MsgID != fmt.Sprintf("%s-%d", rep.Job, seq) || meta.StopOnError {
			t.Errorf("record %d: %s %s %+v %v", seq, raw.Subject, raw.Data, meta, err)
		}
	}
}

// Re-running a job id within the duplicate window publishes nothing again.
func TestPublishJobReuseDeduplicates(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("a.csv", "key,company\nR-1,One\nR-2,Two\nR-3,Three\n")
	o := w.opts("accounts", in)
	o.Job = "reused-job"
	rep, err := w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Published != 3 || rep.Duplicates != 0 {
		t.Fatalf("first run %+v", rep)
	}
	rep, err = w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Published != 3 || rep.Duplicates != 3 {
		t.Errorf("second run %+v: want 3 acknowledged, all duplicates", rep)
	}
	if n := w.recordsInStream(); n != 3 {
		t.Errorf("stream holds %d records, want 3", n)
	}
	// A different job id is a different job.
	o.Job = "other-job"
	rep, err = w.publish(o)
	if err != nil || rep.Duplicates != 0 || w.recordsInStream() != 6 {
		t.Errorf("other job %+v, %v, %d stored", rep, err, w.recordsInStream())
	}
}

// Re-running a finished job with --wait (to get its result again, or after
// an interrupted run) must report the job, not wait for results that were
// published before the re-run started.
//
// (The wait once started at this run's first publish; with every record a
// duplicate nothing new was loaded and it never completed.)
func TestPublishJobReuseWaitReportsEarlierResults(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.startWorker()
	in := w.file("a.csv", "key,company\nW-1,One\nW-2,Two\n")
	o := w.opts("accounts", in)
	o.Job, o.Wait = "rerun-job", true
	first, err := w.publish(o)
	if err != nil || first.Result.SuccessCount != 2 {
		t.Fatalf("first run: %v", err)
	}
	// The re-run comes later than the one second of slack Publish allows
	// before its start, as a re-run by a person does.
	firstDone := time.Now()
	testutil.WaitFor(t, 30*time.Second, "the re-run to be more than a second later", func() bool { return time.Since(firstDone) > 1100*time.Millisecond })
	o.Timeout = 5 * time.Second
	rep, err := w.publish(o)
	if err != nil {
		t.Fatalf("re-run with --wait: %v (result %v)", err, rep.Result.SyncResult)
	}
	if rep.Duplicates != 2 || rep.Result.SuccessCount != 2 {
		t.Errorf("re-run %+v %v", rep, rep.Result.SyncResult)
	}
}

// With --key-column the dedup id is the business key: the same key in a
// later job is not stored again.
func TestPublishKeyColumnDeduplicates(t *testing.T) {
	t.Parallel()
	w := setup(t)
	o := w.opts("accounts", w.file("k1.csv", "key,company\nK-1,One\nK-2,Two\n"))
	o.KeyColumn = "key"
	rep, err := w.publish(o)
	if err != nil || rep.Published != 2 || rep.Duplicates != 0 {
		t.Fatalf("first %+v, %v", rep, err)
	}
	o = w.opts("accounts", w.file("k2.csv", "key,company\nK-2,Two again\nK-3,Three\n"))
	o.KeyColumn = "key"
	rep, err = w.publish(o)
	if err != nil || rep.Published != 2 || rep.Duplicates != 1 {
		t.Fatalf("second %+v, %v", rep, err)
	}
	if n := w.recordsInStream(); n != 3 {
		t.Errorf("stream holds %d, want 3 (K-1, K-2, K-3)", n)
	}
	// The key travels in Kinetic-Key and makes the dedup id.
	s, err := w.js.Stream(ctxT(t), w.topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetMsg(ctxT(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := messages.ParseRecordMeta(raw.Header)
	if err != nil || meta.Key != "K-3" || meta.MsgID != "Account-upsert-K-3" || meta.Seq != 2 || meta.Job != rep.Job {
		t.Errorf("meta %+v, %v", meta, err)
	}
}

// With --key-column, a key repeated within the input is refused before
// anything is published (the stream would drop the second copy), naming
// both places.
func TestPublishKeyColumnRepeatedKeyIsRefused(t *testing.T) {
	t.Parallel()
	w := setup(t)
	file := w.file("dupkeys.csv", "key,company\nD-1,One\nD-1,One again\nD-2,Two\n")
	o := w.opts("accounts", file)
	o.KeyColumn, o.Wait, o.Timeout = "key", true, 5*time.Second
	_, err := w.publish(o)
	var ie *producer.InputError
	if !errors.As(err, &ie) || ie.Line != 3 || ie.Column != "key" || !strings.Contains(err.Error(), file+":2") {
		t.Fatalf("err = %v, want an InputError on line 3 naming line 2", err)
	}
	if n := w.recordsInStream(); n != 0 {
		t.Errorf("%d records published before the input was refused", n)
	}
}

// A key deduplicated against another job's publish gets no outcome under
// this job: --wait does not wait for it, and counts it as skipped.
func TestPublishKeyColumnDuplicateOfAnotherJobDoesNotHangWait(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.startWorker()
	o := w.opts("accounts", w.file("first.csv", "key,company\nX-1,One\n"))
	o.KeyColumn, o.Wait, o.Timeout = "key", true, 30*time.Second
	if _, err := w.publish(o); err != nil {
		t.Fatal(err)
	}
	o = w.opts("accounts", w.file("second.csv", "key,company\nX-1,One again\nX-2,Two\n"))
	o.KeyColumn, o.Wait, o.Timeout = "key", true, 30*time.Second
	rep, err := w.publish(o)
	if err != nil {
		t.Fatalf("%v (report %+v)", err, rep)
	}
	r := rep.Result
	if rep.Duplicates != 1 || r.SuccessCount != 1 || r.SkippedCount != 1 || r.Outcomes[1].Status != messages.StatusLoaded {
		t.Errorf("report %+v result %v", rep, r.SyncResult)
	}
}

// Standard input ("-") is spooled, so that it can be read again for the
// result files; it is JSON Lines unless --format says otherwise.
func TestPublishStdin(t *testing.T) {
	w := setup(t)
	w.startWorker()
	setStdin(t, "{\"key\":\"I-1\",\"company\":\"From stdin\"}\n{\"key\":\"I-2\"}\n")
	o := w.opts("accounts", "-")
	o.Wait, o.Job = true, "stdin-job"
	rep, err := w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Result
	if rep.Published != 2 || res.SuccessCount != 1 || res.ErrorCount != 1 {
		t.Fatalf("report %+v result %v", rep, res.SyncResult)
	}
	checkRows(t, rep.SuccessFile, [][]string{
		{"ID", "company", "key", "STATUS"},
		{res.SalesforceIDs[0], "From stdin", "I-1", "Item Created"},
	})
	checkRows(t, rep.ErrorFile, [][]string{
		{"company", "key", "ERROR"},
		{"", "I-2", res.Outcomes[1].Code + ": " + res.Outcomes[1].Message},
	})
	// The spool file is removed afterwards.
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "kinetic-stdin-*"))
	for _, f := range left {
		if st, err := os.Stat(f); err == nil && time.Since(st.ModTime()) < time.Minute {
			t.Errorf("spool file %s left behind", f)
		}
	}

	// CSV on standard input with --format csv; a bad row names "-".
	setStdin(t, "key,company\nI-3,Three\nI-4\n")
	o = w.opts("accounts", "-")
	o.Format = "csv"
	_, err = w.publish(o)
	if err == nil || !strings.Contains(err.Error(), "-:3:") {
		t.Errorf("bad CSV on stdin: %v", err)
	}
}

// setStdin replaces os.Stdin with content until the test ends.
func setStdin(t *testing.T, content string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = f
	t.Cleanup(func() {
		os.Stdin = old
		f.Close()
	})
}

// A wait that times out returns what it has, with the context's error, and
// the result files name the records without an outcome.
func TestPublishWaitTimeout(t *testing.T) {
	t.Parallel()
	w := setup(t) // no worker: nothing is loaded
	o := w.opts("accounts", w.file("t.csv", "key,company\nT-1,One\nT-2,Two\n"))
	o.Wait, o.Timeout, o.Job = true, 300*time.Millisecond, "timeout-job"
	start := time.Now()
	rep, err := w.publish(o)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if !strings.Contains(err.Error(), "timeout-job") {
		t.Errorf("error %q does not name the job", err)
	}
	if rep == nil || rep.Published != 2 || rep.Result == nil {
		t.Fatalf("report %+v", rep)
	}
	if r := rep.Result; r.SkippedCount != 2 || r.SuccessCount != 0 || r.TotalRecords != 2 {
		t.Errorf("partial result %v", r.SyncResult)
	}
	checkRows(t, rep.ErrorFile, [][]string{
		{"key", "company", "ERROR"},
		{"T-1", "One", "NO_OUTCOME: no result arrived before the wait ended"},
		{"T-2", "Two", "NO_OUTCOME: no result arrived before the wait ended"},
	})
	if w.recordsInStream() != 2 {
		t.Errorf("records not published")
	}
}

// Without an out dir, a wait writes no result files.
func TestPublishWaitWithoutOutDir(t *testing.T) {
	t.Parallel()
	w := setup(t)
	w.startWorker()
	o := w.opts("accounts", w.file("n.csv", "key,company\nN-1,One\n"))
	o.OutDir = ""
	o.Wait = true
	rep, err := w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SuccessFile != "" || rep.ErrorFile != "" || rep.Result.SuccessCount != 1 {
		t.Errorf("report %+v", rep)
	}
	matches, _ := filepath.Glob(filepath.Join(w.dir, "*-"+rep.Job+".csv"))
	if len(matches) != 0 {
		t.Errorf("files written: %v", matches)
	}
}

// Records of keyed pipelines go to the subject of their key, as the worker
// will compute it from the published bytes (mapped: the upsert's external
// id, the delete's Id); inserts stay unkeyed. A record whose key cannot be
// computed is published unkeyed (the worker dead-letters it) and listed in
// the report; none goes to a wrong key.
func TestPublishKeyedSubjects(t *testing.T) {
	t.Parallel()
	w := setup(t)
	type want struct{ key string } // "" unkeyed
	check := func(rep *producer.Report, base string, wants []want) {
		t.Helper()
		s, err := w.js.Stream(ctxT(t), w.topo.RecordsStream())
		if err != nil {
			t.Fatal(err)
		}
		subjects := w.topo.Subjects()
		// Read every stored record of this job, in order.
		info, err := s.Info(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]messages.RecordSubject{}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			raw, err := s.GetMsg(ctxT(t), seq)
			if err != nil {
				continue
			}
			meta, _ := messages.ParseRecordMeta(raw.Header)
			if meta.Job != rep.Job {
				continue
			}
			r, err := subjects.ParseRecords(raw.Subject)
			if err != nil {
				t.Fatalf("%s: %v", raw.Subject, err)
			}
			if subjects.Records(r.SObject, r.Mode) != base {
				t.Errorf("record %d on %s, want under %s", meta.Seq, raw.Subject, base)
			}
			got[meta.Seq] = r
		}
		if len(got) != len(wants) {
			t.Fatalf("%d records of job %s stored, want %d", len(got), rep.Job, len(wants))
		}
		for i, wt := range wants {
			r := got[int64(i+1)]
			switch {
			case wt.key == "" && r.Keyed():
				t.Errorf("record %d went to key %q; want unkeyed", i+1, r.Key)
			case wt.key != "" && (r.Key != messages.KeyToken(wt.key) || r.Partition != messages.Partition("Account", messages.KeyToken(wt.key), w.topo.Partitions)):
				t.Errorf("record %d stored as %+v; want key %q", i+1, r, wt.key)
			}
		}
	}

	o := w.opts("accounts", w.file("keys.csv", "key,company,revenue\nK.1,One,1\nk.1,One again,2\nK 2,Bad,not-a-number\n,No key,3\n"))
	o.Job = "keyed-upsert"
	rep, err := w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	check(rep, "kinetic.records.Account.upsert", []want{{"K.1"}, {"k.1"}, {""}, {""}})
	if rep.UnkeyedCount != 2 || len(rep.Unkeyed) != 2 {
		t.Fatalf("unkeyed %d %v, want rows 4 and 5", rep.UnkeyedCount, rep.Unkeyed)
	}
	for i, wantText := range []string{"keys.csv:4: " + pipeline.CodeMappingFailed, "keys.csv:5: " + pipeline.CodeMissingExternalID} {
		if !strings.Contains(rep.Unkeyed[i].Error(), "/"+wantText) {
			t.Errorf("unkeyed %d: %q, want %q…", i, rep.Unkeyed[i], wantText)
		}
	}

	o = w.opts("account-deletes", w.file("del.csv", "sf_id\n001000000000001AAA\nnot-an-id\n"))
	o.Job = "keyed-delete"
	rep, err = w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	check(rep, "kinetic.records.Account.delete", []want{{"001000000000001AAA"}, {""}})

	o = w.opts("account-inserts", w.file("ins.csv", "key,company\nI-1,One\n"))
	o.Job = "unkeyed-insert"
	rep, err = w.publish(o)
	if err != nil || rep.UnkeyedCount != 0 {
		t.Fatalf("%v %+v", err, rep)
	}
	check(rep, "kinetic.records.Account.insert", []want{{""}})
}
