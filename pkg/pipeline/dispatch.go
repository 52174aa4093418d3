package pipeline

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// StreamOptions adjusts Stream.
type StreamOptions struct {
	// Stop, when it returns true, skips chunks not yet sent (stop_on_error);
	// calls already running finish.
	Stop func() bool
	// Done receives each item's final outcome, on Stream's goroutine, as soon
	// as it is known (not in input order).
	Done func(Item, Outcome)
}

// Stream loads the batches read from in until in is closed, and returns once
// every item read has an outcome. One goroutine — the caller's — schedules
// everything; each Collections call runs on a goroutine of its own and
// reports back.
//
// Scheduling:
//   - fresh records go out 200 to a call, at most Concurrency calls at once
//     (shared with every other Stream of the loader);
//   - a call that fails as a whole with a transient error is put back with a
//     backoff delay and sent again, whole (up to RetryPolicy.CallAttempts);
//     while rate limited it waits, up to RateLimitWait;
//   - a call refused as a whole (HTTP 400) with several records is split in
//     halves, to find the records at fault;
//   - records that fail with a retryable record error (UNABLE_TO_LOCK_ROW) go
//     to a retry pool and are sent again, after a backoff delay, together
//     with other calls' retries: the pool is flushed as full 200-record calls,
//     or as soon as a call slot would otherwise sit idle. Retries therefore
//     cost few API calls, and a record Salesforce accepted is never re-sent.
func (l *Loader) Stream(ctx context.Context, in <-chan []Item, opts StreamOptions) LoadStats {
	d := &dispatcher{l: l, ctx: ctx, opts: opts, results: make(chan callResult), st: LoadStats{API: APICollections}}
	d.run(in)
	return d.st
}

// work is a group of records sent in one call.
type work struct {
	idx       []int // positions in dispatcher.items
	readyAt   time.Time
	callFails int       // whole-call transient failures so far
	rlSince   time.Time // first rate-limit answer of the current streak
	fresh     bool      // never sent: subject to Stop
}

type callResult struct {
	w       *work
	results []salesforce.SaveResult
	err     error
}

type dispatcher struct {
	l       *Loader
	ctx     context.Context
	opts    StreamOptions
	st      LoadStats
	items   []Item
	outs    []Outcome
	answers []int   // per item: calls that answered for it (not failed whole)
	queue   []*work // whole calls waiting (fresh, or put back after a call failure)
	pool    []int   // records waiting for a retry, merged into calls
	poolAt  []time.Time
	results chan callResult
	running int
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
		if in == nil && d.running == 0 && len(d.queue) == 0 && len(d.pool) == 0 {
			return
		}
		// Read more input only when there is little queued: backpressure.
		var inCh <-chan []Item
		if in != nil && len(d.queue) < limit {
			inCh = in
		}
		var timer *time.Timer
		var wake <-chan time.Time
		if next, ok := d.nextWake(time.Now()); ok {
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

// add appends a batch and queues it as fresh calls of up to 200 records.
func (d *dispatcher) add(b []Item) {
	for lo := 0; lo < len(b); lo += maxRecords {
		hi := min(lo+maxRecords, len(b))
		w := &work{fresh: true}
		for _, it := range b[lo:hi] {
			w.idx = append(w.idx, len(d.items))
			d.items = append(d.items, it)
			d.outs = append(d.outs, Outcome{})
			d.answers = append(d.answers, 0)
		}
		d.queue = append(d.queue, w)
	}
}

// dispatch starts calls while slots are free: ready queued calls first, then
// calls from the retry pool (see fromPool).
func (d *dispatcher) dispatch(limit int, inputDone bool) {
	now := time.Now()
	for d.running < limit {
		w := d.nextQueued(now)
		if w == nil {
			w = d.fromPool(now, inputDone)
		}
		if w == nil {
			return
		}
		if w.fresh && d.opts.Stop != nil && d.opts.Stop() {
			for _, i := range w.idx {
				d.finish(i, Outcome{Skipped: true})
			}
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

// fromPool takes up to 200 ready retries: when 200 are ready, when the input
// is exhausted and nothing else is running or waiting, or when the oldest
// ready one has waited poolMaxWait. Holding retries back while fresh records keep
// coming is what keeps API calls near the minimum.
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
	// Once the input is exhausted, wait for the calls still running (their
	// failures join the pool) and for the stragglers (delays differ by
	// jitter), so that the last retries go out together.
	drained := inputDone && len(d.queue) == 0 && d.running == 0 && len(ready) == len(d.pool)
	if len(ready) < maxRecords && !drained && now.Sub(oldest) < poolMaxWait {
		return nil
	}
	ready = ready[:min(len(ready), maxRecords)]
	w := &work{}
	take := map[int]bool{}
	for _, k := range ready {
		w.idx = append(w.idx, d.pool[k])
		take[k] = true
	}
	pool, at := d.pool[:0], d.poolAt[:0]
	for k := range d.pool {
		if !take[k] {
			pool, at = append(pool, d.pool[k]), append(at, d.poolAt[k])
		}
	}
	d.pool, d.poolAt = pool, at
	d.st.Retries++
	return w
}

// nextWake is the next time waiting work becomes due: a queued call or a
// pooled retry becoming ready, or a ready retry reaching poolMaxWait. Other
// changes come with an event (a call finishing, input arriving).
func (d *dispatcher) nextWake(now time.Time) (time.Time, bool) {
	var next time.Time
	found := false
	consider := func(t time.Time) {
		if t.After(now) && (!found || t.Before(next)) {
			next, found = t, true
		}
	}
	for _, w := range d.queue {
		consider(w.readyAt)
	}
	for _, at := range d.poolAt {
		consider(at)
		consider(at.Add(poolMaxWait))
	}
	return next, found
}

// start runs one call on its own goroutine.
func (d *dispatcher) start(w *work) {
	d.running++
	recs := make([]salesforce.Record, len(w.idx))
	for k, i := range w.idx {
		recs[k] = d.items[i].Record
		d.outs[i].Attempts++
	}
	d.st.APICalls++
	go func() {
		r := callResult{w: w}
		if err := d.l.acquire(d.ctx); err != nil {
			r.err = err
		} else {
			r.results, r.err = d.l.call(d.ctx, recs)
			d.l.release()
		}
		d.results <- r
	}()
}

// handle folds a finished call into the outcomes.
func (d *dispatcher) handle(r callResult) {
	p := d.l.cfg.Retry
	w := r.w
	if r.err != nil {
		if d.ctx.Err() != nil {
			d.failAll(w.idx, d.ctx.Err(), salesforce.ClassTransient)
			return
		}
		class := salesforce.Classify(r.err)
		switch class {
		case salesforce.ClassTransient, salesforce.ClassSessionExpired:
			w.callFails++
			if w.callFails >= p.CallAttempts {
				d.failAll(w.idx, r.err, class)
				return
			}
			d.requeue(w, backoffAt(p.NewBackOff, w.callFails))
		case salesforce.ClassRateLimited:
			if w.rlSince.IsZero() {
				w.rlSince = time.Now()
			}
			if p.RateLimitWait > 0 && time.Since(w.rlSince) >= p.RateLimitWait {
				d.failAll(w.idx, r.err, class)
				return
			}
			w.callFails = 0
			wait := backoffAt(p.NewRateLimitBackOff, int(time.Since(w.rlSince)/time.Second)+1)
			d.l.cfg.Logger.Warn().Err(r.err).Dur("wait", wait).Str("sobject", d.l.cfg.SObject).Msg("salesforce rate limit: pausing")
			d.requeue(w, wait)
		case salesforce.ClassPermanentRequest:
			if len(w.idx) > 1 {
				// Find the records the request is refused for.
				half := len(w.idx) / 2
				d.queue = append(d.queue, &work{idx: w.idx[:half]}, &work{idx: w.idx[half:]})
				return
			}
			d.failAll(w.idx, r.err, class)
		default:
			d.failAll(w.idx, r.err, class)
		}
		return
	}
	for k, res := range r.results {
		i := w.idx[k]
		o := d.outs[i]
		if res.Success {
			o.ID, o.Created, o.Err, o.Class = res.ID, res.Created, nil, salesforce.ClassNone
			d.finish(i, o)
			continue
		}
		rerr := recordErr(res)
		o.ID, o.Err, o.Class = res.ID, rerr, salesforce.ClassifyCode(rerr.StatusCode)
		d.answers[i]++
		// RecordAttempts counts the answers about this record; calls that
		// failed as a whole have their own budget (CallAttempts).
		if o.Class == salesforce.ClassRetryableRecord && d.answers[i] < p.RecordAttempts {
			d.outs[i] = o
			d.pool = append(d.pool, i)
			d.poolAt = append(d.poolAt, time.Now().Add(backoffAt(p.NewBackOff, d.answers[i])))
			continue
		}
		d.finish(i, o)
	}
}

func (d *dispatcher) requeue(w *work, wait time.Duration) {
	d.st.Retries++
	w.readyAt = time.Now().Add(wait)
	w.fresh = false
	d.queue = append(d.queue, w)
}

func (d *dispatcher) finish(i int, o Outcome) {
	if d.opts.Done != nil {
		d.opts.Done(d.items[i], o)
	}
	d.items[i].Record = nil // done: let it go
}

func (d *dispatcher) failAll(idx []int, err error, class salesforce.Class) {
	for _, i := range idx {
		o := d.outs[i]
		o.Err, o.Class = err, class
		d.finish(i, o)
	}
}

// abort ends a cancelled stream: calls in flight return with the context's
// error; everything waiting gets it too; unread input is drained as skipped.
func (d *dispatcher) abort(in <-chan []Item) {
	err := d.ctx.Err()
	for _, w := range d.queue {
		d.abortWork(w, err)
	}
	d.queue = nil
	d.failAll(d.pool, err, salesforce.ClassTransient)
	d.pool, d.poolAt = nil, nil
	for ; d.running > 0; d.running-- {
		r := <-d.results
		d.failAll(r.w.idx, err, salesforce.ClassTransient)
	}
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

// abortWork settles waiting work: never-sent records are skipped, the rest
// failed with err (they may have reached Salesforce).
func (d *dispatcher) abortWork(w *work, err error) {
	for _, i := range w.idx {
		if d.outs[i].Attempts == 0 {
			d.finish(i, Outcome{Skipped: true})
			continue
		}
		o := d.outs[i]
		o.Err, o.Class = err, salesforce.ClassTransient
		d.finish(i, o)
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
