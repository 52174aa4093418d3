package salesforce

import (
	"fmt"
	"strconv"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// Record is one sObject's fields: API field name → value. Values are
// string, float64 (or any Go integer), bool, nil (sends JSON null, which
// clears the field), json.Number, or a nested Record / map[string]any for a
// relationship set by external id, e.g.
//
//	Record{"LastName": "Doe", "Account": Record{"External_Key__c": "A-1"}}
//
// Query results use the same shape, with the "attributes" entries removed.
type Record = map[string]any

// The request bodies are written by jsontext.AppendValue and its object
// helpers: encoding/json's
// output with HTML escaping off (<, > and & are sent as they are, as
// Salesforce's own clients do), keys in map order, and the "attributes"
// entries of records read by a query left out at every depth (a request
// must not send them). internal/jsontext says why it is hand-written.

// marshalCollectionBody encodes {"allOrNone":…,"records":[…]} with each
// record tagged {"attributes":{"type":sobject}}.
func marshalCollectionBody(sobject string, recs []Record, allOrNone bool) ([]byte, error) {
	b := make([]byte, 0, 64+len(recs)*(48+len(sobject)+24*fieldsOf(recs)))
	b = append(b, `{"allOrNone":`...)
	b = strconv.AppendBool(b, allOrNone)
	b = append(b, `,"records":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"attributes":{"type":`...)
		b = jsontext.AppendString(b, sobject)
		b = append(b, '}')
		var err error
		if b, err = jsontext.AppendMembers(b, r, "attributes", false); err != nil {
			return nil, fmt.Errorf("record %d: field %w", i, err)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// fieldsOf is the field count of the first record, for sizing a body.
func fieldsOf(recs []Record) int {
	if len(recs) == 0 {
		return 0
	}
	return len(recs[0])
}

// marshalRecord encodes one record (single-record endpoints).
func marshalRecord(r Record) ([]byte, error) {
	if r == nil {
		r = Record{} // an empty object, never null
	}
	return jsontext.AppendObject(nil, r, "attributes")
}

// stripAttributes removes Salesforce's "attributes" entries from a decoded
// record and from the relationship records nested in it.
func stripAttributes(r Record) Record {
	delete(r, "attributes")
	for _, v := range r {
		if m, ok := v.(map[string]any); ok {
			stripAttributes(m)
		}
	}
	return r
}
