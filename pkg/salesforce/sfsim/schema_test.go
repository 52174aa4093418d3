package sfsim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

func TestParseSchemaErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"objects:\n  - name: X__c\n    fields:\n      - {name: A__c, type: money}\n":                                      `object "X__c" field "A__c": unknown type "money"`,
		"objects:\n  - name: X__c\n    fields:\n      - {name: A__c}\n":                                                   "type is required",
		"objects:\n  - name: X__c\n    fields:\n      - {name: A__c, type: reference, reference_to: Nope}\n":              `reference_to "Nope" names no object`,
		"objects:\n  - name: X__c\n    fields:\n      - {name: A__c, type: picklist, restricted: true}\n":                 "a restricted picklist needs values",
		"objects:\n  - name: X__c\n    fields:\n      - {name: A__c, type: boolean, unique: true}\n":                      "cannot be unique or an external id",
		"objects:\n  - name: X__c\n    fields:\n      - {name: A__c, type: string, length: -3}\n":                         "length -3 out of range",
		"objects:\n  - name: X__c\n    fields:\n      - {name: CreatedDate, type: datetime}\n":                            "system field",
		"objects:\n  - name: X__c\n    key_prefix: \"001\"\n    fields: []\n":                                             `key_prefix "001" already used by Account`,
		"objects:\n  - name: X__c\n    key_prefix: \"750\"\n    fields: []\n":                                             "reserved",
		"objects:\n  - name: 9bad\n    fields: []\n":                                                                      "invalid name",
		"objects:\n  - name: X__c\n    fields:\n      - {name: N__c, type: double, default: abc}\n":                       "default: N: value not of required type: abc",
		"objects:\n  - name: X__c\n    colour: red\n":                                                                     "colour",
		"objects:\n  - name: X__c\n    fields:\n      - {name: A__c, type: string, values: [a]}\n":                        "values and restricted are for picklists",
		"objects:\n  - name: X__c\n    fields:\n      - {name: A__c, type: string}\n      - {name: a__C, type: string}\n": "declared twice",
	}
	for doc, want := range cases {
		_, err := ParseSchema([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", doc, err, want)
		}
	}
	if s, err := ParseSchema(nil); err != nil || len(s.Objects) != 0 {
		t.Errorf("empty schema: %v %v", s, err)
	}
}

func TestSchemaMergeAndCompile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.yaml")
	doc := `objects:
  - name: Account
    fields:
      - {name: Name, type: string, length: 100, required: true}
      - {name: Tier__c, type: picklist, values: [A, B], default: A}
  - name: First__c
    fields:
      - {name: Count__c, type: int, default: 3}
  - name: Second__c
    label: The Second
    fields:
      - {name: Parent__c, type: reference, reference_to: first__c}
      - {name: OwnerId, type: reference, reference_to: Account}
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSchemaFile(path)
	if err != nil {
		t.Fatal(err)
	}
	merged := DefaultSchema().Merge(s)
	c, err := compileSchema(merged)
	if err != nil {
		t.Fatal(err)
	}
	acc := c.object("ACCOUNT")
	if acc.field("name").length != 100 || acc.field("name").idx != 0 || acc.field("tier__c").def != "A" {
		t.Errorf("Account merge: %+v", acc.field("name"))
	}
	if len(acc.data) != len(DefaultSchema().Objects[0].Fields)+1 {
		t.Errorf("Account has %d data fields", len(acc.data))
	}
	first, second := c.object("First__c"), c.object("Second__c")
	if first.keyPrefix != "a0A" || second.keyPrefix != "a0B" || second.label != "The Second" || first.label != "First" {
		t.Errorf("prefixes %s %s, labels %q %q", first.keyPrefix, second.keyPrefix, first.label, second.label)
	}
	if f := second.field("Parent__c"); f.refTo != "First__c" || f.relName != "Parent__r" || second.byRel["parent__r"] != f {
		t.Errorf("reference %+v", f)
	}
	if f := second.field("OwnerId"); f.relName != "Owner" || f.label != "Owner ID" {
		t.Errorf("OwnerId %+v", f)
	}
	if first.field("Count__c").def != 3.0 {
		t.Errorf("int default %#v", first.field("Count__c").def)
	}
	// Merge does not modify its inputs.
	if DefaultSchema().Objects[0].Fields[0].Length != 255 || len(s.Objects[0].Fields) != 2 {
		t.Error("merge modified an input")
	}
	if _, err := LoadSchemaFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestLabelFor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"AnnualRevenue": "Annual Revenue", "Score__c": "Score",
		"Account_Tier__c": "Account Tier", "ParentId": "Parent ID", "SLAExpirationDate": "SLA Expiration Date", "Name": "Name"} {
		if got := labelFor(in); got != want {
			t.Errorf("labelFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGeneratedIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, n := range []uint64{1, 61, 62, 3843, 1 << 40} {
		id := makeID("001", n)
		if len(id) != 18 || !strings.HasPrefix(id, "001Kn") || !salesforce.ValidID(id) || seen[id] {
			t.Errorf("makeID(%d) = %q", n, id)
		}
		seen[id] = true
	}
	if makeID("001", 62)[5:15] != "0000000010" {
		t.Errorf("base-62 counter: %s", makeID("001", 62))
	}
	g := newIDGen()
	if a, b := g.next("a01"), g.next("a01"); a == b || !strings.HasPrefix(b, "a01") {
		t.Errorf("%s %s", a, b)
	}
}

func TestCoercion(t *testing.T) {
	t.Parallel()
	c, err := compileSchema(DefaultSchema().Merge(testSchema(t)))
	if err != nil {
		t.Fatal(err)
	}
	acc := c.object("Account")
	ok := []struct {
		field string
		in    any
		want  any
	}{
		{"AnnualRevenue", "12.5", 12.5},
		{"AnnualRevenue", 3.0, 3.0},
		{"NumberOfEmployees", "42", 42.0},
		{"Active__c", "FALSE", false},
		{"Signed__c", "2024-02-29T23:30:00Z", "2024-02-29T23:30:00.000+0000"},
		{"Signed__c", "2024-02-29T23:30:00.123-0100", "2024-03-01T00:30:00.123+0000"},
		{"Signed__c", "2024-02-29T23:30:00", "2024-02-29T23:30:00.000+0000"},
		{"Name", 12.0, "12"},
		{"Name", true, "true"},
		{"ParentId", makeID("001", 1)[:15], makeID("001", 1)},
		{"Name", nil, nil},
	}
	for _, tc := range ok {
		got, rerr := coerceJSON(acc.field(tc.field), tc.in)
		if rerr != nil || got != tc.want {
			t.Errorf("coerceJSON(%s, %#v) = %#v, %v; want %#v", tc.field, tc.in, got, rerr, tc.want)
		}
	}
	bad := []struct {
		field string
		in    any
	}{{"AnnualRevenue", "NaN"}, {"AnnualRevenue", "0x10"}, {"AnnualRevenue", "1e400"}, {"AnnualRevenue", true},
		{"NumberOfEmployees", "4.2"}, {"Active__c", 1.0}, {"Signed__c", "2024-13-01T00:00:00Z"}, {"Name", map[string]any{}}}
	for _, tc := range bad {
		if _, rerr := coerceJSON(acc.field(tc.field), tc.in); rerr == nil || rerr.code != codeInvalidTypeOnField {
			t.Errorf("coerceJSON(%s, %#v) accepted or wrong code: %v", tc.field, tc.in, rerr)
		}
	}
	for in, want := range map[string]any{"true": true, "0": false, "1": true} {
		if got, rerr := coerceCSV(acc.field("Active__c"), in); rerr != nil || got != want {
			t.Errorf("coerceCSV(bool %q) = %v %v", in, got, rerr)
		}
	}
	for _, e := range []string{"a@b.co", "first.last+tag@sub.example.org"} {
		if !validEmail(e) {
			t.Errorf("%q refused", e)
		}
	}
	for _, e := range []string{"a@b", "@b.co", "a b@c.de", "a@@b.co", "a@.b.co", "a@b..co"} {
		if validEmail(e) {
			t.Errorf("%q accepted", e)
		}
	}
}
