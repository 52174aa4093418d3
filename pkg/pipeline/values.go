package pipeline

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// The value check: after mapping, each record is compared with the object's
// describe, and a value Salesforce would certainly refuse fails that record
// alone, before it is sent, with Salesforce's own code. Salesforce parses a
// whole sObject Collections request before it runs any DML, so one value
// that does not parse as its field's type fails all 200 records of the
// request (HTTP 400 JSON_PARSER_ERROR); checked here, it fails one.
//
// The rules only refuse what Salesforce refuses: where its documentation
// leaves a form open (a numeric string for a number field, "1" for a
// boolean, a datetime for a date field), the value is let through and
// Salesforce decides. docs/configuration.md ("Schema checks") lists every
// rule with its source; FuzzValueCheck holds the checker to never refusing
// what the simulator accepts.

// Salesforce's codes that the value check gives (they are Salesforce's own,
// not KINETIC_ codes: the record would have failed with them).
const (
	CodeJSONParserError      = "JSON_PARSER_ERROR"
	CodeInvalidField         = "INVALID_FIELD"
	CodeStringTooLong        = "STRING_TOO_LONG"
	CodeRestrictedPicklist   = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
	CodeInvalidEmailAddress  = "INVALID_EMAIL_ADDRESS"
	CodeRequiredFieldMissing = "REQUIRED_FIELD_MISSING"
)

// PreCheckNote ends the message of every error the value check gives, so a
// dead letter says that Salesforce never saw the record.
const PreCheckNote = " (found by Kinetic before sending: the record was not sent)"

// valueKind is how a field's values are checked.
type valueKind uint8

const (
	kindSkip     valueKind = iota // id, reference, base64, address, location, anyType, …: not checked
	kindText                      // string, textarea, email, phone, url, picklist, multipicklist, combobox, encryptedstring
	kindNumber                    // double, currency, percent, int, long
	kindBoolean                   // boolean
	kindDate                      // date
	kindDatetime                  // datetime
	kindTime                      // time
)

func kindOf(t salesforce.FieldType) valueKind {
	switch t {
	case salesforce.FieldString, salesforce.FieldTextarea, salesforce.FieldEmail, salesforce.FieldPhone, salesforce.FieldURL,
		salesforce.FieldPicklist, salesforce.FieldMultiPicklist, salesforce.FieldCombobox, salesforce.FieldEncryptedString:
		return kindText
	case salesforce.FieldDouble, salesforce.FieldCurrency, salesforce.FieldPercent, salesforce.FieldInt, salesforce.FieldLong:
		return kindNumber
	case salesforce.FieldBoolean:
		return kindBoolean
	case salesforce.FieldDate:
		return kindDate
	case salesforce.FieldDatetime:
		return kindDatetime
	case salesforce.FieldTime:
		return kindTime
	}
	return kindSkip
}

// fieldRule is one field's checks, compiled from its describe.
type fieldRule struct {
	name, label string
	kind        valueKind
	typeName    string              // the type named in JSON_PARSER_ERROR messages
	length      int                 // most characters; 0: not checked
	email       bool                // type email
	restricted  map[string]struct{} // active values, trimmed and lower-cased; nil: not a restricted picklist
	active      map[string]struct{} // active values as written (the usual case, matched without lower-casing)
}

func newFieldRule(f *salesforce.FieldDescribe) *fieldRule {
	r := &fieldRule{name: f.Name, label: f.Label, kind: kindOf(f.Type), typeName: string(f.Type)}
	if r.label == "" {
		r.label = f.Name
	}
	if r.kind == kindText {
		r.length = f.Length
		r.email = f.Type == salesforce.FieldEmail
		if f.Type == salesforce.FieldPicklist && f.RestrictedPicklist {
			r.restricted, r.active = map[string]struct{}{}, map[string]struct{}{}
			for _, pv := range f.PicklistValues {
				if pv.Active {
					r.restricted[strings.ToLower(trimJava(pv.Value))] = struct{}{}
					r.active[pv.Value] = struct{}{}
				}
			}
		}
	}
	return r
}

// requiredOnCreate reports whether Salesforce demands a value for f when it
// creates a record: createable, not nillable and not given a default.
// Checkboxes always default to false, and a person-account name
// (switchablepersonname) is not needed when LastName is given.
func requiredOnCreate(f *salesforce.FieldDescribe) bool {
	return f.Createable && !f.Nillable && !f.DefaultedOnCreate && f.Type != salesforce.FieldBoolean &&
		f.ExtraTypeInfo != "switchablepersonname"
}

// valueChecker checks mapped records against one object's describe. It is
// built once per pipeline and is safe for concurrent use.
type valueChecker struct {
	sobject  string
	byName   map[string]*fieldRule // exact field name
	byLower  map[string]*fieldRule // lower-case field name
	rels     map[string][]map[string]*fieldRule
	required []*fieldRule // insert with CheckRequired only
	// unknown reports fields describe does not know (INVALID_FIELD): only
	// for records sent without a mapping, whose fields the start-up check
	// could not see.
	unknown bool
}

func compileRules(d *salesforce.SObjectDescribe) map[string]*fieldRule {
	m := make(map[string]*fieldRule, len(d.Fields))
	for i := range d.Fields {
		r := newFieldRule(&d.Fields[i])
		m[strings.ToLower(r.name)] = r
	}
	return m
}

// newValueChecker compiles the checks of o's object from s.
func newValueChecker(s *Schema, o Options) *valueChecker {
	d := s.Object
	vc := &valueChecker{sobject: d.Name, byName: map[string]*fieldRule{}, byLower: compileRules(d),
		rels: map[string][]map[string]*fieldRule{}, unknown: o.Mapper == nil}
	for _, r := range vc.byLower {
		vc.byName[r.name] = r
	}
	compiled := map[string]map[string]*fieldRule{strings.ToLower(d.Name): vc.byLower}
	for i := range d.Fields {
		f := &d.Fields[i]
		if o.Mode == Insert && o.CheckRequired && requiredOnCreate(f) {
			vc.required = append(vc.required, vc.byLower[strings.ToLower(f.Name)])
		}
		if f.Type != salesforce.FieldReference || f.RelationshipName == "" {
			continue
		}
		var parents []map[string]*fieldRule
		for _, p := range f.ReferenceTo {
			key := strings.ToLower(p)
			rules, ok := compiled[key]
			if !ok {
				if pd := s.related(p); pd != nil {
					rules = compileRules(pd)
				}
				compiled[key] = rules
			}
			if rules != nil {
				parents = append(parents, rules)
			}
		}
		vc.rels[strings.ToLower(f.RelationshipName)] = parents
	}
	sort.Slice(vc.required, func(i, j int) bool { return vc.required[i].name < vc.required[j].name })
	return vc
}

// Priorities: the first is reported when a record has several problems. A
// value that does not parse fails the whole request, so it goes first.
const (
	prioParse = iota
	prioUnknownField
	prioTooLong
	prioPicklist
	prioEmail
	prioRequired
)

// finding is one problem of a record.
type finding struct {
	prio   int
	code   string
	msg    string
	fields []string
}

// keep replaces the finding with g if g is to be reported rather than it:
// the lower priority, then the first field by name, whatever the map order.
func (f *finding) keep(g finding) {
	if f.code == "" || g.prio < f.prio || (g.prio == f.prio && g.fields[0] < f.fields[0]) {
		*f = g
	}
}

// check returns the record's first problem as a RecordError (Index and
// Record left to the caller), nil when every value passes.
func (vc *valueChecker) check(rec salesforce.Record) *RecordError {
	var best finding
	for k, v := range rec {
		r := vc.byName[k]
		if r == nil {
			r = vc.byLower[strings.ToLower(k)]
		}
		if r == nil {
			if parents, ok := vc.rels[strings.ToLower(k)]; ok {
				if m, ok := v.(map[string]any); ok {
					vc.checkRelated(k, parents, m, &best)
				}
				continue
			}
			if vc.unknown && k != "attributes" {
				best.keep(finding{prio: prioUnknownField, code: CodeInvalidField, fields: []string{k},
					msg: "No such column '" + shown(k) + "' on sobject of type " + vc.sobject})
			}
			continue
		}
		if v == nil {
			continue
		}
		if f, bad := r.check(v); bad {
			best.keep(f)
		}
	}
	if len(vc.required) > 0 {
		var missing []string
		for _, r := range vc.required {
			v, ok := lookupFold(rec, r.name)
			if s, isStr := v.(string); !ok || v == nil || (isStr && s == "") {
				missing = append(missing, r.name)
			}
		}
		if len(missing) > 0 {
			best.keep(finding{prio: prioRequired, code: CodeRequiredFieldMissing, fields: missing,
				msg: "Required fields are missing: [" + strings.Join(missing, ", ") + "]"})
		}
	}
	if best.code == "" {
		return nil
	}
	return &RecordError{Code: best.code, Message: best.msg + PreCheckNote, Fields: best.fields, PreCheck: true}
}

// checkRelated checks the values of a relationship reference
// ({"Parent": {"External_Key__c": "A-1"}}): only that they parse as the
// referenced field's type, which Salesforce does before anything else.
func (vc *valueChecker) checkRelated(rel string, parents []map[string]*fieldRule, m map[string]any, best *finding) {
	for ik, iv := range m {
		if iv == nil || ik == "attributes" {
			continue
		}
		for _, rules := range parents {
			r := rules[strings.ToLower(ik)]
			if r == nil {
				continue
			}
			if f, bad := r.parse(iv); bad {
				f.fields = []string{rel + "." + r.name}
				best.keep(f)
			}
			break
		}
	}
}

// check returns the problem of one non-null value, if any.
func (r *fieldRule) check(v any) (finding, bool) {
	if f, bad := r.parse(v); bad {
		return f, true
	}
	s, ok := v.(string)
	if !ok || r.kind != kindText {
		return finding{}, false
	}
	if r.length > 0 && len(s) > r.length {
		// Characters, not bytes; counted as few as Salesforce could count
		// them: surrounding blanks trimmed and a CRLF line break as one.
		t := trimJava(s)
		if n := utf8.RuneCountInString(t) - strings.Count(t, "\r\n"); n > r.length {
			return finding{prio: prioTooLong, code: CodeStringTooLong, fields: []string{r.name},
				msg: r.label + ": data value too large: " + shown(s) + " (max length=" + strconv.Itoa(r.length) + ")"}, true
		}
	}
	if _, exact := r.active[s]; r.restricted != nil && !exact {
		t := trimJava(s)
		if _, ok := r.restricted[strings.ToLower(t)]; !ok && t != "" {
			return finding{prio: prioPicklist, code: CodeRestrictedPicklist, fields: []string{r.name},
				msg: r.label + ": bad value for restricted picklist field: " + shown(s)}, true
		}
	}
	if r.email && !plausibleEmail(s) {
		return finding{prio: prioEmail, code: CodeInvalidEmailAddress, fields: []string{r.name},
			msg: r.label + ": invalid email address: " + shown(s)}, true
	}
	return finding{}, false
}

// parse returns a JSON_PARSER_ERROR finding when v cannot be read as the
// field's type. Only strings are judged, and JSON objects or arrays where a
// single value belongs; numbers and booleans are left to Salesforce.
func (r *fieldRule) parse(v any) (finding, bool) {
	if r.kind == kindSkip {
		return finding{}, false
	}
	token, value := "", ""
	switch x := v.(type) {
	case string:
		if r.kind == kindText || r.parses(x) {
			return finding{}, false
		}
		token, value = "VALUE_STRING", " value "+shown(x)
	case map[string]any:
		token = "START_OBJECT"
	case []any:
		token = "START_ARRAY"
	default:
		return finding{}, false
	}
	return finding{prio: prioParse, code: CodeJSONParserError, fields: []string{r.name},
		msg: "Cannot deserialize instance of " + r.typeName + " from " + token + value +
			" or request may be missing a required field (field " + r.name + ")"}, true
}

// parses reports whether s may be read as the field's type.
func (r *fieldRule) parses(s string) bool {
	switch r.kind {
	case kindNumber:
		return numericString(s)
	case kindBoolean:
		return booleanString(s)
	case kindDate:
		return dateString(s)
	case kindDatetime:
		return datetimeString(s)
	case kindTime:
		return timeString(s)
	}
	return true
}

// trimJava removes what Java's String.trim removes (every character up to
// U+0020) and Unicode white space.
func trimJava(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' || unicode.IsSpace(r) })
}

// numericString accepts every text Java's BigDecimal(String) or
// Double.parseDouble could read: an optional sign, digits (any Unicode
// decimal digit) with an optional point and exponent, an optional f/F/d/D
// suffix, hexadecimal forms, NaN and Infinity. A blank is let through: whether Salesforce reads it as null
// is not documented.
func numericString(s string) bool {
	s = trimJava(s)
	if s == "" {
		return true
	}
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	switch strings.ToLower(s) {
	case "nan", "infinity", "inf":
		return true
	}
	i, digits := 0, 0
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		i = 2
		for i < len(s) && isHex(s[i]) {
			i, digits = i+1, digits+1
		}
		if i < len(s) && s[i] == '.' {
			i++
			for i < len(s) && isHex(s[i]) {
				i, digits = i+1, digits+1
			}
		}
		if digits == 0 {
			return false
		}
		if i < len(s) && (s[i] == 'p' || s[i] == 'P') {
			if i = exponent(s, i+1); i < 0 {
				return false
			}
			if i < len(s) && isSuffix(s[i]) {
				i++
			}
		}
		return i == len(s)
	}
	// BigDecimal reads any Unicode decimal digit ("١٢" is 12).
	mantissa := func() {
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsDigit(r) {
				return
			}
			i, digits = i+size, digits+1
		}
	}
	mantissa()
	if i < len(s) && s[i] == '.' {
		i++
		mantissa()
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		if i = exponent(s, i+1); i < 0 {
			return false
		}
	}
	if i < len(s) && isSuffix(s[i]) {
		i++
	}
	return i == len(s)
}

// exponent reads [+-]digits from s[i:], returning the index after it, or -1
// when there are no digits.
func exponent(s string, i int) int {
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start := i
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsDigit(r) {
			break
		}
		i += size
	}
	if i == start {
		return -1
	}
	return i
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f' }
func isSuffix(c byte) bool { return c == 'f' || c == 'F' || c == 'd' || c == 'D' }

// booleanString accepts true and false in any case, and 1 and 0 (the SOAP
// API's documented forms of a boolean). A blank is let through.
func booleanString(s string) bool {
	s = trimJava(s)
	return s == "" || strings.EqualFold(s, "true") || strings.EqualFold(s, "false") || s == "1" || s == "0"
}

// datePrefix reads yyyy-M-d (a year of four or more digits, month and day of
// one or two) and returns the rest of s, or false.
func datePrefix(s string) (string, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	n := digitsAt(s, i)
	if n < 4 {
		return "", false
	}
	i += n
	for range 2 {
		if i >= len(s) || s[i] != '-' {
			return "", false
		}
		i++
		n = digitsAt(s, i)
		if n < 1 || n > 2 {
			return "", false
		}
		i += n
	}
	return s[i:], true
}

func digitsAt(s string, i int) int {
	n := 0
	for i+n < len(s) && isDigit(s[i+n]) {
		n++
	}
	return n
}

// zone accepts "", Z, ±h, ±hh, ±hhmm and ±hh:mm.
func zone(s string) bool {
	switch {
	case s == "" || s == "Z" || s == "z":
		return true
	case s[0] != '+' && s[0] != '-':
		return false
	}
	s = s[1:]
	n := digitsAt(s, 0)
	switch {
	case n >= 1 && n <= 2 && len(s) == n:
		return true
	case n == 4 && len(s) == 4:
		return true
	case n == 2 && len(s) == 5 && s[2] == ':' && digitsAt(s, 3) == 2:
		return true
	}
	return false
}

// timeOfDay accepts H:mm, H:mm:ss and H:mm:ss.fraction (point or comma),
// followed by a zone.
func timeOfDay(s string) bool {
	n := digitsAt(s, 0)
	if n < 1 || n > 2 || len(s) < n+3 || s[n] != ':' || digitsAt(s, n+1) != 2 {
		return false
	}
	s = s[n+3:]
	if len(s) >= 3 && s[0] == ':' && digitsAt(s, 1) == 2 {
		s = s[3:]
		if len(s) > 1 && (s[0] == '.' || s[0] == ',') {
			if m := digitsAt(s, 1); m > 0 {
				s = s[1+m:]
			}
		}
	}
	return zone(s)
}

// dateString accepts yyyy-MM-dd (Salesforce's documented date form), with a
// zone, or followed by a time (a datetime given for a date is left to
// Salesforce). A blank is let through.
func dateString(s string) bool {
	s = trimJava(s)
	if s == "" {
		return true
	}
	rest, ok := datePrefix(s)
	if !ok {
		return false
	}
	return rest == "" || rest[0] == 'T' || rest[0] == 't' || zone(rest)
}

// datetimeString accepts yyyy-MM-ddTHH:mm:ss with optional fraction and zone
// (Salesforce's documented forms, and the shorter ones an ISO 8601 reader
// takes), and a date alone. A space instead of the T, or a zone name, is
// refused: Salesforce answers JSON_PARSER_ERROR for "2024-07-30 20:54:16 UTC".
// A blank is let through.
func datetimeString(s string) bool {
	s = trimJava(s)
	if s == "" {
		return true
	}
	rest, ok := datePrefix(s)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	if rest[0] != 'T' && rest[0] != 't' {
		return false
	}
	return timeOfDay(rest[1:])
}

// timeString accepts HH:mm:ss.SSSZ (Salesforce's time form) and its shorter
// ISO 8601 variants. A blank is let through.
func timeString(s string) bool {
	s = trimJava(s)
	return s == "" || timeOfDay(s)
}

// plausibleEmail refuses only what no rule of Salesforce's accepts: an
// address without @, or with nothing before or after the last @. A blank is
// let through (it clears the field).
func plausibleEmail(s string) bool {
	s = trimJava(s)
	if s == "" {
		return true
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1
}

// maxShown bounds how much of a value an error message repeats.
const maxShown = 100

func shown(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
