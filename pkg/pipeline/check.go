package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kinetic-sync/kinetic/internal/clock"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// The start-up check: a pipeline is compared with its object's describe
// before it loads anything, as Data Loader does. A mapping that names a field
// the object lacks, writes a field the mode cannot write, or keys an upsert
// or a relationship on a field that is not an external id would fail every
// record; such a pipeline is refused with every problem listed.
// docs/configuration.md ("Schema checks") has the rules and their sources.

// Schema is what Salesforce's describe says about a pipeline's object and
// about the objects its relationship targets (Parent.External_Key__c)
// reference. Describes are shared and read-only.
type Schema struct {
	// Object is the describe of the pipeline's sObject.
	Object *salesforce.SObjectDescribe
	// Related holds the describes of referenced objects by lower-case name.
	Related map[string]*salesforce.SObjectDescribe
}

// related returns a referenced object's describe, nil when unknown.
func (s *Schema) related(name string) *salesforce.SObjectDescribe {
	if s == nil {
		return nil
	}
	return s.Related[strings.ToLower(name)]
}

// DescribeFunc reads an object's describe; (*salesforce.Client).Describe is
// one. An unknown object is an error that IsNotFound reports.
type DescribeFunc func(ctx context.Context, sobject string) (*salesforce.SObjectDescribe, error)

// IsNotFound reports whether err is Salesforce's NOT_FOUND answer (the
// describe of an object that does not exist).
func IsNotFound(err error) bool {
	var api *salesforce.APIError
	return errors.As(err, &api) && api.Code == salesforce.CodeNotFound
}

// ProblemKind says what is wrong with a pipeline against describe.
type ProblemKind string

// Problem kinds.
const (
	ProblemUnknownObject       ProblemKind = "unknown_object"       // the sObject does not exist (or the user cannot see it)
	ProblemModeNotAllowed      ProblemKind = "mode_not_allowed"     // the object cannot be created/updated/deleted
	ProblemUnknownField        ProblemKind = "unknown_field"        // no such field (compared case-insensitively)
	ProblemNotCreateable       ProblemKind = "not_createable"       // insert and upsert cannot write the field
	ProblemNotUpdateable       ProblemKind = "not_updateable"       // update and upsert cannot write the field
	ProblemNotExternalID       ProblemKind = "not_external_id"      // an upsert or relationship key that is neither externalId nor idLookup
	ProblemUnknownRelationship ProblemKind = "unknown_relationship" // Rel of Rel.Field is no relationship of the object
)

// Problem is one way a pipeline does not fit its object. Key says where in
// the pipeline's config: "mapping.<source key>", "external_id_field",
// "sobject" or "mode".
type Problem struct {
	Pipeline string      // the pipeline's name ("" for Options without one)
	SObject  string      // the object the field was looked up on
	Key      string      // the config key at fault
	Source   string      // the mapping's source key (column), "" outside the mapping
	Field    string      // the field or Rel.Field as written in the config
	Kind     ProblemKind // what is wrong
	Message  string      // a sentence for people
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Pipeline != "" {
		fmt.Fprintf(&b, "pipeline %q: ", p.Pipeline)
	}
	b.WriteString(p.Key)
	if p.Source != "" && p.Field != "" {
		b.WriteString(" → ")
		b.WriteString(p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// SchemaError refuses a pipeline that does not fit its object; it lists
// every problem found. Match it with errors.As.
type SchemaError struct {
	Pipeline string
	SObject  string
	Problems []Problem
}

func (e *SchemaError) Error() string {
	var b strings.Builder
	if e.Pipeline != "" {
		fmt.Fprintf(&b, "pipeline %q ", e.Pipeline)
	} else {
		b.WriteString("pipeline ")
	}
	n := len(e.Problems)
	fmt.Fprintf(&b, "does not fit %s (%d problem", e.SObject, n)
	if n != 1 {
		b.WriteString("s")
	}
	b.WriteString(", checked against its describe):")
	for _, p := range e.Problems {
		p.Pipeline = ""
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// checkTarget is what the start-up check looks at: a pipeline's object,
// mode, upsert key and mapping rules.
type checkTarget struct {
	name, sobject string
	mode          SyncMode
	extID         string
	specs         []FieldSpec
}

func targetOf(name string, o Options) checkTarget {
	t := checkTarget{name: name, sobject: o.SObject, mode: o.Mode, extID: o.ExternalIDField}
	if t.mode == "" {
		t.mode = Insert
	}
	if o.Mapper != nil {
		t.specs = o.Mapper.specs()
	}
	return t
}

// RelatedFunc returns the describe of an object a relationship target
// references: nil and no error when the object does not exist, an error
// when it could not be read.
type RelatedFunc func(sobject string) (*salesforce.SObjectDescribe, error)

// CheckMapping checks a pipeline against d, its object's describe (nil: the
// object does not exist), and returns every problem found, each naming the
// pipeline, the mapping key and the field. related gives the describes of
// the objects its relationship targets reference; it may be nil when the
// mapping has none. It makes no call itself; the error is related's.
//
// What is checked: the object exists and allows the mode; every target
// field exists (case-insensitively, as Salesforce matches names) and is
// createable (insert, upsert) or updateable (update, upsert) — except Id,
// the key of update and delete; external_id_field is an external id or
// idLookup field (and not Id: Collections upserts match on external ids
// only); for Rel.Field, Rel is a relationship of the object, its lookup
// field is writable, and Field is an external id or idLookup field of the
// object it references.
func CheckMapping(pc *PipelineConfig, d *salesforce.SObjectDescribe, related RelatedFunc) ([]Problem, error) {
	return checkMapping(targetOf(pc.Name, pc.options(nil)), d, related)
}

func checkMapping(t checkTarget, d *salesforce.SObjectDescribe, related RelatedFunc) ([]Problem, error) {
	var problems []Problem
	add := func(sobject, key, source, field string, kind ProblemKind, format string, args ...any) {
		problems = append(problems, Problem{Pipeline: t.name, SObject: sobject, Key: key, Source: source, Field: field,
			Kind: kind, Message: fmt.Sprintf(format, args...)})
	}
	if d == nil {
		add(t.sobject, "sobject", "", t.sobject, ProblemUnknownObject,
			"Salesforce has no object %s, or the integration user cannot see it (its describe answered NOT_FOUND)", t.sobject)
		return problems, nil
	}
	obj := d.Name
	if obj == "" {
		obj = t.sobject
	}
	creates := t.mode == Insert || t.mode == Upsert
	updates := t.mode == Update || t.mode == Upsert
	if creates && !d.Createable {
		add(obj, "mode", "", "", ProblemModeNotAllowed, "mode %s creates records, and %s is not createable", t.mode, obj)
	}
	if updates && !d.Updateable {
		add(obj, "mode", "", "", ProblemModeNotAllowed, "mode %s updates records, and %s is not updateable", t.mode, obj)
	}
	if t.mode == Delete && !d.Deletable {
		add(obj, "mode", "", "", ProblemModeNotAllowed, "%s is not deletable", obj)
	}

	// writable reports the problem of writing f in this mode, if any.
	writable := func(key, source, field string, f *salesforce.FieldDescribe) {
		if t.mode == Delete || (strings.EqualFold(f.Name, "Id") && (t.mode == Update)) {
			return
		}
		noCreate, noUpdate := creates && !f.Createable, updates && !f.Updateable
		switch {
		case noCreate && noUpdate:
			add(obj, key, source, field, ProblemNotCreateable,
				"%s.%s is neither createable nor updateable (read-only), and mode %s writes it (Salesforce refuses it: INVALID_FIELD_FOR_INSERT_UPDATE)", obj, f.Name, t.mode)
		case noCreate:
			add(obj, key, source, field, ProblemNotCreateable,
				"%s.%s is not createable, and mode %s creates records (Salesforce refuses it: INVALID_FIELD_FOR_INSERT_UPDATE)", obj, f.Name, t.mode)
		case noUpdate:
			add(obj, key, source, field, ProblemNotUpdateable,
				"%s.%s is not updateable, and mode %s updates records (Salesforce refuses it: INVALID_FIELD_FOR_INSERT_UPDATE)", obj, f.Name, t.mode)
		}
	}

	if t.mode == Upsert && t.extID != "" {
		f, ok := d.Field(t.extID)
		switch {
		case !ok:
			add(obj, "external_id_field", "", t.extID, ProblemUnknownField, "%s has no field %s", obj, t.extID)
		case strings.EqualFold(f.Name, "Id"):
			add(obj, "external_id_field", "", t.extID, ProblemNotExternalID,
				"an sObject Collections upsert matches on an external id field, never on Id; use mode update to write records by Id")
		case !f.ExternalID && !f.IDLookup:
			add(obj, "external_id_field", "", t.extID, ProblemNotExternalID,
				"%s.%s is neither an External ID field nor an idLookup field, so upsert cannot match on it", obj, f.Name)
		}
	}

	for _, s := range t.specs {
		key := "mapping." + s.Source
		parts := strings.Split(s.Target, ".")
		if len(parts) == 1 {
			f, ok := d.Field(s.Target)
			if !ok {
				add(obj, key, s.Source, s.Target, ProblemUnknownField, "%s has no field %s%s", obj, s.Target, suggest(d, s.Target))
				continue
			}
			writable(key, s.Source, s.Target, f)
			continue
		}
		relName, extField := parts[0], parts[1]
		ref, ok := d.Relationship(relName)
		if !ok {
			hint := ""
			if f, isField := d.Field(relName); isField && f.RelationshipName != "" {
				hint = fmt.Sprintf(" (the field %s is written through its relationship name, %s.%s)", f.Name, f.RelationshipName, extField)
			}
			add(obj, key, s.Source, s.Target, ProblemUnknownRelationship, "%s has no relationship %s%s", obj, relName, hint)
			continue
		}
		writable(key, s.Source, s.Target, ref)
		if related == nil {
			continue
		}
		var (
			found, keyed bool
			seen         []string
		)
		for _, parent := range ref.ReferenceTo {
			pd, err := related(parent)
			if err != nil {
				return nil, err
			}
			if pd == nil {
				continue
			}
			seen = append(seen, parent)
			if pf, ok := pd.Field(extField); ok {
				found = true
				if pf.ExternalID || pf.IDLookup {
					keyed = true
				}
			}
		}
		parents := strings.Join(ref.ReferenceTo, " or ")
		switch {
		case len(seen) == 0:
			add(parents, key, s.Source, s.Target, ProblemUnknownObject,
				"relationship %s.%s references %s, which Salesforce does not describe", obj, ref.RelationshipName, parents)
		case !found:
			add(parents, key, s.Source, s.Target, ProblemUnknownField,
				"%s (referenced by %s.%s) has no field %s", parents, obj, ref.RelationshipName, extField)
		case !keyed:
			add(parents, key, s.Source, s.Target, ProblemNotExternalID,
				"%s.%s is neither an External ID field nor an idLookup field, so the relationship %s cannot be set by it", parents, extField, ref.RelationshipName)
		}
	}
	return problems, nil
}

// suggest names a field that differs from name only in underscores or a
// __c suffix, the usual slips; "" when there is none.
func suggest(d *salesforce.SObjectDescribe, name string) string {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(s, "__c"), "__C"))
		return strings.ReplaceAll(s, "_", "")
	}
	want := norm(name)
	for i := range d.Fields {
		if norm(d.Fields[i].Name) == want {
			return fmt.Sprintf(" (did you mean %s?)", d.Fields[i].Name)
		}
	}
	return ""
}

// loadSchema reads the describes a pipeline needs through describe — its
// object, and every object a relationship target references — and checks
// the pipeline against them. It returns a *SchemaError when the pipeline
// does not fit, and describe's own error when Salesforce could not be
// asked. known, when set, supplies describes already at hand.
func loadSchema(ctx context.Context, t checkTarget, known *Schema, describe DescribeFunc) (*Schema, error) {
	s := &Schema{Related: map[string]*salesforce.SObjectDescribe{}}
	if known != nil {
		s.Object = known.Object
		for k, v := range known.Related {
			s.Related[strings.ToLower(k)] = v
		}
	}
	if s.Object == nil {
		if describe == nil {
			return nil, fmt.Errorf("no describe of %s to check the pipeline against", t.sobject)
		}
		d, err := describe(ctx, t.sobject)
		switch {
		case IsNotFound(err):
			problems, _ := checkMapping(t, nil, nil)
			return nil, &SchemaError{Pipeline: t.name, SObject: t.sobject, Problems: problems}
		case err != nil:
			return nil, fmt.Errorf("reading the describe of %s: %w", t.sobject, err)
		}
		s.Object = d
	}
	// The pipeline's own object answers references to itself (Parent).
	s.Related[strings.ToLower(s.Object.Name)] = s.Object
	missing := map[string]bool{}
	related := func(name string) (*salesforce.SObjectDescribe, error) {
		key := strings.ToLower(name)
		if d, ok := s.Related[key]; ok {
			return d, nil
		}
		if missing[key] {
			return nil, nil
		}
		if describe == nil {
			missing[key] = true
			return nil, nil
		}
		d, err := describe(ctx, name)
		switch {
		case IsNotFound(err):
			missing[key] = true
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("reading the describe of %s: %w", name, err)
		}
		s.Related[key] = d
		return d, nil
	}
	problems, err := checkMapping(t, s.Object, related)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, &SchemaError{Pipeline: t.name, SObject: s.Object.Name, Problems: problems}
	}
	return s, nil
}

// CheckPipeline reads the describes pc needs through client's describe
// cache (its object and the objects its relationship targets reference) and
// checks pc against them. It returns:
//
//   - the Schema, when pc fits: put it in Options.Schema so that building
//     the pipeline (New, FromConfig) makes no further call;
//   - a *SchemaError listing every problem, when pc does not fit: that
//     pipeline must not run (other pipelines may);
//   - otherwise the describe call's error (*salesforce.APIError,
//     *salesforce.AuthError, a network error): Salesforce could not be asked.
//     salesforce.Classify says whether waiting helps; CheckPipeline makes
//     one attempt per object and leaves retrying to the caller.
//
// This is the worker's entry point, called once per pipeline.
func CheckPipeline(ctx context.Context, pc *PipelineConfig, client *salesforce.Client) (*Schema, error) {
	if client == nil {
		return nil, errors.New("pipeline: CheckPipeline needs a client")
	}
	return loadSchema(ctx, targetOf(pc.Name, pc.options(client)), nil, client.Describe)
}

// PipelineReport is the outcome of checking one pipeline of a file.
type PipelineReport struct {
	Name    string
	SObject string
	Mode    SyncMode
	// Problems lists what does not fit; empty when the pipeline fits or
	// could not be checked.
	Problems []Problem
	// Err is set when the pipeline could not be checked (the describe call
	// failed); it is not a problem of the pipeline.
	Err error
}

// OK reports whether the pipeline was checked and fits.
func (r PipelineReport) OK() bool { return r.Err == nil && len(r.Problems) == 0 }

// ConfigReport is the outcome of checking every pipeline of a file against
// the org: `worker --check` and `producer check` print it.
type ConfigReport struct {
	Path      string
	Pipelines []PipelineReport
}

// OK reports whether every pipeline was checked and fits.
func (r *ConfigReport) OK() bool {
	for _, p := range r.Pipelines {
		if !p.OK() {
			return false
		}
	}
	return true
}

// Err returns nil when every pipeline fits, else an error joining each
// pipeline's *SchemaError and each describe failure.
func (r *ConfigReport) Err() error {
	var errs []error
	for _, p := range r.Pipelines {
		switch {
		case p.Err != nil:
			errs = append(errs, fmt.Errorf("pipeline %q: not checked: %w", p.Name, p.Err))
		case len(p.Problems) > 0:
			errs = append(errs, &SchemaError{Pipeline: p.Name, SObject: p.SObject, Problems: p.Problems})
		}
	}
	return errors.Join(errs...)
}

// String is the report for people: one line per pipeline, then its problems.
func (r *ConfigReport) String() string {
	var b strings.Builder
	for _, p := range r.Pipelines {
		switch {
		case p.Err != nil:
			fmt.Fprintf(&b, "%s (%s %s): NOT CHECKED: %v\n", p.Name, p.SObject, p.Mode, p.Err)
		case len(p.Problems) == 0:
			fmt.Fprintf(&b, "%s (%s %s): ok\n", p.Name, p.SObject, p.Mode)
		default:
			fmt.Fprintf(&b, "%s (%s %s): %d problem(s)\n", p.Name, p.SObject, p.Mode, len(p.Problems))
			for _, pr := range p.Problems {
				pr.Pipeline = ""
				fmt.Fprintf(&b, "  %s\n", pr)
			}
		}
	}
	return b.String()
}

// CheckConfig checks every pipeline of cfg against the org client reaches,
// through the client's describe cache (each object is read once), for an
// offline check of a pipelines file. The report is always complete; the
// error is report.Err(), or the context's error when ctx ended first.
func CheckConfig(ctx context.Context, cfg *Config, client *salesforce.Client) (*ConfigReport, error) {
	if client == nil {
		return nil, errors.New("pipeline: CheckConfig needs a client")
	}
	r := &ConfigReport{Path: cfg.Path}
	for _, pc := range cfg.Pipelines {
		pr := PipelineReport{Name: pc.Name, SObject: pc.SObject, Mode: pc.Mode}
		_, err := CheckPipeline(ctx, pc, client)
		var se *SchemaError
		switch {
		case errors.As(err, &se):
			pr.Problems = se.Problems
		case err != nil:
			pr.Err = err
		}
		r.Pipelines = append(r.Pipelines, pr)
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
	}
	err := r.Err()
	return r, err
}

// schemaState is the describe a pipeline checks against, its compiled value
// check and when it was read.
type schemaState struct {
	schema *Schema
	values *valueChecker // nil with SkipValueCheck, or for delete
	read   time.Time
}

// useSchema checks the pipeline against its describe — Options.Schema, or
// read through the client's describe cache — and compiles the value check.
func (p *Pipeline) useSchema(ctx context.Context) error {
	o := p.opts
	if o.SkipSchema {
		return nil
	}
	var describe DescribeFunc
	if o.Client != nil {
		describe = retryDescribe(o.Client.Describe, o.Retry)
		p.staleAt = o.Client.Config().DescribeTTL
	}
	if p.staleAt <= 0 {
		p.staleAt = salesforce.DefaultDescribeTTL
	}
	return p.loadAndUse(ctx, o.Schema, describe)
}

func (p *Pipeline) loadAndUse(ctx context.Context, known *Schema, describe DescribeFunc) error {
	o := p.opts
	s, err := loadSchema(ctx, targetOf(o.Name, o), known, describe)
	if err != nil {
		var se *SchemaError
		if errors.As(err, &se) {
			return err
		}
		return fmt.Errorf("pipeline: %w", err)
	}
	st := &schemaState{schema: s, read: o.Now()}
	if !o.SkipValueCheck && o.Mode != Delete {
		st.values = newValueChecker(s, o)
	}
	p.schema.Store(st)
	return nil
}

// RefreshSchema reads the pipeline's describes from Salesforce again,
// bypassing the client's cache, checks the pipeline against them and, when
// it still fits, checks values against them from then on. Call it after
// the org changed (a picklist value added, a field lengthened) and before
// replaying the records that change lets through: the worker does when a
// batch holds replayed records. When the pipeline no longer fits, the
// *SchemaError says why and the previous describe stays in use.
//
// Without it, a pipeline reads its describes again through the client's
// cache once they are older than the client's DescribeTTL (Prepare does,
// at most one attempt a minute while Salesforce cannot be asked).
func (p *Pipeline) RefreshSchema(ctx context.Context) error {
	if p.schema.Load() == nil || p.opts.Client == nil {
		return nil
	}
	return p.loadAndUse(ctx, nil, retryDescribe(p.opts.Client.RefreshDescribe, p.opts.Retry))
}

// valueChecker returns the value check in force, first reading the
// describes again when they are older than the client's DescribeTTL.
func (p *Pipeline) valueChecker() *valueChecker {
	st := p.schema.Load()
	if st == nil {
		return nil
	}
	ttl := p.staleAt
	if p.opts.Now().Sub(st.read) < ttl || !p.refreshMu.TryLock() {
		return st.values // fresh, or another goroutine is reading it again
	}
	defer p.refreshMu.Unlock()
	now := p.opts.Now()
	if st = p.schema.Load(); now.Sub(st.read) < ttl || now.Before(p.nextTry) {
		return st.values
	}
	ctx, cancel := context.WithTimeout(context.Background(), staleRefreshTimeout)
	defer cancel()
	if err := p.loadAndUse(ctx, nil, p.opts.Client.Describe); err != nil {
		p.nextTry = now.Add(time.Minute)
		var se *SchemaError
		if errors.As(err, &se) {
			p.nextTry = now.Add(ttl)
		}
		p.log.Warn().Err(err).Str("sobject", p.opts.SObject).Msg("reading the describe again failed; values are checked against the one read before")
	}
	return p.schema.Load().values
}

// staleRefreshTimeout bounds the describe call Prepare makes when the
// describe in use is older than the TTL.
const staleRefreshTimeout = 30 * time.Second

// retryDescribe retries a describe that failed for a reason that may pass
// (a timeout, HTTP 5xx, a rate limit, an expired session), as the loader
// retries calls: up to rp.CallAttempts, spaced by rp.NewBackOff.
func retryDescribe(describe DescribeFunc, rp RetryPolicy) DescribeFunc {
	return func(ctx context.Context, sobject string) (*salesforce.SObjectDescribe, error) {
		b := rp.NewBackOff()
		for attempt := 1; ; attempt++ {
			d, err := describe(ctx, sobject)
			if err == nil || ctx.Err() != nil || attempt >= rp.CallAttempts {
				return d, err
			}
			switch salesforce.Classify(err) {
			case salesforce.ClassTransient, salesforce.ClassSessionExpired, salesforce.ClassRateLimited:
			default:
				return d, err
			}
			if clock.Sleep(ctx, b.NextBackOff()) != nil {
				return d, err
			}
		}
	}
}
