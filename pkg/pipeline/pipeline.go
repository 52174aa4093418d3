package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// Batch size bounds.
const (
	DefaultBatchSize  = 200
	MaxBatchSize      = 10_000
	DefaultConcurrent = 4
)

// Options configures a Pipeline; the names follow the original's keyword
// arguments (client, sobject, mapper, mode, external_id_field, batch_size,
// stop_on_error, callbacks) plus Kinetic's own.
type Options struct {
	// Client talks to Salesforce. Required.
	Client *salesforce.Client
	// SObject is the object's API name, e.g. "Account". Required.
	SObject string
	// Mapper maps source records to Salesforce fields. nil sends records as
	// they are.
	Mapper *FieldMapper
	// Mode is insert, update, upsert or delete. Default insert, as the original.
	Mode SyncMode
	// ExternalIDField is the field upsert matches on. Required for upsert.
	ExternalIDField string
	// BatchSize is the number of records per batch: the unit of
	// OnBatchComplete and of stop_on_error. Each batch goes out as
	// Collections calls of up to 200 records. Default 200, range 1..10000.
	BatchSize int
	// StopOnError stops at the first failed record: the calls already running
	// finish, nothing else is sent, the rest is counted as skipped, and Sync
	// returns the partial result with an error wrapping the first failure.
	// Batches then run one at a time.
	StopOnError bool
	// Callbacks are the lifecycle hooks.
	Callbacks Callbacks
	// Concurrency is the most Collections calls in flight. Default 4, range 1..64.
	Concurrency int
	// API is collections, bulk or auto (default): auto uses Bulk API 2.0 when
	// one Sync has more than BulkThreshold records and StopOnError is off.
	API API
	// BulkThreshold is auto's switch-over point. Default 10,000.
	BulkThreshold int
	// BulkPoll spaces Bulk API 2.0 job polls.
	BulkPoll salesforce.PollPolicy
	// Retry is the retry policy (see RetryPolicy for defaults).
	Retry RetryPolicy
	// Logger gets one line per sync and warnings. Default: disabled.
	Logger zerolog.Logger
	// Now is the clock for elapsed times. Default time.Now.
	Now func() time.Time

	// Schema checks (check.go, values.go; docs/configuration.md).

	// Name names the pipeline in errors; FromConfig sets it.
	Name string
	// Schema is the describe of SObject and of the objects its relationship
	// targets reference. nil: New reads them through Client's describe cache
	// (CheckPipeline returns one to pass here). New refuses a pipeline that
	// does not fit them with a *SchemaError listing every problem, and
	// checks each mapped record's values against them before sending.
	Schema *Schema
	// SkipSchema builds the pipeline without describe: no start-up check,
	// no value check, and no call to Salesforce in New. For offline use and
	// for callers that check elsewhere.
	SkipSchema bool
	// SkipValueCheck turns the value check off (check_values: false); the
	// start-up check still runs.
	SkipValueCheck bool
	// CheckRequired adds REQUIRED_FIELD_MISSING to the value check of an
	// insert (check_required: true). Off by default: flows and triggers that
	// run before save may fill required fields after this check would run.
	CheckRequired bool
}

// ConfigError names the option that makes a configuration invalid.
type ConfigError struct {
	Field string // config key, e.g. "external_id_field"
	Msg   string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }

func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = Insert
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrent
	}
	if o.API == "" {
		o.API = APIAuto
	}
	if o.BulkThreshold == 0 {
		o.BulkThreshold = DefaultBulkThreshold
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Retry = o.Retry.WithDefaults()
	return o
}

func (o Options) validate() error {
	err := o.validateSettings()
	if o.Client == nil {
		err = errors.Join(&ConfigError{Field: "client", Msg: "required"}, err)
	}
	return err
}

// validateSettings checks everything but the client (config files have none).
func (o Options) validateSettings() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(o.SObject) == "" {
		bad("sobject", "required")
	} else if !fieldNameRE.MatchString(o.SObject) {
		bad("sobject", "%q is not a valid object API name", o.SObject)
	}
	if !o.Mode.Valid() {
		bad("mode", "unknown mode %q (want insert, update, upsert or delete)", o.Mode)
	}
	if o.Mode == Upsert && o.ExternalIDField == "" {
		bad("external_id_field", "required for mode upsert")
	}
	if o.ExternalIDField != "" && !fieldNameRE.MatchString(o.ExternalIDField) {
		bad("external_id_field", "%q is not a valid field name", o.ExternalIDField)
	}
	if o.BatchSize < 1 || o.BatchSize > MaxBatchSize {
		bad("batch_size", "%d is out of range 1..%d", o.BatchSize, MaxBatchSize)
	}
	if o.Concurrency < 1 || o.Concurrency > 64 {
		bad("concurrency", "%d is out of range 1..64", o.Concurrency)
	}
	if _, err := ParseAPI(string(o.API)); err != nil {
		bad("api", "%v", err)
	}
	if o.BulkThreshold < 1 {
		bad("bulk_threshold", "%d must be positive", o.BulkThreshold)
	}
	if o.StopOnError && o.API == APIBulk {
		bad("stop_on_error", "needs api collections or auto: a Bulk API 2.0 job cannot stop at the first error")
	}
	return errors.Join(errs...)
}

// Pipeline syncs records into one Salesforce object. It is safe to call Sync
// from several goroutines; they share the loader's concurrency limit.
type Pipeline struct {
	opts   Options
	loader *Loader
	log    zerolog.Logger
	// schema is the describe the pipeline checks against (check.go); nil
	// with SkipSchema. It is replaced when it is older than the client's
	// DescribeTTL and by RefreshSchema.
	schema    atomic.Pointer[schemaState]
	refreshMu sync.Mutex
	nextTry   time.Time // guarded by refreshMu: no automatic refresh before
	staleAt   time.Duration
}

// New checks opts and builds a Pipeline. An invalid configuration is an
// error naming the option (a *ConfigError, joined when several are wrong).
//
// Unless opts.SkipSchema is set, New checks the pipeline against its
// object's describe (opts.Schema, or read through the client's describe
// cache, retrying transient failures as opts.Retry says) and refuses one
// that does not fit with a *SchemaError listing every problem; when
// Salesforce cannot be asked, the error wraps the describe call's error
// (salesforce.Classify tells transient from permanent). It is
// NewContext(context.Background(), opts).
func New(opts Options) (*Pipeline, error) {
	return NewContext(context.Background(), opts)
}

// NewContext is New with a context for the describe calls.
func NewContext(ctx context.Context, opts Options) (*Pipeline, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	loader, err := NewLoader(LoaderConfig{
		Client: opts.Client, SObject: opts.SObject, Mode: opts.Mode, ExternalIDField: opts.ExternalIDField,
		Concurrency: opts.Concurrency, API: opts.API, BulkThreshold: opts.BulkThreshold,
		BulkPoll: opts.BulkPoll, Retry: opts.Retry, Logger: opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p := &Pipeline{opts: opts, loader: loader, log: opts.Logger}
	if err := p.useSchema(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Schema returns the describes the pipeline was checked against, nil when
// it was built with SkipSchema.
func (p *Pipeline) Schema() *Schema {
	if st := p.schema.Load(); st != nil {
		return st.schema
	}
	return nil
}

// Options returns the pipeline's defaulted options.
func (p *Pipeline) Options() Options { return p.opts }

// Loader returns the pipeline's loader, which the worker shares.
func (p *Pipeline) Loader() *Loader { return p.loader }

// ErrStopped is matched (errors.Is) by the error Sync returns when
// stop_on_error ended it.
var ErrStopped = errors.New("stopped on error")

// StopError is returned by Sync when stop_on_error ended it; First is the
// first failure seen.
type StopError struct{ First *RecordError }

func (e *StopError) Error() string { return "pipeline stopped on error: " + e.First.Error() }

// Unwrap lets errors.Is match ErrStopped and errors.As reach the RecordError.
func (e *StopError) Unwrap() []error { return []error{ErrStopped, e.First} }

// Prepare maps and validates one source record exactly as Sync does: the
// worker calls it for each message, then loads the items with Loader. idx
// becomes the Item's Seq and the RecordError's Index. The item carries the
// record's key (RecordKey), which orders its changes. When the pipeline has
// a describe, the mapped values are checked against it (values.go): a value
// Salesforce would refuse fails here with Salesforce's code and PreCheck
// set, and costs no API call.
func (p *Pipeline) Prepare(idx int, rec map[string]any) (Item, *RecordError) {
	return p.PrepareOp(idx, rec, p.opts.Mode)
}

// PrepareOp is Prepare for a change whose operation is op: the pipeline's
// mode, or Delete for a pipeline that takes deletes (a delete of the same
// key: by external id in an upsert pipeline, by Id in an update pipeline).
func (p *Pipeline) PrepareOp(idx int, rec map[string]any, op SyncMode) (Item, *RecordError) {
	o := p.opts
	fail := func(code, format string, args ...any) (Item, *RecordError) {
		return Item{}, &RecordError{Index: idx, Record: rec, Code: code, Message: fmt.Sprintf(format, args...)}
	}
	if rec == nil {
		return fail(CodeInvalidRecord, "record is null")
	}
	mapped := salesforce.Record(rec)
	if o.Mapper != nil {
		m, err := o.Mapper.Map(rec)
		if err != nil {
			e := &RecordError{Index: idx, Record: rec, Code: CodeMappingFailed, Message: err.Error()}
			var me *MappingError
			if errors.As(err, &me) {
				e.Fields = []string{me.Target}
			}
			return Item{}, e
		}
		mapped = m
	}
	if err := ValidateRecord(op, o.ExternalIDField, mapped); err != nil {
		err.Index, err.Record = idx, rec
		return Item{}, err
	}
	if op == Delete {
		// A delete sends nothing but the key.
		f := KeyField(op, o.ExternalIDField)
		v, _ := lookupFold(mapped, f)
		mapped = salesforce.Record{f: v}
	} else if vc := p.valueChecker(); vc != nil {
		if err := vc.check(mapped); err != nil {
			err.Index, err.Record = idx, rec
			return Item{}, err
		}
	}
	return Item{Seq: idx, Record: mapped, Key: RecordKey(op, o.ExternalIDField, mapped), Op: op}, nil
}

// ValidateRecord checks what a mode needs before a record is sent: update
// and delete need a well-formed Id, upsert needs the external id value. The
// error has the project's own code; Index and Record are left to the caller.
func ValidateRecord(mode SyncMode, externalIDField string, rec salesforce.Record) *RecordError {
	asked := mode
	if mode == Delete && externalIDField != "" {
		// A delete by external id needs what an upsert needs.
		mode = Upsert
	}
	switch mode {
	case Update, Delete:
		v, ok := rec["Id"]
		id, isStr := v.(string)
		switch {
		case !ok || v == nil || (isStr && strings.TrimSpace(id) == ""):
			return &RecordError{Code: CodeMissingID, Message: fmt.Sprintf("mode %s needs the record's Id", mode), Fields: []string{"Id"}}
		case !isStr || !salesforce.ValidID(id):
			return &RecordError{Code: CodeMalformedID, Message: "Id is not a 15- or 18-character Salesforce id", Fields: []string{"Id"}}
		}
	case Upsert:
		v, found := lookupFold(rec, externalIDField)
		empty := !found || v == nil
		if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
			empty = true
		}
		if empty {
			return &RecordError{Code: CodeMissingExternalID, Message: fmt.Sprintf("mode %s needs a value for the external id field %s", asked, externalIDField), Fields: []string{externalIDField}}
		}
		switch v.(type) {
		case string, float64, int, int64:
		default:
			return &RecordError{Code: CodeMissingExternalID, Message: fmt.Sprintf("the external id field %s holds %s, not text or a number", externalIDField, describe(v)), Fields: []string{externalIDField}}
		}
	}
	return nil
}

// lookupFold finds a field case-insensitively, as Salesforce matches names.
func lookupFold(rec salesforce.Record, field string) (any, bool) {
	if v, ok := rec[field]; ok {
		return v, true
	}
	for k, v := range rec {
		if strings.EqualFold(k, field) {
			return v, true
		}
	}
	return nil, false
}

// outcomeError turns a failed Outcome into a RecordError with a code
// (ErrorCode).
func outcomeError(idx int, rec map[string]any, out Outcome) *RecordError {
	code, msg, fields := ErrorCode(out.Err)
	return &RecordError{Index: idx, Record: rec, Attempts: out.Attempts, Code: code, Message: msg, Fields: fields}
}

// ErrorCode is the one mapping from a loading error to the code, message
// and fields a failed record is reported (and dead-lettered) with, shared
// by Sync and the worker:
//
//	*salesforce.SaveError           its statusCode (REQUIRED_FIELD_MISSING, …)
//	*salesforce.APIError with a code  its errorCode (JSON_PARSER_ERROR, …)
//	*salesforce.APIError without      HTTP_<status> (a 503 with no body: HTTP_503)
//	*salesforce.AuthError             AUTH_<error>, upper case (AUTH_INVALID_GRANT)
//	context cancelled or expired      KINETIC_CANCELED
//	anything else                     KINETIC_CALL_FAILED
func ErrorCode(err error) (code, msg string, fields []string) {
	var (
		re   *salesforce.SaveError
		api  *salesforce.APIError
		auth *salesforce.AuthError
	)
	switch {
	case err == nil:
		return "", "", nil
	case errors.As(err, &re):
		return re.StatusCode, re.Message, re.Fields
	case errors.As(err, &api) && api.Code != "":
		return api.Code, api.Message, api.Fields
	case errors.As(err, &api):
		msg := api.Message
		if msg == "" {
			msg = err.Error()
		}
		return "HTTP_" + strconv.Itoa(api.HTTPStatus), msg, nil
	case errors.As(err, &auth):
		msg := auth.Description
		if msg == "" {
			msg = err.Error()
		}
		return "AUTH_" + strings.ToUpper(auth.Code), msg, nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return CodeCanceled, err.Error(), nil
	}
	return CodeCallFailed, err.Error(), nil
}
