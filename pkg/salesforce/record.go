package salesforce

import (
	"bytes"
	"encoding/json"
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

// collectionBody is an sObject Collections request body.
type collectionBody struct {
	AllOrNone bool     `json:"allOrNone"`
	Records   []Record `json:"records"`
}

// marshalCollectionBody encodes {"allOrNone":…,"records":[…]} with each
// record tagged {"attributes":{"type":sobject}}.
func marshalCollectionBody(sobject string, recs []Record, allOrNone bool) ([]byte, error) {
	attrs := map[string]string{"type": sobject}
	tagged := make([]Record, len(recs))
	for i, r := range recs {
		t := sendable(r, 1)
		t["attributes"] = attrs
		tagged[i] = t
	}
	return marshalJSON(collectionBody{AllOrNone: allOrNone, Records: tagged})
}

// marshalRecord encodes one record (single-record endpoints).
func marshalRecord(r Record) ([]byte, error) { return marshalJSON(sendable(r, 0)) }

// sendable copies r without its "attributes" entries, at every depth: a
// record read by a query carries them, a request must not. extra is room
// for entries the caller adds.
func sendable(r Record, extra int) Record {
	out := make(Record, len(r)+extra)
	for k, v := range r {
		if k == "attributes" {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			v = sendable(m, 0)
		}
		out[k] = v
	}
	return out
}

// marshalJSON is json.Marshal without HTML escaping (<, > and & are sent as
// they are, as Salesforce's own clients do).
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
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
