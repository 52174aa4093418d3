package worker

import (
	"context"
	"sync"
)

// credits bound what a pipeline holds on this replica: records fetched and
// not settled yet, and their payload bytes (max_inflight,
// max_inflight_bytes). A fetch reserves room first (acquire), the records
// it brings take theirs (adjust), and a settled record gives its back
// (release): memory stays flat however large the backlog and the records.
// The byte bound holds between fetches: a fetch asks for as many records as
// its reserved bytes hold at twice the average size seen, so one fetch of
// records far larger than those before it can overshoot the budget (by at
// most its count times max_record_bytes) until they are settled.
type credits struct {
	mu           sync.Mutex
	maxN, maxB   int
	usedN, usedB int
	changed      chan struct{} // closed and replaced whenever room is given back
	// avg is a running estimate of a record's size, to reserve bytes for
	// a fetch in proportion to the records it asks for; seen once a fetch
	// brought records.
	avg  int
	seen bool
}

// newCredits starts the size estimate at half the largest record
// (maxRecord/2, so a fetch reserves a largest record's room per record):
// until records have been seen, a fetch must not bring more bytes than the
// budget holds (a start at a few KiB let the first fetches of 256 KiB
// records bring 50 MiB each). The estimate follows what fetches bring.
func newCredits(maxN, maxB, maxRecord int) *credits {
	return &credits{maxN: maxN, maxB: maxB, changed: make(chan struct{}), avg: max(1, maxRecord/2)}
}

// acquire reserves room for a fetch of up to want records, needing at
// least minBytes of byte room (the largest message the stream accepts, or
// the fetch could never return it). It waits until there is room, or ctx
// ends or stop closes (ok false).
func (c *credits) acquire(ctx context.Context, stop <-chan struct{}, want, minBytes int) (n, bytes int, ok bool) {
	for {
		c.mu.Lock()
		if n, bytes, ok = c.take(want, minBytes); ok {
			c.mu.Unlock()
			return n, bytes, true
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, 0, false
		case <-stop:
			return 0, 0, false
		}
	}
}

// tryAcquire is acquire without waiting: ok false when there is no room.
func (c *credits) tryAcquire(want, minBytes int) (n, bytes int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.take(want, minBytes)
}

// take reserves room if there is some. c.mu is held.
func (c *credits) take(want, minBytes int) (n, bytes int, ok bool) {
	freeN, freeB := c.maxN-c.usedN, c.maxB-c.usedB
	if freeN < 1 || freeB < minBytes {
		return 0, 0, false
	}
	n = min(want, freeN)
	bytes = min(freeB, max(minBytes, n*2*c.avg))
	// Fetches carry no max_bytes (see fetchLoop): the byte room bounds the
	// count instead, at twice the average record size.
	n = min(n, max(1, bytes/(2*c.avg)))
	c.usedN += n
	c.usedB += bytes
	return n, bytes, true
}

// force reserves room beyond the budget (a fenced loop's probe, see
// runner.reserve); adjust and release account for it as for any other.
func (c *credits) force(n, bytes int) {
	c.mu.Lock()
	c.usedN += n
	c.usedB += bytes
	c.mu.Unlock()
}

// adjust turns a reservation into what the fetch brought: got records of
// gotBytes in all.
func (c *credits) adjust(n, bytes, got, gotBytes int) {
	c.mu.Lock()
	c.usedN += got - n
	c.usedB += gotBytes - bytes
	if got > 0 {
		if c.seen {
			c.avg = max(1, (c.avg*7+gotBytes/got)/8)
		} else {
			c.avg, c.seen = max(1, gotBytes/got), true // the first sizes replace the guess
		}
	}
	c.signal()
	c.mu.Unlock()
}

// release gives back one settled record of size bytes.
func (c *credits) release(size int) {
	c.mu.Lock()
	c.usedN--
	c.usedB -= size
	c.signal()
	c.mu.Unlock()
}

func (c *credits) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}
