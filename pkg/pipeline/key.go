package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// Keyed reports whether records of a mode have a key, the field that
// names the record in Salesforce: the external id of an upsert (or of a
// delete by external id), the Id of an update or delete. A key's changes
// land in the order they were published; an insert has no key.
func Keyed(mode SyncMode) bool { return mode != Insert }

// KeyField is the field that holds a mapped record's key: externalIDField
// for upsert (and for delete when it is set), Id for update and delete, ""
// for insert.
func KeyField(mode SyncMode, externalIDField string) string {
	switch mode {
	case Upsert:
		return externalIDField
	case Delete:
		if externalIDField != "" {
			return externalIDField
		}
		return "Id"
	case Update:
		return "Id"
	}
	return ""
}

// KeyOf returns the key of a mapped record as text ("" when the mode has
// none or the record lacks it). Numbers are written as Salesforce writes
// them back (no exponent, no trailing zeros).
func KeyOf(mode SyncMode, externalIDField string, rec salesforce.Record) string {
	f := KeyField(mode, externalIDField)
	if f == "" {
		return ""
	}
	v, ok := lookupFold(rec, f)
	if !ok {
		return ""
	}
	return keyText(v)
}

// RecordKey is the key a change of a mapped record is ordered by: KeyOf,
// normalised so that two spellings of one record's key are one key — an
// external id in lower case (Salesforce matches external ids
// case-insensitively), an Id in its 18-character form, lower-cased (the
// 18-character form keeps distinct Ids distinct). "" when the mode has no
// key or the record lacks it.
func RecordKey(mode SyncMode, externalIDField string, rec salesforce.Record) string {
	k := KeyOf(mode, externalIDField, rec)
	if k == "" {
		return ""
	}
	if KeyField(mode, externalIDField) == "Id" {
		if id, err := salesforce.ID18(k); err == nil {
			k = id
		}
	}
	return strings.ToLower(k)
}

func keyText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// Key maps a source record and returns its key (RecordKey), as the worker
// will see it:
// what publishers put in the keyed subject (messages.Subjects.RecordsKeyed).
// A record that does not map, or lacks its key, is an error; it can still
// be published unkeyed, and the worker dead-letters it with the code.
func (pc *PipelineConfig) Key(src map[string]any) (string, *RecordError) {
	if !Keyed(pc.Mode) {
		return "", nil
	}
	rec := salesforce.Record(src)
	if pc.mapper != nil {
		m, err := pc.mapper.Map(src)
		if err != nil {
			return "", &RecordError{Record: src, Code: CodeMappingFailed, Message: err.Error()}
		}
		rec = m
	}
	if err := ValidateRecord(pc.Mode, pc.ExternalIDField, rec); err != nil {
		err.Record = src
		return "", err
	}
	return RecordKey(pc.Mode, pc.ExternalIDField, rec), nil
}
