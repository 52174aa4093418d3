package messages_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

const recordSubject = "kinetic.records.Account.upsert"

func TestPublish(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{}
	e.ensure(t, topo)
	p := messages.NewPublisher(e.js, messages.PublisherOptions{})
	meta := messages.RecordMeta{Job: "job-1", Seq: 1, Key: "A-1", MsgID: "job-1-1", StopOnError: true}
	ack, err := p.Publish(testCtx(t), recordSubject, []byte(`{"ext_id":"A-1"}`), meta)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != topo.RecordsStream() || ack.Sequence != 1 || ack.Duplicate {
		t.Errorf("ack %+v", ack)
	}
	s, err := e.js.Stream(testCtx(t), topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetMsg(testCtx(t), ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Subject != recordSubject || string(raw.Data) != `{"ext_id":"A-1"}` {
		t.Errorf("stored %s %s", raw.Subject, raw.Data)
	}
	got, err := messages.ParseRecordMeta(raw.Header)
	if err != nil || got != meta {
		t.Errorf("stored headers give %+v, %v; want %+v", got, err, meta)
	}
	if pub, dup := p.Stats(); pub != 1 || dup != 0 {
		t.Errorf("stats %d published, %d duplicates", pub, dup)
	}
}

func TestPublishAsyncBoundedWindow(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{}
	e.ensure(t, topo)
	const n, maxPending = 60, 4
	p := messages.NewPublisher(e.js, messages.PublisherOptions{MaxPending: maxPending})
	ctx := testCtx(t)
	for i := 1; i <= n; i++ {
		meta := messages.RecordMeta{Job: "job-1", Seq: int64(i), MsgID: fmt.Sprintf("job-1-%d", i)}
		if err := p.PublishAsync(ctx, recordSubject, []byte(fmt.Sprintf(`{"i":%d}`, i)), meta); err != nil {
			t.Fatal(err)
		}
		if pending := p.Pending(); pending > maxPending {
			t.Fatalf("after record %d: %d pending, MaxPending is %d", i, pending, maxPending)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 0 {
		t.Errorf("%d pending after Flush", p.Pending())
	}
	if pub, dup := p.Stats(); pub != n || dup != 0 {
		t.Errorf("stats %d published, %d duplicates; want %d, 0", pub, dup, n)
	}
	if got := e.streamMsgs(t, topo.RecordsStream()); got != n {
		t.Errorf("stream holds %d records, want %d", got, n)
	}
	// Published in order: stream sequence i holds record i.
	s, err := e.js.Stream(ctx, topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{1, n / 2, n} {
		raw, err := s.GetMsg(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if string(raw.Data) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Errorf("stream seq %d holds %s", i, raw.Data)
		}
	}
	// Flush with nothing queued returns at once.
	if err := p.Flush(ctx); err != nil {
		t.Errorf("empty Flush: %v", err)
	}
}

func TestPublishDuplicates(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{}
	e.ensure(t, topo)
	p := messages.NewPublisher(e.js, messages.PublisherOptions{MaxPending: 2})
	ctx := testCtx(t)
	// Three records, each published twice with the same Nats-Msg-Id, one of
	// them synchronously.
	for round := 0; round < 2; round++ {
		for i := 1; i <= 3; i++ {
			meta := messages.RecordMeta{Job: "job-d", Seq: int64(i), MsgID: fmt.Sprintf("job-d-%d", i)}
			if err := p.PublishAsync(ctx, recordSubject, []byte(`{}`), meta); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ack, err := p.Publish(ctx, recordSubject, []byte(`{}`), messages.RecordMeta{MsgID: "job-d-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate {
		t.Errorf("sync republish not reported as a duplicate: %+v", ack)
	}
	if pub, dup := p.Stats(); pub != 7 || dup != 4 {
		t.Errorf("stats %d published, %d duplicates; want 7, 4", pub, dup)
	}
	if got := e.streamMsgs(t, topo.RecordsStream()); got != 3 {
		t.Errorf("stream holds %d records, want 3", got)
	}
}

// A subject no stream captures: every record is reported by Flush as a
// *PublishError that names its job and sequence.
func TestPublishAsyncNoStream(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	e.ensure(t, messages.Topology{})
	p := messages.NewPublisher(e.js, messages.PublisherOptions{MaxPending: 2, Retries: -1})
	ctx := testCtx(t)
	const subject = "nobody.captures.this"
	for i := 1; i <= 3; i++ {
		meta := messages.RecordMeta{Job: "job-x", Seq: int64(i), MsgID: fmt.Sprintf("job-x-%d", i)}
		if err := p.PublishAsync(ctx, subject, []byte(`{}`), meta); err != nil {
			t.Fatalf("PublishAsync reported %v; failures are Flush's to report", err)
		}
	}
	err := p.Flush(ctx)
	if err == nil {
		t.Fatal("Flush: no error for records no stream stored")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Flush error %T is not a joined error", err)
	}
	seqs := map[int64]bool{}
	for _, one := range joined.Unwrap() {
		var pe *messages.PublishError
		if !errors.As(one, &pe) {
			t.Errorf("%v is not a *PublishError", one)
			continue
		}
		if pe.Subject != subject || pe.Meta.Job != "job-x" {
			t.Errorf("%+v", pe)
		}
		if want := fmt.Sprintf("job job-x seq %d", pe.Meta.Seq); !strings.Contains(pe.Error(), want) || !strings.Contains(pe.Error(), subject) {
			t.Errorf("message %q should contain %q and the subject", pe.Error(), want)
		}
		if pe.Unwrap() == nil {
			t.Errorf("%v wraps no cause", pe)
		}
		if !pe.Permanent || !errors.Is(pe, messages.ErrNoStream) {
			t.Errorf("%v: want a permanent ErrNoStream", pe)
		}
		seqs[pe.Meta.Seq] = true
	}
	if len(seqs) != 3 || !seqs[1] || !seqs[2] || !seqs[3] {
		t.Errorf("failed records %v, want 1, 2 and 3", seqs)
	}
	if pub, _ := p.Stats(); pub != 0 {
		t.Errorf("%d counted as published", pub)
	}
	// The failures are reported once.
	if err := p.Flush(ctx); err != nil {
		t.Errorf("second Flush: %v", err)
	}
	// Publish (synchronous) reports the same way, naming the dedup id when
	// there is no sequence.
	_, err = p.Publish(ctx, subject, []byte(`{}`), messages.RecordMeta{MsgID: "only-an-id"})
	var pe *messages.PublishError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "only-an-id") {
		t.Errorf("Publish: %v", err)
	}
}

func TestPublishContextCanceled(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	e.ensure(t, messages.Topology{})
	p := messages.NewPublisher(e.js, messages.PublisherOptions{MaxPending: 1})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Publish(canceled, recordSubject, []byte(`{}`), messages.RecordMeta{Job: "j", Seq: 1})
	var pe *messages.PublishError
	if !errors.As(err, &pe) || !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a canceled context: %v", err)
	}

	// An ack that never comes: a plain subscriber that does not answer owns the subject.
	const stuck = "stuck.subject"
	sub, err := e.nc.SubscribeSync(stuck)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sub.Unsubscribe(); err != nil {
			t.Error(err)
		}
	}()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel2 := context.WithCancel(context.Background())
	if err := p.PublishAsync(ctx, stuck, []byte(`{}`), messages.RecordMeta{Job: "j", Seq: 1}); err != nil {
		t.Fatalf("first PublishAsync: %v", err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("the message never went out: %v", err)
	}
	cancel2()
	// The window is full; waiting for room ends with the context.
	if err := p.PublishAsync(ctx, stuck, []byte(`{}`), messages.RecordMeta{Job: "j", Seq: 2}); !errors.Is(err, context.Canceled) {
		t.Errorf("PublishAsync on a full window with a canceled context: %v", err)
	}
	if p.Pending() != 1 {
		t.Errorf("pending %d: the unacknowledged publish must stay pending", p.Pending())
	}
	short, cancel3 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel3()
	if err := p.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush: %v, want the context's deadline", err)
	}
	if p.Pending() != 1 {
		t.Errorf("pending %d after an interrupted Flush", p.Pending())
	}
}

// countingBackOff retries at once, up to max times, counting how often it
// was asked: a test can tell whether a failure was retried.
type countingBackOff struct {
	asked atomic.Int64
	max   int64
}

func (b *countingBackOff) NextBackOff() time.Duration {
	if b.asked.Add(1) > b.max {
		return backoff.Stop
	}
	return 0
}

func (b *countingBackOff) Reset() {}

func (b *countingBackOff) factory() func() backoff.BackOff {
	return func() backoff.BackOff { return b }
}

// The production schedule: 250ms doubling to 4s, ±20%, Retries times.
func TestDefaultPublishBackOff(t *testing.T) {
	t.Parallel()
	b := messages.DefaultPublishBackOff(8)
	b.Reset()
	for i, want := range []time.Duration{250, 500, 1000, 2000, 4000, 4000, 4000, 4000} {
		want *= time.Millisecond
		got := b.NextBackOff()
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("retry %d after %v, want %v ±20%%", i+1, got, want)
		}
	}
	if got := b.NextBackOff(); got != backoff.Stop {
		t.Errorf("a ninth retry after %v; want none", got)
	}
	if got := messages.DefaultPublishBackOff(-1).NextBackOff(); got != backoff.Stop {
		t.Errorf("Retries < 0 retries after %v", got)
	}
}

// Permanent failures are reported at once, typed, and never retried.
func TestPublishPermanentFailuresAreNotRetried(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{}.WithDefaults()
	e.ensure(t, topo)
	// A small stream that discards new messages when full.
	if _, err := e.js.CreateStream(testCtx(t), jetstream.StreamConfig{Name: "FULL", Subjects: []string{"full.>"}, MaxMsgs: 1, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	over := make([]byte, int(topo.MaxRecordBytes)+1)
	huge := make([]byte, int(e.nc.MaxPayload())+1)
	for _, c := range []struct {
		name    string
		subject string
		data    []byte
		is      error
		code    jetstream.ErrorCode
	}{
		{"no stream takes the subject", "nobody.listens", []byte(`{}`), messages.ErrNoStream, 0},
		{"over the server's max_payload", recordSubject, huge, nats.ErrMaxPayload, 0},
		{"over the stream's max_msg_size", recordSubject, over, nil, jetstream.JSErrCodeStreamMessageExceedsMaximum},
		{"stream full, discard new", "full.b", []byte(`{}`), nil, 10077},
		{"subject too long", "full." + strings.Repeat("k", messages.MaxSubjectLen), []byte(`{}`), messages.ErrSubjectTooLong, 0},
	} {
		if c.subject == "full.b" {
			if _, err := e.js.Publish(testCtx(t), "full.a", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		for _, async := range []bool{false, true} {
			bo := &countingBackOff{max: 50}
			p := messages.NewPublisher(e.js, messages.PublisherOptions{BackOff: bo.factory()})
			meta := messages.RecordMeta{Job: "perm", Seq: 1, MsgID: fmt.Sprintf("perm-%s-%v", c.name, async)}
			var err error
			if async {
				if err := p.PublishAsync(testCtx(t), c.subject, c.data, meta); err != nil {
					t.Fatal(err)
				}
				if p.Failures() == 0 && p.Pending() == 0 {
					t.Errorf("%s: neither pending nor failed", c.name)
				}
				err = p.Flush(testCtx(t))
			} else {
				_, err = p.Publish(testCtx(t), c.subject, c.data, meta)
			}
			var pe *messages.PublishError
			if !errors.As(err, &pe) || !pe.Permanent {
				t.Errorf("%s (async %v): %v, want a permanent *PublishError", c.name, async, err)
				continue
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("%s (async %v): %v is not %v", c.name, async, err, c.is)
			}
			var api *jetstream.APIError
			if c.code != 0 && (!errors.As(err, &api) || api.ErrorCode != c.code) {
				t.Errorf("%s (async %v): %v, want JetStream error %d", c.name, async, err, c.code)
			}
			if n := bo.asked.Load(); n != 0 {
				t.Errorf("%s (async %v): retried (backoff asked %d times)", c.name, async, n)
			}
			if p.Failures() != 1 {
				t.Errorf("%s (async %v): Failures() = %d", c.name, async, p.Failures())
			}
		}
	}
}

// A publisher whose user may not publish records: the server drops the
// message and says so only in the connection's error; the publish fails as
// permission denied, without retries, instead of timing out attempt after
// attempt.
func TestPublishPermissionDeniedIsPermanent(t *testing.T) {
	t.Parallel()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir(),
		Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			{Username: "reader", Password: "reader-pw", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: []string{"$JS.API.>", "_INBOX.>"}},
			}},
		}}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	admin, err := nats.Connect(s.ClientURL(), nats.UserInfo("admin", "admin-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ajs, _ := jetstream.New(admin)
	if err := (messages.Topology{}).Ensure(testCtx(t), ajs); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("reader", "reader-pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, async := range []bool{false, true} {
		bo := &countingBackOff{max: 50}
		p := messages.NewPublisher(js, messages.PublisherOptions{BackOff: bo.factory(), AckTimeout: 300 * time.Millisecond})
		meta := messages.RecordMeta{Job: "denied", Seq: 1}
		if async {
			if err := p.PublishAsync(testCtx(t), recordSubject, []byte(`{}`), meta); err != nil {
				t.Fatal(err)
			}
			err = p.Flush(testCtx(t))
		} else {
			_, err = p.Publish(testCtx(t), recordSubject, []byte(`{}`), meta)
		}
		var pe *messages.PublishError
		if !errors.As(err, &pe) || !pe.Permanent || !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("async %v: %v, want a permanent permission violation", async, err)
		}
		if n := bo.asked.Load(); n != 0 {
			t.Errorf("async %v: retried %d times", async, n)
		}
	}
}

// A failure that can pass (the server is down for a while) is retried with
// the same Nats-Msg-Id until the server is back; the record is stored once
// and not reported as a duplicate even when an earlier attempt landed.
func TestPublishRetriesWhileTheServerIsDown(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	port := testutil.FreePort(t)
	ns, err := devenv.StartNATS(devenv.NATSOptions{Port: port, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := (messages.Topology{}).Ensure(testCtx(t), js); err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	bo := &constantCounting{countingBackOff: countingBackOff{max: 1000}, every: 50 * time.Millisecond}
	p := messages.NewPublisher(js, messages.PublisherOptions{BackOff: func() backoff.BackOff { return bo }, AckTimeout: 200 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(testCtx(t), recordSubject, []byte(`{"while":"down"}`), messages.RecordMeta{Job: "down", Seq: 1, MsgID: "down-1"})
		done <- err
	}()
	testutil.WaitFor(t, 10*time.Second, "two failed attempts", func() bool { return bo.asked.Load() >= 2 })
	ns2, err := devenv.StartNATS(devenv.NATSOptions{Port: port, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer ns2.Shutdown()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish gave up: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Publish did not return")
	}
	if pub, dup := p.Stats(); pub != 1 || dup != 0 {
		t.Errorf("stats %d published, %d duplicates; want 1, 0", pub, dup)
	}
	s, err := js.Stream(testCtx(t), "KINETIC_RECORDS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(testCtx(t))
	if err != nil || info.State.Msgs != 1 {
		t.Errorf("%v records stored (%v), want 1", info.State.Msgs, err)
	}
}

type constantCounting struct {
	countingBackOff
	every time.Duration
}

func (b *constantCounting) NextBackOff() time.Duration {
	if d := b.countingBackOff.NextBackOff(); d == backoff.Stop {
		return d
	}
	return b.every
}

// MsgSize counts what the server counts: a record exactly at the stream's
// max_msg_size is stored, one byte more is refused.
func TestMsgSizeMatchesTheServer(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{}.WithDefaults()
	e.ensure(t, topo)
	meta := messages.RecordMeta{Job: "size-job", Seq: 12, Key: "  spaced key  ", MsgID: "size-job-12", StopOnError: true}
	subject := messages.KeyedSubject(recordSubject, "K-1")
	base := messages.MsgSize(messages.RecordMsg(subject, nil, meta))
	fit := make([]byte, int(topo.MaxRecordBytes)-base)
	if got := messages.MsgSize(messages.RecordMsg(subject, fit, meta)); got != int(topo.MaxRecordBytes) {
		t.Fatalf("MsgSize = %d, want %d", got, topo.MaxRecordBytes)
	}
	p := messages.NewPublisher(e.js, messages.PublisherOptions{Retries: -1})
	if _, err := p.Publish(testCtx(t), subject, fit, meta); err != nil {
		t.Fatalf("a record of exactly max_msg_size: %v", err)
	}
	meta.MsgID = "size-job-12b"
	if _, err := p.Publish(testCtx(t), subject, append(fit, ' '), meta); !errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
		t.Fatalf("one byte over: %v", err)
	}
}

// Changes of one key are stored in the order given, even when one is
// retried: the next change of the key waits for the earlier one's ack (or
// its retries). Changes of other keys do not wait.
func TestPublishKeyedAsyncKeepsAKeysOrder(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{}.WithDefaults()
	e.ensure(t, topo)
	p := messages.NewPublisher(e.js, messages.PublisherOptions{})
	ctx := testCtx(t)
	for i, key := range []string{"A-1", "B-1", "A-1", "C-1"} {
		meta := messages.RecordMeta{Job: "order", Seq: int64(i + 1), MsgID: fmt.Sprintf("order-%d", i+1)}
		if err := p.PublishKeyedAsync(ctx, recordSubject, key, []byte(fmt.Sprintf(`{"i":%d}`, i+1)), meta); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := e.js.Stream(ctx, topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range []string{"a-1", "b-1", "a-1", "c-1"} {
		raw, err := s.GetMsg(ctx, uint64(seq+1))
		if err != nil {
			t.Fatal(err)
		}
		r, err := topo.Subjects().ParseRecords(raw.Subject)
		if err != nil || r.Key != want || r.Partition != messages.Partition("Account", want, topo.Partitions) {
			t.Errorf("stream seq %d: %s (%+v, %v), want key %s", seq+1, raw.Subject, r, err, want)
		}
	}

	// A key whose first change gets no ack: that change is retried before
	// the key's next change goes out, so nothing arrives out of order.
	const stuck = "stuck.Account.upsert"
	sub, err := e.nc.SubscribeSync(stuck + ".>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sub.Unsubscribe(); err != nil {
			t.Error(err)
		}
	}()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	bo := &countingBackOff{max: 1}
	sp := messages.NewPublisher(e.js, messages.PublisherOptions{BackOff: bo.factory(), AckTimeout: 200 * time.Millisecond})
	for i, key := range []string{"K", "other", "K"} {
		meta := messages.RecordMeta{Job: "stuck", Seq: int64(i + 1)}
		if err := sp.PublishKeyedAsync(ctx, stuck, key, []byte(fmt.Sprintf(`{"i":%d}`, i+1)), meta); err != nil {
			t.Fatal(err)
		}
	}
	_ = sp.Flush(ctx) // nothing acks on this subject: every record fails
	var got []string
	for {
		m, err := sub.NextMsg(time.Second)
		if err != nil {
			break
		}
		got = append(got, m.Subject[len(stuck)+1:]+":"+string(m.Data))
	}
	// K's first change (sent, then retried twice, as nothing acks) is all
	// out before K's second; "other" goes out without waiting.
	lastFirst, firstSecond := -1, len(got)
	for i, g := range got {
		if g == `k:{"i":1}` {
			lastFirst = i
		}
		if g == `k:{"i":3}` && i < firstSecond {
			firstSecond = i
		}
	}
	if lastFirst < 0 || firstSecond == len(got) || lastFirst > firstSecond {
		t.Errorf("K's changes out of order on the wire: %q", got)
	}
	if got[1] != `other:{"i":2}` {
		t.Errorf("another key waited for K: %q", got)
	}
}

// PublishKeyed goes to the keyed subject; a keyed publish without a key is
// a permanent failure.
func TestPublishKeyed(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{}.WithDefaults()
	e.ensure(t, topo)
	p := messages.NewPublisher(e.js, messages.PublisherOptions{})
	ack, err := p.PublishKeyed(testCtx(t), recordSubject, "Acme.Inc 1", []byte(`{"k":1}`), messages.RecordMeta{Job: "k", Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := e.js.Stream(testCtx(t), topo.RecordsStream())
	raw, err := s.GetMsg(testCtx(t), ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s.%d.acme%%2Einc%%201", recordSubject, messages.Partition("Account", "acme%2Einc%201", topo.Partitions)); raw.Subject != want {
		t.Errorf("stored as %s, want %s", raw.Subject, want)
	}
	_, err = p.PublishKeyed(testCtx(t), recordSubject, "", []byte(`{}`), messages.RecordMeta{Job: "k", Seq: 2})
	var pe *messages.PublishError
	if !errors.As(err, &pe) || !pe.Permanent || !errors.Is(err, messages.ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	if err := p.PublishKeyedAsync(testCtx(t), recordSubject, "", []byte(`{}`), messages.RecordMeta{Job: "k", Seq: 3}); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(testCtx(t)); !errors.Is(err, messages.ErrNoKey) {
		t.Errorf("async without a key: %v", err)
	}
	if p.Failures() != 2 {
		t.Errorf("Failures() = %d, want 2", p.Failures())
	}
}
