package worker_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

const orderSchema = `
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}
      - {name: Score__c, type: double}
  - name: Item__c
    fields:
      - {name: Name, type: string, length: 80}
      - {name: Score__c, type: double}
`

// Two keyed pipelines that take deletes: Account changes keyed by external
// id (upserts and deletes), Item__c changes keyed by Id (updates and
// deletes).
const orderPipelines = `
pipelines:
  - name: accounts
    sobject: Account
    mode: upsert
    external_id_field: External_Key__c
    deletes: true
    mapping: {key: External_Key__c, name: Name, score: Score__c}
    worker: { ack_wait: 10s, max_deliver: 20, linger: 20ms }
  - name: items
    sobject: Item__c
    mode: update
    deletes: true
    mapping: {id: Id, name: Name, score: Score__c}
    worker: { ack_wait: 10s, max_deliver: 20, linger: 20ms }
`

// change is one published change of the property test.
type change struct {
	pipeline string
	op       pipeline.SyncMode
	key      string // external id (accounts) or Id (items)
	rec      map[string]any
	job      string
	seq      int64  // in its job
	stream   uint64 // records-stream sequence: the order of the key's changes
}

// The property: whatever happens in between, every key ends in the state
// its changes, applied in the order the stream stored them, give.
//
// A random stream of changes over 500 keys, ten each on average — upserts
// and deletes by external id, updates and deletes by Id — is published by
// four publishers at once, as four jobs, while the simulator answers 503
// before and after committing, locks rows, expires sessions and varies
// its latency. Replicas change under load: the test starts with some, stops
// one gracefully and adds another mid-run. Then:
//   - each key's record in the org equals what the key's changes give,
//     applied in stream order (a change dead-lettered with a code that
//     means it did not apply is left out);
//   - no request carried a key twice (no DUPLICATE_VALUE);
//   - every job's counts add up, and every change has exactly one outcome.
//
// The seed is fixed (CI runs the same case every time) and printed;
// KINETIC_TEST_SEED replays another.
func TestKeyOrderHoldsAcrossRetriesAndReplicas(t *testing.T) {
	t.Parallel()
	seed := uint64(20261202)
	if s := os.Getenv("KINETIC_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	t.Logf("seed %d (replay: KINETIC_TEST_SEED=%d go test -run '^%s$' ./internal/worker/)", seed, seed, t.Name())
	rng := rand.New(rand.NewPCG(seed, 5))

	schema, err := sfsim.ParseSchema([]byte(orderSchema))
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, sfsim.Config{Schema: schema, Seed: int64(seed)})
	cfg, err := pipeline.ParseConfig("order.yaml", []byte(orderPipelines))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg

	// The Id-keyed records exist before any change of theirs.
	const accountKeys, itemKeys, perKey = 300, 200, 10
	itemIDs := make([]string, itemKeys)
	for lo := 0; lo < itemKeys; lo += 200 {
		var recs []salesforce.Record
		for i := lo; i < min(itemKeys, lo+200); i++ {
			recs = append(recs, salesforce.Record{"Name": fmt.Sprintf("item %d", i), "Score__c": -1.0})
		}
		res, err := e.client.Insert(ctxT(t), "Item__c", recs)
		if err != nil {
			t.Fatal(err)
		}
		for k, r := range res {
			if !r.Success {
				t.Fatalf("creating item %d: %v", lo+k, r.Errors)
			}
			itemIDs[lo+k] = r.ID
		}
	}
	if err := e.sim.Server.SetFaults(sfsim.Faults{Rate503: 0.08, Rate503AfterCommit: 0.05, LockRowRate: 0.05,
		SessionExpiryEvery: 60, Latency: 8 * time.Millisecond, Jitter: 8 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}

	// The changes, in a random interleaving of keys.
	var changes []*change
	left := map[string]int{}
	var keys []string
	for i := range accountKeys {
		k := fmt.Sprintf("acc:K-%03d", i)
		keys, left[k] = append(keys, k), perKey
	}
	for i := range itemKeys {
		k := "item:" + itemIDs[i]
		keys, left[k] = append(keys, k), perKey
	}
	for len(keys) > 0 {
		i := rng.IntN(len(keys))
		k := keys[i]
		if left[k]--; left[k] == 0 {
			keys = append(keys[:i], keys[i+1:]...)
		}
		c := &change{}
		v := len(changes)
		if id, ok := strings.CutPrefix(k, "item:"); ok {
			c.pipeline, c.key = "items", id
			if rng.IntN(5) == 0 {
				c.op, c.rec = pipeline.Delete, map[string]any{"id": id}
			} else {
				c.op, c.rec = pipeline.Update, map[string]any{"id": id, "name": fmt.Sprintf("v%d", v)}
				if rng.IntN(2) == 0 {
					c.rec["score"] = float64(v)
				}
			}
		} else {
			ext := strings.TrimPrefix(k, "acc:")
			if rng.IntN(2) == 0 {
				ext = strings.ToLower(ext) // one record, two spellings of its key
			}
			c.pipeline, c.key = "accounts", ext
			if rng.IntN(4) == 0 {
				c.op, c.rec = pipeline.Delete, map[string]any{"key": ext}
			} else {
				c.op, c.rec = pipeline.Upsert, map[string]any{"key": ext, "name": fmt.Sprintf("v%d", v)}
				if rng.IntN(2) == 0 {
					c.rec["score"] = float64(v)
				}
			}
		}
		changes = append(changes, c)
	}
	t.Logf("%d changes of %d keys", len(changes), accountKeys+itemKeys)

	replicas := 1 + int(seed%3) // 1 to 3 at the start
	var running []*running
	for i := range replicas {
		running = append(running, e.start(func(o *worker.Config) { o.ID = fmt.Sprintf("r%d", i) }))
	}

	// Four publishers, four jobs, at once: change i goes to publisher i%4.
	const publishers = 4
	jobN := make([]int, publishers)
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		job := fmt.Sprintf("order-%d", p)
		wg.Go(func() {
			pub := messages.NewPublisher(e.js, messages.PublisherOptions{})
			subj := e.topo.Subjects()
			n := int64(0)
			for i := p; i < len(changes); i += publishers {
				c := changes[i]
				pc, _ := e.cfg.Pipeline(c.pipeline)
				data, err := messages.EncodeRecord(c.rec)
				if err != nil {
					errs <- err
					return
				}
				n++
				c.job, c.seq = job, n
				key, rerr := pc.Key(c.rec) // a delete maps to the same key
				if rerr != nil {
					errs <- fmt.Errorf("change %d: %w", i, rerr)
					return
				}
				ack, err := pub.PublishKeyed(ctxT(t), subj.Records(pc.SObject, string(c.op)), key, data,
					messages.RecordMeta{Job: job, Seq: n, MsgID: fmt.Sprintf("%s-%d", job, n)})
				if err != nil {
					errs <- fmt.Errorf("change %d: %w", i, err)
					return
				}
				c.stream = ack.Sequence
			}
			jobN[p] = int(n)
		})
	}

	// Replicas come and go under load.
	e.waitFor("a fifth of the changes loaded", func() bool { return e.sim.Server.Stats().CallsByKind["collections_upsert"] > 10 })
	stopped := running[0]
	stopped.stop(t)
	t.Logf("replica %s stopped", stopped.w.ID())
	running = append(running[1:], e.start(func(o *worker.Config) { o.ID = "late-1" }))
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	running = append(running, e.start(func(o *worker.Config) { o.ID = "late-2" }))

	// Every change has exactly one final outcome; every job adds up.
	outcome := map[string]jobs.Outcome{}
	for p := range publishers {
		job := fmt.Sprintf("order-%d", p)
		res := e.waitLong(job, jobN[p], 3*time.Minute)
		if res.SuccessCount+res.ErrorCount+res.SkippedCount != jobN[p] || res.SkippedCount != 0 {
			t.Errorf("job %s: %v for %d changes", job, res.SyncResult, jobN[p])
		}
		for i, o := range res.Outcomes {
			outcome[fmt.Sprintf("%s-%d", job, i+1)] = o
		}
	}
	if n := e.sim.Server.Stats().ErrorsByCode["DUPLICATE_VALUE"]; n != 0 {
		t.Errorf("the org saw %d DUPLICATE_VALUE errors: a request carried a key twice", n)
	}

	// The model: each key's changes in stream order.
	byKey := map[string][]*change{}
	for _, c := range changes {
		k := c.pipeline + ":" + strings.ToLower(c.key)
		byKey[k] = append(byKey[k], c)
	}
	got := map[string]map[string]any{}
	accs, err := e.sim.Server.Records("Account")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range accs {
		got["accounts:"+strings.ToLower(fmt.Sprint(r["External_Key__c"]))] = r
	}
	items, err := e.sim.Server.Records("Item__c")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range items {
		got["items:"+strings.ToLower(fmt.Sprint(r["Id"]))] = r
	}
	codes := map[string]int{}
	wrong, superseded := 0, 0
	for k, cs := range byKey {
		slices.SortFunc(cs, func(a, b *change) int { return int(a.stream) - int(b.stream) })
		for _, c := range cs {
			o := outcome[fmt.Sprintf("%s-%d", c.job, c.seq)]
			if o.Status == messages.StatusDeadLettered || o.Code != "" {
				codes[o.Code]++
			}
			if o.Code == messages.CodeSuperseded {
				superseded++
			}
		}
		var start map[string]any
		if strings.HasPrefix(k, "items:") {
			start = map[string]any{} // exists before its changes
		}
		states, problems := modelStates(cs, outcome, start)
		for _, p := range problems {
			t.Errorf("%s: %s; the key's changes:\n%s", k, p, history(cs, outcome))
		}
		g, exists := got[k]
		if !slices.ContainsFunc(states, func(w map[string]any) bool { return sameState(w, g, exists) }) {
			wrong++
			t.Errorf("%s: the org holds %v (exists %v), which no application of its changes in order gives: %v; the key's changes:\n%s",
				k, g, exists, states, history(cs, outcome))
		}
	}
	st := e.sim.Server.Stats()
	t.Logf("%d keys checked, %d wrong; %d changes superseded; outcomes by code %v; simulator errors %v; replicas at the end %d",
		len(byKey), wrong, superseded, codes, st.ErrorsByCode, len(running))
}

// history lists a key's changes with their outcomes, for failure messages.
func history(cs []*change, outcome map[string]jobs.Outcome) string {
	var b strings.Builder
	for _, c := range cs {
		o := outcome[fmt.Sprintf("%s-%d", c.job, c.seq)]
		fmt.Fprintf(&b, "  stream %d %s-%d %s %v: %s %s (delivery %d, attempts %d) %s\n", c.stream, c.job, c.seq, c.op, c.rec, o.Status, o.Code, o.Delivery, o.Attempts, o.ID)
	}
	return b.String()
}

// Three replicas share a keyed pipeline's partitions through the workers
// bucket: each owns its share (5 or 6 of 16), no partition has two owners
// and none is left out; when one stops, the two left take its share.
func TestReplicasShareThePartitions(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	var rs []*running
	for i := 1; i <= 3; i++ {
		rs = append(rs, e.start(func(o *worker.Config) { o.ID = fmt.Sprintf("replica-%d", i) }))
	}
	check := func(live int) func() bool {
		return func() bool {
			ws, err := messages.ListWorkers(ctxT(t), e.js, e.topo)
			if err != nil || len(ws) != live {
				return false
			}
			owner := map[int]string{}
			for _, w := range ws {
				for _, p := range w.Pipelines {
					if p.Name != "accounts" {
						continue
					}
					if n := len(p.Partitions); n < 16/live || n > (16+live-1)/live {
						return false
					}
					for _, part := range p.Partitions {
						if _, dup := owner[part]; dup {
							return false
						}
						owner[part] = w.ID
					}
				}
			}
			return len(owner) == 16
		}
	}
	e.waitFor("three replicas to share the 16 partitions evenly", check(3))
	rs[0].stop(t)
	e.waitFor("the two left to share them", check(2))
}

// modelStates applies a key's changes in stream order and returns the
// states the key may end in (nil: no record). Each change is applied as
// its outcome says: loaded, it applied; dead-lettered NOT_FOUND or
// ENTITY_IS_DELETED, nothing changed (a delete: the record is gone either
// way, already or by an earlier attempt whose answer was lost); skipped as
// superseded — a redelivery that came after a later change of the key was
// loaded — it may have applied (by its earlier holder) or not, but only in
// its place in the order, so both are followed.
func modelStates(cs []*change, outcome map[string]jobs.Outcome, start map[string]any) (states []map[string]any, problems []string) {
	apply := func(state map[string]any, c *change) map[string]any {
		switch {
		case c.op == pipeline.Delete:
			return nil
		case state == nil && c.op == pipeline.Update:
			return nil // an update of a deleted record changes nothing
		}
		next := map[string]any{}
		for f, v := range state {
			next[f] = v
		}
		next["Name"] = c.rec["name"]
		if sc, ok := c.rec["score"]; ok {
			next["Score__c"] = sc
		}
		return next
	}
	states = []map[string]any{start}
	for _, c := range cs {
		o := outcome[fmt.Sprintf("%s-%d", c.job, c.seq)]
		var next []map[string]any
		for _, state := range states {
			switch {
			case o.Status == messages.StatusLoaded:
				if state == nil && c.op == pipeline.Update {
					continue // not this branch: an update of a deleted record fails
				}
				next = append(next, apply(state, c))
			case o.Status == messages.StatusDeadLettered && (o.Code == "NOT_FOUND" || o.Code == "ENTITY_IS_DELETED"):
				if c.op == pipeline.Delete {
					next = append(next, nil)
				} else {
					next = append(next, state)
				}
			case o.Status == messages.StatusSkipped && o.Code == messages.CodeSuperseded:
				next = append(next, state, apply(state, c))
			case o.Status == messages.StatusDeadLettered:
				problems = append(problems, fmt.Sprintf("change %s-%d (%s) dead-lettered: %s %s", c.job, c.seq, c.op, o.Code, o.Message))
				next = append(next, state)
			default:
				problems = append(problems, fmt.Sprintf("change %s-%d has no final outcome: %+v", c.job, c.seq, o))
				next = append(next, state)
			}
		}
		if len(next) == 0 {
			problems = append(problems, fmt.Sprintf("change %s-%d updated a deleted record and was reported loaded", c.job, c.seq))
			next = states
		}
		// The branches meet again: keep each distinct state once.
		seen := map[string]bool{}
		states = states[:0]
		for _, st := range next {
			if k := fmt.Sprint(st); !seen[k] {
				seen[k] = true
				states = append(states, st)
			}
		}
	}
	return states, problems
}

// sameState reports whether the org's record matches a model state.
func sameState(want, got map[string]any, exists bool) bool {
	if want == nil || !exists {
		return want == nil && !exists
	}
	for f, v := range want {
		if got[f] != v {
			return false
		}
	}
	return true
}
