package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A fetch hands its messages on as they come, not once it ends: the loader's
// linger starts when records reach it, so records must not wait out a fetch
// that waits for a full batch. The second messages are published only once
// the first were handed on, while the fetch still waits for more.
func TestFetchHandsMessagesOnAsTheyCome(t *testing.T) {
	t.Parallel()
	_, js := embeddedJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FETCH", Subjects: []string{"fetch.>"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "f", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := js.Publish(ctx, "fetch.x", fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Error(err)
			}
		}
	}
	publish(0, 3)
	var got []string
	pieces := 0
	take := func(msgs []jetstream.Msg) {
		pieces++
		for _, m := range msgs {
			got = append(got, string(m.Data()))
		}
		if pieces == 1 {
			publish(3, 5) // the fetch is still waiting: these join it
		}
	}
	const wait = 5 * time.Second
	start := time.Now()
	n, last, err := fetchInto(c, 5, take, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range last {
		got = append(got, string(m.Data()))
	}
	if n != 5 || fmt.Sprint(got) != "[m0 m1 m2 m3 m4]" {
		t.Fatalf("fetched %d: %v, want the 5 messages in order", n, got)
	}
	if pieces < 1 {
		t.Errorf("nothing handed on before the fetch ended, want the first 3 before the last 2 came")
	}
	// The fetch ended because it had its 5, not on its wait.
	if d := time.Since(start); d >= wait {
		t.Errorf("fetch took %v: it waited out its %v", d, wait)
	}
}

// A reservation turns into what came: each message takes a reserved
// record's place, bytes beyond the reserved ones are added, and what is
// left is given back once the fetch ends.
func TestReservationTake(t *testing.T) {
	t.Parallel()
	cr := newCredits(10, 1000, 100)
	n, bytes, ok := cr.tryAcquire(4, 100)
	if !ok || n != 4 {
		t.Fatalf("acquire: %d, %d, %v", n, bytes, ok)
	}
	res := reservation{n: n, bytes: bytes}
	cr.adjust(res.take(2, 60))
	cr.adjust(res.take(1, bytes)) // more than is left reserved
	cr.adjust(res.n, res.bytes, 0, 0)
	if cr.usedN != 3 || cr.usedB != 60+bytes {
		t.Errorf("held %d records, %d bytes; want 3, %d", cr.usedN, cr.usedB, 60+bytes)
	}
	for _, size := range []int{30, 30, bytes} {
		cr.release(size)
	}
	if cr.usedN != 0 || cr.usedB != 0 {
		t.Errorf("after release: %d records, %d bytes held", cr.usedN, cr.usedB)
	}
}
