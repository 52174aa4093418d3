package worker

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Partitions of keyed records, and which replica loads each.
//
// (The fence also goes up when this replica gives one of the partition's
// records back to JetStream — a nak — while it keeps the partition: the
// record is redelivered after changes of its key fetched meanwhile, which
// must not overtake it.)
//
// The records stream puts a keyed record in partition
// fnv32a(SObject+key) mod Partitions, and each partition of a pipeline has
// its own consumer. The replicas running a pipeline share its partitions
// out by rendezvous hashing with bounded loads (assign) over the live
// replicas of the workers bucket: every replica computes the same owner for
// each partition from the same member list, pulls the partitions it owns, and stops pulling (and
// unpins) those it no longer owns when replicas come and go. Views differ
// for a moment while the bucket changes; the server's pinning makes sure
// that even then only one replica receives a partition's records.
//
// The fence. A partition's new owner may receive records while the
// previous owner still holds earlier ones — it was killed, cut off, or is
// finishing its last calls — and JetStream redelivers those only when
// their AckWait runs out, after the newer ones. So whenever a replica
// starts receiving a partition under a new pin (the Nats-Pin-Id of its
// messages changes), it holds what it receives, heartbeating it, and lets
// nothing into the loader until the consumer's ack-pending count is no more
// than what it holds itself: then every earlier record of the partition is
// either settled or in its hands, and it releases them in stream order.

// ownership runs a pipeline's partition fetch loops on this replica.
type ownership struct {
	r     *runner
	mu    sync.Mutex
	loops map[int]*partLoop
}

func newOwnership(r *runner) *ownership {
	return &ownership{r: r, loops: map[int]*partLoop{}}
}

// run keeps the loops in step with the partitions this replica owns until
// ctx ends; wg tracks the loops.
func (o *ownership) run(ctx context.Context, wg *sync.WaitGroup) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		o.rebalance(ctx, wg)
		select {
		case <-ctx.Done():
			o.mu.Lock()
			for _, pl := range o.loops {
				pl.stop()
			}
			o.mu.Unlock()
			return
		case <-o.r.w.fleet.changed():
		case <-t.C:
		}
	}
}

// rebalance starts loops for the partitions this replica owns now and
// stops the others.
func (o *ownership) rebalance(ctx context.Context, wg *sync.WaitGroup) {
	owners := assign(o.r.w.fleet.serving(o.r.name), o.r.name, len(o.r.parts))
	want := map[int]bool{}
	for p, m := range owners {
		if m == o.r.w.cfg.ID {
			want[p] = true
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for p, pl := range o.loops {
		if !want[p] {
			pl.stop()
			delete(o.loops, p)
			o.r.log.Info().Int("partition", p).Msg("partition handed over to another replica")
		}
	}
	for p := range want {
		if o.loops[p] != nil {
			continue
		}
		pl := &partLoop{r: o.r, p: p, c: o.r.parts[p], done: make(chan struct{}), stopC: make(chan struct{}), bySeq: map[uint64]bool{}}
		o.loops[p] = pl
		wg.Go(func() {
			defer close(pl.done)
			o.r.fetchLoop(ctx, p, o.r.partPulls[p], pl)
			pl.handOver(ctx)
		})
	}
}

// assign shares the n partitions of a pipeline out among members:
// rendezvous hashing with bounded loads. Every member ranks the partitions
// by an independent score; taking the partitions in order, each goes to the
// best-scoring member whose share is not full yet (⌊n/m⌋, or ⌈n/m⌉ for the
// first n mod m members to reach it). So the shares differ by one at most (every replica gets about as many calls to
// make), every replica computes the same answer from the same member list,
// and a replica joining or leaving moves few partitions.
func assign(members []string, pipeline string, n int) []string {
	owners := make([]string, n)
	if len(members) == 0 {
		return owners
	}
	// Shares of ⌊n/m⌋ or ⌈n/m⌉: at most n mod m members get the larger.
	small, bigs := n/len(members), n%len(members)
	load := map[string]int{}
	full := 0 // members holding ⌈n/m⌉ when that is larger
	for p := range n {
		var best string
		var bestScore uint64
		for _, m := range members {
			if limit := small + min(1, bigs-full); load[m] >= limit {
				continue
			}
			// A cryptographic hash: every (member, partition) score
			// independent of the others (FNV's last bytes barely move its
			// high bits: one member would win every partition).
			sum := sha256.Sum256([]byte(m + "\x00" + pipeline + "\x00" + strconv.Itoa(p)))
			if s := binary.BigEndian.Uint64(sum[:8]); best == "" || s > bestScore || (s == bestScore && m < best) {
				best, bestScore = m, s
			}
		}
		owners[p] = best
		load[best]++
		if bigs > 0 && load[best] == small+1 {
			full++
		}
	}
	return owners
}

// owned lists the partitions this replica pulls.
func (o *ownership) owned() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int
	for p := range o.loops {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// fenced is every record held behind a fence, for heartbeats.
func (o *ownership) fenced() []*entry {
	o.mu.Lock()
	loops := make([]*partLoop, 0, len(o.loops))
	for _, pl := range o.loops {
		loops = append(loops, pl)
	}
	o.mu.Unlock()
	var out []*entry
	for _, pl := range loops {
		pl.mu.Lock()
		out = append(out, pl.buffer...)
		pl.mu.Unlock()
	}
	return out
}

// settled is told of every settled record of a partition.
func (o *ownership) settled(e *entry) {
	o.mu.Lock()
	pl := o.loops[e.part]
	o.mu.Unlock()
	if pl != nil {
		pl.forget(e.streamSeq(), e.v.kind == vNak)
	}
}

// partLoop is this replica's hold on one partition.
type partLoop struct {
	r        *runner
	p        int
	c        jetstream.Consumer
	stopC    chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu        sync.Mutex
	pin       string          // the pin of the messages received last
	fencedNow bool            // holding everything until the fence lifts
	buffer    []*entry        // held behind the fence
	bySeq     map[uint64]bool // records of the partition held, fetch to settle
	checked   time.Time       // last fence check
	// missing is how many records of the partition others held at the last
	// fence check, and redelivered whether the last fetch behind the fence
	// brought redeliveries: the probe's size (runner.reserve).
	missing     int
	redelivered bool
	// latest is the stream sequence of the latest change of each key this
	// replica let into the loader (two generations, so memory stays
	// bounded: a key not seen for keyMemory admissions is forgotten).
	latest, older map[string]uint64
}

// keyMemory bounds how many keys a partition remembers the latest change of.
const keyMemory = 100_000

// superseded marks the admitted changes that are older than a change of
// their key this replica already let into the loader — a redelivery of a
// change whose previous holder lost it (its lease ran out while it
// stalled): writing it after the newer one would undo it. The others are
// remembered.
func (pl *partLoop) superseded(entries []*entry) {
	if pl.latest == nil {
		pl.latest, pl.older = map[string]uint64{}, map[string]uint64{}
	}
	for _, e := range entries {
		if e.v.kind != vPending || e.item.Key == "" {
			continue
		}
		seq := e.streamSeq()
		last, ok := pl.latest[e.item.Key]
		if !ok {
			last, ok = pl.older[e.item.Key]
		}
		if ok && seq < last {
			e.v = decide(situation{final: true, superseded: true}, pl.r.schedules())
			pl.r.log.Warn().Str("key", e.item.Key).Uint64("stream_seq", seq).Uint64("later", last).Uint64("num_delivered", e.delivered()).
				Msg("a change arrived after a later change of its key was loaded: not written (its previous holder lost it)")
			continue
		}
		if len(pl.latest) >= keyMemory {
			pl.older, pl.latest = pl.latest, map[string]uint64{}
		}
		pl.latest[e.item.Key] = max(seq, last)
	}
}

// probeSize is how many records a fetch behind the fence without room
// asks for: one while what it waits for has not expired yet (a fetch
// brings newer records then), as many as are missing (up to a batch) once
// redeliveries come — JetStream redelivers before it delivers anything new.
func (pl *partLoop) probeSize(batch int) int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if !pl.redelivered {
		return 1
	}
	return max(1, min(pl.missing, batch))
}

// fenced reports whether the partition's fence is up.
func (pl *partLoop) fenced() bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.fencedNow
}

func (pl *partLoop) stop() { pl.stopOnce.Do(func() { close(pl.stopC) }) }

func (pl *partLoop) stopped() bool {
	if pl == nil {
		return false
	}
	select {
	case <-pl.stopC:
		return true
	default:
		return false
	}
}

func (pl *partLoop) stopCh() <-chan struct{} {
	if pl == nil {
		return nil
	}
	return pl.stopC
}

// forget notes that a record of the partition is settled. A record given
// back to JetStream (naked: released by the loader, or interrupted by a
// shutdown) comes back after changes of its key fetched meanwhile, so the
// fence goes up again: nothing more is let into the loader until it is
// back in this replica's hands (or settled elsewhere) and can go first.
func (pl *partLoop) forget(seq uint64, naked bool) {
	pl.mu.Lock()
	delete(pl.bySeq, seq)
	if naked {
		pl.fencedNow = true
	}
	pl.mu.Unlock()
}

// fenceCheckEvery spaces the consumer-info requests of a fence.
const fenceCheckEvery = 250 * time.Millisecond

// admit takes in what a fetch of the partition brought (possibly nothing)
// and returns what may go to the loader now: everything, unless a fence is
// up (see the package comment above).
func (pl *partLoop) admit(ctx context.Context, entries []*entry) []*entry {
	pl.mu.Lock()
	pl.redelivered = false
	for _, e := range entries {
		pl.bySeq[e.streamSeq()] = true
		pl.redelivered = pl.redelivered || e.delivered() > 1
	}
	if len(entries) > 0 {
		if pin := entries[0].msg.Headers().Get("Nats-Pin-Id"); pin != pl.pin {
			pl.pin, pl.fencedNow = pin, true
		}
	}
	if !pl.fencedNow {
		pl.superseded(entries)
		pl.mu.Unlock()
		return entries
	}
	pl.buffer = append(pl.buffer, entries...)
	if time.Since(pl.checked) < fenceCheckEvery {
		pl.mu.Unlock()
		return nil
	}
	pl.checked = time.Now()
	held := len(pl.bySeq)
	pl.mu.Unlock()

	info, err := pl.c.Info(ctx)
	if err != nil {
		pl.r.log.Debug().Err(err).Int("partition", pl.p).Msg("fence: consumer info failed; still holding")
		return nil
	}
	pl.mu.Lock()
	pl.missing = info.NumAckPending - held
	pl.mu.Unlock()
	if info.NumAckPending > held {
		pl.r.log.Debug().Int("partition", pl.p).Int("ack_pending", info.NumAckPending).Int("held", held).
			Msg("fence: earlier records of the partition are still held elsewhere; waiting")
		return nil
	}
	pl.mu.Lock()
	out := pl.buffer
	pl.buffer, pl.fencedNow = nil, false
	sort.SliceStable(out, func(i, j int) bool { return out[i].streamSeq() < out[j].streamSeq() })
	pl.superseded(out)
	pl.mu.Unlock()
	if len(out) > 0 {
		pl.r.log.Info().Int("partition", pl.p).Int("records", len(out)).Msg("partition taken over: every earlier record is settled or here; loading in order")
	}
	return out
}

// handOver ends this replica's hold: records behind a fence go back to
// JetStream at once, and the pin is released so that the partition's new
// owner receives it without waiting out the pin's TTL (its own fence waits
// for the records this replica still finishes).
func (pl *partLoop) handOver(ctx context.Context) {
	pl.mu.Lock()
	back := pl.buffer
	pl.buffer = nil
	pl.mu.Unlock()
	// Decided ones (a record that failed its checks) go on to be settled.
	pl.r.intakeEntries(ctx, pl.r.giveBack(back, "partition handed over before loading"))
	if pl.r.w.records == nil {
		return
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := pl.r.w.records.UnpinConsumer(uctx, pl.r.partitionConsumer(pl.p), pinGroup); err != nil {
		pl.r.log.Debug().Err(err).Int("partition", pl.p).Msg("unpin failed; the pin expires by itself")
	}
}
