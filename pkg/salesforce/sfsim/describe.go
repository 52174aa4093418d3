package sfsim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Describe: GET /sobjects (describeGlobal), /sobjects/{o} (basic info) and
// /sobjects/{o}/describe. The shapes follow Salesforce's DescribeSObjectResult
// and Field (SOAP API guide), with the keys a loader reads; values are what
// Salesforce gives for the simulator's schema (docs/simulator.md, "Describe").
// Keys are in Salesforce's (alphabetical) order.

type describePicklist struct {
	Active       bool    `json:"active"`
	DefaultValue bool    `json:"defaultValue"`
	Label        string  `json:"label"`
	ValidFor     *string `json:"validFor"`
	Value        string  `json:"value"`
}

type describeField struct {
	Aggregatable       bool               `json:"aggregatable"`
	AutoNumber         bool               `json:"autoNumber"`
	ByteLength         int                `json:"byteLength"`
	Calculated         bool               `json:"calculated"`
	CalculatedFormula  *string            `json:"calculatedFormula"`
	CascadeDelete      bool               `json:"cascadeDelete"`
	CaseSensitive      bool               `json:"caseSensitive"`
	ControllerName     *string            `json:"controllerName"`
	Createable         bool               `json:"createable"`
	Custom             bool               `json:"custom"`
	DefaultValue       any                `json:"defaultValue"`
	DefaultValueForm   *string            `json:"defaultValueFormula"`
	DefaultedOnCreate  bool               `json:"defaultedOnCreate"`
	DependentPicklist  bool               `json:"dependentPicklist"`
	DeprecatedHidden   bool               `json:"deprecatedAndHidden"`
	Digits             int                `json:"digits"`
	Encrypted          bool               `json:"encrypted"`
	ExternalID         bool               `json:"externalId"`
	Filterable         bool               `json:"filterable"`
	Groupable          bool               `json:"groupable"`
	HTMLFormatted      bool               `json:"htmlFormatted"`
	IDLookup           bool               `json:"idLookup"`
	InlineHelpText     *string            `json:"inlineHelpText"`
	Label              string             `json:"label"`
	Length             int                `json:"length"`
	Name               string             `json:"name"`
	NameField          bool               `json:"nameField"`
	NamePointing       bool               `json:"namePointing"`
	Nillable           bool               `json:"nillable"`
	PicklistValues     []describePicklist `json:"picklistValues"`
	Precision          int                `json:"precision"`
	ReferenceTo        []string           `json:"referenceTo"`
	RelationshipName   *string            `json:"relationshipName"`
	RelationshipOrder  *int               `json:"relationshipOrder"`
	RestrictedDelete   bool               `json:"restrictedDelete"`
	RestrictedPicklist bool               `json:"restrictedPicklist"`
	Scale              int                `json:"scale"`
	SoapType           string             `json:"soapType"`
	Sortable           bool               `json:"sortable"`
	Type               string             `json:"type"`
	Unique             bool               `json:"unique"`
	Updateable         bool               `json:"updateable"`
}

type describeChild struct {
	CascadeDelete       bool     `json:"cascadeDelete"`
	ChildSObject        string   `json:"childSObject"`
	DeprecatedHidden    bool     `json:"deprecatedAndHidden"`
	Field               string   `json:"field"`
	JunctionIDListNames []string `json:"junctionIdListNames"`
	JunctionReferenceTo []string `json:"junctionReferenceTo"`
	RelationshipName    *string  `json:"relationshipName"`
	RestrictedDelete    bool     `json:"restrictedDelete"`
}

type describeObject struct {
	Activateable       bool              `json:"activateable"`
	ChildRelationships *[]describeChild  `json:"childRelationships,omitempty"`
	Createable         bool              `json:"createable"`
	Custom             bool              `json:"custom"`
	CustomSetting      bool              `json:"customSetting"`
	Deletable          bool              `json:"deletable"`
	DeprecatedHidden   bool              `json:"deprecatedAndHidden"`
	FeedEnabled        bool              `json:"feedEnabled"`
	Fields             *[]describeField  `json:"fields,omitempty"`
	KeyPrefix          string            `json:"keyPrefix"`
	Label              string            `json:"label"`
	LabelPlural        string            `json:"labelPlural"`
	Layoutable         bool              `json:"layoutable"`
	Mergeable          bool              `json:"mergeable"`
	Name               string            `json:"name"`
	Queryable          bool              `json:"queryable"`
	Replicateable      bool              `json:"replicateable"`
	Retrieveable       bool              `json:"retrieveable"`
	Searchable         bool              `json:"searchable"`
	Triggerable        bool              `json:"triggerable"`
	Undeletable        bool              `json:"undeletable"`
	Updateable         bool              `json:"updateable"`
	URLs               map[string]string `json:"urls"`
}

// soapType is describe's soapType of a field type.
func soapType(t FieldType) string {
	switch t {
	case TypeID, TypeReference:
		return "tns:ID"
	case TypeDouble, TypeCurrency, TypePercent:
		return "xsd:double"
	case TypeInt:
		return "xsd:int"
	case TypeBoolean:
		return "xsd:boolean"
	case TypeDate:
		return "xsd:date"
	case TypeDatetime:
		return "xsd:dateTime"
	}
	return "xsd:string"
}

// describeFieldOf renders one field as Salesforce describes it.
func describeFieldOf(od *objectDef, f *fieldDef) describeField {
	text := false
	switch f.typ {
	case TypeString, TypeTextarea, TypeEmail, TypePhone, TypeURL, TypePicklist:
		text = true
	}
	df := describeField{Name: f.name, Label: f.label, Type: string(f.typ), SoapType: soapType(f.typ),
		Createable: f.createable, Updateable: f.updateable, Custom: f.custom, ExternalID: f.externalID,
		Unique: f.unique, CaseSensitive: f.caseSensitive, RestrictedPicklist: f.restricted,
		DefaultValue: f.def, ReferenceTo: []string{}, PicklistValues: []describePicklist{},
		Filterable: f.typ != TypeTextarea || f.length <= 255, Sortable: f.typ != TypeTextarea || f.length <= 255,
		Aggregatable: f.typ != TypeTextarea && f.typ != TypeBoolean, Groupable: f.typ != TypeTextarea && f.typ != TypeDouble &&
			f.typ != TypeCurrency && f.typ != TypePercent && f.typ != TypeDatetime}
	switch {
	case text:
		df.Length, df.ByteLength = f.length, 3*f.length
	case f.typ == TypeID || f.typ == TypeReference:
		df.Length, df.ByteLength = 18, 18
	case f.typ == TypeInt:
		df.Digits = 9
	case f.typ == TypeDouble || f.typ == TypeCurrency || f.typ == TypePercent:
		df.Precision, df.Scale = f.precision, f.scale
	}
	// Checkboxes and system fields are never null; required fields are not
	// nillable.
	df.Nillable = f.sys == sysNone && !f.required && f.typ != TypeBoolean
	// Salesforce fills these on create: system fields, checkboxes (false)
	// and fields with a default value.
	df.DefaultedOnCreate = f.sys != sysNone || f.typ == TypeBoolean || f.def != nil
	if f.typ == TypeBoolean && f.def == nil {
		df.DefaultValue = false
	}
	df.NameField = f.lower == "name"
	df.IDLookup = f.sys == sysID || f.externalID || df.NameField ||
		f.typ == TypeEmail && (od.lower == "contact" || od.lower == "lead")
	if f.refTo != "" {
		df.ReferenceTo = []string{f.refTo}
		rel := f.relName
		df.RelationshipName = &rel
	}
	for _, v := range f.values {
		df.PicklistValues = append(df.PicklistValues, describePicklist{Active: true, Label: v, Value: v, DefaultValue: f.def == v})
	}
	for _, v := range f.inactive {
		df.PicklistValues = append(df.PicklistValues, describePicklist{Label: v, Value: v})
	}
	return df
}

// childRelationshipName names the relationship from parent to the children
// of reference field f of object child: Salesforce's plural names for the
// standard ones, "<Object>s__r" for custom fields.
func childRelationshipName(child *objectDef, f *fieldDef) string {
	switch child.lower + "." + f.lower {
	case "account.parentid":
		return "ChildAccounts"
	case "contact.accountid":
		return "Contacts"
	case "opportunity.accountid":
		return "Opportunities"
	}
	if f.custom {
		return strings.TrimSuffix(child.name, "__c") + "s__r"
	}
	return child.name + "s"
}

func (c *call) describeObject(od *objectDef, withFields bool) describeObject {
	base := "/services/data/" + c.ver + "/sobjects/" + od.name
	d := describeObject{Name: od.name, Label: od.label, LabelPlural: od.label + "s", KeyPrefix: od.keyPrefix, Custom: od.custom,
		Createable: true, Updateable: true, Deletable: true, Queryable: true, Layoutable: true, Replicateable: true,
		Retrieveable: true, Searchable: true, Triggerable: true, Undeletable: true, Mergeable: !od.custom && od.lower != "opportunity",
		URLs: map[string]string{"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"}}
	if !withFields {
		return d
	}
	fields := make([]describeField, 0, len(od.fields))
	for _, f := range od.fields {
		fields = append(fields, describeFieldOf(od, f))
	}
	children := []describeChild{}
	d.Fields, d.ChildRelationships = &fields, &children
	for _, child := range c.cat.schema.objects {
		for _, f := range child.fields {
			if f.typ == TypeReference && strings.EqualFold(f.refTo, od.name) {
				rel := childRelationshipName(child, f)
				children = append(children, describeChild{ChildSObject: child.name, Field: f.name,
					RelationshipName: &rel, JunctionIDListNames: []string{}, JunctionReferenceTo: []string{}})
			}
		}
	}
	return d
}

func (c *call) describe(od *objectDef, basic bool) *apiError {
	var v any
	if basic {
		v = map[string]any{"objectDescribe": c.describeObject(od, false), "recentItems": []any{}}
	} else {
		v = c.describeObject(od, true)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return newAPIError(http.StatusInternalServerError, "UNKNOWN_EXCEPTION", err.Error())
	}
	c.body.b = append(c.body.b, b...)
	return nil
}

func (c *call) describeGlobal() *apiError {
	objs := make([]describeObject, 0, len(c.cat.schema.objects))
	for _, od := range c.cat.schema.objects {
		objs = append(objs, c.describeObject(od, false))
	}
	b, err := json.Marshal(map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objs})
	if err != nil {
		return newAPIError(http.StatusInternalServerError, "UNKNOWN_EXCEPTION", err.Error())
	}
	c.body.b = append(c.body.b, b...)
	return nil
}
