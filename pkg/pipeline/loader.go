package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/clock"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// API selects the Salesforce API a loader uses.
type API string

// APIs.
const (
	// APICollections sends sObject Collections calls of up to 200 records.
	APICollections API = "collections"
	// APIBulk runs Bulk API 2.0 jobs: far fewer API calls, minutes of latency.
	APIBulk API = "bulk"
	// APIAuto uses Collections, and Bulk API 2.0 when one load has more
	// records than the bulk threshold.
	APIAuto API = "auto"
)

// ParseAPI parses an API name; "" is APIAuto.
func ParseAPI(s string) (API, error) {
	switch a := API(strings.ToLower(strings.TrimSpace(s))); a {
	case "":
		return APIAuto, nil
	case APICollections, APIBulk, APIAuto:
		return a, nil
	}
	return "", fmt.Errorf("unknown api %q (want collections, bulk or auto)", s)
}

// DefaultBulkThreshold is the record count above which APIAuto uses Bulk API 2.0.
const DefaultBulkThreshold = 10_000

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	Client          *salesforce.Client
	SObject         string
	Mode            SyncMode
	ExternalIDField string // upsert only
	// Concurrency is the most Collections calls in flight at once, across
	// every Load running on this loader. Default 4.
	Concurrency   int
	API           API // default APIAuto
	BulkThreshold int // default DefaultBulkThreshold
	BulkPoll      salesforce.PollPolicy
	Retry         RetryPolicy
	Logger        zerolog.Logger
}

// Loader sends mapped records to Salesforce with retries. It is the one
// loading path of Kinetic: Pipeline.Sync and the JetStream worker both use
// it. It never touches messages; it reports one Outcome per record.
//
// What it guarantees:
//   - a call failing as a whole with a transient error is retried with
//     backoff and jitter, up to RetryPolicy.CallAttempts;
//   - while Salesforce answers REQUEST_LIMIT_EXCEEDED it waits (up to
//     RateLimitWait), it does not fail records;
//   - after a partial failure only the failed, retryable records are sent
//     again: a record Salesforce accepted is never re-sent;
//   - a call refused as a whole (HTTP 400) with several records is split in
//     halves until the offending records are found, so one bad record cannot
//     fail 199 good ones.
type Loader struct {
	cfg LoaderConfig
	sem chan struct{}
}

// NewLoader checks cfg and builds a Loader.
func NewLoader(cfg LoaderConfig) (*Loader, error) {
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	if cfg.API == "" {
		cfg.API = APIAuto
	}
	if cfg.BulkThreshold == 0 {
		cfg.BulkThreshold = DefaultBulkThreshold
	}
	cfg.Retry = cfg.Retry.WithDefaults()
	switch {
	case cfg.Client == nil:
		return nil, errors.New("loader: Client is required")
	case cfg.SObject == "":
		return nil, errors.New("loader: SObject is required")
	case !cfg.Mode.Valid():
		return nil, fmt.Errorf("loader: Mode: unknown mode %q", cfg.Mode)
	case cfg.Mode == Upsert && cfg.ExternalIDField == "":
		return nil, errors.New("loader: ExternalIDField is required for upsert")
	case cfg.Concurrency < 1 || cfg.Concurrency > 64:
		return nil, fmt.Errorf("loader: Concurrency %d is out of range 1..64", cfg.Concurrency)
	}
	if _, err := ParseAPI(string(cfg.API)); err != nil {
		return nil, fmt.Errorf("loader: API: %w", err)
	}
	return &Loader{cfg: cfg, sem: make(chan struct{}, cfg.Concurrency)}, nil
}

// Item is one mapped, validated record to load: one change of a record.
// Seq is the caller's reference (an input index, a job sequence); the
// loader does not read it.
type Item struct {
	Seq    int
	Record salesforce.Record
	// Key names the record the change is for (RecordKey): a key's changes
	// are written in the order the loader receives them, never two in one
	// request. "" for a change without a key (an insert).
	Key string
	// Op is the change's operation; "" is the loader's Mode. A pipeline
	// that takes deletes (PipelineConfig.Deletes) mixes its mode with
	// Delete, keyed the same way.
	Op SyncMode

	alone bool // never merged with another change (split from a merged write)
}

// Outcome is what happened to one Item.
type Outcome struct {
	ID       string           // Salesforce id on success (and for failed updates/deletes when known)
	Created  bool             // the record was created (insert, or upsert that inserted)
	Err      error            // nil on success: *salesforce.SaveError, or the call's error
	Class    salesforce.Class // ClassNone on success
	Attempts int              // times the record was sent
	Skipped  bool             // never sent: LoadOptions.Stop said stop
	// Released: the change failed for now and is given back to the caller
	// (StreamOptions.Decide said Release), to be tried again after After.
	Released bool
	After    time.Duration
}

// OK reports a loaded record.
func (o *Outcome) OK() bool { return o.Err == nil && !o.Skipped && !o.Released }

// LoadStats counts the cost of a Load.
type LoadStats struct {
	APICalls int // REST calls, bulk polls included
	Retries  int // calls made again after a transient failure or for retryable records
	API      API // the API used
	Merged   int // changes merged into the write of an earlier change of their key
}

// LoadOptions adjusts one Load.
type LoadOptions struct {
	// Stop, when it returns true, skips the calls not yet started
	// (stop_on_error). Calls already running finish.
	Stop func() bool
}

// Load sends items and returns an outcome per item, in order. It returns
// when every item has an outcome; a context that ends interrupts waiting
// and calls, giving those records ctx's error (class transient).
func (l *Loader) Load(ctx context.Context, items []Item, opts LoadOptions) ([]Outcome, LoadStats) {
	out := make([]Outcome, len(items))
	if l.chooseAPI(items, opts) == APIBulk {
		var st LoadStats
		l.loadBulkRounds(ctx, items, out, &st)
		st.API = APIBulk
		return out, st
	}
	// Stream identifies items by position; Seq is the caller's.
	in := make(chan []Item, 1)
	tagged := make([]Item, len(items))
	for i, it := range items {
		tagged[i] = Item{Seq: i, Record: it.Record, Key: it.Key, Op: it.Op}
	}
	in <- tagged
	close(in)
	st := l.Stream(ctx, in, StreamOptions{Stop: opts.Stop, Done: func(it Item, o Outcome) { out[it.Seq] = o }})
	return out, st
}

func (l *Loader) chooseAPI(items []Item, opts LoadOptions) API {
	if l.deletesByExternalID() {
		// Bulk API 2.0 deletes by Id only: a delete by external id needs the
		// query Collections loading does first.
		for _, it := range items {
			if it.Op == Delete {
				return APICollections
			}
		}
	}
	return l.chooseAPIFor(len(items), opts)
}

// chooseAPIFor chooses by the number of records and the loader's mode.
func (l *Loader) chooseAPIFor(n int, opts LoadOptions) API {
	if l.cfg.Mode == Delete && l.deletesByExternalID() {
		return APICollections
	}
	switch l.cfg.API {
	case APIBulk:
		return APIBulk
	case APIAuto:
		// Bulk jobs cannot stop at the first error.
		if n > l.cfg.BulkThreshold && opts.Stop == nil {
			return APIBulk
		}
	}
	return APICollections
}

func recordErr(res salesforce.SaveResult) *salesforce.SaveError {
	if len(res.Errors) == 0 {
		return &salesforce.SaveError{StatusCode: "UNKNOWN_EXCEPTION", Message: "Salesforce reported a failure without an error"}
	}
	e := res.Errors[0]
	return &e
}

func (l *Loader) acquire(ctx context.Context) error {
	select {
	case l.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Loader) release() { <-l.sem }

// call sends the records in one Collections call.
func (l *Loader) call(ctx context.Context, op SyncMode, recs []salesforce.Record) ([]salesforce.SaveResult, error) {
	c := l.cfg.Client
	switch op {
	case Delete:
		if l.deletesByExternalID() {
			return l.deleteByExternalID(ctx, recs)
		}
		ids := make([]string, len(recs))
		for k, r := range recs {
			ids[k], _ = r["Id"].(string)
		}
		return c.Delete(ctx, ids)
	case Insert:
		return c.Insert(ctx, l.cfg.SObject, recs)
	case Update:
		return c.Update(ctx, l.cfg.SObject, recs)
	default:
		return c.Upsert(ctx, l.cfg.SObject, l.cfg.ExternalIDField, recs)
	}
}

// deletesByExternalID reports whether deletes name their records by the
// external id (an upsert pipeline that takes deletes, or a delete pipeline
// with external_id_field) rather than by Id.
func (l *Loader) deletesByExternalID() bool { return l.cfg.ExternalIDField != "" }

// deleteByExternalID deletes records named by their external id: one SOQL
// query finds their Ids, one Collections call deletes them. A key that
// matches no record fails with NOT_FOUND, as Salesforce's own delete by
// external id (DELETE /sobjects/{SObject}/{field}/{value}) answers.
func (l *Loader) deleteByExternalID(ctx context.Context, recs []salesforce.Record) ([]salesforce.SaveResult, error) {
	f := l.cfg.ExternalIDField
	keys := make([]string, len(recs))
	var lits []string
	for k, r := range recs {
		v, _ := lookupFold(r, f)
		keys[k] = strings.ToLower(keyText(v))
		lits = append(lits, soqlQuote(keyText(v)))
	}
	soql := fmt.Sprintf("SELECT Id, %s FROM %s WHERE %s IN (%s)", f, l.cfg.SObject, f, strings.Join(lits, ","))
	found := map[string]string{}
	it := l.cfg.Client.Query(ctx, soql)
	for it.Next() {
		r := it.Record()
		id, _ := r["Id"].(string)
		v, _ := lookupFold(r, f)
		found[strings.ToLower(keyText(v))] = id
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	out := make([]salesforce.SaveResult, len(recs))
	var ids []string
	var at []int
	for k, key := range keys {
		id, ok := found[key]
		if !ok {
			out[k] = salesforce.SaveResult{Errors: []salesforce.SaveError{{StatusCode: "NOT_FOUND",
				Message: fmt.Sprintf("no %s record has %s %s", l.cfg.SObject, f, keyOf(recs[k], f))}}}
			continue
		}
		ids, at = append(ids, id), append(at, k)
	}
	if len(ids) == 0 {
		return out, nil
	}
	res, err := l.cfg.Client.Delete(ctx, ids)
	if err != nil {
		return nil, err
	}
	for j, r := range res {
		out[at[j]] = r
	}
	return out, nil
}

func keyOf(r salesforce.Record, f string) string {
	v, _ := lookupFold(r, f)
	return keyText(v)
}

// soqlQuote writes s as a SOQL string literal.
func soqlQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return "'" + r.Replace(s) + "'"
}

var bulkOps = map[SyncMode]salesforce.BulkOperation{
	Insert: salesforce.BulkInsert, Update: salesforce.BulkUpdate,
	Upsert: salesforce.BulkUpsert, Delete: salesforce.BulkDelete,
}

// bulkUnit is one write of a Bulk API 2.0 job: one change, or several
// changes of one key merged (MergeChanges).
type bulkUnit struct {
	members []int // positions in the Load's items
	op      SyncMode
	rec     salesforce.Record
}

// loadBulkRounds loads items through Bulk API 2.0 jobs without ever putting
// a key in a job twice (Salesforce fails every copy of a repeated key in a
// processing chunk): each key's changes are merged where that gives the
// same result, and what cannot be merged goes in rounds — a key's first
// write in round 1, its second in round 2, … — each round a job per
// operation, run after the one before, so a key's writes land in order.
func (l *Loader) loadBulkRounds(ctx context.Context, items []Item, out []Outcome, st *LoadStats) {
	var rounds [][]*bulkUnit
	last := map[string]*bulkUnit{} // a key's latest write
	depth := map[string]int{}      // rounds a key has writes in
	for i, it := range items {
		op := it.Op
		if op == "" {
			op = l.cfg.Mode
		}
		if it.Key != "" {
			if u := last[it.Key]; u != nil {
				if rec, ok := MergeChanges(u.op, u.rec, op, it.Record); ok {
					u.rec = rec
					u.members = append(u.members, i)
					st.Merged++
					continue
				}
			}
		}
		u := &bulkUnit{members: []int{i}, op: op, rec: it.Record}
		r := 0
		if it.Key != "" {
			r = depth[it.Key]
			depth[it.Key] = r + 1
			last[it.Key] = u
		}
		for len(rounds) <= r {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], u)
	}
	for _, round := range rounds {
		byOp := map[SyncMode][]*bulkUnit{}
		var ops []SyncMode
		for _, u := range round {
			if byOp[u.op] == nil {
				ops = append(ops, u.op)
			}
			byOp[u.op] = append(byOp[u.op], u)
		}
		for _, op := range ops {
			l.loadBulk(ctx, op, byOp[op], out, st)
		}
		l.splitFailedMerges(ctx, items, round, out, st)
	}
}

// splitFailedMerges writes the changes of merged writes that failed for
// good one by one, in order, before the next round, so each gets its own
// outcome (one of them may be fine on its own).
func (l *Loader) splitFailedMerges(ctx context.Context, items []Item, round []*bulkUnit, out []Outcome, st *LoadStats) {
	var again []Item
	for _, u := range round {
		o := out[u.members[0]]
		if len(u.members) < 2 || o.Err == nil || (o.Class != salesforce.ClassPermanentRecord && o.Class != salesforce.ClassPermanentRequest) {
			continue
		}
		for _, i := range u.members {
			it := items[i]
			again = append(again, Item{Seq: i, Record: it.Record, Key: it.Key, Op: it.Op, alone: true})
		}
	}
	if len(again) == 0 || ctx.Err() != nil {
		return
	}
	in := make(chan []Item, 1)
	in <- again
	close(in)
	sub := l.Stream(ctx, in, StreamOptions{Done: func(it Item, o Outcome) {
		o.Attempts += out[it.Seq].Attempts
		out[it.Seq] = o
	}})
	st.APICalls += sub.APICalls
	st.Retries += sub.Retries
}

// loadBulk loads writes of one operation through Bulk API 2.0 jobs, running
// another job for the writes that failed with a retryable error or were not
// processed.
func (l *Loader) loadBulk(ctx context.Context, op SyncMode, units []*bulkUnit, out []Outcome, st *LoadStats) {
	p := l.cfg.Retry
	bo := p.NewBackOff()
	set := func(u *bulkUnit, o Outcome) {
		for k, i := range u.members {
			oi := o
			oi.Attempts = out[u.members[0]].Attempts
			if k > 0 {
				oi.Created = false // a merged write creates once, for its first change
			}
			out[i] = oi
		}
	}
	pending := units
	jobFails := 0
	for len(pending) > 0 {
		recs := make([]salesforce.Record, len(pending))
		for k, u := range pending {
			recs[k] = u.rec
			if op == Delete {
				recs[k] = salesforce.Record{"Id": u.rec["Id"]}
			}
		}
		res, err := l.cfg.Client.BulkIngest(ctx, salesforce.BulkRequest{
			Object: l.cfg.SObject, Operation: bulkOps[op], ExternalIDField: l.cfg.ExternalIDField,
			Records: recs, Poll: l.cfg.BulkPoll,
		})
		if res != nil {
			st.APICalls += res.APICalls
		}
		for _, u := range pending {
			out[u.members[0]].Attempts++
		}
		if err != nil {
			class := salesforce.Classify(err)
			jobFails++
			if ctx.Err() != nil || !class.Retryable() || (p.CallAttempts > 0 && jobFails >= p.CallAttempts) {
				if ctx.Err() != nil {
					err, class = ctx.Err(), salesforce.ClassTransient
				}
				for _, u := range pending {
					set(u, Outcome{Err: err, Class: class})
				}
				return
			}
			st.Retries++
			if clock.Sleep(ctx, bo.NextBackOff()) != nil {
				for _, u := range pending {
					set(u, Outcome{Err: ctx.Err(), Class: salesforce.ClassTransient})
				}
				return
			}
			continue
		}
		var retry []*bulkUnit
		for k, r := range res.Results {
			u := pending[k]
			var o Outcome
			switch {
			case r.Success:
				o = Outcome{ID: r.ID, Created: r.Created}
			case r.Unprocessed:
				o = Outcome{Err: &salesforce.SaveError{StatusCode: "UNPROCESSED", Message: "the bulk job ended before processing the record"}, Class: salesforce.ClassRetryableRecord}
			default:
				o = Outcome{ID: r.ID, Err: r.Error, Class: salesforce.ClassifyCode(r.Error.StatusCode)}
			}
			set(u, o)
			if o.Class == salesforce.ClassRetryableRecord && out[u.members[0]].Attempts < p.RecordAttempts {
				retry = append(retry, u)
			}
		}
		if len(retry) > 0 {
			st.Retries++
			if clock.Sleep(ctx, bo.NextBackOff()) != nil {
				return
			}
		}
		pending = retry
	}
}
