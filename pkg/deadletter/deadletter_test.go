package deadletter_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// TestMain checks for leaked goroutines. (Inspector.List returns only once
// the subscription of its read is closed: see TestListLeavesNoFetchRunning
// in pkg/deadletter.)
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	t    *testing.T
	url  string
	nc   *nats.Conn
	inc  *nats.Conn // e.insp's
	js   jetstream.JetStream
	topo messages.Topology
	insp *deadletter.Inspector
}

// setup starts an embedded JetStream server with Kinetic's streams and an
// Inspector on them.
func setup(t *testing.T) *env {
	t.Helper()
	e := bare(t)
	if err := e.topo.Ensure(ctxT(t), e.js); err != nil {
		t.Fatal(err)
	}
	e.insp, e.inc = e.inspectorConn()
	return e
}

// testPipelines are the pipelines of the dead letters the tests store.
const testPipelines = `
pipelines:
  - name: accounts
    sobject: Account
    mode: upsert
    external_id_field: External_Key__c
    mapping: {ext_id: External_Key__c, company: Name}
  - name: contacts
    sobject: Contact
    mode: upsert
    external_id_field: External_Key__c
    mapping: {ext_id: External_Key__c, company: Name}
  - name: account-deletes
    sobject: Account
    mode: delete
    external_id_field: External_Key__c
    mapping: {ext_id: External_Key__c}
  - name: account-inserts
    sobject: Account
    mode: insert
    mapping: {ext_id: External_Key__c, company: Name}
`

func pipelines(t *testing.T) *pipeline.Config {
	t.Helper()
	cfg, err := pipeline.ParseConfig("pipelines.yaml", []byte(testPipelines))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// inspector returns a new Inspector on the test's server, with the test
// pipelines and a retry schedule short enough for tests.
func (e *env) inspector(opts ...deadletter.Option) *deadletter.Inspector {
	e.t.Helper()
	insp, _ := e.inspectorConn(opts...)
	return insp
}

func (e *env) inspectorConn(opts ...deadletter.Option) (*deadletter.Inspector, *nats.Conn) {
	e.t.Helper()
	opts = append([]deadletter.Option{deadletter.WithPipelines(pipelines(e.t)), deadletter.WithBackOff(testBackOff)}, opts...)
	nc, js := connect(e.t, e.url)
	insp, err := deadletter.NewInspector(ctxT(e.t), js, e.topo, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return insp, nc
}

func testBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 10*time.Millisecond, 500*time.Millisecond, 20*time.Second
	return b
}

// bare starts an embedded JetStream server without any stream.
func bare(t *testing.T) *env {
	t.Helper()
	ns := devenv.StartTestNATS(t)
	nc, js := ns.ConnectTest(t)
	return &env{t: t, url: ns.ClientURL(), nc: nc, js: js, topo: messages.Topology{}.WithDefaults()}
}

// connect makes a connection for Inspectors: one that does not buffer
// publishes while reconnecting, as Replay needs.
func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.ReconnectBufSize(-1), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dl describes a dead letter to store.
type dl struct {
	pipeline, sobject, mode, code, job string
	seq                                int64
}

// store stores a dead letter as a worker would and returns its stream sequence.
func (e *env) store(d dl) uint64 {
	e.t.Helper()
	return e.storeLetter(e.letter(d))
}

// letter builds a dead letter as a worker would, of a record published
// unkeyed.
func (e *env) letter(d dl) *messages.DeadLetter {
	rec := fmt.Sprintf(`{"ext_id":"%s-%d","company":""}`, d.job, d.seq)
	h := map[string][]string{
		messages.HeaderJob: {d.job}, messages.HeaderSeq: {fmt.Sprint(d.seq)},
		messages.HeaderMsgID: {fmt.Sprintf("%s-%d", d.job, d.seq)}, messages.HeaderStopOnError: {"true"},
		"X-Trace": {"t1", "t2"},
	}
	now := time.Now().UTC()
	return &messages.DeadLetter{
		Pipeline: d.pipeline, SObject: d.sobject, Mode: d.mode,
		Subject: e.topo.Subjects().Records(d.sobject, d.mode), Stream: e.topo.RecordsStream(), StreamSeq: uint64(d.seq) + 100,
		Job: d.job, Seq: d.seq, MsgID: fmt.Sprintf("%s-%d", d.job, d.seq), Headers: h, Data: []byte(rec),
		Code: d.code, Message: "it failed: " + d.code, Fields: []string{"Name"}, Attempts: 1,
		FirstFailure: now, LastFailure: now, Worker: "w-1",
	}
}

// storeLetter stores a dead letter in its pipeline's dead-letter subject.
func (e *env) storeLetter(letter *messages.DeadLetter) uint64 {
	e.t.Helper()
	hdr, body, err := messages.EncodeDeadLetter(letter)
	if err != nil {
		e.t.Fatal(err)
	}
	pipe := letter.Pipeline
	if pipe == "" {
		pipe = "unnamed"
	}
	msg := &nats.Msg{Subject: e.topo.Subjects().DeadLetters(pipe, letter.SObject, letter.Mode), Header: hdr, Data: body}
	ack, err := e.js.PublishMsg(ctxT(e.t), msg)
	if err != nil {
		e.t.Fatal(err)
	}
	return ack.Sequence
}

// storeFive stores the standard set and returns their sequences (1..5).
func (e *env) storeFive() []uint64 {
	e.t.Helper()
	return []uint64{
		e.store(dl{"accounts", "Account", "upsert", "REQUIRED_FIELD_MISSING", "job-1", 1}),
		e.store(dl{"accounts", "Account", "upsert", "STRING_TOO_LONG", "job-1", 2}),
		e.store(dl{"contacts", "Contact", "upsert", "REQUIRED_FIELD_MISSING", "job-2", 1}),
		e.store(dl{"account-deletes", "Account", "delete", "NOT_FOUND", "job-3", 1}),
		e.store(dl{"account-inserts", "Account", "insert", "DUPLICATE_VALUE", "job-3", 2}),
	}
}

func seqsOf(es []deadletter.Entry) []uint64 {
	out := []uint64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func (e *env) list(f deadletter.Filter) []uint64 {
	e.t.Helper()
	es, err := e.insp.List(ctxT(e.t), f)
	if err != nil {
		e.t.Fatalf("List(%+v): %v", f, err)
	}
	return seqsOf(es)
}

func (e *env) streamMsgs(name string) uint64 {
	e.t.Helper()
	s, err := e.js.Stream(ctxT(e.t), name)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctxT(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if got := e.list(deadletter.Filter{}); len(got) != 0 {
		t.Fatalf("empty stream listed %v", got)
	}
	seqs := e.storeFive()
	if !slices.Equal(seqs, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("stored at %v", seqs)
	}
	all, err := e.insp.List(ctxT(t), deadletter.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    deadletter.Filter
		want []uint64
	}{
		{"all", deadletter.Filter{}, []uint64{1, 2, 3, 4, 5}},
		{"pipeline", deadletter.Filter{Pipeline: "accounts"}, []uint64{1, 2}},
		{"sobject", deadletter.Filter{SObject: "Account"}, []uint64{1, 2, 4, 5}},
		{"mode", deadletter.Filter{Mode: "delete"}, []uint64{4}},
		{"sobject and mode", deadletter.Filter{SObject: "Account", Mode: "upsert"}, []uint64{1, 2}},
		{"code", deadletter.Filter{Code: "REQUIRED_FIELD_MISSING"}, []uint64{1, 3}},
		{"job", deadletter.Filter{Job: "job-3"}, []uint64{4, 5}},
		{"code and pipeline", deadletter.Filter{Code: "REQUIRED_FIELD_MISSING", Pipeline: "contacts"}, []uint64{3}},
		{"since", deadletter.Filter{Since: all[2].Time}, []uint64{3, 4, 5}},
		{"until", deadletter.Filter{Until: all[2].Time}, []uint64{1, 2}},
		{"since and until", deadletter.Filter{Since: all[1].Time, Until: all[4].Time}, []uint64{2, 3, 4}},
		{"since the future", deadletter.Filter{Since: time.Now().Add(time.Hour)}, []uint64{}},
		{"seqs", deadletter.Filter{Seqs: []uint64{4, 2}}, []uint64{4, 2}},
		{"seqs and code", deadletter.Filter{Seqs: []uint64{1, 2, 3}, Code: "REQUIRED_FIELD_MISSING"}, []uint64{1, 3}},
		{"limit", deadletter.Filter{Limit: 2}, []uint64{1, 2}},
		{"limit with filter", deadletter.Filter{SObject: "Account", Limit: 3}, []uint64{1, 2, 4}},
		{"no match", deadletter.Filter{Pipeline: "nope"}, []uint64{}},
		{"no match by code", deadletter.Filter{Code: "NOPE"}, []uint64{}},
	} {
		if got := e.list(c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// Entries carry the decoded dead letter and where it is stored.
	en := all[2]
	if en.Subject != "kinetic.dlq.contacts.Contact.upsert" || en.Time.IsZero() || en.DeadLetter.Code != "REQUIRED_FIELD_MISSING" ||
		en.DeadLetter.Job != "job-2" || string(en.DeadLetter.Data) != `{"ext_id":"job-2-1","company":""}` {
		t.Errorf("entry %+v %+v", en, en.DeadLetter)
	}
}

// A sequence filter must still honour the other filters: `dlq replay
// --pipeline accounts --seq 3` must not replay another pipeline's dead letter.
//
// (With Seqs set, each reads the sequences one by one, so match itself must
// apply every filter; it once checked only Code, Job and Until.)
func TestListSeqsHonourOtherFilters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	all, err := e.insp.List(ctxT(t), deadletter.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    deadletter.Filter
		want []uint64
	}{
		{"seqs and pipeline", deadletter.Filter{Seqs: []uint64{1, 3}, Pipeline: "accounts"}, []uint64{1}},
		{"seqs and sobject", deadletter.Filter{Seqs: []uint64{3, 4}, SObject: "Contact"}, []uint64{3}},
		{"seqs and mode", deadletter.Filter{Seqs: []uint64{1, 4}, Mode: "delete"}, []uint64{4}},
		{"seqs and since", deadletter.Filter{Seqs: []uint64{1, 5}, Since: all[2].Time}, []uint64{5}},
	} {
		if got := e.list(c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// Messages in the dead-letter stream that are not dead letters this build
// can read are skipped, not fatal.
func TestListSkipsUndecodable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.store(dl{"accounts", "Account", "upsert", "A", "job-1", 1})
	if _, err := e.js.Publish(ctxT(t), "kinetic.dlq.accounts.Account.upsert", []byte("no envelope")); err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	h.Set(messages.HeaderDeadLetter, `{"v":9,"subject":"s","code":"C"}`)
	if _, err := e.js.PublishMsg(ctxT(t), &nats.Msg{Subject: "kinetic.dlq.accounts.Account.upsert", Header: h, Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	e.store(dl{"accounts", "Account", "upsert", "B", "job-1", 2})
	if got := e.list(deadletter.Filter{}); !slices.Equal(got, []uint64{1, 4}) {
		t.Errorf("listed %v, want 1 and 4", got)
	}
	if _, err := e.insp.Get(ctxT(t), 3); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("Get of a newer envelope: %v", err)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	en, err := e.insp.Get(ctxT(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	d := en.DeadLetter
	if en.Seq != 2 || en.Subject != "kinetic.dlq.accounts.Account.upsert" || en.Time.IsZero() {
		t.Errorf("entry %+v", en)
	}
	if d.Pipeline != "accounts" || d.Code != "STRING_TOO_LONG" || d.Job != "job-1" || d.Seq != 2 ||
		d.Subject != "kinetic.records.Account.upsert" || d.StreamSeq != 102 || string(d.Data) != `{"ext_id":"job-1-2","company":""}` ||
		strings.Join(d.Headers["X-Trace"], ",") != "t1,t2" {
		t.Errorf("dead letter %+v", d)
	}
	_, err = e.insp.Get(ctxT(t), 99)
	if err == nil || !strings.Contains(err.Error(), "99") || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown seq: %v", err)
	}
	if _, err := e.insp.List(ctxT(t), deadletter.Filter{Seqs: []uint64{1, 99}}); err == nil {
		t.Error("List with an unknown seq: no error")
	}
}

func TestNewInspectorWithoutStreams(t *testing.T) {
	t.Parallel()
	e := bare(t)
	_, err := deadletter.NewInspector(ctxT(t), e.js, messages.Topology{Prefix: "acme"})
	if err == nil {
		t.Fatal("no error without a dead-letter stream")
	}
	if !strings.Contains(err.Error(), "ACME_DLQ") || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "start a worker") {
		t.Errorf("error %q should name the stream and say how to create it", err)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	n, err := e.insp.Purge(ctxT(t), deadletter.Filter{Job: "job-3"})
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if got := e.list(deadletter.Filter{}); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("left %v", got)
	}
	n, err = e.insp.Purge(ctxT(t), deadletter.Filter{Code: "NOPE"})
	if err != nil || n != 0 {
		t.Errorf("purge of nothing: %d, %v", n, err)
	}
	n, err = e.insp.Purge(ctxT(t), deadletter.Filter{})
	if err != nil || n != 3 {
		t.Errorf("purge all: %d, %v", n, err)
	}
	if got := e.list(deadletter.Filter{}); len(got) != 0 {
		t.Errorf("left %v", got)
	}
	// Nothing was republished.
	if n := e.streamMsgs(e.topo.RecordsStream()); n != 0 {
		t.Errorf("records stream holds %d", n)
	}
}

// List must not leave work running after it returns: it returns only once
// the subscription its read used is closed, so the connection has exactly
// the subscriptions it had before, at once, with no waiting. (Each List once
// returned while its Fetch still waited for more, leaving a goroutine and an
// inbox subscription for up to 2 s; a later version still returned before
// the fetch had unsubscribed.)
func TestListLeavesNoFetchRunning(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.storeFive()
	before := e.inc.NumSubscriptions()
	for _, f := range []deadletter.Filter{{}, {Limit: 2}, {Pipeline: "contacts"}, {Pipeline: "nope"}, {Since: time.Now().Add(time.Hour)}} {
		e.list(f)
		if after := e.inc.NumSubscriptions(); after != before {
			t.Fatalf("List(%+v) returned with %d subscriptions still open", f, after-before)
		}
	}
}

// countingBackOff retries at once, at most max times, and counts its waits.
type countingBackOff struct{ n, max int }

func (b *countingBackOff) NextBackOff() time.Duration {
	if b.n >= b.max {
		return backoff.Stop
	}
	b.n++
	return 0
}
func (b *countingBackOff) Reset() {}

// Operations retry through failures that pass (no responders, timeouts,
// 503s) on the injected schedule, and give up at once on any other.
func TestRetryUsesTheInjectedBackOff(t *testing.T) {
	t.Parallel()
	e := bare(t)
	if err := e.topo.Ensure(ctxT(t), e.js); err != nil {
		t.Fatal(err)
	}
	var b *countingBackOff
	insp, err := deadletter.NewInspector(ctxT(t), e.js, e.topo, deadletter.WithBackOff(func() backoff.BackOff {
		b = &countingBackOff{max: 3}
		return b
	}))
	if err != nil {
		t.Fatal(err)
	}
	unavailable := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	for _, c := range []struct {
		name    string
		errs    []error // what the tries return, in turn
		wantErr error
		tries   int
	}{
		{"success", []error{nil}, nil, 1},
		{"no responders, then success", []error{nats.ErrNoResponders, nats.ErrNoResponders, nil}, nil, 3},
		{"503, then success", []error{unavailable, nil}, nil, 2},
		{"timeout until the schedule stops", []error{nats.ErrTimeout, nats.ErrTimeout, nats.ErrTimeout, nats.ErrTimeout, nats.ErrTimeout}, nats.ErrTimeout, 4},
		{"not found: at once", []error{jetstream.ErrMsgNotFound, nil}, jetstream.ErrMsgNotFound, 1},
	} {
		tries := 0
		err := deadletter.Retry(ctxT(t), insp, func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Errorf("%s: a try without a deadline", c.name)
			}
			err := c.errs[tries]
			tries++
			return err
		})
		if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) || tries != c.tries {
			t.Errorf("%s: %d tries, %v; want %d, %v", c.name, tries, err, c.tries, c.wantErr)
		}
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	if err := deadletter.Retry(ctx, insp, func(context.Context) error { return nats.ErrNoResponders }); err == nil {
		t.Error("a canceled context: no error")
	}
}
