package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/producer"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// publishFails publishes o, wants an error holding every want, and checks
// that nothing was published.
func (w *world) publishFails(o producer.Options, want ...string) error {
	w.t.Helper()
	before := w.recordsInStream()
	rep, err := w.publish(o)
	if err == nil {
		w.t.Fatalf("%v: published (%+v)", o.Files, rep)
	}
	for _, s := range want {
		if !strings.Contains(err.Error(), s) {
			w.t.Errorf("%v: error does not contain %q:\n%v", o.Files, s, err)
		}
	}
	if rep != nil && rep.Published != 0 {
		w.t.Errorf("%v: report says %d published", o.Files, rep.Published)
	}
	if n := w.recordsInStream(); n != before {
		w.t.Errorf("%v: %d records published by a refused input", o.Files, n-before)
	}
	return err
}

// storedData returns the payloads of one job's records, by sequence.
func (w *world) storedData(job string) map[int64]string {
	w.t.Helper()
	s, err := w.js.Stream(ctxT(w.t), w.topo.RecordsStream())
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := s.Info(ctxT(w.t))
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[int64]string{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := s.GetMsg(ctxT(w.t), seq)
		if err != nil {
			continue
		}
		if meta, _ := messages.ParseRecordMeta(raw.Header); meta.Job == job {
			out[meta.Seq] = string(raw.Data)
		}
	}
	return out
}

// Bytes that are not UTF-8 are refused with file, line and column, in CSV,
// JSON Lines and standard input; nothing is replaced by U+FFFD.
func TestPublishRefusesBytesThatAreNotUTF8(t *testing.T) {
	w := setup(t)
	csvFile := w.file("latin1.csv", "key,company\nL-1,Caf\xe9 Noir\nL-2,Ok\nL-3,\xc3\xa9t\xe9 \xe9\n")
	o := w.opts("accounts", csvFile)
	err := w.publishFails(o, "latin1.csv:2:8: byte 0xE9 is not UTF-8", "latin1.csv:4:7: byte 0xE9", "--encoding")
	var ce *producer.CheckError
	if !errors.As(err, &ce) || len(ce.Errors) != 2 || ce.More != 0 {
		t.Errorf("want two errors (one per bad line): %v", err)
	}
	jsonl := w.file("latin1.jsonl", "{\"key\":\"J-1\",\"company\":\"ok\"}\n{\"key\":\"J-2\",\"company\":\"Caf\xe9\"}\n")
	_ = w.publishFails(w.opts("accounts", jsonl), "latin1.jsonl:2:28: byte 0xE9 is not UTF-8")
	utf16 := w.file("utf16.csv", "\xff\xfek\x00e\x00y\x00\n\x00")
	_ = w.publishFails(w.opts("accounts", utf16), "utf16.csv:1:1:", "UTF-16")

	setStdin(t, "{\"key\":\"S-1\",\"company\":\"Caf\xe9\"}\n")
	_ = w.publishFails(w.opts("accounts", "-"), "-:1:28: byte 0xE9 is not UTF-8")
}

// --encoding converts Latin-1 and Windows-1252 explicitly, exactly.
func TestPublishEncodingConvertsExplicitly(t *testing.T) {
	t.Parallel()
	w := setup(t)
	o := w.opts("accounts", w.file("latin1.csv", "key,company\nE-1,Caf\xe9 \xabNoir\xbb\n"))
	o.Encoding, o.Job = "latin1", "enc-latin1"
	if _, err := w.publish(o); err != nil {
		t.Fatal(err)
	}
	if got := w.storedData("enc-latin1")[1]; got != `{"company":"Café «Noir»","key":"E-1"}` {
		t.Errorf("latin1: stored %s", got)
	}
	o = w.opts("accounts", w.file("cp1252.jsonl", "{\"key\":\"E-2\",\"company\":\"\x80 5 \x93quoted\x94\"}\n"))
	o.Encoding, o.Job = "windows-1252", "enc-cp1252"
	if _, err := w.publish(o); err != nil {
		t.Fatal(err)
	}
	if got := w.storedData("enc-cp1252")[1]; got != `{"company":"€ 5 “quoted”","key":"E-2"}` {
		t.Errorf("windows-1252: stored %s", got)
	}
	// Windows-1252 leaves 0x81 undefined: refused, not replaced.
	o = w.opts("accounts", w.file("undefined.csv", "key,company\nE-3,A\x81B\n"))
	o.Encoding = "windows-1252"
	_ = w.publishFails(o, "undefined.csv:2:6: byte 0x81 is not a windows-1252 character")
	// A UTF-8 file given as Latin-1 would turn é into Ã©: its byte order mark says so.
	o = w.opts("accounts", w.file("utf8bom.csv", "\xef\xbb\xbfkey,company\nE-4,Café\n"))
	o.Encoding = "latin1"
	_ = w.publishFails(o, "utf8bom.csv:1:1: the file starts with a UTF-8 byte order mark, but --encoding is latin1")
	o = w.opts("accounts", w.file("x.csv", "key\nE-5\n"))
	o.Encoding = "ebcdic"
	_ = w.publishFails(o, `--encoding "ebcdic"`)
}

// A UTF-8 byte order mark before a quoted header (PowerShell's Export-Csv)
// is read as one, in CSV and JSON Lines.
func TestPublishBOMBeforeQuotedHeader(t *testing.T) {
	t.Parallel()
	w := setup(t)
	o := w.opts("accounts", w.file("ps.csv", "\xef\xbb\xbf\"key\",\"company\"\r\n\"B-1\",\"Export-Csv\"\r\n"))
	o.Job = "bom-csv"
	if _, err := w.publish(o); err != nil {
		t.Fatal(err)
	}
	if got := w.storedData("bom-csv")[1]; got != `{"company":"Export-Csv","key":"B-1"}` {
		t.Errorf("stored %s", got)
	}
	o = w.opts("accounts", w.file("bom.jsonl", "\xef\xbb\xbf{\"key\":\"B-2\"}\n"))
	o.Job = "bom-jsonl"
	if _, err := w.publish(o); err != nil {
		t.Fatal(err)
	}
	if got := w.storedData("bom-jsonl")[1]; got != `{"key":"B-2"}` {
		t.Errorf("stored %s", got)
	}
}

// Every bad row is reported, with its position, up to 20, and the rest are
// counted; nothing is published.
func TestPublishReportsEveryBadRow(t *testing.T) {
	t.Parallel()
	w := setup(t)
	csvFile := w.file("many.csv", "key,company,revenue\n"+
		"M-1,One,1\n"+
		"M-2,Two\n"+ // 3: too few cells
		"M-3,Three,3,extra\n"+ // 4: too many
		"M-4,Fo\"ur,4\n"+ // 5: bare quote
		"M-5,Five,5\n"+
		"M-6,\"Six\"x,6\n") // 7: text after a closing quote
	jsonl := w.file("many.jsonl", "{\"key\":\"J-1\"}\n"+
		"{\"key\":\n"+ // 2: not closed
		"[1,2]\n"+ // 3: not an object
		"{\"key\":\"J-4\"} {}\n"+ // 4: two objects
		"{\"key\":\"J-5\",}\n") // 5: bad JSON
	o := w.opts("accounts", csvFile, jsonl)
	err := w.publishFails(o,
		"8 errors in the input; nothing was published",
		`many.csv:3: column "revenue": wrong number of cells: 2; the header has 3 columns`,
		"many.csv:4:13: wrong number of cells: 4; the header has 3 columns (cell 4 has no column)",
		"many.csv:5:7: a \" in a cell",
		"many.csv:7:9: a quoted cell is not closed",
		"many.jsonl:2:8: invalid JSON: the object is not closed",
		"many.jsonl:3:1: not a JSON object",
		"many.jsonl:4:15: invalid JSON: more after the object",
	)
	var ce *producer.CheckError
	if !errors.As(err, &ce) || len(ce.Errors) != 8 || ce.More != 0 || !strings.Contains(err.Error(), "many.jsonl:5:14: invalid JSON") {
		t.Errorf("want all 8 errors: %v", err)
	}

	// 25 bad rows: the first 20 by position, and a count of the rest.
	var b strings.Builder
	b.WriteString("key,company\n")
	for i := 1; i <= 30; i++ {
		if i%6 == 0 {
			fmt.Fprintf(&b, "G-%d,good\n", i)
		} else {
			fmt.Fprintf(&b, "B-%d\n", i)
		}
	}
	err = w.publishFails(w.opts("accounts", w.file("cap.csv", b.String())), "25 errors in the input", "cap.csv:2:", "… and 5 more")
	if !errors.As(err, &ce) || len(ce.Errors) != 20 || ce.More != 5 || ce.Errors[0].Line != 2 || ce.Errors[19].Line != 24 {
		t.Errorf("cap: %d shown (first line %d), %d more", len(ce.Errors), ce.Errors[0].Line, ce.More)
	}
}

// Numbers a float64 cannot carry exactly, and \u escapes that are not
// characters, would reach Salesforce changed: refused.
func TestPublishRefusesJSONValuesThatWouldChange(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("values.jsonl", "{\"key\":\"V-1\",\"n\":12345678901234567890}\n"+
		"{\"key\":\"V-2\",\"n\":1e999}\n"+
		"{\"key\":\"V-3\",\"s\":\"a\\ud800b\"}\n"+
		"{\"key\":\"V-4\",\"n\":0.1,\"m\":123456789012345,\"x\":1.50,\"s\":\"\\ufffd ok\",\"big\":9007199254740992}\n")
	_ = w.publishFails(w.opts("accounts", in),
		"values.jsonl:1:18: the number 12345678901234567890 has more digits than Kinetic carries exactly (it would arrive as 12345678901234567000)",
		"values.jsonl:2:18: the number 1e999 is out of range",
		`values.jsonl:3:20: a \u escape that is not a character`)
	if strings.Contains(fmt.Sprint(w.publishFails(w.opts("accounts", in))), "values.jsonl:4") {
		t.Error("an exact line was refused")
	}
}

// A 5 MB row among good rows is refused up front with its row, size and
// the limit (here the records stream's max_msg_size, smaller than the
// server's max_payload); nothing is published.
func TestPublishRefusesOversizedRow(t *testing.T) {
	t.Parallel()
	w := setup(t)
	big := strings.Repeat("x", 5<<20)
	in := w.file("big.csv", "key,company\nG-1,good\nG-2,"+big+"\nG-3,good\n")
	o := w.opts("accounts", in)
	o.Job = "big-job"
	limit := w.topo.MaxRecordBytes
	size := messages.MsgSize(messages.RecordMsg("kinetic.records.Account.upsert.g-2", []byte(`{"company":"`+big+`","key":"G-2"}`),
		messages.RecordMeta{Job: "big-job", Seq: 2, MsgID: "big-job-2"}))
	_ = w.publishFails(o, fmt.Sprintf("big.csv:3: the record is %d bytes as a message (JSON and headers); the limit is %d bytes (the max_msg_size of stream KINETIC_RECORDS)", size, limit))

	// Headers count: a record that fits only without them is refused.
	data := `{"company":"` + strings.Repeat("y", int(limit)-len(`{"company":"","key":"G-9"}`)) + `","key":"G-9"}`
	if len(data) != int(limit) {
		t.Fatal(len(data))
	}
	_ = w.publishFails(w.opts("accounts", w.file("edge.jsonl", data+"\n")), "edge.jsonl:1: the record is", fmt.Sprintf("the limit is %d bytes", limit))
}

// Without the records stream (no worker ever ran with this prefix), the
// publish is refused before anything is read or sent.
func TestPublishWithoutStream(t *testing.T) {
	t.Parallel()
	w := setup(t)
	o := w.opts("accounts", w.file("a.csv", "key\nA-1\n"))
	o.Topology = messages.Topology{Prefix: "other"}
	_ = w.publishFails(o, "no stream takes other.records.Account.upsert.", "--prefix")
}

// A permanent publish failure part-way (the stream is full and discards new
// messages) stops the publish at once; --wait still reports the outcome of
// every record that was published, and the error file lists the others.
func TestPublishStopsAtPermanentFailureAndWaitReports(t *testing.T) {
	t.Parallel()
	w := setup(t)
	s, err := w.js.Stream(ctxT(t), w.topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgs = 3
	if _, err := w.js.UpdateStream(ctxT(t), cfg); err != nil {
		t.Fatal(err)
	}
	var rows strings.Builder
	rows.WriteString("key,company\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&rows, "F-%d,Full %d\n", i, i)
	}
	o := w.opts("accounts", w.file("full.csv", rows.String()))
	o.Job, o.Wait, o.Timeout = "full-job", true, 30*time.Second
	o.Publisher.MaxPending = 1 // one at a time: the fourth record is the first refused
	published := make(chan *producer.Report, 1)
	o.OnPublished = func(r *producer.Report) { published <- r }
	type out struct {
		rep *producer.Report
		err error
	}
	done := make(chan out, 1)
	go func() {
		rep, err := w.publish(o)
		done <- out{rep, err}
	}()
	select {
	case r := <-published:
		if r.Published != 3 || len(r.NotPublished) != 5 {
			t.Errorf("published %d, not published %v", r.Published, r.NotPublished)
		}
	case r := <-done:
		t.Fatalf("returned before publishing ended: %+v %v", r.rep, r.err)
	}
	w.startWorker() // only now: the full stream must refuse the fourth record
	var r out
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("publish --wait did not return")
	}
	var api *jetstream.APIError
	if r.err == nil || !strings.Contains(r.err.Error(), "job full-job: 3 of 8 records published; publishing stopped") || !errors.As(r.err, &api) || api.ErrorCode != 10077 {
		t.Fatalf("err = %v", r.err)
	}
	if errors.Is(r.err, context.DeadlineExceeded) {
		t.Errorf("the wait timed out: %v", r.err)
	}
	res := r.rep.Result
	if res == nil || res.SuccessCount != 3 || res.ErrorCount != 0 || res.Status != pipeline.Partial {
		t.Fatalf("result %+v", res)
	}
	rows2 := readCSV(t, r.rep.ErrorFile)
	if len(rows2) != 6 || rows2[1][0] != "F-4" || !strings.HasPrefix(rows2[1][2], "NOT_PUBLISHED: ") || !strings.Contains(rows2[1][2], "maximum messages exceeded") ||
		rows2[5][0] != "F-8" || rows2[5][2] != "NOT_PUBLISHED: publishing stopped before this record" {
		t.Errorf("error file %q", rows2)
	}
	if got := readCSV(t, r.rep.SuccessFile); len(got) != 4 {
		t.Errorf("success file %q", got)
	}
	if w.live() != 3 {
		t.Errorf("%d accounts", w.live())
	}
}

// Records inserted more than once (results reporting one record loaded as
// different Salesforce records: an INSERT redelivered after a worker died
// between Salesforce applying it and the ack) are listed with every id in
// duplicates-<job>.csv, next to their source columns; the success file
// keeps the first id.
func TestPublishWaitWritesDuplicateInserts(t *testing.T) {
	t.Parallel()
	w := setup(t)
	o := w.opts("account-inserts", w.file("ins.csv", "key,company\nD-1,One\nD-2,Two\n"))
	o.Job, o.Wait, o.Timeout = "dup-ins", true, 30*time.Second
	// What workers report when record 1's batch is redelivered and
	// inserted again, stored on the results stream as they store it.
	o.OnPublished = func(*producer.Report) {
		now := time.Now()
		for i, outcomes := range [][]messages.RecordOutcome{
			{{Seq: 1, Status: messages.StatusLoaded, ID: "001000000000001AAA", Created: true}, {Seq: 2, Status: messages.StatusLoaded, ID: "001000000000002AAA", Created: true}},
			{{Seq: 1, Status: messages.StatusLoaded, ID: "001000000000003AAA", Created: true}},
		} {
			data, err := messages.EncodeBatchResult(&messages.BatchResult{BatchID: fmt.Sprint("b", i), Pipeline: "account-inserts", SObject: "Account",
				Mode: "insert", Job: "dup-ins", Worker: "w", StartedAt: now, FinishedAt: now, Records: outcomes})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := w.js.Publish(ctxT(t), w.topo.Subjects().Results("account-inserts", "dup-ins"), data); err != nil {
				t.Error(err)
			}
		}
	}
	rep, err := w.publish(o)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Result.DuplicateInserts; len(d) != 1 || d[0].Seq != 1 {
		t.Fatalf("duplicate inserts %v", d)
	}
	checkRows(t, rep.DuplicatesFile, [][]string{
		{"ID", "DUPLICATE_OF", "key", "company"},
		{"001000000000003AAA", "001000000000001AAA", "D-1", "One"},
	})
	checkRows(t, rep.SuccessFile, [][]string{
		{"ID", "key", "company", "STATUS"},
		{"001000000000001AAA", "D-1", "One", "Item Created"},
		{"001000000000002AAA", "D-2", "Two", "Item Created"},
	})
	// No duplicates, no file.
	o = w.opts("account-inserts", w.file("one.csv", "key,company\nN-1,One\n"))
	o.Job, o.Wait = "no-dup", true
	o.OnPublished = func(*producer.Report) {
		data, _ := messages.EncodeBatchResult(&messages.BatchResult{BatchID: "x", Pipeline: "account-inserts", SObject: "Account", Mode: "insert", Job: "no-dup",
			Worker: "w", StartedAt: time.Now(), FinishedAt: time.Now(), Records: []messages.RecordOutcome{{Seq: 1, Status: messages.StatusLoaded, ID: "001000000000009AAA"}}})
		_, _ = w.js.Publish(ctxT(t), w.topo.Subjects().Results("account-inserts", "no-dup"), data)
	}
	rep, err = w.publish(o)
	if err != nil || rep.DuplicatesFile != "" {
		t.Errorf("%v, duplicates file %q", err, rep.DuplicatesFile)
	}
}
