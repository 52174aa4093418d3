package sfsim

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Values are stored as nil, string, float64 or bool. Dates are stored as
// "2006-01-02" and datetimes as "2006-01-02T15:04:05.000+0000" (UTC), the forms
// Salesforce answers with and the SOQL evaluator compares.
const (
	dateLayout     = "2006-01-02"
	datetimeLayout = "2006-01-02T15:04:05.000+0000"
)

// recErr is one record's error: a Salesforce status code, its message and the
// fields concerned.
type recErr struct {
	code    string
	message string
	fields  []string
}

func (e *recErr) Error() string { return e.code + ": " + e.message }

func newRecErr(code, message string, fields ...string) *recErr {
	return &recErr{code: code, message: message, fields: fields}
}

// Salesforce status codes the simulator uses.
const (
	codeRequiredFieldMissing  = "REQUIRED_FIELD_MISSING"
	codeStringTooLong         = "STRING_TOO_LONG"
	codeInvalidTypeOnField    = "INVALID_TYPE_ON_FIELD_IN_RECORD"
	codeInvalidEmail          = "INVALID_EMAIL_ADDRESS"
	codeRestrictedPicklist    = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
	codeInvalidField          = "INVALID_FIELD"
	codeInvalidFieldForInsUpd = "INVALID_FIELD_FOR_INSERT_UPDATE"
	codeDuplicateValue        = "DUPLICATE_VALUE"
	codeDuplicateExternalID   = "DUPLICATE_EXTERNAL_ID"
	codeInvalidCrossReference = "INVALID_CROSS_REFERENCE_KEY"
	codeEntityIsDeleted       = "ENTITY_IS_DELETED"
	codeMalformedID           = "MALFORMED_ID"
	codeMissingArgument       = "MISSING_ARGUMENT"
	codeServerUnavailable     = "SERVER_UNAVAILABLE"
	codeUnableToLockRow       = "UNABLE_TO_LOCK_ROW"
	codeRequestLimitExceeded  = "REQUEST_LIMIT_EXCEEDED"
	codeInvalidSessionID      = "INVALID_SESSION_ID"
	codeNotFound              = "NOT_FOUND"
	codeAllOrNoneRolledBack   = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
	codeExceededIDLimit       = "EXCEEDED_ID_LIMIT"
	codeInvalidType           = "INVALID_TYPE"
	codeMalformedQuery        = "MALFORMED_QUERY"
	codeInvalidQueryLocator   = "INVALID_QUERY_LOCATOR"
	codeJSONParserError       = "JSON_PARSER_ERROR"
	codeMethodNotAllowed      = "METHOD_NOT_ALLOWED"
	codeInvalidJob            = "INVALIDJOB"
	codeInvalidJobState       = "INVALIDJOBSTATE"
	codeUnsupportedMediaType  = "UNSUPPORTED_MEDIA_TYPE"
	msgInvalidCrossRef        = "invalid cross reference id"
)

// maxShownValue bounds how much of a bad value an error message repeats.
const maxShownValue = 100

func shown(s string) string {
	if len(s) <= maxShownValue {
		return s
	}
	cut := maxShownValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func typeErr(f *fieldDef, raw string) *recErr {
	return newRecErr(codeInvalidTypeOnField, f.label+": value not of required type: "+shown(raw), f.name)
}

// jsonShown renders a JSON-decoded value for an error message.
func jsonShown(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return formatNumber(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// coerceJSON converts a JSON-decoded value for field f into its stored form.
// nil clears the field; the caller checks required fields.
func coerceJSON(f *fieldDef, v any) (any, *recErr) {
	if v == nil {
		return nil, nil
	}
	if n, ok := v.(json.Number); ok {
		fl, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return nil, typeErr(f, string(n))
		}
		v = fl
	}
	switch f.typ {
	case TypeString, TypeTextarea, TypeEmail, TypePhone, TypeURL, TypePicklist:
		switch x := v.(type) {
		case string:
			if err := stringErr(f, x); err != nil {
				return nil, err
			}
			return v, nil // already boxed: no new allocation
		case float64, bool:
			// Salesforce's JSON reader turns scalars into text for text fields.
			return checkString(f, jsonShown(x))
		}
		return nil, typeErr(f, jsonShown(v))
	case TypeDouble, TypeCurrency, TypePercent, TypeInt:
		var fl float64
		switch x := v.(type) {
		case float64:
			if f.typ == TypeInt && x != math.Trunc(x) {
				return nil, typeErr(f, jsonShown(v))
			}
			return v, nil
		case string:
			p, ok := parseNumber(x)
			if !ok {
				return nil, typeErr(f, x)
			}
			fl = p
		default:
			return nil, typeErr(f, jsonShown(v))
		}
		if f.typ == TypeInt && fl != math.Trunc(fl) {
			return nil, typeErr(f, jsonShown(v))
		}
		return fl, nil
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if strings.EqualFold(x, "true") {
				return true, nil
			}
			if strings.EqualFold(x, "false") {
				return false, nil
			}
		}
		return nil, typeErr(f, jsonShown(v))
	case TypeDate, TypeDatetime, TypeReference:
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(f, jsonShown(v))
		}
		return coerceText(f, s)
	}
	return nil, typeErr(f, jsonShown(v))
}

// coerceCSV converts a Bulk API CSV value (neither empty nor #N/A) for f.
func coerceCSV(f *fieldDef, s string) (any, *recErr) {
	switch f.typ {
	case TypeString, TypeTextarea, TypeEmail, TypePhone, TypeURL, TypePicklist:
		return checkString(f, s)
	case TypeDouble, TypeCurrency, TypePercent, TypeInt:
		fl, ok := parseNumber(s)
		if !ok || f.typ == TypeInt && fl != math.Trunc(fl) {
			return nil, typeErr(f, s)
		}
		return fl, nil
	case TypeBoolean:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, typeErr(f, s)
	}
	return coerceText(f, s)
}

// coerceText handles the types whose JSON and CSV forms are the same text.
func coerceText(f *fieldDef, s string) (any, *recErr) {
	switch f.typ {
	case TypeDate:
		t, err := time.Parse(dateLayout, strings.TrimSpace(s))
		if err != nil {
			return nil, typeErr(f, s)
		}
		return t.Format(dateLayout), nil
	case TypeDatetime:
		t, ok := parseDatetime(strings.TrimSpace(s))
		if !ok {
			return nil, typeErr(f, s)
		}
		return t.UTC().Format(datetimeLayout), nil
	case TypeReference:
		id, ok := normID(strings.TrimSpace(s))
		if !ok {
			return nil, newRecErr(codeMalformedID, f.label+": id value of incorrect type: "+shown(s), f.name)
		}
		return id, nil
	}
	return checkString(f, s)
}

// parseDatetime accepts ISO-8601 with Z, ±hh:mm or ±hhmm, optional fractional
// seconds; no offset means UTC (GMT), as Salesforce assumes.
func parseDatetime(s string) (time.Time, bool) {
	layouts := [...]string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05"}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(fl) || math.IsInf(fl, 0) {
		return 0, false
	}
	// ParseFloat accepts hex floats and "Inf"; Salesforce does not.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, false
		}
	}
	return fl, true
}

// checkString applies the length, e-mail and restricted-picklist checks.
func checkString(f *fieldDef, s string) (any, *recErr) {
	if err := stringErr(f, s); err != nil {
		return nil, err
	}
	return s, nil
}

// stringErr is checkString without boxing the value.
func stringErr(f *fieldDef, s string) *recErr {
	if f.length > 0 && len(s) > f.length && utf8.RuneCountInString(s) > f.length {
		return newRecErr(codeStringTooLong,
			f.label+": data value too large: "+shown(s)+" (max length="+strconv.Itoa(f.length)+")", f.name)
	}
	switch f.typ {
	case TypeEmail:
		if s != "" && !validEmail(s) {
			return newRecErr(codeInvalidEmail, f.label+": invalid email address: "+shown(s), f.name)
		}
	case TypePicklist:
		if f.restricted {
			if _, ok := f.valueSet[s]; !ok {
				return newRecErr(codeRestrictedPicklist, f.label+": bad value for restricted picklist field: "+shown(s), f.name)
			}
		}
	}
	return nil
}

// validEmail is a pragmatic check: one @, a non-empty local part, a dotted
// domain, no spaces or control characters.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') {
		return false
	}
	domain := s[at+1:]
	if len(domain) < 3 || !strings.Contains(domain, ".") || domain[0] == '.' || domain[len(domain)-1] == '.' ||
		strings.Contains(domain, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == ',' || c == ';' || c == '<' || c == '>' || c == '(' || c == ')' || c == '[' || c == ']' || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// indexKey is the key of a value of f in a unique or external-id index:
// text compares case-insensitively (Salesforce's default) unless f is
// case-sensitive, numbers by value.
func indexKey(f *fieldDef, v any) string {
	switch x := v.(type) {
	case string:
		if f.caseSensitive {
			return x
		}
		return strings.ToLower(x)
	case float64:
		return formatNumber(x)
	}
	return ""
}

// formatNumber renders a float as JSON does: no exponent for ordinary
// magnitudes, no trailing ".0".
func formatNumber(f float64) string {
	return string(appendNumber(nil, f))
}

func appendNumber(b []byte, f float64) []byte {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}
