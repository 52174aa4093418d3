package pipeline

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const goodConfig = `
pipelines:
  - name: accounts
    sobject: Account
    mode: upsert                 # insert | update | upsert | delete
    external_id_field: External_Key__c
    batch_size: 200
    stop_on_error: false
    mapping:
      ext_id: External_Key__c
      company: Name
      email: { target: Email, transform: lower }
      revenue: { target: AnnualRevenue, transform: float }
      status: { target: Status__c, default: New }
      parent_key: Parent.External_Key__c
      score: { target: Score__c, expr: "value * 100" }
    worker:
      max_deliver: 6
      ack_wait: 45s
      linger: 50ms
  - name: contacts
    sobject: Contact
    mode: INSERT
    concurrency: 8
    api: collections
    insert_nulls: true
`

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig("pipelines.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Names(); !reflect.DeepEqual(got, []string{"accounts", "contacts"}) {
		t.Fatalf("names = %v", got)
	}
	acc, _ := cfg.Pipeline("accounts")
	if acc.SObject != "Account" || acc.Mode != Upsert || acc.ExternalIDField != "External_Key__c" || acc.BatchSize != 200 {
		t.Errorf("accounts = %+v", acc)
	}
	// The worker: section is the worker's to decode (internal/worker).
	if acc.Worker == nil || len(acc.Worker.Content) != 6 || acc.File != "pipelines.yaml" {
		t.Errorf("worker section %+v, file %q", acc.Worker, acc.File)
	}
	wantTargets := []string{"External_Key__c", "Name", "Email", "AnnualRevenue", "Status__c", "Parent.External_Key__c", "Score__c"}
	if got := acc.Mapper().Targets(); !reflect.DeepEqual(got, wantTargets) {
		t.Errorf("targets in file order = %v", got)
	}
	rec, err := acc.Mapper().Map(map[string]any{"ext_id": "A-1", "company": "Acme", "email": "A@B.C", "revenue": "10", "parent_key": "P", "score": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"External_Key__c": "A-1", "Name": "Acme", "Email": "a@b.c", "AnnualRevenue": 10.0, "Status__c": "New",
		"Parent": map[string]any{"External_Key__c": "P"}, "Score__c": 50.0}
	if !reflect.DeepEqual(map[string]any(rec), want) {
		t.Errorf("mapped = %v\nwant     %v", rec, want)
	}
	con, _ := cfg.Pipeline("contacts")
	if con.Mode != Insert || con.Concurrency != 8 || con.API != APICollections || !con.InsertNulls || con.Mapper() != nil {
		t.Errorf("contacts = %+v", con)
	}
	if _, ok := cfg.Pipeline("nope"); ok {
		t.Error("found a pipeline that does not exist")
	}
}

func TestLoadConfigFileAndFromConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(goodConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := cfg.Pipeline("accounts")
	if _, err := FromConfig(acc, nil); err == nil || !strings.Contains(err.Error(), `pipeline "accounts": pipeline: client: required`) {
		t.Errorf("FromConfig without a client: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// Every validation error names the file, the line, the pipeline and the key.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	pipe := func(body string) string {
		return "pipelines:\n  - name: p1\n" + body
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"yaml syntax", "pipelines: [", "f.yaml: yaml:"},
		{"empty", "", "empty file"},
		{"top-level key", "pipeline: []", `f.yaml:1: unknown top-level key "pipeline"`},
		{"not a list", "pipelines: {}", "pipelines: want a non-empty list"},
		{"empty list", "pipelines: []", "pipelines: want a non-empty list"},
		{"item not a mapping", "pipelines:\n  - accounts", "each pipeline must be a mapping"},
		{"no name", "pipelines:\n  - sobject: Account", `name: "" must be letters`},
		{"bad name", "pipelines:\n  - name: my pipeline\n    sobject: Account", `name: "my pipeline" must be letters`},
		{"duplicate name", "pipelines:\n  - name: a\n    sobject: Account\n  - name: a\n    sobject: Contact", `f.yaml:4: pipeline "a": name: "a" is already used by the pipeline at line 2`},
		{"unknown key", pipe("    sobject: Account\n    batchsize: 10"), `f.yaml:4: pipeline "p1": unknown key "batchsize"`},
		{"no sobject", pipe("    mode: insert"), `pipeline "p1": sobject: required`},
		{"bad sobject", pipe("    sobject: Acc ount"), `f.yaml:3: pipeline "p1": sobject: "Acc ount" is not a valid object API name`},
		{"unknown mode", pipe("    sobject: Account\n    mode: merge"), `f.yaml:4: pipeline "p1": mode: unknown mode "merge"`},
		{"upsert without external id", pipe("    sobject: Account\n    mode: upsert"), `pipeline "p1": external_id_field: required for mode upsert`},
		{"batch size range", pipe("    sobject: Account\n    batch_size: 20000"), "batch_size: 20000 is out of range 1..10000"},
		{"batch size type", pipe("    sobject: Account\n    batch_size: lots"), `f.yaml:4: pipeline "p1": batch_size: want a whole number, got "lots"`},
		{"concurrency range", pipe("    sobject: Account\n    concurrency: 0\n"), ""},
		{"concurrency too high", pipe("    sobject: Account\n    concurrency: 65"), "concurrency: 65 is out of range 1..64"},
		{"stop_on_error type", pipe("    sobject: Account\n    stop_on_error: yes please"), "stop_on_error: want true or false"},
		{"unknown api", pipe("    sobject: Account\n    api: soap"), `api: unknown api "soap"`},
		{"stop on error with bulk", pipe("    sobject: Account\n    api: bulk\n    stop_on_error: true"), "stop_on_error: needs api collections or auto"},
		{"mapping not a mapping", pipe("    sobject: Account\n    mapping: [a, b]"), "mapping: want source: target pairs"},
		{"unknown transform", pipe("    sobject: Account\n    mapping:\n      email: { target: Email, transform: lowr }"), `f.yaml:5: pipeline "p1": mapping.email: unknown transform "lowr"`},
		{"bad expression", pipe("    sobject: Account\n    mapping:\n      s: { target: S__c, expr: \"value *\" }"), `f.yaml:5: pipeline "p1": mapping.s: expr "value *"`},
		{"repeated key", pipe("    sobject: Account\n    sobject: Contact"), `f.yaml:4: "sobject" is already given at line 3 of the same mapping`},
		{"unknown rule key", pipe("    sobject: Account\n    mapping:\n      s: { target: S__c, trasnform: lower }"), `f.yaml:5: pipeline "p1": mapping.s: unknown key "trasnform"`}, //nolint:misspell // the misspelt key is the case under test
		{"rule value list", pipe("    sobject: Account\n    mapping:\n      s: [S__c]"), "mapping.s: want a target field name or a mapping"},
		{"invalid target", pipe("    sobject: Account\n    mapping:\n      s: Not A Field"), `mapping.s: target "Not A Field" is not a valid Salesforce field name`},
		{"worker not a mapping", pipe("    sobject: Account\n    worker: 3"), "worker: want a mapping"},
		{"deletes on insert", pipe("    sobject: Account\n    deletes: true"), "deletes: needs mode upsert"},
	}
	for _, tc := range cases {
		_, err := ParseConfig("f.yaml", []byte(tc.yaml))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v\nwant it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		opts Options
		want string
	}{
		{Options{SObject: "Account"}, "client: required"},
		{Options{SObject: "Account", Mode: Upsert}, "external_id_field: required for mode upsert"},
		{Options{SObject: "Account", BatchSize: -1}, "batch_size: -1 is out of range"},
		{Options{SObject: "Account", Mode: "merge"}, `mode: unknown mode "merge"`},
		{Options{SObject: "", Mode: Insert}, "sobject: required"},
		{Options{SObject: "Account", API: "soap"}, "api:"},
		{Options{SObject: "Account", Concurrency: 100}, "concurrency: 100 is out of range 1..64"},
	}
	for _, tc := range cases {
		_, err := New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
	}
	if m, err := ParseSyncMode(" UPSERT "); err != nil || m != Upsert {
		t.Errorf("ParseSyncMode = %v, %v", m, err)
	}
}
