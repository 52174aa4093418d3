package worker

import (
	"context"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/clock"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// fleet is this replica's view of the live replicas, from the workers
// bucket (messages.WorkerStatus, one entry per replica, expiring after
// messages.WorkersTTL unless renewed), and its own announcement there.
type fleet struct {
	w       *Worker
	kv      jetstream.KeyValue
	started time.Time

	mu      sync.Mutex
	members map[string]messages.WorkerStatus
	change  chan struct{} // closed and replaced on every change
}

func newFleet(w *Worker) *fleet {
	return &fleet{w: w, members: map[string]messages.WorkerStatus{}, change: make(chan struct{}), started: time.Now().UTC()}
}

// changed is closed at the next change of the member list.
func (f *fleet) changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.change
}

// serving lists the live replicas running a pipeline, this one included
// (even before its first announcement is seen), without those stopping.
func (f *fleet) serving(pipeline string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	self := f.w.cfg.ID
	out := []string{}
	if !f.w.stopping.Load() {
		out = append(out, self)
	}
	for id, s := range f.members {
		if id == self || s.Stopping {
			continue
		}
		for _, p := range s.Pipelines {
			if p.Name == pipeline {
				out = append(out, id)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// run announces this replica every WorkersHeartbeat and follows the bucket
// until ctx ends; then it announces the replica as stopping (its partitions
// move at once) and, once stopped, removes its entry.
func (f *fleet) run(ctx context.Context, stopped <-chan struct{}) {
	var wg sync.WaitGroup
	wg.Go(func() { f.watch(ctx) })
	t := time.NewTicker(messages.WorkersHeartbeat)
	defer t.Stop()
	f.announce()
	for {
		select {
		case <-ctx.Done():
			f.announce() // stopping
			<-stopped
			dctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
			_ = f.kv.Delete(dctx, f.w.cfg.ID)
			cancel()
			wg.Wait()
			return
		case <-t.C:
			f.announce()
		}
	}
}

// announce writes this replica's status.
func (f *fleet) announce() {
	st := f.w.status()
	data, err := messages.EncodeWorkerStatus(st)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if _, err := f.kv.Put(ctx, f.w.cfg.ID, data); err != nil {
		f.w.log.Debug().Err(err).Msg("announcing in the workers bucket failed")
	}
}

// watch follows the workers bucket.
func (f *fleet) watch(ctx context.Context) {
	for ctx.Err() == nil {
		wa, err := f.kv.WatchAll(ctx)
		if err != nil {
			if clock.Sleep(ctx, time.Second) != nil {
				return
			}
			continue
		}
		f.follow(ctx, wa)
		_ = wa.Stop()
	}
}

func (f *fleet) follow(ctx context.Context, wa jetstream.KeyWatcher) {
	// Entries expire silently (TTL): prune what was not renewed in time.
	prune := time.NewTicker(messages.WorkersHeartbeat)
	defer prune.Stop()
	seen := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			f.mu.Lock()
			changed := false
			for id := range f.members {
				if time.Since(seen[id]) > messages.WorkersTTL {
					delete(f.members, id)
					changed = true
				}
			}
			if changed {
				f.notify()
			}
			f.mu.Unlock()
		case e, ok := <-wa.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue // the initial values are in
			}
			f.mu.Lock()
			_, had := f.members[e.Key()]
			switch e.Operation() {
			case jetstream.KeyValuePut:
				if st, err := messages.DecodeWorkerStatus(e.Value()); err == nil {
					old := f.members[e.Key()]
					f.members[e.Key()] = st
					seen[e.Key()] = time.Now()
					if !had || old.Stopping != st.Stopping || !samePipelines(old, st) {
						f.notify()
					}
				}
			default:
				delete(f.members, e.Key())
				if had {
					f.notify()
				}
			}
			f.mu.Unlock()
		}
	}
}

func samePipelines(a, b messages.WorkerStatus) bool {
	if len(a.Pipelines) != len(b.Pipelines) {
		return false
	}
	for i := range a.Pipelines {
		if a.Pipelines[i].Name != b.Pipelines[i].Name {
			return false
		}
	}
	return true
}

// notify wakes whoever waits on changed. f.mu is held.
func (f *fleet) notify() {
	close(f.change)
	f.change = make(chan struct{})
}

// status is what this replica announces.
func (w *Worker) status() messages.WorkerStatus {
	ready, reason := w.Status()
	host, _ := os.Hostname()
	st := messages.WorkerStatus{
		ID: w.cfg.ID, Version: w.cfg.Version, Host: host, Started: w.fleet.started, Updated: time.Now().UTC(),
		Ready: ready, Reason: reason, Stopping: w.stopping.Load(),
	}
	for _, r := range w.runners {
		wp := r.state()
		st.InFlight += wp.InFlight
		st.Pipelines = append(st.Pipelines, wp)
	}
	return st
}
