package sfsim

import (
	"fmt"
	"strings"
	"unicode"
)

// sysField identifies the system fields every object has.
type sysField uint8

const (
	sysNone sysField = iota
	sysID
	sysIsDeleted
	sysCreatedDate
	sysLastModifiedDate
	sysSystemModstamp
)

// fieldDef is a compiled field: lower-case name for lookups, label for
// messages, index into a record's values.
type fieldDef struct {
	name       string
	lower      string
	label      string
	typ        FieldType
	length     int
	required   bool
	unique     bool
	externalID bool
	// caseSensitive makes unique and external-id matching exact.
	caseSensitive bool
	restricted    bool
	readOnly      bool
	// createable and updateable are describe's; writes check them.
	createable bool
	updateable bool
	custom     bool
	values     []string // active picklist values
	inactive   []string // inactive picklist values
	valueSet   map[string]struct{}
	precision  int
	scale      int
	refTo      string // canonical parent object name
	relName    string
	def        any // coerced default, nil when none
	idx        int // index in record values; -1 for system and computed fields
	sys        sysField
	computed   bool // Contact.Name / Lead.Name: FirstName + " " + LastName
}

// indexed reports whether the field has a value index.
func (f *fieldDef) indexed() bool { return f.idx >= 0 && (f.unique || f.externalID) }

// objectDef is a compiled object. It is immutable once built; a schema change
// builds new ones.
type objectDef struct {
	name      string
	lower     string
	label     string
	keyPrefix string
	custom    bool
	fields    []*fieldDef // describe order: Id, declared fields, then the other system fields
	data      []*fieldDef // declared, stored fields by idx
	byLower   map[string]*fieldDef
	byName    map[string]*fieldDef // exact spelling, tried first (no lower-casing)
	byRel     map[string]*fieldDef // lower relationship name → reference field
	required  []*fieldDef
	indexed   []*fieldDef
	defaults  int       // number of data fields with a default value
	firstName *fieldDef // for the computed Name
	lastName  *fieldDef
}

func (o *objectDef) field(name string) *fieldDef {
	if f := o.byName[name]; f != nil {
		return f
	}
	return o.byLower[strings.ToLower(name)]
}

// compiledSchema is the org's schema, built from a Schema by compileSchema.
type compiledSchema struct {
	source   *Schema
	objects  []*objectDef
	byLower  map[string]*objectDef
	byPrefix map[string]*objectDef
}

func (c *compiledSchema) object(name string) *objectDef { return c.byLower[strings.ToLower(name)] }

// reservedPrefix reports the key prefixes of non-record ids.
func reservedPrefix(p string) bool {
	switch p {
	case prefixOrg, prefixUser, prefixJob, prefixLocator:
		return true
	}
	return false
}

// compileSchema validates s and builds the lookup structures. Errors name the
// object and field at fault.
func compileSchema(s *Schema) (*compiledSchema, error) {
	c := &compiledSchema{source: s.Clone(), byLower: map[string]*objectDef{}, byPrefix: map[string]*objectDef{}}
	// First pass: names and key prefixes, so references can be resolved.
	nextCustom := 0
	for i := range c.source.Objects {
		o := &c.source.Objects[i]
		if !validName(o.Name) {
			return nil, fmt.Errorf("sfsim: schema: object %q: invalid name", o.Name)
		}
		lower := strings.ToLower(o.Name)
		if c.byLower[lower] != nil {
			return nil, fmt.Errorf("sfsim: schema: object %q: declared twice", o.Name)
		}
		od := &objectDef{name: o.Name, lower: lower, label: o.Label, keyPrefix: o.KeyPrefix,
			custom: strings.HasSuffix(lower, "__c"), byLower: map[string]*fieldDef{}, byRel: map[string]*fieldDef{}}
		if od.label == "" {
			od.label = labelFor(o.Name)
		}
		c.byLower[lower] = od
		c.objects = append(c.objects, od)
	}
	for i, od := range c.objects {
		if od.keyPrefix == "" {
			continue
		}
		if len(od.keyPrefix) != 3 || !isBase62(od.keyPrefix) {
			return nil, fmt.Errorf("sfsim: schema: object %q: key_prefix %q is not three base-62 characters", od.name, od.keyPrefix)
		}
		if reservedPrefix(od.keyPrefix) {
			return nil, fmt.Errorf("sfsim: schema: object %q: key_prefix %q is reserved", od.name, od.keyPrefix)
		}
		if prev := c.byPrefix[od.keyPrefix]; prev != nil {
			return nil, fmt.Errorf("sfsim: schema: object %q: key_prefix %q already used by %s", od.name, od.keyPrefix, prev.name)
		}
		c.byPrefix[od.keyPrefix] = c.objects[i]
	}
	for _, od := range c.objects {
		if od.keyPrefix != "" {
			continue
		}
		for {
			// a0A … a0z, a1A … a1z, …: custom prefixes in order of appearance.
			p := "a" + string(base62[nextCustom/52%62]) + string(base62[10+nextCustom%52])
			nextCustom++
			if c.byPrefix[p] == nil && !reservedPrefix(p) {
				od.keyPrefix = p
				c.byPrefix[p] = od
				break
			}
		}
	}
	// Second pass: fields.
	for i := range c.source.Objects {
		if err := c.compileFields(c.objects[i], c.source.Objects[i].Fields); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *compiledSchema) compileFields(od *objectDef, fields []Field) error {
	od.byName = map[string]*fieldDef{}
	add := func(f *fieldDef) {
		od.fields = append(od.fields, f)
		od.byLower[f.lower] = f
		od.byName[f.name] = f
	}
	idLabel := od.label + " ID" // "Account ID"; custom objects say "Record ID"
	if od.custom {
		idLabel = "Record ID"
	}
	add(&fieldDef{name: "Id", lower: "id", label: idLabel, typ: TypeID, length: 18, readOnly: true, idx: -1, sys: sysID})
	defer func() {
		for _, f := range od.fields {
			if f.sys != sysNone || f.computed {
				f.createable, f.updateable = false, false
			}
		}
	}()
	for _, sf := range fields {
		f, err := c.compileField(od, sf)
		if err != nil {
			return fmt.Errorf("sfsim: schema: object %q field %q: %w", od.name, sf.Name, err)
		}
		if od.byLower[f.lower] != nil {
			return fmt.Errorf("sfsim: schema: object %q field %q: declared twice or a system field", od.name, sf.Name)
		}
		if f.computed {
			f.idx = -1
		} else {
			f.idx = len(od.data)
			od.data = append(od.data, f)
		}
		add(f)
		if f.relName != "" {
			rl := strings.ToLower(f.relName)
			if od.byRel[rl] != nil {
				return fmt.Errorf("sfsim: schema: object %q field %q: relationship name %q used twice", od.name, sf.Name, f.relName)
			}
			od.byRel[rl] = f
		}
		if f.required {
			od.required = append(od.required, f)
		}
		if f.indexed() {
			od.indexed = append(od.indexed, f)
		}
		if f.def != nil && f.idx >= 0 {
			od.defaults++
		}
	}
	for _, n := range []struct {
		name string
		sys  sysField
		typ  FieldType
	}{{"IsDeleted", sysIsDeleted, TypeBoolean}, {"CreatedDate", sysCreatedDate, TypeDatetime},
		{"LastModifiedDate", sysLastModifiedDate, TypeDatetime}, {"SystemModstamp", sysSystemModstamp, TypeDatetime}} {
		if od.byLower[strings.ToLower(n.name)] != nil {
			return fmt.Errorf("sfsim: schema: object %q field %q: is a system field", od.name, n.name)
		}
		add(&fieldDef{name: n.name, lower: strings.ToLower(n.name), label: labelFor(n.name), typ: n.typ, readOnly: true, idx: -1, sys: n.sys})
	}
	if od.lower == "contact" || od.lower == "lead" {
		od.firstName, od.lastName = od.byLower["firstname"], od.byLower["lastname"]
		if n := od.byLower["name"]; n != nil && od.lastName != nil {
			n.computed, n.readOnly = true, true
		}
	}
	return nil
}

func (c *compiledSchema) compileField(od *objectDef, sf Field) (*fieldDef, error) {
	if !validName(sf.Name) {
		return nil, fmt.Errorf("invalid name")
	}
	f := &fieldDef{name: sf.Name, lower: strings.ToLower(sf.Name), label: sf.Label, typ: sf.Type,
		length: sf.Length, required: sf.Required, unique: sf.Unique, externalID: sf.ExternalID, caseSensitive: sf.CaseSensitive,
		restricted: sf.Restricted, readOnly: sf.ReadOnly, custom: strings.HasSuffix(strings.ToLower(sf.Name), "__c")}
	if f.label == "" {
		f.label = labelFor(sf.Name)
	}
	f.createable, f.updateable = !f.readOnly, !f.readOnly
	if sf.Createable != nil {
		f.createable = *sf.Createable
	}
	if sf.Updateable != nil {
		f.updateable = *sf.Updateable
	}
	if od.lower == "contact" || od.lower == "lead" {
		if f.lower == "name" {
			f.computed, f.readOnly = true, true
		}
	}
	switch f.typ {
	case TypeString, TypeTextarea, TypeEmail, TypePhone, TypeURL, TypePicklist:
		if f.length == 0 {
			f.length = defaultStringLength
		}
		if f.length < 0 || f.length > maxStringLength {
			return nil, fmt.Errorf("length %d out of range 1..%d", f.length, maxStringLength)
		}
	case TypeDouble, TypeCurrency, TypePercent, TypeInt, TypeBoolean, TypeDate, TypeDatetime:
		f.length = 0
	case TypeReference:
		parent := c.object(sf.ReferenceTo)
		if parent == nil {
			return nil, fmt.Errorf("reference_to %q names no object", sf.ReferenceTo)
		}
		f.refTo = parent.name
		f.length = 18
		f.relName = sf.RelationshipName
		if f.relName == "" {
			switch {
			case strings.HasSuffix(f.lower, "__c"):
				f.relName = sf.Name[:len(sf.Name)-3] + "__r"
			case strings.HasSuffix(f.lower, "id") && len(sf.Name) > 2:
				f.relName = sf.Name[:len(sf.Name)-2]
			default:
				return nil, fmt.Errorf("relationship_name is required")
			}
		}
		if !validName(f.relName) {
			return nil, fmt.Errorf("invalid relationship_name %q", f.relName)
		}
	case "":
		return nil, fmt.Errorf("type is required")
	default:
		return nil, fmt.Errorf("unknown type %q", sf.Type)
	}
	if f.typ != TypeReference && (sf.ReferenceTo != "" || sf.RelationshipName != "") {
		return nil, fmt.Errorf("reference_to and relationship_name are for reference fields")
	}
	if f.typ == TypePicklist {
		f.values = append([]string(nil), sf.Values...)
		f.inactive = append([]string(nil), sf.InactiveValues...)
		f.valueSet = make(map[string]struct{}, len(f.values))
		for _, v := range f.values {
			f.valueSet[v] = struct{}{}
		}
		for _, v := range f.inactive {
			if _, dup := f.valueSet[v]; dup {
				return nil, fmt.Errorf("picklist value %q is both active and inactive", v)
			}
		}
		if f.restricted && len(f.values) == 0 {
			return nil, fmt.Errorf("a restricted picklist needs values")
		}
	} else if len(sf.Values) > 0 || len(sf.InactiveValues) > 0 || sf.Restricted {
		return nil, fmt.Errorf("values, inactive_values and restricted are for picklists")
	}
	switch f.typ {
	case TypeDouble, TypeCurrency, TypePercent:
		f.precision, f.scale = 18, 0
		if sf.Precision != 0 {
			f.precision = sf.Precision
		}
		if sf.Scale != 0 {
			f.scale = sf.Scale
		}
		if f.precision < 1 || f.precision > 18 || f.scale < 0 || f.scale > f.precision {
			return nil, fmt.Errorf("precision %d and scale %d: want 1 ≤ precision ≤ 18 and 0 ≤ scale ≤ precision", f.precision, f.scale)
		}
	default:
		if sf.Precision != 0 || sf.Scale != 0 {
			return nil, fmt.Errorf("precision and scale are for double, currency and percent fields")
		}
	}
	if f.unique || f.externalID {
		switch f.typ {
		case TypeString, TypeEmail, TypePhone, TypeInt, TypeDouble:
		default:
			return nil, fmt.Errorf("type %s cannot be unique or an external id", f.typ)
		}
	}
	if f.caseSensitive {
		switch f.typ {
		case TypeString, TypeEmail, TypePhone:
		default:
			return nil, fmt.Errorf("case_sensitive is for string, email and phone fields")
		}
	}
	if sf.Default != nil {
		v, cerr := coerceJSON(f, normaliseYAMLValue(sf.Default))
		if cerr != nil {
			return nil, fmt.Errorf("default: %s", cerr.message)
		}
		f.def = v
	}
	return f, nil
}

// normaliseYAMLValue turns YAML scalars into JSON-decoded shapes.
func normaliseYAMLValue(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	}
	return v
}

func validName(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_'):
		default:
			return false
		}
	}
	return true
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return false
		}
	}
	return true
}

// labelFor derives a label from an API name: "AnnualRevenue" → "Annual
// Revenue", "Score__c" → "Score", "Account_Tier__c" → "Account Tier",
// "ParentId" → "Parent ID".
func labelFor(name string) string {
	n := strings.TrimSuffix(strings.TrimSuffix(name, "__c"), "__r")
	if strings.Contains(n, "_") {
		return strings.ReplaceAll(n, "_", " ")
	}
	var b strings.Builder
	rs := []rune(n)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if strings.HasSuffix(out, " Id") {
		out = out[:len(out)-2] + "ID"
	}
	return out
}
