package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// FieldSpec is one mapping rule: where a value comes from, where it goes
// and how it changes on the way. In YAML a rule is either a target name
// (a rename) or an object with these keys.
type FieldSpec struct {
	// Source is the key in the source record; dots walk nested objects
	// ("address.city"). Required.
	Source string
	// Target is the Salesforce field; "Rel.Field" sets a relationship by
	// external id ("Parent.External_Key__c" → {"Parent": {"External_Key__c": v}}).
	Target string
	// Transform is a named transform: lower, upper, trim, int, float, bool,
	// date, datetime, string or const.
	Transform string
	// Layout is the Go time layout for date and datetime (default ISO 8601).
	Layout string
	// Timezone is the IANA zone for layouts without an offset (default UTC).
	Timezone string
	// Expr is an expr-lang expression with `value` (the source value) and
	// `record` (the whole source record) in scope, e.g. "value * 100".
	Expr string
	// Default is used when the source key is missing (not when it is null).
	Default any
	// HasDefault tells a configured null default from no default.
	HasDefault bool
	// Value is the constant of the const transform.
	Value any
}

// MapperOptions adjusts a FieldMapper.
type MapperOptions struct {
	// InsertNulls sends an explicit JSON null in the source as null, which
	// clears the field in Salesforce (Data Loader's insertNulls). By default a
	// null is omitted, like a missing key.
	InsertNulls bool
}

// FieldMapper turns a source record into a Salesforce record. It is built
// once (transform names resolved, expressions compiled) and is safe for
// concurrent use. It never modifies the source record.
//
// Null and missing are different: a missing key is omitted or takes the
// rule's default; an explicit null is omitted, or sent as null when
// InsertNulls is set. Typed transforms (int, float, bool, date, datetime)
// treat a blank string as null, since CSV files cannot say null otherwise.
type FieldMapper struct {
	rules       []rule
	insertNulls bool
}

type rule struct {
	spec      FieldSpec
	source    []string // path
	target    []string // 1 or 2 parts
	transform transformFunc
	isConst   bool
	program   *vm.Program
}

// MappingError reports a rule that failed for one record.
type MappingError struct {
	Source, Target string
	Err            error
}

func (e *MappingError) Error() string {
	return fmt.Sprintf("mapping %s → %s: %v", e.Source, e.Target, e.Err)
}

func (e *MappingError) Unwrap() error { return e.Err }

var fieldNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// NewFieldMapper compiles rules. Unknown transforms, bad expressions,
// malformed targets and two rules writing the same target are errors naming
// the rule's source key.
func NewFieldMapper(specs []FieldSpec, opts MapperOptions) (*FieldMapper, error) {
	m := &FieldMapper{insertNulls: opts.InsertNulls}
	targets := map[string]string{}
	for _, s := range specs {
		r, err := compileRule(s)
		if err != nil {
			return nil, fmt.Errorf("mapping.%s: %w", s.Source, err)
		}
		key := strings.ToLower(s.Target)
		if prev, dup := targets[key]; dup {
			return nil, fmt.Errorf("mapping.%s: target %q is also written by mapping.%s", s.Source, s.Target, prev)
		}
		targets[key] = s.Source
		m.rules = append(m.rules, r)
	}
	return m, nil
}

func compileRule(s FieldSpec) (rule, error) {
	r := rule{spec: s}
	if strings.TrimSpace(s.Source) == "" {
		return r, errors.New("empty source key")
	}
	r.source = strings.Split(s.Source, ".")
	for _, p := range r.source {
		if p == "" {
			return r, fmt.Errorf("source path %q has an empty part", s.Source)
		}
	}
	if s.Target == "" {
		return r, errors.New("target is required")
	}
	r.target = strings.Split(s.Target, ".")
	if len(r.target) > 2 {
		return r, fmt.Errorf("target %q: only Field or Relationship.Field is allowed", s.Target)
	}
	for _, p := range r.target {
		if !fieldNameRE.MatchString(p) {
			return r, fmt.Errorf("target %q is not a valid Salesforce field name", s.Target)
		}
	}
	if s.Transform != "" && s.Expr != "" {
		return r, errors.New("transform and expr cannot be combined")
	}
	if s.Layout != "" || s.Timezone != "" {
		t := strings.ToLower(s.Transform)
		if !strings.HasPrefix(t, "date") {
			return r, fmt.Errorf("layout and timezone need the date or datetime transform, not %q", s.Transform)
		}
	}
	if s.Transform != "" {
		var tz *time.Location
		if s.Timezone != "" {
			loc, err := time.LoadLocation(s.Timezone)
			if err != nil {
				return r, fmt.Errorf("timezone %q: %w", s.Timezone, err)
			}
			tz = loc
		}
		f, err := newTransform(s.Transform, s.Layout, tz)
		if err != nil {
			return r, err
		}
		r.transform = f
		r.isConst = f == nil
		if r.isConst && s.Value == nil {
			return r, errors.New("the const transform needs a value")
		}
	} else if s.Value != nil {
		return r, errors.New("value is only used by the const transform")
	}
	if s.Expr != "" {
		prog, err := expr.Compile(s.Expr, expr.Env(exprEnv{}), expr.MaxNodes(1000))
		if err != nil {
			return r, fmt.Errorf("expr %q: %w", s.Expr, err)
		}
		r.program = prog
	}
	return r, nil
}

// Map applies every rule to src and returns a new record. A rule that fails
// gives a *MappingError; the record is then not sent, and the caller reports
// it as a record error (never dropped silently).
func (m *FieldMapper) Map(src map[string]any) (salesforce.Record, error) {
	out := make(salesforce.Record, len(m.rules))
	for i := range m.rules {
		r := &m.rules[i]
		v, present := lookupPath(src, r.source)
		switch {
		case r.isConst:
			v = r.spec.Value
		case !present:
			if !r.spec.HasDefault {
				continue
			}
			v = r.spec.Default
		}
		if v == nil {
			if m.insertNulls {
				setTarget(out, r.target, nil)
			}
			continue
		}
		if !r.isConst {
			var err error
			if v, err = r.apply(v, src); err != nil {
				if errors.Is(err, errEmpty) {
					if m.insertNulls {
						setTarget(out, r.target, nil)
					}
					continue
				}
				return nil, &MappingError{Source: r.spec.Source, Target: r.spec.Target, Err: err}
			}
		}
		if v == nil && !m.insertNulls {
			continue
		}
		setTarget(out, r.target, v)
	}
	return out, nil
}

func (r *rule) apply(v any, src map[string]any) (any, error) {
	if r.transform != nil {
		return r.transform(v)
	}
	if r.program != nil {
		out, err := expr.Run(r.program, exprEnv{Value: v, Record: src})
		if err != nil {
			return nil, fmt.Errorf("expr %q: %w", r.spec.Expr, err)
		}
		return normaliseExprResult(out)
	}
	return v, nil
}

// normaliseExprResult keeps expression results to the JSON value types.
func normaliseExprResult(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, float64, int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case time.Time:
		return x.UTC().Format(sfDatetime), nil
	}
	return nil, fmt.Errorf("expression gave %s, which is not a field value", describe(v))
}

// exprEnv is what an expression sees: the source value and the whole source
// record. Value is typed any, so operators are checked when they run.
type exprEnv struct {
	Value  any            `expr:"value"`
	Record map[string]any `expr:"record"`
}

// lookupPath walks a dotted source path. A key holding null is present.
func lookupPath(src map[string]any, path []string) (any, bool) {
	cur := src
	for i, k := range path {
		v, ok := cur[k]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		next, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return nil, false
}

func setTarget(out salesforce.Record, target []string, v any) {
	if len(target) == 1 {
		out[target[0]] = v
		return
	}
	rel, _ := out[target[0]].(map[string]any)
	if rel == nil {
		rel = map[string]any{}
		out[target[0]] = rel
	}
	rel[target[1]] = v
}

func (m *FieldMapper) specs() []FieldSpec {
	out := make([]FieldSpec, len(m.rules))
	for i, r := range m.rules {
		out[i] = r.spec
	}
	return out
}

// Targets lists the Salesforce fields the mapper writes, in rule order.
func (m *FieldMapper) Targets() []string {
	out := make([]string, len(m.rules))
	for i, r := range m.rules {
		out[i] = r.spec.Target
	}
	return out
}
