package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// These are the single-record REST calls (/sobjects/…). Each one costs an API
// call; loaders use the Collections calls, 200 records at a time.

// CreateRecord creates one record (POST /sobjects/{sobject}/, 201).
func (c *Client) CreateRecord(ctx context.Context, sobject string, rec Record) (SaveResult, error) {
	body, err := recordBody(rec)
	if err != nil {
		return SaveResult{}, fmt.Errorf("salesforce: sobject.create: %w", err)
	}
	resp, err := c.do(ctx, request{op: "sobject.create", method: http.MethodPost, path: "/sobjects/" + url.PathEscape(sobject) + "/", body: body, contentType: "application/json", records: 1})
	if err != nil {
		return SaveResult{}, err
	}
	var res SaveResult
	if err := decodeJSON("sobject.create", resp.body, &res); err != nil {
		return SaveResult{}, err
	}
	res.Created = true
	return res, nil
}

// GetRecord reads one record by id (GET /sobjects/{sobject}/{id}). With no
// fields, Salesforce returns all of them.
func (c *Client) GetRecord(ctx context.Context, sobject, id string, fields ...string) (Record, error) {
	var q string
	if len(fields) > 0 {
		q = url.Values{"fields": {strings.Join(fields, ",")}}.Encode()
	}
	resp, err := c.do(ctx, request{op: "sobject.get", method: http.MethodGet, path: "/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(id), query: q})
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := decodeJSON("sobject.get", resp.body, &rec); err != nil {
		return nil, err
	}
	return stripAttributes(rec), nil
}

// UpdateRecord updates one record (PATCH /sobjects/{sobject}/{id}, 204). An
// "Id" entry in rec is not sent: Salesforce refuses it in the body.
func (c *Client) UpdateRecord(ctx context.Context, sobject, id string, rec Record) error {
	body, err := recordBody(withoutID(rec))
	if err != nil {
		return fmt.Errorf("salesforce: sobject.update: %w", err)
	}
	_, err = c.do(ctx, request{op: "sobject.update", method: http.MethodPatch, path: "/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(id), body: body, contentType: "application/json", records: 1})
	return err
}

// UpsertRecord inserts or updates one record matched on an external id
// (PATCH /sobjects/{sobject}/{field}/{value}). Salesforce answers 201 with
// created=true for an insert and 200 with created=false for an update (API
// 46.0 and later; earlier versions answer an update with 204 and no body, and
// the result then carries only Success). When the value
// matches several records the answer is 300 and the error is a
// *MultipleMatchesError. The external id field is not sent in the body: it is
// in the URL.
func (c *Client) UpsertRecord(ctx context.Context, sobject, field, value string, rec Record) (SaveResult, error) {
	send := rec
	if _, ok := rec[field]; ok {
		send = make(Record, len(rec))
		for k, v := range rec {
			if k != field {
				send[k] = v
			}
		}
	}
	body, err := recordBody(withoutID(send))
	if err != nil {
		return SaveResult{}, fmt.Errorf("salesforce: sobject.upsert: %w", err)
	}
	path := "/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(field) + "/" + url.PathEscape(value)
	resp, err := c.do(ctx, request{op: "sobject.upsert", method: http.MethodPatch, path: path, body: body, contentType: "application/json", records: 1, okStatus: []int{http.StatusMultipleChoices}})
	if err != nil {
		return SaveResult{}, err
	}
	switch resp.status {
	case http.StatusMultipleChoices:
		var matches []string
		_ = json.Unmarshal(resp.body, &matches) // best effort: the list is informational
		return SaveResult{}, &MultipleMatchesError{SObject: sobject, Field: field, Value: value, Matches: matches}
	case http.StatusNoContent:
		return SaveResult{Success: true}, nil
	}
	var res SaveResult
	if err := decodeJSON("sobject.upsert", resp.body, &res); err != nil {
		return SaveResult{}, err
	}
	if resp.status == http.StatusCreated {
		res.Created = true
	}
	return res, nil
}

// DeleteRecord deletes one record (DELETE /sobjects/{sobject}/{id}, 204).
func (c *Client) DeleteRecord(ctx context.Context, sobject, id string) error {
	_, err := c.do(ctx, request{op: "sobject.delete", method: http.MethodDelete, path: "/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(id), records: 1})
	return err
}

// Versions lists the API versions the instance serves (GET /services/data/).
func (c *Client) Versions(ctx context.Context) ([]Version, error) {
	resp, err := c.do(ctx, request{op: "versions", method: http.MethodGet, path: "/services/data/"})
	if err != nil {
		return nil, err
	}
	var vs []Version
	if err := decodeJSON("versions", resp.body, &vs); err != nil {
		return nil, err
	}
	return vs, nil
}

// Version is one entry of the version list.
type Version struct {
	Label   string `json:"label"`
	URL     string `json:"url"`
	Version string `json:"version"`
}

func withoutID(rec Record) Record {
	if _, ok := rec["Id"]; !ok {
		return rec
	}
	out := make(Record, len(rec))
	for k, v := range rec {
		if k != "Id" {
			out[k] = v
		}
	}
	return out
}

func recordBody(rec Record) ([]byte, error) {
	return marshalRecord(rec)
}

func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("salesforce: encoding request: %w", err)
	}
	return b, nil
}
