package pipeline

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzMapper feeds arbitrary JSON records through a mapper that uses every
// rule form: every failure is a *MappingError naming the rule that failed,
// the text transforms, defaults, constants and relationship targets give
// what the reference functions (strings.TrimSpace, ...) give, and the
// mapped record survives JSON.
//
//	go test ./pkg/pipeline -run '^$' -fuzz FuzzMapper -fuzztime 60s
func FuzzMapper(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":null}`, `{"a":"x","n":"12","b":"true","d":"2024-01-02","t":"2024-01-02T03:04:05Z","nested":{"k":"v"}}`,
		`{"n":1.5e300,"b":2,"d":5,"t":false,"nested":"flat","s":[1,2]}`, `{"n":"NaN","e":"value"}`, `{"a":"\u0000\ud800"}`,
	} {
		f.Add([]byte(s), false)
	}
	m, err := NewFieldMapper([]FieldSpec{
		{Source: "a", Target: "Name", Transform: "trim"},
		{Source: "a", Target: "Lower__c", Transform: "lower"},
		{Source: "n", Target: "Int__c", Transform: "int"},
		{Source: "n", Target: "Float__c", Transform: "float"},
		{Source: "b", Target: "Bool__c", Transform: "bool"},
		{Source: "d", Target: "Date__c", Transform: "date"},
		{Source: "t", Target: "Datetime__c", Transform: "datetime", Layout: "2006-01-02T15:04:05Z07:00"},
		{Source: "s", Target: "Str__c", Transform: "string"},
		{Source: "nested.k", Target: "Parent.Ext__c"},
		{Source: "e", Target: "Expr__c", Expr: `value + "!" + string(len(record))`},
		{Source: "missing", Target: "Default__c", Default: "d", HasDefault: true, Transform: "upper"},
		{Source: "c", Target: "Const__c", Transform: "const", Value: 1.0},
	}, MapperOptions{})
	if err != nil {
		f.Fatal(err)
	}
	mNulls, _ := NewFieldMapper(m.specs(), MapperOptions{InsertNulls: true})
	f.Fuzz(func(t *testing.T, data []byte, insertNulls bool) {
		var rec map[string]any
		if json.Unmarshal(data, &rec) != nil {
			return
		}
		mapper := m
		if insertNulls {
			mapper = mNulls
		}
		out, err := mapper.Map(rec)
		a, aIsText := rec["a"].(string)
		if err != nil {
			var me *MappingError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *MappingError", err)
			}
			// Rules apply in order: a text transform refuses a non-text
			// "a" first, and a text "a" never fails.
			if rec["a"] != nil && !aIsText && me.Source != "a" {
				t.Fatalf("%s: non-text a, but the error is for %q: %v", data, me.Source, err)
			}
			if aIsText && me.Source == "a" {
				t.Fatalf("%s: a text transform failed on text: %v", data, err)
			}
			return
		}
		if rec["a"] != nil && !aIsText {
			t.Fatalf("%s: mapped a non-text value through trim: %v", data, out)
		}
		// The results the reference functions give.
		if aIsText && (out["Name"] != strings.TrimSpace(a) || out["Lower__c"] != strings.ToLower(a)) {
			t.Fatalf("%s: Name %q, Lower__c %q", data, out["Name"], out["Lower__c"])
		}
		if out["Const__c"] != 1.0 {
			t.Fatalf("%s: Const__c = %#v", data, out["Const__c"])
		}
		if m, ok := rec["missing"].(string); ok {
			if out["Default__c"] != strings.ToUpper(m) {
				t.Fatalf("%s: Default__c = %#v", data, out["Default__c"])
			}
		} else if _, present := rec["missing"]; !present && out["Default__c"] != "D" {
			t.Fatalf("%s: the default is not used: %#v", data, out["Default__c"])
		}
		if n, ok := rec["nested"].(map[string]any); ok {
			if k, ok := n["k"].(string); ok {
				if p, _ := out["Parent"].(map[string]any); p == nil || p["Ext__c"] != k {
					t.Fatalf("%s: Parent = %#v", data, out["Parent"])
				}
			}
		}
		if v, present := rec["a"]; insertNulls && present && v == nil {
			if got, set := out["Name"]; !set || got != nil {
				t.Fatalf("%s: insert nulls, but Name = %#v (set %v)", data, got, set)
			}
		}
		// The record survives JSON, as it is sent.
		enc, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("mapped record cannot be encoded: %v (%v)", err, out)
		}
		var back map[string]any
		if err := json.Unmarshal(enc, &back); err != nil || len(back) != len(out) {
			t.Fatalf("mapped record does not survive JSON: %s (%v)", enc, err)
		}
	})
}

// FuzzParseConfig feeds arbitrary files to the config loader: either an
// error that names the file, or pipelines that all validate and are the
// ones a plain YAML decoder finds in the file, in order, with unique names.
//
//	go test ./pkg/pipeline -run '^$' -fuzz FuzzParseConfig -fuzztime 60s
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte("pipelines:\n  - name: a\n    sobject: Account\n    mapping:\n      x: {target: Y, expr: \"value * 2\"}\n"))
	f.Add([]byte("pipelines: [{name: b, sobject: Lead, mode: upsert, external_id_field: E__c, worker: {linger: 1s}}]"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("pipelines:\n  - !!binary Zm9v\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.yaml", data)
		if err != nil {
			// Every error says where: the file, and a line when it has one.
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// The pipelines are the file's, in its order, as a plain YAML
		// decoder reads them; names are unique.
		var plain struct {
			Pipelines []struct {
				Name string `yaml:"name"`
			} `yaml:"pipelines"`
		}
		if err := yaml.Unmarshal(data, &plain); err != nil {
			t.Fatalf("accepted a file yaml.v3 refuses: %v", err)
		}
		if len(plain.Pipelines) != len(cfg.Pipelines) {
			t.Fatalf("%d pipelines, the file lists %d", len(cfg.Pipelines), len(plain.Pipelines))
		}
		seen := map[string]bool{}
		for i, pc := range cfg.Pipelines {
			if pc.Name != plain.Pipelines[i].Name || pc.Name == "" || seen[pc.Name] {
				t.Fatalf("pipeline %d is %q, the file names it %q (or it repeats)", i, pc.Name, plain.Pipelines[i].Name)
			}
			seen[pc.Name] = true
		}
		for _, pc := range cfg.Pipelines {
			if err := pc.Options(nil).withDefaults().validateSettings(); err != nil {
				t.Fatalf("accepted an invalid pipeline %q: %v", pc.Name, err)
			}
			if pc.Mapper() != nil {
				if _, err := pc.Mapper().Map(map[string]any{"x": "1"}); err != nil {
					var me *MappingError
					if !errors.As(err, &me) {
						t.Fatalf("mapping error of the wrong type: %v", err)
					}
				}
			}
		}
	})
}
