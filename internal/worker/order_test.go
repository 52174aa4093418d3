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
    worker: { ack_wait: 3s, max_deliver: 20, linger: 20ms }
  - name: items
    sobject: Item__c
    mode: update
    deletes: true
    mapping: {id: Id, name: Name, score: Score__c}
    worker: { ack_wait: 3s, max_deliver: 20, linger: 20ms }
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
					errs <- fmt.Errorf("change %d: %v", i, rerr)
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
	codes := map[string]int{}
	want := map[string]map[string]any{} // nil: no record
	for k, cs := range byKey {
		slices.SortFunc(cs, func(a, b *change) int { return int(a.stream) - int(b.stream) })
		var state map[string]any
		if strings.HasPrefix(k, "items:") {
			state = map[string]any{} // exists before its changes
		}
		for _, c := range cs {
			o := outcome[fmt.Sprintf("%s-%d", c.job, c.seq)]
			switch o.Status {
			case messages.StatusLoaded:
			case messages.StatusDeadLettered:
				codes[o.Code]++
				// An update of a deleted record: nothing changes. A delete
				// answered so: the record is gone either way (already, or by
				// an earlier attempt whose answer was lost).
				if o.Code == "NOT_FOUND" || o.Code == "ENTITY_IS_DELETED" {
					if c.op == pipeline.Delete {
						state = nil
					}
					continue
				}
				t.Errorf("%s: change %s-%d (%s) dead-lettered: %s %s", k, c.job, c.seq, c.op, o.Code, o.Message)
				continue
			default:
				t.Errorf("%s: change %s-%d has no final outcome: %+v", k, c.job, c.seq, o)
				continue
			}
			switch {
			case c.op == pipeline.Delete:
				state = nil
			case state == nil && c.op == pipeline.Update:
				t.Errorf("%s: change %s-%d updated a deleted record and was reported loaded; the key's changes:\n%s", k, c.job, c.seq, history(cs, outcome))
			default:
				if state == nil {
					state = map[string]any{}
				}
				state["Name"] = c.rec["name"]
				if s, ok := c.rec["score"]; ok {
					state["Score__c"] = s
				}
			}
		}
		want[k] = state
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
	wrong := 0
	for k, w := range want {
		g, exists := got[k]
		switch {
		case w == nil && exists:
			wrong++
			t.Errorf("%s exists (%v); its last change deleted it", k, g["Name"])
		case w != nil && !exists:
			wrong++
			t.Errorf("%s is gone; its last change was %v", k, w)
		case w != nil:
			for f, v := range w {
				if g[f] != v {
					wrong++
					t.Errorf("%s: %s = %v, want %v: an older change won", k, f, g[f], v)
				}
			}
		}
	}
	st := e.sim.Server.Stats()
	t.Logf("%d keys checked, %d wrong; dead-lettered by code %v; simulator errors %v; replicas at the end %d",
		len(want), wrong, codes, st.ErrorsByCode, len(running))
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
