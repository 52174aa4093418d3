package sfsim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldType is the type of a field, as written in a schema file.
type FieldType string

// The field types a schema may use.
const (
	TypeString    FieldType = "string"
	TypeTextarea  FieldType = "textarea"
	TypeEmail     FieldType = "email"
	TypePhone     FieldType = "phone"
	TypeURL       FieldType = "url"
	TypePicklist  FieldType = "picklist"
	TypeDouble    FieldType = "double"
	TypeCurrency  FieldType = "currency"
	TypePercent   FieldType = "percent"
	TypeInt       FieldType = "int"
	TypeBoolean   FieldType = "boolean"
	TypeDate      FieldType = "date"
	TypeDatetime  FieldType = "datetime"
	TypeReference FieldType = "reference"
	// TypeID is the type of the system field Id; it cannot be declared.
	TypeID FieldType = "id"
)

// defaultStringLength is the length of a string field that does not set one.
const defaultStringLength = 255

// maxStringLength bounds a declared length (Salesforce's long text limit).
const maxStringLength = 131072

// Schema lists objects and their fields. The simulator always starts from the
// standard objects of DefaultSchema; a Schema given in Config or ApplySchema is
// merged on top (see Merge).
type Schema struct {
	Objects []Object `yaml:"objects" json:"objects"`
}

// Object describes one sObject.
type Object struct {
	// Name is the API name (Account, Invoice__c).
	Name string `yaml:"name" json:"name"`
	// Label is the human name; default: Name without the __c suffix.
	Label string `yaml:"label,omitempty" json:"label,omitempty"`
	// KeyPrefix is the three-character id prefix; default: a0A, a0B, … in
	// order of appearance for custom objects.
	KeyPrefix string `yaml:"key_prefix,omitempty" json:"key_prefix,omitempty"`
	// Fields are added to the object, or replace fields of the same name.
	Fields []Field `yaml:"fields" json:"fields"`
}

// Field describes one field of an object.
type Field struct {
	Name  string    `yaml:"name" json:"name"`
	Type  FieldType `yaml:"type" json:"type"`
	Label string    `yaml:"label,omitempty" json:"label,omitempty"`
	// Length is the maximum number of characters of a string-like field
	// (default 255).
	Length   int  `yaml:"length,omitempty" json:"length,omitempty"`
	Required bool `yaml:"required,omitempty" json:"required,omitempty"`
	// Unique refuses a second record with the same value
	// (DUPLICATE_VALUE); text values compare case-insensitively.
	Unique bool `yaml:"unique,omitempty" json:"unique,omitempty"`
	// ExternalID makes the field usable for upserts and relationship
	// references; it is indexed.
	ExternalID bool `yaml:"external_id,omitempty" json:"external_id,omitempty"`
	// CaseSensitive makes unique and external-id values compare exactly
	// ("ABC" and "abc" are different keys); by default they compare
	// case-insensitively, as Salesforce's "Unique" option does. It is
	// describe's caseSensitive.
	CaseSensitive bool `yaml:"case_sensitive,omitempty" json:"case_sensitive,omitempty"`
	// Values are the picklist values; Restricted refuses any other value.
	Values     []string `yaml:"values,omitempty" json:"values,omitempty"`
	Restricted bool     `yaml:"restricted,omitempty" json:"restricted,omitempty"`
	// ReferenceTo names the parent object of a reference field;
	// RelationshipName is the name used in SOQL paths and nested JSON
	// (default: Foo__c → Foo__r, ParentId → Parent).
	ReferenceTo      string `yaml:"reference_to,omitempty" json:"reference_to,omitempty"`
	RelationshipName string `yaml:"relationship_name,omitempty" json:"relationship_name,omitempty"`
	// InactiveValues are picklist values that describe lists with
	// active:false; a restricted picklist refuses them.
	InactiveValues []string `yaml:"inactive_values,omitempty" json:"inactive_values,omitempty"`
	// ReadOnly refuses writes (INVALID_FIELD_FOR_INSERT_UPDATE).
	ReadOnly bool `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	// Createable and Updateable override describe's createable/updateable
	// (default: true unless ReadOnly). A field that is not createable is
	// refused on insert, one that is not updateable on update, with
	// INVALID_FIELD_FOR_INSERT_UPDATE.
	Createable *bool `yaml:"createable,omitempty" json:"createable,omitempty"`
	Updateable *bool `yaml:"updateable,omitempty" json:"updateable,omitempty"`
	// Precision and Scale of a double, currency or percent field (describe's
	// precision and scale; default 18 and 0).
	Precision int `yaml:"precision,omitempty" json:"precision,omitempty"`
	Scale     int `yaml:"scale,omitempty" json:"scale,omitempty"`
	// Default is the value given to a new record that does not set the field.
	Default any `yaml:"default,omitempty" json:"default,omitempty"`
}

// ParseSchema reads a schema from YAML or JSON (JSON is YAML). Unknown keys are
// errors. The result is validated as if merged onto DefaultSchema.
func ParseSchema(data []byte) (*Schema, error) {
	s, err := decodeSchema(data)
	if err != nil {
		return nil, err
	}
	if _, err := compileSchema(DefaultSchema().Merge(s)); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeSchema reads a schema document without validating it (ApplySchema
// validates it against the org's current schema).
func decodeSchema(data []byte) (*Schema, error) {
	var s Schema
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sfsim: schema: %w", err)
	}
	return &s, nil
}

// LoadSchemaFile reads a schema file (see ParseSchema).
func LoadSchemaFile(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sfsim: schema: %w", err)
	}
	s, err := ParseSchema(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return s, nil
}

// Clone returns a deep copy of s.
func (s *Schema) Clone() *Schema {
	if s == nil {
		return &Schema{}
	}
	out := &Schema{Objects: make([]Object, len(s.Objects))}
	for i, o := range s.Objects {
		o.Fields = append([]Field(nil), o.Fields...)
		for j := range o.Fields {
			o.Fields[j].Values = append([]string(nil), o.Fields[j].Values...)
			o.Fields[j].InactiveValues = append([]string(nil), o.Fields[j].InactiveValues...)
		}
		out.Objects[i] = o
	}
	return out
}

// Merge returns s with other applied on top: objects of other that s lacks are
// appended; for an object both have, other's fields replace s's fields of the
// same name (compared case-insensitively) and the others are appended, and a
// non-empty Label or KeyPrefix of other wins. Neither input is modified.
func (s *Schema) Merge(other *Schema) *Schema {
	out := s.Clone()
	if other == nil {
		return out
	}
	for _, o := range other.Clone().Objects {
		i := out.objectIndex(o.Name)
		if i < 0 {
			out.Objects = append(out.Objects, o)
			continue
		}
		dst := &out.Objects[i]
		if o.Label != "" {
			dst.Label = o.Label
		}
		if o.KeyPrefix != "" {
			dst.KeyPrefix = o.KeyPrefix
		}
		for _, f := range o.Fields {
			replaced := false
			for j := range dst.Fields {
				if strings.EqualFold(dst.Fields[j].Name, f.Name) {
					dst.Fields[j] = f
					replaced = true
					break
				}
			}
			if !replaced {
				dst.Fields = append(dst.Fields, f)
			}
		}
	}
	return out
}

func (s *Schema) objectIndex(name string) int {
	for i, o := range s.Objects {
		if strings.EqualFold(o.Name, name) {
			return i
		}
	}
	return -1
}

// DefaultSchema returns the standard objects Account (001), Contact (003), Lead
// (00Q) and Opportunity (006) with their usual fields and required fields.
// Contact.Name and Lead.Name are read-only and computed from FirstName and
// LastName, as in Salesforce.
func DefaultSchema() *Schema {
	str := func(name string, length int) Field { return Field{Name: name, Type: TypeString, Length: length} }
	req := func(f Field) Field { f.Required = true; return f }
	typ := func(name string, t FieldType) Field { return Field{Name: name, Type: t} }
	pick := func(name string, values ...string) Field {
		return Field{Name: name, Type: TypePicklist, Values: values}
	}
	ref := func(name, to, rel, label string) Field {
		return Field{Name: name, Type: TypeReference, ReferenceTo: to, RelationshipName: rel, Label: label}
	}
	phone := func(name string) Field { return Field{Name: name, Type: TypePhone, Length: 40} }
	email := func(name string) Field { return Field{Name: name, Type: TypeEmail, Length: 80} }
	leadSource := pick("LeadSource", "Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
	industry := pick("Industry", "Agriculture", "Banking", "Education", "Energy", "Finance", "Healthcare",
		"Manufacturing", "Media", "Retail", "Technology", "Telecommunications", "Other")
	return &Schema{Objects: []Object{
		{Name: "Account", KeyPrefix: "001", Fields: []Field{
			req(str("Name", 255)),
			str("AccountNumber", 40),
			pick("Type", "Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
				"Installation Partner", "Technology Partner", "Other"),
			industry,
			pick("Rating", "Hot", "Warm", "Cold"),
			{Name: "AnnualRevenue", Type: TypeCurrency},
			{Name: "NumberOfEmployees", Type: TypeInt, Label: "Employees"},
			phone("Phone"),
			{Name: "Website", Type: TypeURL, Length: 255},
			{Name: "Description", Type: TypeTextarea, Length: 32000},
			{Name: "BillingStreet", Type: TypeTextarea, Length: 255},
			str("BillingCity", 40),
			str("BillingState", 80),
			str("BillingPostalCode", 20),
			str("BillingCountry", 80),
			str("ShippingCity", 40),
			str("ShippingCountry", 80),
			ref("ParentId", "Account", "Parent", "Parent Account ID"),
		}},
		{Name: "Contact", KeyPrefix: "003", Fields: []Field{
			str("FirstName", 40),
			req(str("LastName", 80)),
			{Name: "Name", Type: TypeString, Length: 121, ReadOnly: true, Label: "Full Name"},
			email("Email"),
			phone("Phone"),
			phone("MobilePhone"),
			str("Title", 128),
			str("Department", 80),
			typ("Birthdate", TypeDate),
			leadSource,
			typ("DoNotCall", TypeBoolean),
			typ("HasOptedOutOfEmail", TypeBoolean),
			str("MailingCity", 40),
			str("MailingCountry", 80),
			ref("AccountId", "Account", "Account", "Account ID"),
		}},
		{Name: "Lead", KeyPrefix: "00Q", Fields: []Field{
			str("FirstName", 40),
			req(str("LastName", 80)),
			{Name: "Name", Type: TypeString, Length: 121, ReadOnly: true, Label: "Full Name"},
			req(str("Company", 255)),
			email("Email"),
			phone("Phone"),
			str("Title", 128),
			{Name: "Status", Type: TypePicklist, Required: true, Default: "Open - Not Contacted",
				Values: []string{"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"}},
			industry,
			leadSource,
			{Name: "AnnualRevenue", Type: TypeCurrency},
			{Name: "NumberOfEmployees", Type: TypeInt, Label: "Employees"},
			str("City", 40),
			str("Country", 80),
		}},
		{Name: "Opportunity", KeyPrefix: "006", Fields: []Field{
			req(str("Name", 120)),
			{Name: "StageName", Type: TypePicklist, Required: true, Label: "Stage", Values: []string{
				"Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
				"Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}},
			req(typ("CloseDate", TypeDate)),
			{Name: "Amount", Type: TypeCurrency},
			{Name: "Probability", Type: TypePercent, Label: "Probability (%)"},
			pick("Type", "Existing Business", "New Business"),
			leadSource,
			{Name: "Description", Type: TypeTextarea, Length: 32000},
			ref("AccountId", "Account", "Account", "Account ID"),
		}},
	}}
}
