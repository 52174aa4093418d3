package pipeline

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// StreamOptions adjusts Stream.
type StreamOptions struct {
	// Stop, when it returns true, skips writes not yet sent (stop_on_error);
	// calls already running finish.
	Stop func() bool
	// Done receives each item's final outcome, on Stream's goroutine, as soon
	// as it is known (not in input order).
	Done func(Item, Outcome)
	// Linger is how long fresh records may wait for company before a call
	// goes out with fewer than 200: 0 sends as soon as a call slot is free.
	// A stream fed in small pieces (the worker's partitions) sets it, so
	// that calls stay full.
	Linger time.Duration
	// Decide says what happens after a failed attempt (see Decision). nil
	// uses the loader's RetryPolicy.
	Decide func(Failure) Decision
	// OnCall hears of every finished call: its error class (ClassNone when
	// Salesforce answered). The worker uses it to report a pipeline paused
	// by an outage, a rate limit or a refused login.
	OnCall func(class salesforce.Class, err error)
}

// Failure is one failed attempt of one write: what Decide decides on.
type Failure struct {
	Items []Item           // the changes of the write (several when merged), in order
	Class salesforce.Class // why it failed
	Err   error            // *salesforce.SaveError, or the call's error
	// Answers counts the record-level answers about this write so far
	// (this one included); CallFails the whole-call failures in a row.
	Answers, CallFails int
	// Since is when the current streak of whole-call failures of this
	// class began (rate limits, auth): how long it has been waiting.
	Since time.Time
}

// Action is what Decide says to do with a failed write.
type Action int

// Actions.
const (
	// Fail ends the write: its changes fail with the error.
	Fail Action = iota
	// Retry sends the write again after Decision.After, keeping its place
	// in its key's order: later changes of the key wait.
	Retry
	// Release ends the write with its error as not final: the caller gives
	// the changes back (the worker naks them, to be redelivered after
	// Decision.After). For changes without a key, whose order does not
	// matter, and for keyed changes only when the caller stops: a released
	// key's later changes are released too, for the rest of the stream.
	Release
)

// Decision is what happens after a failed attempt.
type Decision struct {
	Action Action
	After  time.Duration
}

// Stream loads the batches read from in until in is closed, and returns once
// every item read has an outcome. One goroutine — the caller's — schedules
// everything; each Collections call runs on a goroutine of its own and
// reports back.
//
// Order. Items with a Key are changes of one record. A key's changes are
// written in the order they arrive, one write at a time: while a write of a
// key is queued, in flight, waiting for a retry or being isolated, the
// key's later changes wait, and no request ever carries a key twice
// (Salesforce fails every copy of a repeated key). Changes of one key that
// meet before the first is sent are merged into one write when that gives
// the same result (MergeChanges): upsert after upsert, update after update,
// delete after delete. Other keys are not held up.
//
// Scheduling:
//   - fresh writes go out up to 200 to a call, at most Concurrency calls at
//     once (shared with every other Stream of the loader), one operation
//     per call;
//   - a call that fails as a whole with a transient error is put back with
//     a backoff delay and sent again, whole; while rate limited it waits;
//   - a call refused as a whole (HTTP 400: one value Salesforce cannot
//     parse fails the whole request) is bisected to find the writes at
//     fault, at most ⌈log2 n⌉ extra calls for each (probing one half; the
//     other is sent only if the probe fails too);
//   - writes that fail with a retryable record error (UNABLE_TO_LOCK_ROW)
//     go to a retry pool and are sent again after a backoff delay, merged
//     with other calls' retries into full calls; a write Salesforce
//     accepted is never re-sent;
//   - a merged write that fails for good is split into its changes, which
//     are written one after the other, so each gets its own outcome.
func (l *Loader) Stream(ctx context.Context, in <-chan []Item, opts StreamOptions) LoadStats {
	d := &dispatcher{l: l, ctx: ctx, opts: opts, results: make(chan callResult), st: LoadStats{API: APICollections},
		keys: map[string]*keyState{}, released: map[string]Outcome{}}
	if d.opts.Decide == nil {
		d.opts.Decide = l.cfg.Retry.Decide
	}
	d.run(in)
	return d.st
}

// unit is one write: one change, or several changes of one key merged.
type unit struct {
	members   []int // item positions, in arrival order
	op        SyncMode
	key       string
	rec       salesforce.Record
	alone     bool // its change was split from a merged write that failed: never merged again
	sent      bool // an attempt has started: no more merging
	answers   int
	attempts  int
	arrivedAt time.Time
}

// keyState orders the changes of one key: active is the write in progress,
// queue the item positions waiting behind it.
type keyState struct {
	active *unit
	queue  []int
}

// work is a group of writes sent in one call.
type work struct {
	units     []*unit
	readyAt   time.Time
	callFails int
	since     time.Time // first failure of the current streak
	class     salesforce.Class
	// sibling is the other half of a bisected request, waiting on this
	// half (the probe): if the probe fails too, the sibling is sent as it
	// is; if the probe passes, the fault is in the sibling.
	sibling *work
	// inherit is the refusal a waiting half is condemned with if its probe
	// passes; suspect is set once it is: the half is then bisected in turn,
	// never sent whole.
	inherit, suspect error
}

type callResult struct {
	w       *work
	results []salesforce.SaveResult
	err     error
}

type dispatcher struct {
	l     *Loader
	ctx   context.Context
	opts  StreamOptions
	st    LoadStats
	items []Item
	outs  []Outcome
	alone []bool // per item: split from a merged write that failed; never merged again
	keys  map[string]*keyState
	// released holds the keys whose change was given back (Release), with
	// the outcome: changes of theirs that arrive later were published
	// after it and go back too, unsent, so that none overtakes it.
	released map[string]Outcome
	fresh    []*unit // writes never sent, in arrival order
	queue    []*work // calls waiting (put back after a failure, bisection halves)
	pool     []*unit // writes waiting for a retry, merged into calls
	poolAt   []time.Time
	results  chan callResult
	running  int
	// probing counts the bisections under way (probes waiting for their
	// answer, halves condemned and waiting to be bisected): while there are
	// some, the writes of released halves wait to fill a call together.
	probing int
	pending int // items without an outcome
}

const (
	maxRecords = salesforce.MaxCollectionRecords
	// poolMaxWait bounds how long a ready retry waits for company.
	poolMaxWait = time.Second
)

func (d *dispatcher) run(in <-chan []Item) {
	limit := d.l.cfg.Concurrency
	for {
		d.dispatch(limit, in == nil)
		if in == nil && d.pending == 0 && d.running == 0 {
			return
		}
		// Read more input only when there is little waiting: backpressure.
		var inCh <-chan []Item
		if in != nil && len(d.queue) < limit && len(d.fresh) < 2*maxRecords*limit {
			inCh = in
		}
		var timer *time.Timer
		var wake <-chan time.Time
		if next, ok := d.nextWake(time.Now(), in == nil); ok {
			timer = time.NewTimer(max(time.Until(next), time.Millisecond))
			wake = timer.C
		}
		select {
		case b, ok := <-inCh:
			if !ok {
				in = nil
			} else {
				d.add(b)
			}
		case r := <-d.results:
			d.running--
			d.handle(r)
		case <-wake:
		case <-d.ctx.Done():
			d.abort(in)
			return
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// add takes in a batch: each item joins its key's order, merging into the
// key's pending write when that gives the same result.
func (d *dispatcher) add(b []Item) {
	now := time.Now()
	for _, it := range b {
		i := len(d.items)
		if it.Op == "" {
			it.Op = d.l.cfg.Mode
		}
		d.items = append(d.items, it)
		d.outs = append(d.outs, Outcome{})
		d.alone = append(d.alone, it.alone)
		d.pending++
		if it.Key == "" {
			d.fresh = append(d.fresh, d.newUnit(i, now))
			continue
		}
		if o, ok := d.released[it.Key]; ok {
			d.finish(i, o)
			continue
		}
		ks := d.keys[it.Key]
		if ks == nil {
			ks = &keyState{}
			d.keys[it.Key] = ks
		}
		switch {
		case ks.active == nil:
			ks.active = d.newUnit(i, now)
			d.fresh = append(d.fresh, ks.active)
		case len(ks.queue) == 0 && d.merge(ks.active, i):
		default:
			ks.queue = append(ks.queue, i)
		}
	}
}

func (d *dispatcher) newUnit(i int, now time.Time) *unit {
	it := d.items[i]
	return &unit{members: []int{i}, op: it.Op, key: it.Key, rec: it.Record, arrivedAt: now, alone: d.alone[i]}
}

// merge folds item i into u when u is not sent yet and the two changes
// merge (MergeChanges).
func (d *dispatcher) merge(u *unit, i int) bool {
	if u.sent || u.alone || d.alone[i] {
		return false
	}
	it := d.items[i]
	rec, ok := MergeChanges(u.op, u.rec, it.Op, it.Record)
	if !ok {
		return false
	}
	u.rec = rec
	u.members = append(u.members, i)
	d.st.Merged++
	return true
}

// next activates the key's next change once its write is done, merging the
// changes behind it that merge.
func (d *dispatcher) next(key string) {
	ks := d.keys[key]
	if ks == nil {
		return
	}
	ks.active = nil
	if len(ks.queue) == 0 {
		delete(d.keys, key)
		return
	}
	now := time.Now()
	u := d.newUnit(ks.queue[0], now)
	rest := ks.queue[1:]
	for len(rest) > 0 && d.merge(u, rest[0]) {
		rest = rest[1:]
	}
	ks.queue = rest
	ks.active = u
	d.fresh = append(d.fresh, u)
}

// dispatch starts calls while slots are free: calls put back first, then
// the retry pool, then fresh writes.
func (d *dispatcher) dispatch(limit int, inputDone bool) {
	now := time.Now()
	for d.running < limit {
		w := d.nextQueued(now)
		if w == nil {
			w = d.fromPool(now, inputDone)
		}
		if w == nil {
			w = d.fromFresh(now, inputDone)
		}
		if w == nil {
			return
		}
		if w.suspect != nil {
			// Condemned unsent: its bisection sibling passed.
			d.probing--
			d.refused(w, w.suspect)
			continue
		}
		d.start(w)
	}
}

func (d *dispatcher) nextQueued(now time.Time) *work {
	for k, w := range d.queue {
		if !w.readyAt.After(now) {
			d.queue = append(d.queue[:k], d.queue[k+1:]...)
			return w
		}
	}
	return nil
}

// fromFresh takes up to 200 fresh writes of the oldest one's operation,
// once 200 are there, the input is exhausted, or the oldest has lingered.
// Writes skipped by Stop end here.
func (d *dispatcher) fromFresh(now time.Time, inputDone bool) *work {
	for len(d.fresh) > 0 && d.opts.Stop != nil && d.opts.Stop() && !d.fresh[0].sent {
		u := d.fresh[0]
		d.fresh = d.fresh[1:]
		d.finishUnit(u, Outcome{Skipped: true})
	}
	if len(d.fresh) == 0 {
		return nil
	}
	op := d.fresh[0].op
	n := 0
	for _, u := range d.fresh {
		if u.op == op {
			n++
		}
	}
	if n < maxRecords && ((!inputDone && now.Sub(d.fresh[0].arrivedAt) < d.opts.Linger) || d.probing > 0) {
		return nil
	}
	w := &work{}
	rest := d.fresh[:0]
	for _, u := range d.fresh {
		if u.op == op && len(w.units) < maxRecords {
			w.units = append(w.units, u)
		} else {
			rest = append(rest, u)
		}
	}
	clear(d.fresh[len(rest):])
	d.fresh = rest
	return w
}

// fromPool takes up to 200 ready retries of one operation: when 200 are
// ready, when nothing else is running or waiting, or when the oldest ready
// one has waited poolMaxWait. Holding retries back while fresh records
// keep coming is what keeps API calls near the minimum.
func (d *dispatcher) fromPool(now time.Time, inputDone bool) *work {
	var ready []int
	oldest := now
	for k, at := range d.poolAt {
		if !at.After(now) {
			ready = append(ready, k)
			if at.Before(oldest) {
				oldest = at
			}
		}
	}
	if len(ready) == 0 {
		return nil
	}
	// Once nothing else is left, wait for the calls still running (their
	// failures join the pool) and for the stragglers (delays differ by
	// jitter), so that the last retries go out together.
	drained := inputDone && len(d.queue) == 0 && len(d.fresh) == 0 && d.running == 0 && len(ready) == len(d.pool)
	if len(ready) < maxRecords && !drained && now.Sub(oldest) < poolMaxWait {
		return nil
	}
	op := d.pool[ready[0]].op
	w := &work{}
	take := map[int]bool{}
	for _, k := range ready {
		if d.pool[k].op == op && len(w.units) < maxRecords {
			w.units = append(w.units, d.pool[k])
			take[k] = true
		}
	}
	pool, at := d.pool[:0], d.poolAt[:0]
	for k := range d.pool {
		if !take[k] {
			pool, at = append(pool, d.pool[k]), append(at, d.poolAt[k])
		}
	}
	clear(d.pool[len(pool):])
	d.pool, d.poolAt = pool, at
	d.st.Retries++
	return w
}

// nextWake is the next time waiting work becomes due: a queued call or a
// pooled retry becoming ready, a ready retry reaching poolMaxWait, or the
// oldest fresh write reaching its linger. Other changes come with an event.
// A due time already past counts (dispatch runs at once), but not while
// every call slot is busy: a finishing call wakes the dispatcher then.
func (d *dispatcher) nextWake(now time.Time, inputDone bool) (time.Time, bool) {
	if d.running >= d.l.cfg.Concurrency {
		return time.Time{}, false
	}
	var next time.Time
	found := false
	consider := func(t time.Time) {
		if !found || t.Before(next) {
			next, found = t, true
		}
	}
	for _, w := range d.queue {
		consider(w.readyAt)
	}
	for _, at := range d.poolAt {
		if at.After(now) {
			consider(at)
		}
		consider(at.Add(poolMaxWait))
	}
	if len(d.fresh) > 0 && !inputDone && d.probing == 0 {
		consider(d.fresh[0].arrivedAt.Add(d.opts.Linger))
	}
	return next, found
}

// start runs one call on its own goroutine.
func (d *dispatcher) start(w *work) {
	d.running++
	recs := make([]salesforce.Record, len(w.units))
	for k, u := range w.units {
		recs[k] = u.rec
		u.sent = true
		u.attempts++
	}
	op := w.units[0].op
	d.st.APICalls++
	if op == Delete && d.l.deletesByExternalID() {
		d.st.APICalls++ // the query that finds the Ids
	}
	go func() {
		r := callResult{w: w}
		if err := d.l.acquire(d.ctx); err != nil {
			r.err = err
		} else {
			r.results, r.err = d.l.call(d.ctx, op, recs)
			d.l.release()
		}
		d.results <- r
	}()
}

// handle folds a finished call into the outcomes.
func (d *dispatcher) handle(r callResult) {
	w := r.w
	class := salesforce.Classify(r.err)
	if d.opts.OnCall != nil && d.ctx.Err() == nil {
		d.opts.OnCall(class, r.err)
	}
	if r.err != nil {
		d.callFailed(w, r.err, class)
		return
	}
	w.class, w.callFails = salesforce.ClassNone, 0
	if s := w.sibling; s != nil {
		// This half passed: the fault that refused the whole request is in
		// the other half, which is not sent again whole (it stays counted
		// in probing until it is bisected).
		w.sibling = nil
		s.suspect = s.inherit
		d.queue = append(d.queue, s)
	}
	for k, res := range r.results {
		u := w.units[k]
		if res.Success {
			d.loaded(u, res)
			continue
		}
		rerr := recordErr(res)
		u.answers++
		d.failed(u, salesforce.ClassifyCode(rerr.StatusCode), rerr, res.ID)
	}
}

// callFailed handles a call that failed as a whole.
func (d *dispatcher) callFailed(w *work, err error, class salesforce.Class) {
	if d.ctx.Err() != nil {
		d.failWork(w, d.ctx.Err(), salesforce.ClassTransient)
		return
	}
	if class == salesforce.ClassPermanentRequest {
		d.refused(w, err)
		return
	}
	if w.class != class || w.since.IsZero() {
		w.class, w.since = class, time.Now()
	}
	w.callFails++
	dec := d.opts.Decide(Failure{Items: d.unitItems(w.units[0]), Class: class, Err: err, CallFails: w.callFails, Since: w.since})
	switch dec.Action {
	case Retry:
		if class == salesforce.ClassRateLimited {
			d.l.cfg.Logger.Warn().Err(err).Dur("wait", dec.After).Str("sobject", d.l.cfg.SObject).Msg("salesforce rate limit: pausing")
		}
		d.st.Retries++
		w.readyAt = time.Now().Add(dec.After)
		d.queue = append(d.queue, w)
	case Release:
		d.releaseSibling(w)
		for _, u := range w.units {
			d.release(u, Outcome{Err: err, Class: class, Released: true, After: dec.After})
		}
	default:
		d.failWork(w, err, class)
	}
}

// refused handles a request Salesforce refused as a whole (HTTP 400): a
// single write fails with it; a group is bisected — the first half is sent
// as a probe and the second waits on it: if the probe fails too, the second
// half is sent as it is (it may be fine); if the probe passes, the fault is
// in the second half, which is bisected in turn without being sent whole.
// Each faulty write costs at most ⌈log2 n⌉ calls beyond the refused one.
func (d *dispatcher) refused(w *work, err error) {
	d.releaseSibling(w)
	if len(w.units) == 1 {
		u := w.units[0]
		u.answers++
		d.failed(u, salesforce.ClassPermanentRequest, err, "")
		return
	}
	half := len(w.units) / 2
	second := &work{units: w.units[half:], inherit: err}
	d.queue = append(d.queue, &work{units: w.units[:half], sibling: second})
	d.probing++
	d.st.Retries++
}

// releaseSibling sends a probe's waiting half on: the probe did not pass,
// so nothing is known about the half.
//
// Its writes go back among the fresh ones rather than out as a call of
// their own: they fill the calls that go out anyway, so isolating a fault
// costs the probes only (at most ⌈log2 n⌉ calls), not a call per sibling.
func (d *dispatcher) releaseSibling(w *work) {
	if s := w.sibling; s != nil {
		w.sibling = nil
		d.probing--
		now := time.Now()
		for _, u := range s.units {
			u.arrivedAt = now
		}
		d.fresh = append(d.fresh, s.units...)
	}
}

// loaded ends a write that Salesforce accepted.
func (d *dispatcher) loaded(u *unit, res salesforce.SaveResult) {
	for k, i := range u.members {
		o := d.outs[i]
		o.ID, o.Err, o.Class = res.ID, nil, salesforce.ClassNone
		o.Created = res.Created && k == 0 // a merged write creates once, for its first change
		o.Attempts = u.attempts
		d.finish(i, o)
	}
	d.unitDone(u)
}

// failed handles a write that failed (a record-level answer, or a request
// refusal that isolated it).
func (d *dispatcher) failed(u *unit, class salesforce.Class, err error, id string) {
	if class == salesforce.ClassPermanentRecord || class == salesforce.ClassPermanentRequest {
		if len(u.members) > 1 {
			// One of the merged changes may be at fault: write them one by
			// one, in order, so each gets its own outcome.
			d.unmerge(u)
			return
		}
	}
	dec := d.opts.Decide(Failure{Items: d.unitItems(u), Class: class, Err: err, Answers: u.answers})
	switch dec.Action {
	case Retry:
		d.pool = append(d.pool, u)
		d.poolAt = append(d.poolAt, time.Now().Add(dec.After))
	case Release:
		d.release(u, Outcome{ID: id, Err: err, Class: class, Released: true, After: dec.After})
	default:
		d.finishUnit(u, Outcome{ID: id, Err: err, Class: class})
	}
}

// unmerge splits a merged write that failed for good into its changes: the
// first becomes the key's write, the others wait behind it, unmerged.
func (d *dispatcher) unmerge(u *unit) {
	for _, i := range u.members {
		d.alone[i] = true
	}
	first := d.newUnit(u.members[0], time.Now())
	if ks := d.keys[u.key]; ks != nil {
		ks.active = first
		ks.queue = append(append([]int(nil), u.members[1:]...), ks.queue...)
	}
	d.fresh = append(d.fresh, first)
}

func (d *dispatcher) unitItems(u *unit) []Item {
	its := make([]Item, len(u.members))
	for k, i := range u.members {
		its[k] = d.items[i]
	}
	return its
}

// release gives a write back to the caller, and with it every later change
// of its key, unsent: a later change must not be written while an earlier
// one is away (Decide says Release for changes without a key, and for every
// change at shutdown).
//
// A released key stays released for the rest of the stream: its changes
// that arrive later go back too. Decide releases keyed changes only when
// the caller stops (see Action), so the key's changes come back to
// whichever stream loads it next, the released one first.
func (d *dispatcher) release(u *unit, o Outcome) {
	ks := d.keys[u.key]
	var behind []int
	if u.key != "" && ks != nil {
		behind = ks.queue
		ks.queue = nil
	}
	d.finishUnit(u, o)
	later := Outcome{Released: true, After: o.After, Err: o.Err, Class: o.Class}
	for _, i := range behind {
		d.finish(i, later)
	}
	if u.key != "" {
		d.released[u.key] = later
	}
}

// finishUnit gives every change of a write the same outcome and lets the
// key's next change go.
func (d *dispatcher) finishUnit(u *unit, o Outcome) {
	for _, i := range u.members {
		oi := o
		oi.Attempts = u.attempts
		d.finish(i, oi)
	}
	d.unitDone(u)
}

func (d *dispatcher) unitDone(u *unit) {
	if u.key != "" {
		d.next(u.key)
	}
}

func (d *dispatcher) finish(i int, o Outcome) {
	d.pending--
	if d.opts.Done != nil {
		d.opts.Done(d.items[i], o)
	}
	d.items[i].Record = nil // done: let it go
}

func (d *dispatcher) failWork(w *work, err error, class salesforce.Class) {
	d.releaseSibling(w)
	for _, u := range w.units {
		d.finishUnit(u, Outcome{Err: err, Class: class})
	}
}

// abort ends a cancelled stream: calls in flight return with the context's
// error; everything waiting gets it too (never-sent writes are skipped);
// unread input is drained as skipped.
func (d *dispatcher) abort(in <-chan []Item) {
	err := d.ctx.Err()
	for ; d.running > 0; d.running-- {
		r := <-d.results
		d.failWork(r.w, err, salesforce.ClassTransient)
	}
	for _, w := range d.queue {
		d.abortWork(w, err)
	}
	d.queue = nil
	for _, u := range d.pool {
		d.abortUnit(u, err)
	}
	d.pool, d.poolAt = nil, nil
	for _, u := range d.fresh {
		d.abortUnit(u, err)
	}
	d.fresh = nil
	// Changes still waiting behind their key's write were never sent.
	for _, ks := range d.keys {
		for _, i := range ks.queue {
			d.finish(i, Outcome{Skipped: true})
		}
	}
	d.keys = nil
	if in != nil {
		for b := range in {
			for _, it := range b {
				if d.opts.Done != nil {
					d.opts.Done(it, Outcome{Skipped: true})
				}
			}
		}
	}
}

func (d *dispatcher) abortWork(w *work, err error) {
	for _, u := range w.units {
		d.abortUnit(u, err)
	}
	if w.sibling != nil {
		d.abortWork(w.sibling, err)
	}
}

// abortUnit settles a waiting write: a never-sent one is skipped, the rest
// fail with err (they may have reached Salesforce).
func (d *dispatcher) abortUnit(u *unit, err error) {
	for _, i := range u.members {
		if u.attempts == 0 {
			d.finish(i, Outcome{Skipped: true})
			continue
		}
		d.finish(i, Outcome{Err: err, Class: salesforce.ClassTransient, Attempts: u.attempts})
	}
}

// backoffAt returns the n-th delay (1-based) of a fresh backoff schedule.
func backoffAt(newBackOff func() backoff.BackOff, n int) time.Duration {
	b := newBackOff()
	var d time.Duration
	for k := 0; k < max(n, 1); k++ {
		d = b.NextBackOff()
	}
	return max(d, 0)
}
