package worker

import (
	"context"
	"sync"
	"time"
)

// finisher turns decided records into durable outcomes, a group at a time:
// dead letters stored, job stop flags written, one batch result per job
// stored, and only then the messages settled (settle.go). A group is what
// is decided within finishLinger, at most finishMax records: the "batch"
// of the batch results.
type finisher struct {
	r      *runner
	mu     sync.Mutex
	queue  []*entry
	wake   chan struct{}
	closed bool
	active []*entry // the group being finished, for heartbeats
}

const (
	finishMax    = 200
	finishLinger = 20 * time.Millisecond
)

func newFinisher(r *runner) *finisher {
	return &finisher{r: r, wake: make(chan struct{}, 1)}
}

// add queues a decided record. It never blocks.
func (f *finisher) add(e *entry) {
	f.mu.Lock()
	f.queue = append(f.queue, e)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// close says no more records will come; run returns once the queue is empty.
func (f *finisher) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// held is every record queued or being finished.
func (f *finisher) held() []*entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(append([]*entry(nil), f.queue...), f.active...)
}

func (f *finisher) run() {
	var since time.Time // when the oldest queued record arrived
	for {
		f.mu.Lock()
		n, closed := len(f.queue), f.closed
		f.mu.Unlock()
		if n == 0 {
			if closed {
				return
			}
			<-f.wake
			since = time.Now()
			continue
		}
		if n < finishMax && !closed {
			// Let a group gather, briefly.
			if wait := finishLinger - time.Since(since); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-f.wake:
					t.Stop()
					continue
				}
			}
		}
		f.mu.Lock()
		k := min(len(f.queue), finishMax)
		group := append([]*entry(nil), f.queue[:k]...)
		f.queue = append(f.queue[:0], f.queue[k:]...)
		f.active = group
		f.mu.Unlock()
		since = time.Now()
		f.r.finish(group)
		f.mu.Lock()
		f.active = nil
		f.mu.Unlock()
	}
}

// finish makes a group's outcomes durable, then settles it.
func (r *runner) finish(group []*entry) {
	start := group[0].received
	for _, e := range group {
		if e.received.Before(start) {
			start = e.received
		}
	}
	r.publishDeadLetters(group)
	// Stop flags only for failures whose dead letter is stored: a record
	// whose dead letter could not be stored goes back for redelivery and
	// must not then be skipped as "after the first failure".
	ctx := context.Background()
	r.recordJobStops(ctx, group)
	r.publishResults(group, start)
	r.settleAll(group)
}
