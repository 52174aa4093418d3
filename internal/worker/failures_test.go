package worker_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Transient failures (503s) are retried and session expiry re-authenticates:
// every record is loaded, none dead-lettered.
func TestTransientFailuresAndSessionExpiryAreRetried(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Seed: 3, Faults: sfsim.Faults{Rate503: 0.3, SessionExpiryEvery: 5}})
	e.start(nil)
	// 2,000 records make at least 10 calls of 200, so the seeded faults
	// land however the worker happens to batch them.
	const n = 2000
	e.publish("account-inserts", "j", accounts(n, "T"), false)
	res := e.wait("j", n)
	if res.SuccessCount != n || len(e.deadLetters()) != 0 {
		t.Fatalf("%v, dead letters %d", res.SyncResult, len(e.deadLetters()))
	}
	if e.live("Account") != n {
		t.Fatalf("accounts = %d, want exactly %d (INSERT: a 503 before work never duplicates)", e.live("Account"), n)
	}
	st := e.sim.Server.Stats()
	if st.ErrorsByCode["SERVER_UNAVAILABLE"] == 0 || st.ErrorsByCode["INVALID_SESSION_ID"] == 0 {
		t.Errorf("faults not injected: %v", st.ErrorsByCode)
	}
}

// UNABLE_TO_LOCK_ROW on a keyed record (an upsert): retried in place,
// the key's later changes waiting, never redelivered; loaded when the lock
// clears, or dead-lettered after max_deliver attempts in all.
func TestRetryableRecordErrorsAreRetriedInPlace(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Seed: 11, Faults: sfsim.Faults{LockRowRate: 0.3}})
	e.start(nil)
	e.publish("accounts", "lock", accounts(300, "L"), false)
	res := e.wait("lock", 300)
	for _, o := range res.Outcomes {
		if o.Delivery > 1 {
			t.Fatalf("record %d redelivered: a keyed record's lock error is retried in place", o.Seq)
		}
	}
	if locks := e.sim.Server.Stats().ErrorsByCode["UNABLE_TO_LOCK_ROW"]; locks == 0 {
		t.Fatal("the lock fault did not reach the worker")
	}
	// 0.3^4 ≈ 0.8% of records stay locked for all 4 attempts.
	for _, er := range res.Errors {
		if er.Code != "UNABLE_TO_LOCK_ROW" || er.Attempts != 4 {
			t.Errorf("error %+v (attempts %d): only UNABLE_TO_LOCK_ROW after 4 attempts may be dead-lettered", er, er.Attempts)
		}
	}
	if res.SuccessCount+res.ErrorCount != 300 || e.live("Account") != res.SuccessCount {
		t.Fatalf("%v, accounts %d", res.SyncResult, e.live("Account"))
	}
	if dl := e.deadLetters(); len(dl) != res.ErrorCount {
		t.Fatalf("%d dead letters for %d errors", len(dl), res.ErrorCount)
	}
}

// UNABLE_TO_LOCK_ROW on a record without a key (an insert): naked with a
// delay and redelivered; loaded when the lock clears, or dead-lettered
// after max_deliver deliveries.
func TestRetryableRecordErrorsWithoutKeyAreRedelivered(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{Seed: 11, Faults: sfsim.Faults{LockRowRate: 0.3}})
	e.start(nil)
	e.publish("account-inserts", "lock", accounts(300, "L"), false)
	res := e.wait("lock", 300)
	retried := 0
	for _, o := range res.Outcomes {
		if o.Delivery > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("no record was redelivered: the lock fault did not reach the worker")
	}
	for _, er := range res.Errors {
		if er.Code != "UNABLE_TO_LOCK_ROW" || er.Attempts != 4 {
			t.Errorf("error %+v: only UNABLE_TO_LOCK_ROW after 4 deliveries may be dead-lettered", er)
		}
	}
	if res.SuccessCount+res.ErrorCount != 300 || e.live("Account") != res.SuccessCount {
		t.Fatalf("%v, accounts %d", res.SyncResult, e.live("Account"))
	}
}

// Permanent record errors go to the dead-letter stream at once, with the
// original bytes and the error.
func TestPermanentErrorsAreDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	e.start(nil)
	recs := accounts(20, "P")
	delete(recs[4], "company")               // REQUIRED_FIELD_MISSING
	recs[9]["key"] = strings.Repeat("x", 41) // STRING_TOO_LONG
	recs[13]["revenue"] = "lots"             // KINETIC_MAPPING_FAILED (float transform)
	e.publish("accounts", "perm", recs, false)
	res := e.wait("perm", 20)
	if res.SuccessCount != 17 || res.ErrorCount != 3 {
		t.Fatalf("%v", res.SyncResult)
	}
	want := map[int]string{4: "REQUIRED_FIELD_MISSING", 9: "STRING_TOO_LONG", 13: pipeline.CodeMappingFailed}
	for _, er := range res.Errors {
		if want[er.Index] != er.Code || er.Attempts != 1 {
			t.Errorf("error %+v, want %s on the first delivery", er, want[er.Index])
		}
	}
	dls := e.deadLetters()
	if len(dls) != 3 {
		t.Fatalf("%d dead letters", len(dls))
	}
	for _, d := range dls {
		if d.Pipeline != "accounts" || d.SObject != "Account" || d.Mode != "upsert" || d.Job != "perm" ||
			d.Subject != "kinetic.records.Account.upsert" || d.StreamSeq == 0 || d.Attempts != 1 || d.FirstFailure.IsZero() {
			t.Errorf("dead letter %+v", d)
		}
		rec, err := messages.DecodeRecord(d.Data, 0)
		if err != nil || rec["key"] != recs[d.Seq-1]["key"] {
			t.Errorf("dead letter %d does not carry the original record: %s", d.Seq, d.Data)
		}
	}
}

// Malformed JSON, wrong types, missing Id, bad headers and oversized
// payloads become dead letters with clear codes, and the rest of the batch
// is unaffected.
func TestBadInputBecomesDeadLetters(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	cfg, err := pipeline.ParseConfig("p.yaml", []byte(strings.Replace(pipelinesYAML, "mode: update\n    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms }",
		"mode: update\n    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms, max_record_bytes: 1024 }", 1)))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	e.start(nil)
	subj := e.topo.Subjects().Records("Account", "update")
	id := "001000000000001AAA"
	cases := []struct {
		payload string
		meta    messages.RecordMeta
		code    string
	}{
		{`{"Id": "` + id + `", "Name": "ok"}`, messages.RecordMeta{}, "INVALID_CROSS_REFERENCE_KEY"}, // unknown record: Salesforce's answer
		{`{not json`, messages.RecordMeta{}, messages.CodeUndecodable},
		{`["an", "array"]`, messages.RecordMeta{}, messages.CodeUndecodable},
		{``, messages.RecordMeta{}, messages.CodeUndecodable},
		{`{"Name": "no id"}`, messages.RecordMeta{}, pipeline.CodeMissingID},
		{`{"Id": 12345, "Name": "numeric id"}`, messages.RecordMeta{}, pipeline.CodeMalformedID},
		{`{"Id": "` + id + `", "Score__c": "not a number"}`, messages.RecordMeta{}, "JSON_PARSER_ERROR"},
		{`{"Id": "` + id + `", "Name": "` + strings.Repeat("y", 2000) + `"}`, messages.RecordMeta{}, messages.CodeTooLarge},
	}
	for i, c := range cases {
		c.meta.Job, c.meta.Seq = "bad", int64(i+1)
		e.publishRaw(subj, []byte(c.payload), c.meta)
	}
	// A bad header: Kinetic-Seq is not a number. It has no usable sequence,
	// so it is checked in the dead-letter stream only.
	m := messages.RecordMeta{Job: "bad"}
	e.publishRaw(subj, []byte(`{"Id":"`+id+`"}`), m)
	bad := e.nc.Request
	_ = bad
	res := e.wait("bad", len(cases))
	for _, er := range res.Errors {
		if want := cases[er.Index].code; er.Code != want {
			t.Errorf("case %d (%.30q): code %s, want %s", er.Index, cases[er.Index].payload, er.Code, want)
		}
	}
	if res.ErrorCount != len(cases) {
		t.Fatalf("%v", res.SyncResult)
	}
	e.waitFor("every bad record dead-lettered", func() bool { return len(e.deadLetters()) == len(cases)+1 })
	for _, d := range e.deadLetters() {
		if d.Code == "" || d.Message == "" {
			t.Errorf("dead letter without a clear error: %+v", d)
		}
	}
}

// A rate limit pauses the pipeline; nothing is dead-lettered, and the work
// resumes when the limit is raised.
func TestRateLimitPausesThePipeline(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{DailyAPILimit: 2})
	r := e.start(nil)
	e.publish("accounts", "rl", accounts(1000, "R"), false)
	// Refused three times: the worker has decided on two refusals and tried
	// again, where a worker that failed records on a rate limit would have
	// dead-lettered them.
	e.waitFor("the limit to bite three times", func() bool {
		return e.sim.Server.Stats().ErrorsByCode["REQUEST_LIMIT_EXCEEDED"] >= 3
	})
	if n := len(e.deadLetters()); n != 0 {
		t.Fatalf("%d records dead-lettered while rate limited", n)
	}
	l := e.sim.Server.Limits()
	l.DailyAPILimit = 1_000_000
	if err := e.sim.Server.SetLimits(l); err != nil {
		t.Fatal(err)
	}
	res := e.wait("rl", 1000)
	if res.SuccessCount != 1000 || len(e.deadLetters()) != 0 {
		t.Fatalf("%v", res.SyncResult)
	}
	if r.w.Ready() != true {
		t.Error("a rate limit must not make the worker unready")
	}
}

// A refused token (wrong key, consumer key…) pauses the pipeline and makes
// the worker unready; it never dead-letters records.
func TestAuthFailurePausesAndNeverDeadLetters(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	bad, err := salesforce.New(salesforce.Config{LoginURL: e.sim.URL, ClientID: "wrong", Username: e.sim.Username, PrivateKey: string(e.sim.PrivateKeyPEM), HTTPClient: e.sim.HTTP.Client(), AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	r := e.startUnready(func(o *worker.Config) { o.Client = bad })
	e.publish("accounts", "auth", accounts(10, "U"), false)
	e.waitFor("the worker to report unready, saying why", func() bool {
		ok, why := r.w.Status()
		return !ok && strings.Contains(why, "Salesforce refuses to authenticate")
	})
	if n := len(e.deadLetters()); n != 0 {
		t.Fatalf("%d records dead-lettered on an auth failure", n)
	}
	r.stop(t)
	// A correctly configured replica loads them.
	e.start(nil)
	if res := e.wait("auth", 10); res.SuccessCount != 10 {
		t.Fatalf("%v", res.SyncResult)
	}
}

// A pipeline whose mapping does not fit the org (a field Account does not
// have) does not start: /readyz and the workers bucket say which pipeline
// and which field, kinetic_pipeline_refused is 1 for it, and the worker's
// other pipelines load normally.
func TestRefusedPipelineLeavesTheOthersRunning(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	cfg, err := pipeline.ParseConfig("p.yaml", []byte(strings.Replace(pipelinesYAML,
		"    mode: insert\n    mapping:\n      company: Name\n", "    mode: insert\n    mapping:\n      company: Name\n      flavour: Foo__c\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	r := e.startUnready(nil)
	var why string
	e.waitFor("/readyz to name the refused pipeline", func() bool {
		var ok bool
		ok, why = r.w.Status()
		return !ok && strings.Contains(why, "account-inserts") && strings.Contains(why, "Foo__c")
	})
	t.Logf("not ready: %s", why)
	e.publish("accounts", "others", accounts(50, "O"), false)
	if res := e.wait("others", 50); res.SuccessCount != 50 {
		t.Fatalf("the other pipeline: %v", res.SyncResult)
	}
	if got := testutil.ToFloat64(r.w.Metrics().Refused.WithLabelValues("account-inserts")); got != 1 {
		t.Errorf("kinetic_pipeline_refused{account-inserts} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.w.Metrics().Refused.WithLabelValues("accounts")); got != 0 {
		t.Errorf("kinetic_pipeline_refused{accounts} = %v, want 0", got)
	}
	e.waitFor("the workers bucket to show the refusal", func() bool {
		ws, err := messages.ListWorkers(ctxT(t), e.js, e.topo)
		if err != nil || len(ws) != 1 {
			return false
		}
		for _, p := range ws[0].Pipelines {
			if p.Name == "account-inserts" {
				return p.State == messages.PipelineRefused && strings.Contains(p.Reason, "Foo__c")
			}
		}
		return false
	})
}

// A plain publisher's keyed record (the key in the subject, no Kinetic-Key
// header) that cannot be decoded keeps its key in its dead letter and its
// outcome, so an operator can tell which record it was.
func TestDeadLetterOfAKeyedSubjectNamesItsKey(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	e.start(nil)
	subj := e.topo.Subjects().RecordsKeyed("Account", "upsert", "K-9")
	e.publishRaw(subj, []byte(`{not json`), messages.RecordMeta{Job: "plain-keyed", Seq: 1})
	res := e.wait("plain-keyed", 1)
	if res.ErrorCount != 1 || res.Outcomes[0].Key != messages.KeyToken("K-9") {
		t.Fatalf("outcome %+v (%v)", res.Outcomes[0], res.SyncResult)
	}
	e.waitFor("the dead letter", func() bool { return len(e.deadLetters()) == 1 })
	if d := e.deadLetters()[0]; d.Key != messages.KeyToken("K-9") || d.Code != messages.CodeUndecodable {
		t.Errorf("dead letter key %q code %s, want %q %s", d.Key, d.Code, messages.KeyToken("K-9"), messages.CodeUndecodable)
	}
}
