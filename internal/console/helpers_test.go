package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is one test's world: embedded JetStream with Kinetic's streams, a
// console attached to it, and an HTTP server in front of the console.
type env struct {
	t    *testing.T
	nats *devenv.NATS
	nc   *nats.Conn
	js   jetstream.JetStream
	topo messages.Topology
	srv  *Server
	http *httptest.Server
}

// testPipelines are the pipelines the tests' dead letters and results name.
const testPipelines = `
pipelines:
  - name: accounts
    sobject: Account
    mode: upsert
    external_id_field: External_Key__c
    mapping: {ext_id: External_Key__c, name: Name}
  - name: contacts
    sobject: Contact
    mode: insert
    mapping: {email: Email}
`

func setup(t *testing.T, opts Options) *env {
	t.Helper()
	ns := devenv.StartTestNATS(t)
	nc, js := ns.ConnectTest(t)
	// The console's own connection, as cmd/console makes it: replay needs
	// one that does not buffer publishes while reconnecting.
	cnc, err := nats.Connect(ns.ClientURL(), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cnc.Close)
	topo := messages.Topology{}.WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	opts.Topology = topo
	if opts.Pipelines == nil {
		// Replay publishes only to a record subject of a pipeline.
		pipes, err := pipeline.ParseConfig("pipelines.yaml", []byte(testPipelines))
		if err != nil {
			t.Fatal(err)
		}
		opts.Pipelines = pipes
	}
	if opts.NATSURL == "" {
		opts.NATSURL = ns.ClientURL()
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.Attach(cnc); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, nats: ns, nc: nc, js: js, topo: topo, srv: srv, http: hs}
}

// get fetches a page and returns its status and body.
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	res, err := http.Get(e.http.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// post submits a form as the console's own page would (same origin), with
// the given authorization header ("" for none).
func (e *env) post(path string, form url.Values, auth string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", e.http.URL)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// result publishes a batch result of pipeline for job: n loaded records
// from sequence first on, and dead-lettered ones with code.
func (e *env) result(pipeline, sobject, mode, job string, first int64, loaded, dead int, code string) {
	e.t.Helper()
	br := &messages.BatchResult{
		BatchID: fmt.Sprintf("b-%s-%d", job, first), Pipeline: pipeline, SObject: sobject, Mode: mode, Job: job,
		Worker: "worker-1", Loaded: loaded, Failed: dead, APICalls: 1, StartedAt: time.Now(), FinishedAt: time.Now(),
	}
	seq := first
	for range loaded {
		br.Records = append(br.Records, messages.RecordOutcome{Seq: seq, StreamSeq: uint64(seq), Status: messages.StatusLoaded,
			ID: fmt.Sprintf("001000000000%06dAAA", seq), Created: seq%2 == 0, Key: fmt.Sprintf("K-%d", seq), Delivery: 1})
		seq++
	}
	for range dead {
		br.Records = append(br.Records, messages.RecordOutcome{Seq: seq, StreamSeq: uint64(seq), Status: messages.StatusDeadLettered,
			Code: code, Message: "bad value for restricted picklist field: Diamond", Fields: []string{"Customer_Tier__c"}, Delivery: 1})
		seq++
	}
	data, err := messages.EncodeBatchResult(br)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.js.Publish(e.ctx(), e.topo.Subjects().Results(pipeline, job), data); err != nil {
		e.t.Fatal(err)
	}
}

// deadLetter stores a dead letter and returns its sequence.
func (e *env) deadLetter(pipeline, sobject, mode, job string, seq int64, code, msg, payload string) uint64 {
	e.t.Helper()
	d := &messages.DeadLetter{
		Pipeline: pipeline, SObject: sobject, Mode: mode, Subject: e.topo.Subjects().Records(sobject, mode),
		Stream: e.topo.RecordsStream(), StreamSeq: uint64(seq), Job: job, Seq: seq, Key: fmt.Sprintf("K-%d", seq),
		Headers: map[string][]string{messages.HeaderJob: {job}, messages.HeaderSeq: {fmt.Sprint(seq)}},
		Data:    []byte(payload), Code: code, Message: msg, Fields: []string{"Customer_Tier__c"}, Attempts: 1,
		FirstFailure: time.Now(), LastFailure: time.Now(), Worker: "worker-1",
	}
	h, body, err := messages.EncodeDeadLetter(d)
	if err != nil {
		e.t.Fatal(err)
	}
	m := nats.NewMsg(e.topo.Subjects().DeadLetters(pipeline, sobject, mode))
	m.Header, m.Data = h, body
	ack, err := e.js.PublishMsg(e.ctx(), m)
	if err != nil {
		e.t.Fatal(err)
	}
	return ack.Sequence
}

// worker announces a worker replica in the workers bucket.
func (e *env) worker(ws messages.WorkerStatus) {
	e.t.Helper()
	kv, err := e.js.KeyValue(e.ctx(), e.topo.WorkersBucket())
	if err != nil {
		e.t.Fatal(err)
	}
	if ws.Updated.IsZero() {
		ws.Started, ws.Updated = time.Now().Add(-time.Hour), time.Now()
	}
	b, err := messages.EncodeWorkerStatus(ws)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := kv.Put(e.ctx(), ws.ID, b); err != nil {
		e.t.Fatal(err)
	}
}

// consumer creates a records-stream consumer with metadata and publishes
// n records to its subject, so that it has lag.
func (e *env) consumer(name, sobject, mode string, meta map[string]string, n int) {
	e.t.Helper()
	subj := e.topo.Subjects().Records(sobject, mode)
	if p := meta[messages.ConsumerMetaPartition]; p != "" {
		subj += "." + p + ".*"
	}
	_, err := e.js.CreateOrUpdateConsumer(e.ctx(), e.topo.RecordsStream(), jetstream.ConsumerConfig{
		Durable: name, FilterSubject: subj, AckPolicy: jetstream.AckExplicitPolicy, Metadata: meta,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	part := meta[messages.ConsumerMetaPartition]
	for i, sent := 0, 0; sent < n; i++ {
		s := e.topo.Subjects().Records(sobject, mode)
		if part != "" {
			// Only keys the stream puts in this partition.
			key := fmt.Sprintf("key-%d", i)
			if fmt.Sprint(messages.Partition(sobject, messages.KeyToken(key), e.topo.Partitions)) != part {
				continue
			}
			s = e.topo.Subjects().RecordsKeyed(sobject, mode, key)
		}
		if _, err := e.js.Publish(e.ctx(), s, []byte(`{"a":1}`)); err != nil {
			e.t.Fatal(err)
		}
		sent++
	}
}

// dlqCount is how many dead letters are stored.
func (e *env) dlqCount() uint64 {
	e.t.Helper()
	s, err := e.js.Stream(e.ctx(), e.topo.DLQStream())
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(e.ctx())
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// waitFor polls cond every 20ms for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, what, cond)
}

// indexed waits until the console has read n results.
func (e *env) indexed(n int) {
	e.t.Helper()
	waitFor(e.t, fmt.Sprintf("%d results indexed", n), func() bool { return e.srv.results.status().Read >= n })
}

func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page does not contain %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
		t.FailNow()
	}
}

func mustNotContain(t *testing.T, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("page contains %q", b)
		}
	}
}

func httptestServer(t *testing.T, srv *Server) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs
}
