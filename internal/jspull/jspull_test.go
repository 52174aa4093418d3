package jspull_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/jspull"
)

// newStream is stream S (subjects s.>) on an embedded JetStream server.
func newStream(t *testing.T) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	_, js := devenv.StartTestNATS(t).ConnectTest(t)
	stream, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	return js, stream
}

// A real consumer: the batch, the metadata, and every kind of ack as the
// server takes it.
func TestFetchFromAConsumer(t *testing.T) {
	js, stream := newStream(t)
	ctx := context.Background()
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	for i := 1; i <= 4; i++ {
		if _, err := js.Publish(ctx, fmt.Sprintf("s.%d", i), fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	pull := jspull.New(js, "S", "C")

	msgs, err := pull.Fetch(jspull.Request{Batch: 3, Expires: 5 * time.Second})
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Fetch: %d messages, %v; want 3, nil", len(msgs), err)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("m%d", i+1); string(m.Data()) != want || m.Subject() != fmt.Sprintf("s.%d", i+1) {
			t.Errorf("message %d: %q on %s; want %q on s.%d", i, m.Data(), m.Subject(), want, i+1)
		}
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if md.Stream != "S" || md.Consumer != "C" || md.NumDelivered != 1 || md.Sequence.Stream != uint64(i+1) ||
			md.Sequence.Consumer != uint64(i+1) || md.NumPending != uint64(3-i) || md.Timestamp.Before(before.Add(-time.Second)) {
			t.Errorf("message %d: metadata %+v", i, md)
		}
	}
	if err := msgs[0].InProgress(); err != nil {
		t.Fatal(err)
	}
	if err := msgs[0].Ack(); err != nil {
		t.Fatal(err)
	}
	if err := msgs[0].Ack(); !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		t.Errorf("second Ack: %v; want ErrMsgAlreadyAckd", err)
	}
	if err := msgs[1].NakWithDelay(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := msgs[2].TermWithReason("test"); err != nil {
		t.Fatal(err)
	}

	// What is left: the fourth message, then the nakked second one again.
	var got []jetstream.Msg
	for deadline := time.Now().Add(10 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		more, err := pull.Fetch(jspull.Request{Batch: 2 - len(got), Expires: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, more...)
	}
	seen := map[string]uint64{}
	for _, m := range got {
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		seen[string(m.Data())] = md.NumDelivered
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("DoubleAck %s: %v", m.Data(), err)
		}
	}
	if len(seen) != 2 || seen["m2"] != 2 || seen["m4"] != 1 {
		t.Errorf("after ack, nak and term: %v; want m2 delivered twice and m4 once", seen)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer: %d ack pending, %d pending; want 0 and 0", info.NumAckPending, info.NumPending)
	}

	// Nothing left: the server's 408 ends the pull, with no error.
	start := time.Now()
	msgs, err = pull.Fetch(jspull.Request{Batch: 5, Expires: 200 * time.Millisecond, Grace: time.Minute})
	if err != nil || len(msgs) != 0 {
		t.Errorf("empty consumer: %d messages, %v", len(msgs), err)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("empty consumer: the pull took %v: it waited out its grace, not the server's 408", el)
	}
}

// A pinned priority group: the pin given with the messages is sent back,
// and a pull whose pin moved gets ErrPinIDMismatch and forgets it.
func TestFetchKeepsThePin(t *testing.T) {
	js, stream := newStream(t)
	ctx := context.Background()
	if _, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "C", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"g"}, PinnedTTL: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, "s.x", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	a, b := jspull.New(js, "S", "C"), jspull.New(js, "S", "C")
	msgs, err := a.Fetch(jspull.Request{Batch: 1, Expires: time.Second, Group: "g"})
	if err != nil || len(msgs) != 1 || msgs[0].Headers().Get("Nats-Pin-Id") == "" {
		t.Fatalf("first pull: %d messages, %v", len(msgs), err)
	}
	_ = msgs[0].Ack()
	// Another client, without the pin, waits in vain while a holds it.
	if msgs, err := b.Fetch(jspull.Request{Batch: 1, Expires: 300 * time.Millisecond, Group: "g"}); err != nil || len(msgs) != 0 {
		t.Fatalf("other client while pinned: %d messages, %v; want none", len(msgs), err)
	}
	// a's pin goes on working.
	if msgs, err := a.Fetch(jspull.Request{Batch: 1, Expires: time.Second, Group: "g"}); err != nil || len(msgs) != 1 {
		t.Fatalf("second pull: %d messages, %v", len(msgs), err)
	} else {
		_ = msgs[0].Ack()
	}
	if err := stream.UnpinConsumer(ctx, "C", "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Fetch(jspull.Request{Batch: 1, Expires: time.Second, Group: "g"}); !errors.Is(err, jetstream.ErrPinIDMismatch) {
		t.Fatalf("pull with the old pin: %v; want ErrPinIDMismatch", err)
	}
	// The pin is forgotten: the next pull is given a new one.
	if msgs, err := a.Fetch(jspull.Request{Batch: 1, Expires: time.Second, Group: "g"}); err != nil || len(msgs) != 1 {
		t.Fatalf("pull after the mismatch: %d messages, %v", len(msgs), err)
	}
	// An unknown group is refused.
	if _, err := b.Fetch(jspull.Request{Batch: 1, Expires: time.Second, Group: "nope"}); !errors.Is(err, jspull.ErrBadRequest) {
		t.Errorf("unknown group: %v; want ErrBadRequest", err)
	}
}

// fakeServer answers pull requests on its own subject as told: the
// replicated consumer's delays and silences that a single embedded server
// never shows.
type fakeServer struct {
	t    *testing.T
	nc   *nats.Conn
	mu   sync.Mutex
	reqs []map[string]any
}

// startCore starts a nats-server without JetStream, whose API the test
// stands in for.
func startCore(t *testing.T) *devenv.NATS {
	t.Helper()
	n, err := devenv.StartNATS(devenv.NATSOptions{NoJetStream: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)
	return n
}

func startFake(t *testing.T, srv *devenv.NATS, answer func(f *fakeServer, n int, reply string, req map[string]any)) (*fakeServer, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f := &fakeServer{t: t, nc: nc}
	sub, err := nc.Subscribe("fake.api.CONSUMER.MSG.NEXT.S.C", func(m *nats.Msg) {
		var req map[string]any
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("pull request %q: %v", m.Data, err)
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		n := len(f.reqs)
		f.mu.Unlock()
		go answer(f, n, m.Reply, req)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	client, err := jetstream.NewWithAPIPrefix(nc, "fake.api")
	if err != nil {
		t.Fatal(err)
	}
	return f, client
}

func (f *fakeServer) send(reply string, seq int, hdr nats.Header) {
	// (A client may not publish with a $JS.ACK reply: the server refuses it.)
	m := &nats.Msg{Subject: reply, Reply: fmt.Sprintf("fake.ack.%d", seq), Data: fmt.Appendf(nil, "m%d", seq), Header: hdr}
	if err := f.nc.PublishMsg(m); err != nil {
		f.t.Error(err)
	}
}

func (f *fakeServer) status(reply, code, descr string) {
	m := nats.NewMsg(reply)
	m.Header.Set("Status", code)
	m.Header.Set("Description", descr)
	if err := f.nc.PublishMsg(m); err != nil {
		f.t.Error(err)
	}
}

// The failure this package exists for: the server delivers after the
// request expired (a replicated consumer waiting for its raft group) and
// sends its 408 after those deliveries. A client timer of expiry plus a
// second would have unsubscribed and lost them in flight.
func TestFetchWaitsForLateDeliveries(t *testing.T) {
	srv := startCore(t)
	_, js := startFake(t, srv, func(f *fakeServer, _ int, reply string, req map[string]any) {
		expires := time.Duration(req["expires"].(float64))
		time.Sleep(expires + 1500*time.Millisecond)
		f.send(reply, 7, nil)
		f.send(reply, 8, nil)
		f.status(reply, "408", "Request Timeout")
	})
	msgs, err := jspull.New(js, "S", "C").Fetch(jspull.Request{Batch: 10, Expires: 50 * time.Millisecond, Grace: 20 * time.Second})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("late deliveries: %d messages, %v; want both, nil", len(msgs), err)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("m%d", 7+i); string(m.Data()) != want || m.Reply() != fmt.Sprintf("fake.ack.%d", 7+i) {
			t.Errorf("message %d: %q, reply %s; want %s", i, m.Data(), m.Reply(), want)
		}
	}
}

// What the client sends, and how each status ends a pull.
func TestFetchRequestsAndStatuses(t *testing.T) {
	srv := startCore(t)
	f, js := startFake(t, srv, func(f *fakeServer, n int, reply string, _ map[string]any) {
		switch n {
		case 1: // a pinned delivery, then the batch is complete
			f.send(reply, 1, nats.Header{"Nats-Pin-Id": []string{"P1"}})
			f.status(reply, "409", "Batch Completed")
		case 2: // a heartbeat goes by; the pin moved
			f.status(reply, "100", "Idle Heartbeat")
			f.status(reply, "423", "Nats-Pin-Id mismatch")
		case 3:
			f.status(reply, "400", "Bad Request - Invalid Priority Group")
		case 4:
			f.send(reply, 2, nil)
			f.status(reply, "418", "Something New")
		case 5: // silence: the grace runs out
			f.send(reply, 3, nil)
		case 6: // no consumer leader
			f.status(reply, "503", "")
		}
	})
	pull := jspull.New(js, "S", "C")
	req := jspull.Request{Batch: 5, Expires: 100 * time.Millisecond, Group: "g", Grace: 300 * time.Millisecond}
	if msgs, err := pull.Fetch(req); err != nil || len(msgs) != 1 {
		t.Fatalf("pull 1: %d messages, %v", len(msgs), err)
	}
	if msgs, err := pull.Fetch(req); !errors.Is(err, jetstream.ErrPinIDMismatch) || len(msgs) != 0 {
		t.Fatalf("pull 2: %d messages, %v; want ErrPinIDMismatch", len(msgs), err)
	}
	if _, err := pull.Fetch(req); !errors.Is(err, jspull.ErrBadRequest) || !strings.Contains(err.Error(), "Invalid Priority Group") {
		t.Fatalf("pull 3: %v; want ErrBadRequest with the description", err)
	}
	if msgs, err := pull.Fetch(req); err == nil || !strings.Contains(err.Error(), "418: Something New") || len(msgs) != 1 {
		t.Fatalf("pull 4: %d messages, %v; want the message and the unknown status", len(msgs), err)
	}
	if msgs, err := pull.Fetch(req); !errors.Is(err, jspull.ErrNoAnswer) || len(msgs) != 1 {
		t.Fatalf("pull 5: %d messages, %v; want the message and ErrNoAnswer", len(msgs), err)
	}
	if _, err := pull.Fetch(req); !errors.Is(err, nats.ErrNoResponders) || !strings.Contains(err.Error(), "no leader") {
		t.Fatalf("pull 6: %v; want ErrNoResponders, explained", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := []string{"", "P1", "", "", "", ""} // the pin is sent back until a 423
	for i, r := range f.reqs {
		if r["batch"] != float64(5) || r["expires"] != float64(100*time.Millisecond) || r["group"] != "g" {
			t.Errorf("request %d: %v", i+1, r)
		}
		if id, _ := r["id"].(string); id != want[i] {
			t.Errorf("request %d: pin %q; want %q", i+1, id, want[i])
		}
	}
	if _, err := pull.Fetch(jspull.Request{Batch: 0, Expires: time.Second}); err == nil {
		t.Error("a batch of 0 was sent")
	}
	if _, err := pull.Fetch(jspull.Request{Batch: 1}); err == nil {
		t.Error("a pull without expiry was sent")
	}
}

// A server without JetStream answers with no responders (503), as a
// cluster does while a consumer has no leader.
func TestFetchWithoutJetStream(t *testing.T) {
	srv := startCore(t)
	_, js := srv.ConnectTest(t)
	msgs, err := jspull.New(js, "S", "C").Fetch(jspull.Request{Batch: 1, Expires: time.Second, Grace: time.Minute})
	if !errors.Is(err, nats.ErrNoResponders) || len(msgs) != 0 {
		t.Fatalf("pull without JetStream: %d messages, %v; want ErrNoResponders", len(msgs), err)
	}
}

// A reconnect ends the pull at once: the request died with the old
// connection.
func TestFetchEndsOnReconnect(t *testing.T) {
	srv := startCore(t)
	_, js := startFake(t, srv, func(*fakeServer, int, string, map[string]any) {})
	pull := jspull.New(js, "S", "C")
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := pull.Fetch(jspull.Request{Batch: 1, Expires: time.Minute, Grace: time.Minute})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	srv.Shutdown()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pull ended by a reconnect: %v; want nil", err)
		}
		t.Logf("pull ended %v after it began, by the server's shutdown", time.Since(start).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("the pull outlived its connection by 30s")
	}
}

func TestMetadata(t *testing.T) {
	ts := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		reply string
		want  jetstream.MsgMetadata
		bad   bool
	}{
		{reply: fmt.Sprintf("$JS.ACK.S.C.2.10.4.%d.7", ts.UnixNano()),
			want: jetstream.MsgMetadata{Stream: "S", Consumer: "C", NumDelivered: 2, NumPending: 7, Timestamp: ts, Sequence: jetstream.SequencePair{Stream: 10, Consumer: 4}}},
		{reply: fmt.Sprintf("$JS.ACK.hub.ACCHASH.S.C.1.11.5.%d.0.abc", ts.UnixNano()),
			want: jetstream.MsgMetadata{Domain: "hub", Stream: "S", Consumer: "C", NumDelivered: 1, Timestamp: ts, Sequence: jetstream.SequencePair{Stream: 11, Consumer: 5}}},
		{reply: fmt.Sprintf("$JS.ACK._.ACCHASH.S.C.1.11.5.%d.3", ts.UnixNano()), // 11 tokens: the last one may go
			want: jetstream.MsgMetadata{Stream: "S", Consumer: "C", NumDelivered: 1, NumPending: 3, Timestamp: ts, Sequence: jetstream.SequencePair{Stream: 11, Consumer: 5}}},
		{reply: "$JS.ACK.S.C.1.2.3", bad: true},
		{reply: "$JS.ACK.a.b.S.C.1.2.3.4", bad: true}, // 10 tokens
		{reply: "_INBOX.a.b.c.d.e.f.g.h", bad: true},
		{reply: "", bad: true},
	} {
		m := msgWithReply(t, tc.reply)
		md, err := m.Metadata()
		if tc.bad {
			if err == nil {
				t.Errorf("%q: parsed as %+v; want an error", tc.reply, md)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.reply, err)
			continue
		}
		if !md.Timestamp.Equal(tc.want.Timestamp) {
			t.Errorf("%q: timestamp %v; want %v", tc.reply, md.Timestamp, tc.want.Timestamp)
		}
		md.Timestamp = tc.want.Timestamp
		if *md != tc.want {
			t.Errorf("%q: %+v; want %+v", tc.reply, *md, tc.want)
		}
	}
}

// msgWithReply is a Msg as Fetch makes it, with the given reply subject,
// from a fake server.
func msgWithReply(t *testing.T, reply string) jetstream.Msg {
	t.Helper()
	return jspull.NewMsgForTest(&nats.Msg{Subject: "s", Reply: reply}, nil)
}

// Any reply subject parses or is refused, never panics; what parses reads
// back the numbers it was built from.
func FuzzMetadata(f *testing.F) {
	f.Add("$JS.ACK.S.C.2.10.4.1700000000000000000.7", uint64(3), uint64(9))
	f.Add("$JS.ACK.hub.H.S.C.1.11.5.1.0.x", uint64(0), uint64(1))
	f.Add("$JS.ACK..", uint64(1), uint64(1))
	f.Fuzz(func(t *testing.T, reply string, delivered, seq uint64) {
		if md, err := msgWithReply(t, reply).Metadata(); err == nil && !strings.HasPrefix(reply, "$JS.ACK.") {
			t.Fatalf("%q parsed as %+v", reply, md)
		}
		built := fmt.Sprintf("$JS.ACK.d.h.S.C.%d.%d.%d.%d.%d.t", delivered, seq, seq, seq, delivered)
		md, err := msgWithReply(t, built).Metadata()
		if err != nil {
			t.Fatalf("%q: %v", built, err)
		}
		if md.NumDelivered != delivered || md.Sequence.Stream != seq || md.Sequence.Consumer != seq || md.NumPending != delivered || md.Domain != "d" {
			t.Fatalf("%q: %+v", built, md)
		}
	})
}

// The pull goes to the API subject jetstream itself would use: the
// default prefix, a custom one, or a domain's.
func TestRequestSubject(t *testing.T) {
	srv := startCore(t)
	nc, _ := srv.ConnectTest(t)
	for _, tc := range []struct {
		name string
		js   func() (jetstream.JetStream, error)
		want string
	}{
		{"default", func() (jetstream.JetStream, error) { return jetstream.New(nc) }, "$JS.API.CONSUMER.MSG.NEXT.S.C"},
		{"prefix", func() (jetstream.JetStream, error) { return jetstream.NewWithAPIPrefix(nc, "hub.api") }, "hub.api.CONSUMER.MSG.NEXT.S.C"},
		{"domain", func() (jetstream.JetStream, error) { return jetstream.NewWithDomain(nc, "leaf") }, "$JS.leaf.API.CONSUMER.MSG.NEXT.S.C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, err := tc.js()
			if err != nil {
				t.Fatal(err)
			}
			sub, err := nc.SubscribeSync(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Unsubscribe() }()
			if _, err := jspull.New(js, "S", "C").Fetch(jspull.Request{Batch: 1, Expires: 10 * time.Millisecond, Grace: 50 * time.Millisecond}); !errors.Is(err, jspull.ErrNoAnswer) {
				t.Errorf("unanswered pull: %v; want ErrNoAnswer", err)
			}
			if _, err := sub.NextMsg(5 * time.Second); err != nil {
				t.Errorf("no pull request on %s: %v", tc.want, err)
			}
		})
	}
}
