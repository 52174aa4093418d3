package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

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

// Item is one mapped, validated record to load. Seq is the caller's
// reference (an input index, a job sequence); the loader does not read it.
type Item struct {
	Seq    int
	Record salesforce.Record
}

// Outcome is what happened to one Item.
type Outcome struct {
	ID       string           // Salesforce id on success (and for failed updates/deletes when known)
	Created  bool             // the record was created (insert, or upsert that inserted)
	Err      error            // nil on success: *salesforce.RecordError, or the call's error
	Class    salesforce.Class // ClassNone on success
	Attempts int              // times the record was sent
	Skipped  bool             // never sent: LoadOptions.Stop said stop
}

// OK reports a loaded record.
func (o *Outcome) OK() bool { return o.Err == nil && !o.Skipped }

// LoadStats counts the cost of a Load.
type LoadStats struct {
	APICalls int // REST calls, bulk polls included
	Retries  int // calls made again after a transient failure or for retryable records
	API      API // the API used
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
	if l.chooseAPI(len(items), opts) == APIBulk {
		var st LoadStats
		l.loadBulk(ctx, items, out, &st)
		st.API = APIBulk
		return out, st
	}
	// Stream identifies items by position; Seq is the caller's.
	in := make(chan []Item, 1)
	tagged := make([]Item, len(items))
	for i, it := range items {
		tagged[i] = Item{Seq: i, Record: it.Record}
	}
	in <- tagged
	close(in)
	st := l.Stream(ctx, in, StreamOptions{Stop: opts.Stop, Done: func(it Item, o Outcome) { out[it.Seq] = o }})
	return out, st
}

func (l *Loader) chooseAPI(n int, opts LoadOptions) API {
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

func recordErr(res salesforce.SaveResult) *salesforce.RecordError {
	if len(res.Errors) == 0 {
		return &salesforce.RecordError{StatusCode: "UNKNOWN_EXCEPTION", Message: "Salesforce reported a failure without an error"}
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
func (l *Loader) call(ctx context.Context, recs []salesforce.Record) ([]salesforce.SaveResult, error) {
	c := l.cfg.Client
	switch l.cfg.Mode {
	case Delete:
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

var bulkOps = map[SyncMode]salesforce.BulkOperation{
	Insert: salesforce.BulkInsert, Update: salesforce.BulkUpdate,
	Upsert: salesforce.BulkUpsert, Delete: salesforce.BulkDelete,
}

// loadBulk loads items through Bulk API 2.0 jobs, running another job for
// the records that failed with a retryable error or were not processed.
func (l *Loader) loadBulk(ctx context.Context, items []Item, out []Outcome, st *LoadStats) {
	p := l.cfg.Retry
	bo := p.NewBackOff()
	pending := make([]int, len(items))
	for i := range pending {
		pending[i] = i
	}
	jobFails := 0
	for len(pending) > 0 {
		recs := make([]salesforce.Record, len(pending))
		for k, i := range pending {
			recs[k] = items[i].Record
			if l.cfg.Mode == Delete {
				recs[k] = salesforce.Record{"Id": items[i].Record["Id"]}
			}
		}
		res, err := l.cfg.Client.BulkIngest(ctx, salesforce.BulkRequest{
			Object: l.cfg.SObject, Operation: bulkOps[l.cfg.Mode], ExternalIDField: l.cfg.ExternalIDField,
			Records: recs, Poll: l.cfg.BulkPoll,
		})
		if res != nil {
			st.APICalls += res.APICalls
		}
		for _, i := range pending {
			out[i].Attempts++
		}
		if err != nil {
			class := salesforce.Classify(err)
			jobFails++
			if ctx.Err() != nil || !class.Retryable() || jobFails >= p.CallAttempts {
				if ctx.Err() != nil {
					err, class = ctx.Err(), salesforce.ClassTransient
				}
				fail(out, pending, err, class)
				return
			}
			st.Retries++
			if sleep(ctx, bo.NextBackOff()) != nil {
				fail(out, pending, ctx.Err(), salesforce.ClassTransient)
				return
			}
			continue
		}
		var retry []int
		for k, r := range res.Results {
			i := pending[k]
			o := &out[i]
			switch {
			case r.Success:
				o.ID, o.Created, o.Err, o.Class = r.ID, r.Created, nil, salesforce.ClassNone
			case r.Unprocessed:
				o.Err, o.Class = &salesforce.RecordError{StatusCode: "UNPROCESSED", Message: "the bulk job ended before processing the record"}, salesforce.ClassRetryableRecord
			default:
				o.ID, o.Err, o.Class = r.ID, r.Error, salesforce.ClassifyCode(r.Error.StatusCode)
			}
			if o.Class == salesforce.ClassRetryableRecord && o.Attempts < p.RecordAttempts {
				retry = append(retry, i)
			}
		}
		if len(retry) > 0 {
			st.Retries++
			if sleep(ctx, bo.NextBackOff()) != nil {
				return
			}
		}
		pending = retry
	}
}

func fail(out []Outcome, idx []int, err error, class salesforce.Class) {
	for _, i := range idx {
		out[i].Err, out[i].Class = err, class
	}
}
