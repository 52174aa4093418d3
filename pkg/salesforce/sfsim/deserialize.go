package sfsim

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Salesforce's REST API deserialises a whole JSON request body into typed
// sObjects before it runs any DML. A field name the object lacks, or a value
// its reader cannot turn into the field's type, fails the whole request with
// HTTP 400, and nothing of it is written (docs/simulator.md, "Request-level
// errors"). checkRecord applies that step to one record, in document order.

// checkRecord checks the field names and value types of rec against od. The
// first problem in document order is the request's error: INVALID_FIELD for a
// field od lacks, JSON_PARSER_ERROR for a value of the wrong type. Nested
// relationship references and per-record rules (read-only fields, lengths,
// picklists, ids) are left to preparation.
func checkRecord(od *objectDef, rec []jsonField, data []byte) *apiError {
	for _, kv := range rec {
		if strings.EqualFold(kv.key, "attributes") {
			continue
		}
		f := od.field(kv.key)
		if f == nil {
			if _, isMap := kv.val.(map[string]any); isMap && od.byRel[strings.ToLower(kv.key)] != nil {
				continue // a relationship reference, resolved per record
			}
			return &apiError{status: http.StatusBadRequest, code: codeInvalidField, noFields: true,
				message: "No such column '" + kv.key + "' on sobject of type " + od.name}
		}
		if f.sys == sysID {
			continue
		}
		if msg := deserializeError(f, kv, data); msg != "" {
			end := kv.end
			switch kv.val.(type) {
			case map[string]any, []any:
				end = kv.start + 1 // the reader fails on the opening token
			}
			return parserError(msg, data, end)
		}
	}
	return nil
}

// parserError is the 400 JSON_PARSER_ERROR for a value whose reading ended
// at byte offset end of data. Like the Jackson reader Salesforce uses, the
// position is the reader's: line and column (1-based, in bytes) just after
// the offending token.
func parserError(msg string, data []byte, end int) *apiError {
	end = min(end, len(data))
	line := 1 + strings.Count(string(data[:end]), "\n")
	col := end - (strings.LastIndexByte(string(data[:end]), '\n') + 1) + 1
	return &apiError{status: http.StatusBadRequest, code: codeJSONParserError, noFields: true,
		message: msg + " or request may be missing a required field at [line:" + strconv.Itoa(line) + ", column:" + strconv.Itoa(col) + "]"}
}

// deserializeError is the message Salesforce's JSON reader gives for a
// value of f it cannot convert ("Cannot deserialize instance of double from
// VALUE_STRING value abc"), "" when it converts. The reader is lenient where
// Salesforce's is: numeric strings for number fields, "true"/"false" for
// checkboxes, numbers and booleans for text fields.
func deserializeError(f *fieldDef, kv jsonField, data []byte) string {
	v := kv.val
	if v == nil {
		return ""
	}
	ok := false
	switch f.typ {
	case TypeString, TypeTextarea, TypeEmail, TypePhone, TypeURL, TypePicklist:
		switch v.(type) {
		case string, float64, bool:
			ok = true
		}
	case TypeDouble, TypeCurrency, TypePercent, TypeInt:
		var n float64
		switch x := v.(type) {
		case float64:
			n, ok = x, true
		case string:
			n, ok = parseNumber(x)
		}
		if ok && f.typ == TypeInt {
			ok = n == math.Trunc(n) && math.Abs(n) <= math.MaxInt32
		}
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			ok = true
		case string:
			ok = strings.EqualFold(x, "true") || strings.EqualFold(x, "false")
		}
	case TypeDate:
		if s, isStr := v.(string); isStr {
			_, err := time.Parse(dateLayout, strings.TrimSpace(s))
			ok = err == nil
		}
	case TypeDatetime:
		if s, isStr := v.(string); isStr {
			_, ok = parseDatetime(strings.TrimSpace(s))
		}
	case TypeReference, TypeID:
		_, ok = v.(string)
	}
	if ok {
		return ""
	}
	token, text := jsonToken(v, data[kv.start:kv.end])
	return "Cannot deserialize instance of " + jsonTypeName(f.typ) + " from " + token + " value " + text
}

// jsonTypeName is the type a field's values are read as, in the reader's
// messages.
func jsonTypeName(t FieldType) string {
	switch t {
	case TypeDouble, TypeCurrency, TypePercent:
		return "double"
	case TypeInt:
		return "int"
	case TypeBoolean:
		return "boolean"
	case TypeDate:
		return "date"
	case TypeDatetime:
		return "datetime"
	case TypeReference, TypeID:
		return "id"
	}
	return "string"
}

// jsonToken names a value's Jackson token and its text as the reader shows
// it: the decoded string, a number as written, { or [ for containers.
func jsonToken(v any, raw []byte) (token, text string) {
	switch x := v.(type) {
	case string:
		return "VALUE_STRING", x
	case float64:
		if strings.ContainsAny(string(raw), ".eE") {
			return "VALUE_NUMBER_FLOAT", string(raw)
		}
		return "VALUE_NUMBER_INT", string(raw)
	case bool:
		if x {
			return "VALUE_TRUE", "true"
		}
		return "VALUE_FALSE", "false"
	case map[string]any:
		return "START_OBJECT", "{"
	}
	return "START_ARRAY", "["
}

// xsdType is the XML schema type Bulk API names in a conversion error.
func xsdType(t FieldType) string {
	switch t {
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

// bulkDeserializeErr is Bulk API's per-row error for a CSV value that does
// not convert to its field's type; col is the 0-based column.
func bulkDeserializeErr(f *fieldDef, col int, v string) *recErr {
	return newRecErr(codeInvalidField, "Failed to deserialize field at col "+strconv.Itoa(col)+". Due to, '"+v+
		"' is not a valid value for the type "+xsdType(f.typ), f.name)
}
