package salesforce

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Describe reads an object's metadata: its fields with their types, lengths,
// whether they can be created or updated, which are external ids, picklist
// values, relationships. Tools such as Data Loader read it before they load
// anything; package pipeline checks mappings and values against it.
//
// Salesforce documents the resources at
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm
// (sObject Describe) and .../resources_describeGlobal.htm (Describe Global);
// the properties are those of DescribeSObjectResult and Field in the SOAP API
// reference (sforce_api_calls_describesobjects_describesobjectresult.htm).

// CodeNotFound is Salesforce's errorCode for a resource that does not exist,
// such as the describe of an unknown object (HTTP 404).
const CodeNotFound = "NOT_FOUND"

// DefaultDescribeTTL is how long Describe keeps an object's describe.
const DefaultDescribeTTL = 15 * time.Minute

// FieldType is a field's type as describe reports it ("string", "double",
// "picklist", …).
type FieldType string

// The field types describe reports (Schema.DisplayType in Apex).
const (
	FieldString          FieldType = "string"
	FieldTextarea        FieldType = "textarea"
	FieldEmail           FieldType = "email"
	FieldPhone           FieldType = "phone"
	FieldURL             FieldType = "url"
	FieldPicklist        FieldType = "picklist"
	FieldMultiPicklist   FieldType = "multipicklist"
	FieldCombobox        FieldType = "combobox"
	FieldEncryptedString FieldType = "encryptedstring"
	FieldDouble          FieldType = "double"
	FieldCurrency        FieldType = "currency"
	FieldPercent         FieldType = "percent"
	FieldInt             FieldType = "int"
	FieldLong            FieldType = "long"
	FieldBoolean         FieldType = "boolean"
	FieldDate            FieldType = "date"
	FieldDatetime        FieldType = "datetime"
	FieldTime            FieldType = "time"
	FieldID              FieldType = "id"
	FieldReference       FieldType = "reference"
	FieldBase64          FieldType = "base64"
	FieldAddress         FieldType = "address"
	FieldLocation        FieldType = "location"
	FieldAnyType         FieldType = "anyType"
	FieldComplexValue    FieldType = "complexvalue"
)

// SObjectDescribe is the answer of GET /sobjects/{SObject}/describe. Unknown
// keys are ignored, so newer API versions decode too. A describe returned by
// Client.Describe is shared by every caller: treat it as read-only.
type SObjectDescribe struct {
	Name                string              `json:"name"`
	Label               string              `json:"label"`
	LabelPlural         string              `json:"labelPlural"`
	KeyPrefix           string              `json:"keyPrefix"`
	Custom              bool                `json:"custom"`
	CustomSetting       bool                `json:"customSetting"`
	Createable          bool                `json:"createable"`
	Updateable          bool                `json:"updateable"`
	Deletable           bool                `json:"deletable"`
	Undeletable         bool                `json:"undeletable"`
	Queryable           bool                `json:"queryable"`
	Retrieveable        bool                `json:"retrieveable"`
	Searchable          bool                `json:"searchable"`
	Mergeable           bool                `json:"mergeable"`
	Triggerable         bool                `json:"triggerable"`
	Replicateable       bool                `json:"replicateable"`
	Layoutable          bool                `json:"layoutable"`
	FeedEnabled         bool                `json:"feedEnabled"`
	DeprecatedAndHidden bool                `json:"deprecatedAndHidden"`
	Fields              []FieldDescribe     `json:"fields"`
	ChildRelationships  []ChildRelationship `json:"childRelationships"`
	RecordTypeInfos     []RecordTypeInfo    `json:"recordTypeInfos"`
	URLs                map[string]string   `json:"urls"`

	byName map[string]int // lower-case field name → index in Fields
	byRel  map[string]int // lower-case relationship name → index in Fields
}

// FieldDescribe is one field of an object's describe.
type FieldDescribe struct {
	Name  string    `json:"name"`
	Label string    `json:"label"`
	Type  FieldType `json:"type"`
	// SoapType is the XML Schema type, e.g. "xsd:string", "xsd:double", "tns:ID".
	SoapType string `json:"soapType"`
	// Length is the most characters a text field holds (0 for other types).
	Length     int `json:"length"`
	ByteLength int `json:"byteLength"`
	// Precision and Scale bound double, currency and percent values; Digits
	// bounds int values.
	Precision int `json:"precision"`
	Scale     int `json:"scale"`
	Digits    int `json:"digits"`

	Nillable          bool `json:"nillable"`
	Createable        bool `json:"createable"`
	Updateable        bool `json:"updateable"`
	DefaultedOnCreate bool `json:"defaultedOnCreate"`
	// ExternalID marks a custom field with the External ID attribute;
	// IDLookup marks a field upsert and relationship references can match on
	// (external ids, and standard fields such as Id or Contact.Email).
	ExternalID          bool `json:"externalId"`
	IDLookup            bool `json:"idLookup"`
	Unique              bool `json:"unique"`
	CaseSensitive       bool `json:"caseSensitive"`
	Calculated          bool `json:"calculated"`
	AutoNumber          bool `json:"autoNumber"`
	Custom              bool `json:"custom"`
	NameField           bool `json:"nameField"`
	Filterable          bool `json:"filterable"`
	Sortable            bool `json:"sortable"`
	Groupable           bool `json:"groupable"`
	Encrypted           bool `json:"encrypted"`
	HTMLFormatted       bool `json:"htmlFormatted"`
	DependentPicklist   bool `json:"dependentPicklist"`
	RestrictedPicklist  bool `json:"restrictedPicklist"`
	DeprecatedAndHidden bool `json:"deprecatedAndHidden"`
	// PolymorphicForeignKey is set on references to several objects
	// (OwnerId → Group, User).
	PolymorphicForeignKey bool            `json:"polymorphicForeignKey"`
	PicklistValues        []PicklistValue `json:"picklistValues"`
	// ReferenceTo lists the objects a reference field points to;
	// RelationshipName is the name used in nested JSON and SOQL paths
	// (ParentId → "Parent"), "" when there is none.
	ReferenceTo       []string `json:"referenceTo"`
	RelationshipName  string   `json:"relationshipName"`
	ControllerName    string   `json:"controllerName"`
	CompoundFieldName string   `json:"compoundFieldName"`
	// ExtraTypeInfo refines Type, e.g. "plaintextarea", "richtextarea",
	// "imageurl", "personname", "switchablepersonname".
	ExtraTypeInfo string `json:"extraTypeInfo"`
	// DefaultValue is the default as JSON gives it (bool, string, number),
	// nil when there is none; DefaultValueFormula is a formula default.
	DefaultValue        any    `json:"defaultValue"`
	DefaultValueFormula string `json:"defaultValueFormula"`
	CalculatedFormula   string `json:"calculatedFormula"`
	InlineHelpText      string `json:"inlineHelpText"`
}

// PicklistValue is one value of a picklist field.
type PicklistValue struct {
	Value        string `json:"value"`
	Label        string `json:"label"`
	Active       bool   `json:"active"`
	DefaultValue bool   `json:"defaultValue"`
	// ValidFor is the base64 bitmap of the controlling values a dependent
	// picklist value is valid for.
	ValidFor string `json:"validFor"`
}

// ChildRelationship is a relationship from another object to this one.
type ChildRelationship struct {
	ChildSObject        string `json:"childSObject"`
	Field               string `json:"field"`
	RelationshipName    string `json:"relationshipName"`
	CascadeDelete       bool   `json:"cascadeDelete"`
	RestrictedDelete    bool   `json:"restrictedDelete"`
	DeprecatedAndHidden bool   `json:"deprecatedAndHidden"`
}

// RecordTypeInfo is one record type of the object.
type RecordTypeInfo struct {
	Name                     string            `json:"name"`
	DeveloperName            string            `json:"developerName"`
	RecordTypeID             string            `json:"recordTypeId"`
	Active                   bool              `json:"active"`
	Available                bool              `json:"available"`
	DefaultRecordTypeMapping bool              `json:"defaultRecordTypeMapping"`
	Master                   bool              `json:"master"`
	URLs                     map[string]string `json:"urls"`
}

// Field returns the named field, matched case-insensitively as Salesforce
// matches names.
func (d *SObjectDescribe) Field(name string) (*FieldDescribe, bool) {
	if d.byName != nil {
		if i, ok := d.byName[strings.ToLower(name)]; ok {
			return &d.Fields[i], true
		}
		return nil, false
	}
	for i := range d.Fields { // a describe built by hand: no index
		if strings.EqualFold(d.Fields[i].Name, name) {
			return &d.Fields[i], true
		}
	}
	return nil, false
}

// Relationship returns the reference field whose relationship name is name
// (case-insensitive): "Parent" gives ParentId, "Account" gives AccountId,
// "Invoice__r" gives Invoice__c.
func (d *SObjectDescribe) Relationship(name string) (*FieldDescribe, bool) {
	if d.byRel != nil {
		if i, ok := d.byRel[strings.ToLower(name)]; ok {
			return &d.Fields[i], true
		}
		return nil, false
	}
	for i := range d.Fields {
		f := &d.Fields[i]
		if f.Type == FieldReference && f.RelationshipName != "" && strings.EqualFold(f.RelationshipName, name) {
			return f, true
		}
	}
	return nil, false
}

// index builds the lookup maps; it runs before anyone else sees the value.
func (d *SObjectDescribe) index() {
	d.byName = make(map[string]int, len(d.Fields))
	d.byRel = map[string]int{}
	for i := range d.Fields {
		f := &d.Fields[i]
		d.byName[strings.ToLower(f.Name)] = i
		if f.RelationshipName != "" && f.Type == FieldReference {
			d.byRel[strings.ToLower(f.RelationshipName)] = i
		}
	}
}

// ParseSObjectDescribe decodes a describe body (as Salesforce sends it) and
// indexes its fields.
func ParseSObjectDescribe(data []byte) (*SObjectDescribe, error) {
	var d SObjectDescribe
	if err := decodeJSON("describe", data, &d); err != nil {
		return nil, err
	}
	d.index()
	return &d, nil
}

// GlobalDescribe is the answer of GET /sobjects: every object of the org.
type GlobalDescribe struct {
	Encoding     string           `json:"encoding"`
	MaxBatchSize int              `json:"maxBatchSize"`
	SObjects     []SObjectSummary `json:"sobjects"`
}

// SObjectSummary is one object of the global describe.
type SObjectSummary struct {
	Name          string            `json:"name"`
	Label         string            `json:"label"`
	LabelPlural   string            `json:"labelPlural"`
	KeyPrefix     string            `json:"keyPrefix"`
	Custom        bool              `json:"custom"`
	CustomSetting bool              `json:"customSetting"`
	Createable    bool              `json:"createable"`
	Updateable    bool              `json:"updateable"`
	Deletable     bool              `json:"deletable"`
	Queryable     bool              `json:"queryable"`
	URLs          map[string]string `json:"urls"`
}

// SObject returns the named object of the global describe (case-insensitive).
func (g *GlobalDescribe) SObject(name string) (*SObjectSummary, bool) {
	for i := range g.SObjects {
		if strings.EqualFold(g.SObjects[i].Name, name) {
			return &g.SObjects[i], true
		}
	}
	return nil, false
}

// DescribeGlobal lists the org's objects (GET /sobjects). It is not cached.
func (c *Client) DescribeGlobal(ctx context.Context) (*GlobalDescribe, error) {
	resp, err := c.do(ctx, request{op: "describe.global", method: http.MethodGet, path: "/sobjects"})
	if err != nil {
		return nil, err
	}
	var g GlobalDescribe
	if err := decodeJSON("describe.global", resp.body, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// Describe returns an object's describe (GET /sobjects/{sobject}/describe),
// from the client's cache when it holds one younger than Config.DescribeTTL.
// Goroutines asking for the same object at once share one request. An
// unknown object is an *APIError with HTTP status 404 and Code NOT_FOUND.
// Failures are not cached.
func (c *Client) Describe(ctx context.Context, sobject string) (*SObjectDescribe, error) {
	return c.describes.get(ctx, c, sobject, false)
}

// RefreshDescribe reads an object's describe from Salesforce whatever the
// cache holds, and caches the answer: call it after the object changed
// (a field added, a picklist value activated).
func (c *Client) RefreshDescribe(ctx context.Context, sobject string) (*SObjectDescribe, error) {
	return c.describes.get(ctx, c, sobject, true)
}

// ForgetDescribe drops an object's describe from the cache; the next
// Describe reads it again.
func (c *Client) ForgetDescribe(sobject string) {
	c.describes.forget(sobject)
}

// DescribeCalls returns how many describe requests (GET
// /sobjects/{sobject}/describe) the client has sent.
func (c *Client) DescribeCalls() int64 { return c.describes.calls.Load() }

// fetchDescribe performs the describe call itself.
func (c *Client) fetchDescribe(ctx context.Context, sobject string) (*SObjectDescribe, error) {
	resp, err := c.do(ctx, request{op: "describe", method: http.MethodGet, path: "/sobjects/" + url.PathEscape(sobject) + "/describe"})
	if err != nil {
		return nil, err
	}
	return ParseSObjectDescribe(resp.body)
}

// describeCache holds describes by lower-case object name. Its zero value is
// ready to use.
type describeCache struct {
	mu      sync.Mutex
	entries map[string]describeEntry
	group   singleflight.Group
	calls   atomic.Int64
}

type describeEntry struct {
	d       *SObjectDescribe
	fetched time.Time
}

// get returns the cached describe or reads it. Callers asking for the same
// object at once share one request (single flight); a refresh never shares
// a plain Describe's request, which may have started before the refresh was
// asked for.
func (dc *describeCache) get(ctx context.Context, c *Client, sobject string, refresh bool) (*SObjectDescribe, error) {
	key := strings.ToLower(sobject)
	flight := "describe " + key
	if refresh {
		flight = "refresh " + key
	} else if d := dc.cached(c, key); d != nil {
		return d, nil
	}
	ch := dc.group.DoChan(flight, func() (any, error) {
		if !refresh {
			// A request that finished between the look-up above and this
			// flight filled the cache.
			if d := dc.cached(c, key); d != nil {
				return d, nil
			}
		}
		dc.calls.Add(1)
		// The request outlives any single caller's cancellation: others
		// wait on the same answer. Config.Timeout bounds it.
		d, err := c.fetchDescribe(context.WithoutCancel(ctx), sobject)
		if err != nil {
			return nil, err
		}
		if c.cfg.DescribeTTL > 0 {
			dc.mu.Lock()
			if dc.entries == nil {
				dc.entries = map[string]describeEntry{}
			}
			dc.entries[key] = describeEntry{d: d, fetched: c.cfg.Clock()}
			dc.mu.Unlock()
		}
		return d, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*SObjectDescribe), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// cached returns the cached describe of key if it is younger than the TTL.
func (dc *describeCache) cached(c *Client, key string) *SObjectDescribe {
	if c.cfg.DescribeTTL <= 0 {
		return nil
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	e, ok := dc.entries[key]
	if !ok || c.cfg.Clock().Sub(e.fetched) >= c.cfg.DescribeTTL {
		return nil
	}
	return e.d
}

func (dc *describeCache) forget(sobject string) {
	dc.mu.Lock()
	delete(dc.entries, strings.ToLower(sobject))
	dc.mu.Unlock()
}
