package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// Config is a pipelines file: one or more named pipelines.
//
//	pipelines:
//	  - name: accounts
//	    sobject: Account
//	    mode: upsert
//	    external_id_field: External_Key__c
//	    mapping:
//	      ext_id: External_Key__c
//	      email: { target: Email, transform: lower }
type Config struct {
	Path      string // the file it was read from, for messages
	Pipelines []*PipelineConfig
}

// PipelineConfig is one pipeline of a pipelines file. LoadConfig has already
// validated it and compiled its mapping.
type PipelineConfig struct {
	Name            string   // unique in the file; letters, digits, - and _
	SObject         string   // sobject (required)
	Mode            SyncMode // mode (default insert)
	ExternalIDField string   // external_id_field (required for upsert)
	BatchSize       int      // batch_size (default 200)
	StopOnError     bool     // stop_on_error (default false)
	Concurrency     int      // concurrency (default 4)
	API             API      // api: collections, bulk or auto (default auto)
	BulkThreshold   int      // bulk_threshold (default 10000)
	InsertNulls     bool     // insert_nulls (default false)
	SkipValueCheck  bool     // check_values: false turns the value check off (default: values are checked)
	CheckRequired   bool     // check_required (default false): REQUIRED_FIELD_MISSING before sending inserts
	// Deletes (deletes, default false): the pipeline also takes deletes of
	// its records, by the same key — by external id in an upsert pipeline,
	// by Id in an update pipeline — published to <SObject>.delete subjects,
	// and loads them in order with its own changes.
	Deletes bool
	Mapping []FieldSpec // mapping, in file order; empty sends records as they are
	// Worker is the pipeline's `worker:` section as written, nil when it
	// has none: settings of the JetStream worker, which decodes and checks
	// them itself (internal/worker); use ErrAt for its messages.
	Worker *yaml.Node

	File   string // the file it was read from, for messages
	mapper *FieldMapper
	line   int
}

// ErrAt is an error about a node of the pipeline's file (its `worker:`
// section, say), positioned as every config error: file:line: pipeline: …
func (pc *PipelineConfig) ErrAt(n *yaml.Node, format string, args ...any) error {
	return errAt(pc.File, n, pc.Name, format, args...)
}

// Mapper returns the compiled field mapper, nil when the pipeline has no mapping.
func (pc *PipelineConfig) Mapper() *FieldMapper { return pc.mapper }

// Pipeline returns the named pipeline.
func (c *Config) Pipeline(name string) (*PipelineConfig, bool) {
	for _, p := range c.Pipelines {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// Names lists the pipelines' names in file order.
func (c *Config) Names() []string {
	out := make([]string, len(c.Pipelines))
	for i, p := range c.Pipelines {
		out[i] = p.Name
	}
	return out
}

// LoadConfig reads and validates a pipelines file: every key is checked,
// every transform resolved and every expression compiled now, so a bad file
// fails at start-up with the file, line, pipeline and key in the message.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipelines config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on bytes; name is used in messages.
func ParseConfig(name string, data []byte) (*Config, error) {
	cfg := &Config{Path: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file: want a top-level pipelines: list", name)
	}
	if k, first := repeatedKey(&doc); k != nil {
		return nil, errAt(name, k, "", "%q is already given at line %d of the same mapping", k.Value, first)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errAt(name, root, "", "want a mapping with a pipelines: list")
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "pipelines" {
			return nil, errAt(name, k, "", "unknown top-level key %q (want pipelines)", k.Value)
		}
		list = v
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, errAt(name, root, "", "pipelines: want a non-empty list")
	}
	seen := map[string]int{}
	for _, n := range list.Content {
		pc, err := parsePipeline(name, n)
		if err != nil {
			return nil, err
		}
		if line, dup := seen[pc.Name]; dup {
			return nil, errAt(name, n, pc.Name, "name: %q is already used by the pipeline at line %d", pc.Name, line)
		}
		seen[pc.Name] = n.Line
		cfg.Pipelines = append(cfg.Pipelines, pc)
	}
	return cfg, nil
}

// repeatedKey returns the first key given twice in one mapping anywhere in
// n, and the line of its first occurrence. yaml.v3 refuses such a document
// when it decodes into values but not into a Node, and the loader would
// silently use one of the two.
func repeatedKey(n *yaml.Node) (*yaml.Node, int) {
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if line, dup := seen[k.Value]; dup {
				return k, line
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if k, line := repeatedKey(c); k != nil {
			return k, line
		}
	}
	return nil, 0
}

var pipelineNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

func errAt(file string, n *yaml.Node, pipeline, format string, args ...any) error {
	where := file
	if n != nil && n.Line > 0 {
		where = fmt.Sprintf("%s:%d", file, n.Line)
	}
	msg := fmt.Sprintf(format, args...)
	if pipeline != "" {
		return fmt.Errorf("%s: pipeline %q: %s", where, pipeline, msg)
	}
	return fmt.Errorf("%s: %s", where, msg)
}

func parsePipeline(file string, n *yaml.Node) (*PipelineConfig, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(file, n, "", "each pipeline must be a mapping")
	}
	pc := &PipelineConfig{line: n.Line, File: file}
	// The name first, so that every later message can name the pipeline.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			pc.Name = n.Content[i+1].Value
		}
	}
	if !pipelineNameRE.MatchString(pc.Name) {
		return nil, errAt(file, n, pc.Name, "name: %q must be letters, digits, - and _ (it names subjects and consumers)", pc.Name)
	}
	fail := func(node *yaml.Node, format string, args ...any) error {
		return errAt(file, node, pc.Name, format, args...)
	}
	var mappingNode, sobjectNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "name":
		case "sobject":
			pc.SObject, err = scalarString(v)
			sobjectNode = v
		case "mode":
			var s string
			if s, err = scalarString(v); err == nil {
				pc.Mode, err = ParseSyncMode(s)
			}
		case "external_id_field":
			pc.ExternalIDField, err = scalarString(v)
		case "batch_size":
			pc.BatchSize, err = scalarInt(v)
		case "stop_on_error":
			pc.StopOnError, err = scalarBool(v)
		case "concurrency":
			pc.Concurrency, err = scalarInt(v)
		case "api":
			var s string
			if s, err = scalarString(v); err == nil {
				pc.API, err = ParseAPI(s)
			}
		case "bulk_threshold":
			pc.BulkThreshold, err = scalarInt(v)
		case "insert_nulls":
			pc.InsertNulls, err = scalarBool(v)
		case "check_values":
			var on bool
			on, err = scalarBool(v)
			pc.SkipValueCheck = !on
		case "check_required":
			pc.CheckRequired, err = scalarBool(v)
		case "mapping":
			mappingNode = v
		case "deletes":
			pc.Deletes, err = scalarBool(v)
		case "worker":
			if v.Kind != yaml.MappingNode {
				return nil, fail(v, "worker: want a mapping")
			}
			pc.Worker = v
		default:
			return nil, fail(k, "unknown key %q", k.Value)
		}
		if err != nil {
			return nil, fail(v, "%s: %v", k.Value, err)
		}
	}
	if mappingNode != nil {
		specs, err := parseMapping(mappingNode, fail)
		if err != nil {
			return nil, err
		}
		pc.Mapping = specs
		if pc.mapper, err = NewFieldMapper(specs, MapperOptions{InsertNulls: pc.InsertNulls}); err != nil {
			return nil, fail(mappingNode, "%v", err)
		}
	}
	// The same checks as New, reported against the file.
	opts := pc.options(nil).withDefaults()
	if err := opts.validateSettings(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			node := n
			if ce.Field == "sobject" && sobjectNode != nil {
				node = sobjectNode
			}
			return nil, fail(node, "%s", err)
		}
		return nil, fail(n, "%v", err)
	}
	pc.Mode = opts.Mode
	if pc.Deletes && pc.Mode != Upsert && pc.Mode != Update {
		return nil, fail(n, "deletes: needs mode upsert (deletes by external id) or update (deletes by Id), not %s", pc.Mode)
	}
	return pc, nil
}

// parseMapping reads the mapping section: source → target name, or
// source → {target, transform, layout, timezone, expr, default, value}.
func parseMapping(n *yaml.Node, fail func(*yaml.Node, string, ...any) error) ([]FieldSpec, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fail(n, "mapping: want source: target pairs")
	}
	var specs []FieldSpec
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		spec := FieldSpec{Source: k.Value}
		switch v.Kind {
		case yaml.ScalarNode:
			spec.Target = v.Value
		case yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				fk, fv := v.Content[j], v.Content[j+1]
				var err error
				switch fk.Value {
				case "target":
					spec.Target, err = scalarString(fv)
				case "transform":
					spec.Transform, err = scalarString(fv)
				case "layout":
					spec.Layout, err = scalarString(fv)
				case "timezone":
					spec.Timezone, err = scalarString(fv)
				case "expr":
					spec.Expr, err = scalarString(fv)
				case "default":
					spec.Default, err = scalarValue(fv)
					spec.HasDefault = true
				case "value":
					spec.Value, err = scalarValue(fv)
				default:
					return nil, fail(fk, "mapping.%s: unknown key %q (want target, transform, layout, timezone, expr, default or value)", k.Value, fk.Value)
				}
				if err != nil {
					return nil, fail(fv, "mapping.%s.%s: %v", k.Value, fk.Value, err)
				}
			}
		default:
			return nil, fail(v, "mapping.%s: want a target field name or a mapping", k.Value)
		}
		if _, err := compileRule(spec); err != nil {
			return nil, fail(v, "mapping.%s: %v", k.Value, err)
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

func scalarString(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", errors.New("want a text value")
	}
	return n.Value, nil
}

func scalarInt(n *yaml.Node) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, fmt.Errorf("want a whole number, got %q", n.Value)
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %q", n.Value)
	}
	return v, nil
}

func scalarBool(n *yaml.Node) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, fmt.Errorf("want true or false, got %q", n.Value)
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		return false, fmt.Errorf("want true or false, got %q", n.Value)
	}
	return b, nil
}

// scalarValue decodes a YAML scalar into a JSON-like value.
func scalarValue(n *yaml.Node) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, errors.New("want a single value")
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case time.Time:
		return n.Value, nil // YAML timestamps stay the text written
	}
	return v, nil
}

// options turns the config into pipeline Options for client.
func (pc *PipelineConfig) options(client *salesforce.Client) Options {
	return Options{
		Client:          client,
		SObject:         pc.SObject,
		Mapper:          pc.mapper,
		Mode:            pc.Mode,
		ExternalIDField: pc.ExternalIDField,
		BatchSize:       pc.BatchSize,
		StopOnError:     pc.StopOnError,
		Concurrency:     pc.Concurrency,
		API:             pc.API,
		BulkThreshold:   pc.BulkThreshold,
		Name:            pc.Name,
		SkipValueCheck:  pc.SkipValueCheck,
		CheckRequired:   pc.CheckRequired,
	}
}

// Options returns the pipeline options the config describes; the caller
// adds the client and may add callbacks, logger and retry policy.
func (pc *PipelineConfig) Options(client *salesforce.Client) Options { return pc.options(client) }

// FromConfig builds the pipeline a config entry describes, as the original's
// SyncPipeline.from_config. Like New, it checks the pipeline against its
// object's describe, read through the client's describe cache, and refuses
// one that does not fit with a *SchemaError listing every problem.
func FromConfig(pc *PipelineConfig, client *salesforce.Client) (*Pipeline, error) {
	return FromConfigContext(context.Background(), pc, client)
}

// FromConfigContext is FromConfig with a context for the describe calls.
func FromConfigContext(ctx context.Context, pc *PipelineConfig, client *salesforce.Client) (*Pipeline, error) {
	p, err := NewContext(ctx, pc.options(client))
	var se *SchemaError
	switch {
	case errors.As(err, &se):
		return nil, err // names the pipeline already
	case err != nil:
		return nil, fmt.Errorf("pipeline %q: %w", pc.Name, err)
	}
	return p, nil
}
