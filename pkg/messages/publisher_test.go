package messages_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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

// A failed publish is retried with the same Nats-Msg-Id; a retry that
// succeeds is counted once.
func TestPublishRetriesUntilStreamExists(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	p := messages.NewPublisher(e.js, messages.PublisherOptions{Retries: 20})
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(ctx, recordSubject, []byte(`{"late":true}`), messages.RecordMeta{Job: "j", Seq: 1, MsgID: "j-1"})
		done <- err
	}()
	// The stream appears once Publish has failed at least once.
	waitFor(t, "a first publish attempt", func() bool {
		v, err := e.ns.Varz(nil)
		return err == nil && v.InMsgs > 0
	})
	e.ensure(t, messages.Topology{})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish gave up: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Publish did not return")
	}
	if pub, dup := p.Stats(); pub != 1 || dup != 0 {
		t.Errorf("stats %d, %d", pub, dup)
	}
	if n := e.streamMsgs(t, "KINETIC_RECORDS"); n != 1 {
		t.Errorf("%d records stored", n)
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
	defer sub.Unsubscribe()
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
