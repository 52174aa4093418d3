package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// batch is one batch of a Sync: its prepared items and how many of them
// still wait for an outcome.
type batch struct {
	num       int // 1-based
	lo, hi    int // input range
	items     []Item
	pre       map[int]*RecordError // input index → failure before sending
	skipFrom  int                  // input index from which records are skipped (stop_on_error)
	remaining int                  // items without an outcome yet
	sent      bool
}

// syncRun is the state of one Sync call. Everything here is touched only by
// the goroutine that called Sync, which is also where every callback runs.
type syncRun struct {
	p       *Pipeline
	ctx     context.Context
	records []map[string]any
	res     *SyncResult
	batches []*batch
	outs    []Outcome
	stop    atomic.Bool
	first   *RecordError
	applied int // batches folded into res, in order

	mu     sync.Mutex // guards events, filled by the loader's goroutine
	events []event
	signal chan struct{}
}

type event struct {
	seq int
	out Outcome
}

// Sync maps, validates and loads records, and returns the result. Records
// are never modified. The result's counts always add up to len(records).
//
// The error is nil unless the sync did not run to the end: a *StopError
// (stop_on_error) or the context's error; the partial result comes with it.
// Record failures are in the result, not in the error.
func (p *Pipeline) Sync(ctx context.Context, records []map[string]any) (*SyncResult, error) {
	o := p.opts
	start := o.Now()
	n := len(records)
	total := (n + o.BatchSize - 1) / o.BatchSize
	s := &syncRun{
		p: p, ctx: ctx, records: records,
		res: &SyncResult{
			Status: InProgress, TotalRecords: n,
			SalesforceIDs: make([]string, n), Created: make([]bool, n),
			Metadata: Metadata{Mode: o.Mode, SObject: o.SObject},
		},
		batches: make([]*batch, total),
		outs:    make([]Outcome, n),
		signal:  make(chan struct{}, 1),
	}
	s.res.Metadata.API = p.loader.chooseAPIFor(n, p.loadOptions(&s.stop))
	p.log.Info().Str("sobject", o.SObject).Str("mode", string(o.Mode)).Int("records", n).Str("api", string(s.res.Metadata.API)).Msg("sync started")

	if s.res.Metadata.API == APIBulk {
		s.runBulk()
	} else {
		s.runStream()
	}
	res := s.res
	for i, b := range s.batches {
		if b == nil || !b.sent { // never sent: stopped or cancelled first
			lo, hi := s.bounds(i)
			res.SkippedCount += hi - lo
		}
	}
	res.finish(o.Now().Sub(start))
	p.log.Info().Str("sobject", o.SObject).Str("mode", string(o.Mode)).Str("status", string(res.Status)).
		Int("success", res.SuccessCount).Int("errors", res.ErrorCount).Int("skipped", res.SkippedCount).
		Int("api_calls", res.Metadata.APICalls).Float64("elapsed_s", res.Metadata.ElapsedSeconds).Msg("sync finished")
	switch {
	case o.StopOnError && s.first != nil:
		return res, &StopError{First: s.first}
	case ctx.Err() != nil:
		return res, fmt.Errorf("pipeline: sync interrupted: %w", ctx.Err())
	}
	return res, nil
}

func (p *Pipeline) loadOptions(stop *atomic.Bool) LoadOptions {
	if !p.opts.StopOnError {
		return LoadOptions{}
	}
	return LoadOptions{Stop: stop.Load}
}

func (s *syncRun) bounds(i int) (lo, hi int) {
	bs := s.p.opts.BatchSize
	return i * bs, min((i+1)*bs, len(s.records))
}

// runStream feeds batches to the loader's Stream as it asks for them and
// folds outcomes into the result batch by batch, in order, as they complete.
// With stop_on_error a batch is sent only once the one before it is done.
func (s *syncRun) runStream() {
	o := s.p.opts
	in := make(chan []Item)
	streamDone := make(chan struct{})
	var stats LoadStats
	go func() {
		defer close(streamDone)
		stats = s.p.loader.Stream(s.ctx, in, StreamOptions{Stop: s.p.loadOptions(&s.stop).Stop, Done: s.done})
	}()
	total := len(s.batches)
	next := 0 // next batch to send
	closed := false
	ctxDone := s.ctx.Done()
	closeIn := func() {
		if !closed {
			close(in)
			closed = true
		}
	}
	for {
		s.drain()
		s.applyReady()
		if !closed && (next == total || s.stop.Load() || s.ctx.Err() != nil) {
			closeIn()
		}
		if closed && s.applied == next {
			break
		}
		var sendCh chan<- []Item
		var pending []Item
		if !closed && (!o.StopOnError || s.applied == next) {
			b := s.batches[next]
			if b == nil {
				b = s.prepare(next)
				s.batches[next] = b
			}
			if len(b.items) == 0 {
				b.sent = true // nothing to load: every record failed before sending
				next++
				continue
			}
			sendCh, pending = in, b.items
		}
		select {
		case sendCh <- pending:
			s.batches[next].sent = true
			next++
		case <-s.signal:
		case <-streamDone:
			s.drain()
			s.applyReady()
			streamDone = nil
		case <-ctxDone:
			closeIn()
			ctxDone = nil
		}
	}
	closeIn()
	if streamDone != nil {
		<-streamDone
	}
	s.drain()
	s.applyReady()
	s.res.Metadata.APICalls += stats.APICalls
	s.res.Metadata.Retries += stats.Retries
	s.res.Metadata.Merged += stats.Merged
}

// done is the loader's outcome callback (on the loader's goroutine).
func (s *syncRun) done(it Item, o Outcome) {
	s.mu.Lock()
	s.events = append(s.events, event{seq: it.Seq, out: o})
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// drain moves delivered outcomes into their batches.
func (s *syncRun) drain() {
	s.mu.Lock()
	evs := s.events
	s.events = nil
	s.mu.Unlock()
	bs := s.p.opts.BatchSize
	for _, e := range evs {
		s.outs[e.seq] = e.out
		s.batches[e.seq/bs].remaining--
	}
}

// applyReady folds every complete batch, in order, into the result.
func (s *syncRun) applyReady() {
	for s.applied < len(s.batches) {
		b := s.batches[s.applied]
		if b == nil || !b.sent || b.remaining > 0 {
			return
		}
		s.apply(b)
		s.applied++
	}
}

// runBulk prepares every batch, loads them all with Bulk API 2.0 in one
// Load, then folds them in order (callbacks run per batch afterwards).
func (s *syncRun) runBulk() {
	var items []Item
	for i := range s.batches {
		if s.ctx.Err() != nil {
			break
		}
		b := s.prepare(i)
		s.batches[i] = b
		items = append(items, b.items...)
	}
	outs, stats := s.p.loader.Load(s.ctx, items, LoadOptions{})
	for k, it := range items {
		s.outs[it.Seq] = outs[k]
	}
	s.res.Metadata.APICalls += stats.APICalls
	s.res.Metadata.Retries += stats.Retries
	s.res.Metadata.Merged += stats.Merged
	s.res.Metadata.API = stats.API
	for _, b := range s.batches {
		if b == nil {
			break
		}
		b.sent, b.remaining = true, 0
		s.apply(b)
		s.applied++
	}
}

// prepare runs OnRecordStart, maps and validates batch i. With stop_on_error
// a record failing here stops the sync: the batch's later records are skipped.
func (s *syncRun) prepare(i int) *batch {
	o := s.p.opts
	lo, hi := s.bounds(i)
	b := &batch{num: i + 1, lo: lo, hi: hi, skipFrom: hi}
	for idx := lo; idx < hi; idx++ {
		rec := s.records[idx]
		if o.Callbacks.OnRecordStart != nil {
			s.p.invoke(s.res, "OnRecordStart", func() error { return o.Callbacks.OnRecordStart(rec) })
		}
		item, rerr := s.p.Prepare(idx, rec)
		if rerr != nil {
			if b.pre == nil {
				b.pre = map[int]*RecordError{}
			}
			b.pre[idx] = rerr
			if o.StopOnError {
				s.stop.Store(true)
				b.skipFrom = idx + 1
				break
			}
			continue
		}
		b.items = append(b.items, item)
	}
	b.remaining = len(b.items)
	return b
}

// apply folds a finished batch into the result, in input order, running the
// record callbacks and then OnBatchComplete.
func (s *syncRun) apply(b *batch) {
	o := s.p.opts
	res := s.res
	for idx := b.lo; idx < b.hi; idx++ {
		rec := s.records[idx]
		if idx >= b.skipFrom {
			res.SkippedCount++
			continue
		}
		rerr := b.pre[idx]
		if rerr == nil {
			out := s.outs[idx]
			switch {
			case out.Skipped:
				res.SkippedCount++
				continue
			case out.Err == nil:
				res.SuccessCount++
				res.SalesforceIDs[idx] = out.ID
				res.Created[idx] = out.Created || o.Mode == Insert
				if o.Callbacks.OnRecordSuccess != nil {
					s.p.invoke(res, "OnRecordSuccess", func() error { return o.Callbacks.OnRecordSuccess(rec, out.ID) })
				}
				continue
			default:
				rerr = outcomeError(idx, rec, out)
			}
		}
		res.ErrorCount++
		res.Errors = append(res.Errors, rerr)
		if s.first == nil {
			s.first = rerr
			if o.StopOnError {
				s.stop.Store(true)
			}
		}
		if o.Callbacks.OnRecordError != nil {
			s.p.invoke(res, "OnRecordError", func() error { return o.Callbacks.OnRecordError(rec, rerr) })
		}
	}
	if o.Callbacks.OnBatchComplete != nil {
		snap := res.snapshot()
		s.p.invoke(res, "OnBatchComplete", func() error { return o.Callbacks.OnBatchComplete(b.num, len(s.batches), snap) })
	}
}
