package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// SaveResult is the outcome of one record in an sObject Collections call (and
// of single-record create/upsert). Created is set by upserts only.
type SaveResult struct {
	ID      string      `json:"id"`
	Success bool        `json:"success"`
	Created bool        `json:"created"`
	Errors  []SaveError `json:"errors"`
}

// Err returns the record's first error, or nil when it succeeded.
func (r *SaveResult) Err() error {
	if r.Success {
		return nil
	}
	if len(r.Errors) == 0 {
		return &SaveError{StatusCode: "UNKNOWN_EXCEPTION", Message: "record failed without an error"}
	}
	return &r.Errors[0]
}

// ChunkError reports a Collections call of a chunked operation that failed as
// a whole (HTTP error, timeout). The records [Start, End) of the input have no
// result; whether Salesforce applied them is unknown.
type ChunkError struct {
	Start, End int
	Err        error
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("records %d..%d: %v", e.Start, e.End-1, e.Err)
}

func (e *ChunkError) Unwrap() error { return e.Err }

// CollectionOption adjusts one Collections operation.
type CollectionOption func(*collectionOptions)

type collectionOptions struct {
	allOrNone   bool
	concurrency int
}

// AllOrNone makes Salesforce roll back the whole call when any record fails;
// the others then fail with ALL_OR_NONE_OPERATION_ROLLED_BACK. Default false.
// With more than 200 records it applies per 200-record call.
func AllOrNone(v bool) CollectionOption {
	return func(o *collectionOptions) { o.allOrNone = v }
}

// Concurrency sets how many 200-record calls run at once. Default
// Config.MaxConcurrency.
func Concurrency(n int) CollectionOption {
	return func(o *collectionOptions) {
		if n > 0 {
			o.concurrency = n
		}
	}
}

func (c *Client) collectionOpts(opts []CollectionOption) collectionOptions {
	o := collectionOptions{concurrency: c.cfg.MaxConcurrency}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Insert creates records with sObject Collections (POST /composite/sobjects),
// 200 per call, up to the configured number of calls at once. The result at
// index i belongs to recs[i]. When a call fails as a whole, its records' results
// stay zero and the returned error joins a *ChunkError for each failed call.
func (c *Client) Insert(ctx context.Context, sobject string, recs []Record, opts ...CollectionOption) ([]SaveResult, error) {
	o := c.collectionOpts(opts)
	return c.chunked(ctx, len(recs), MaxCollectionRecords, o.concurrency, func(ctx context.Context, lo, hi int) ([]SaveResult, error) {
		return c.collectionCall(ctx, "collections.insert", http.MethodPost, "/composite/sobjects", sobject, recs[lo:hi], o.allOrNone)
	})
}

// Update updates records by their "Id" field (PATCH /composite/sobjects),
// chunked like Insert.
func (c *Client) Update(ctx context.Context, sobject string, recs []Record, opts ...CollectionOption) ([]SaveResult, error) {
	o := c.collectionOpts(opts)
	return c.chunked(ctx, len(recs), MaxCollectionRecords, o.concurrency, func(ctx context.Context, lo, hi int) ([]SaveResult, error) {
		return c.collectionCall(ctx, "collections.update", http.MethodPatch, "/composite/sobjects", sobject, recs[lo:hi], o.allOrNone)
	})
}

// Upsert inserts or updates records matched on the external id field
// (PATCH /composite/sobjects/{sobject}/{externalIDField}), chunked like
// Insert. SaveResult.Created tells an insert from an update.
func (c *Client) Upsert(ctx context.Context, sobject, externalIDField string, recs []Record, opts ...CollectionOption) ([]SaveResult, error) {
	o := c.collectionOpts(opts)
	path := "/composite/sobjects/" + url.PathEscape(sobject) + "/" + url.PathEscape(externalIDField)
	return c.chunked(ctx, len(recs), MaxCollectionRecords, o.concurrency, func(ctx context.Context, lo, hi int) ([]SaveResult, error) {
		return c.collectionCall(ctx, "collections.upsert", http.MethodPatch, path, sobject, recs[lo:hi], o.allOrNone)
	})
}

// Delete deletes records by id (DELETE /composite/sobjects?ids=…), chunked
// like Insert.
func (c *Client) Delete(ctx context.Context, ids []string, opts ...CollectionOption) ([]SaveResult, error) {
	o := c.collectionOpts(opts)
	return c.chunked(ctx, len(ids), MaxCollectionRecords, o.concurrency, func(ctx context.Context, lo, hi int) ([]SaveResult, error) {
		q := url.Values{"ids": {strings.Join(ids[lo:hi], ",")}, "allOrNone": {fmt.Sprint(o.allOrNone)}}
		resp, err := c.do(ctx, request{op: "collections.delete", method: http.MethodDelete, path: "/composite/sobjects", query: q.Encode(), records: hi - lo})
		if err != nil {
			return nil, err
		}
		return decodeSaveResults("collections.delete", resp.body, hi-lo)
	})
}

// Retrieve fetches records of one object by id (POST
// /composite/sobjects/{sobject}, 2000 ids per call). The record at index i
// belongs to ids[i]; it is nil when the id is unknown or not accessible.
func (c *Client) Retrieve(ctx context.Context, sobject string, ids, fields []string) ([]Record, error) {
	out := make([]Record, len(ids))
	const perCall = 2000
	for lo := 0; lo < len(ids); lo += perCall {
		hi := min(lo+perCall, len(ids))
		body, err := jsonBody(map[string]any{"ids": ids[lo:hi], "fields": fields})
		if err != nil {
			return nil, err
		}
		resp, err := c.do(ctx, request{op: "collections.retrieve", method: http.MethodPost, path: "/composite/sobjects/" + url.PathEscape(sobject), body: body, contentType: "application/json", records: hi - lo})
		if err != nil {
			return nil, err
		}
		var recs []Record
		if err := decodeJSON("collections.retrieve", resp.body, &recs); err != nil {
			return nil, err
		}
		if len(recs) != hi-lo {
			return nil, fmt.Errorf("salesforce: collections.retrieve: %d results for %d ids", len(recs), hi-lo)
		}
		for i, r := range recs {
			if r != nil {
				out[lo+i] = stripAttributes(r)
			}
		}
	}
	return out, nil
}

func (c *Client) collectionCall(ctx context.Context, op, method, path, sobject string, recs []Record, allOrNone bool) ([]SaveResult, error) {
	if len(recs) > MaxCollectionRecords {
		return nil, fmt.Errorf("salesforce: %s: %d records in one call; the limit is %d", op, len(recs), MaxCollectionRecords)
	}
	body, err := marshalCollectionBody(sobject, recs, allOrNone)
	if err != nil {
		return nil, fmt.Errorf("salesforce: %s: %w", op, err)
	}
	resp, err := c.do(ctx, request{op: op, method: method, path: path, body: body, contentType: "application/json", records: len(recs)})
	if err != nil {
		return nil, err
	}
	return decodeSaveResults(op, resp.body, len(recs))
}

func decodeSaveResults(op string, data []byte, want int) ([]SaveResult, error) {
	results := make([]SaveResult, 0, want)
	if err := decodeJSON(op, data, &results); err != nil {
		return nil, err
	}
	if len(results) != want {
		return nil, fmt.Errorf("salesforce: %s: %d results for %d records", op, len(results), want)
	}
	return results, nil
}

// chunked runs call over [0,n) in chunks of size, at most conc at once, and
// assembles the results in input order.
func (c *Client) chunked(ctx context.Context, n, size, conc int, call func(ctx context.Context, lo, hi int) ([]SaveResult, error)) ([]SaveResult, error) {
	if n == 0 {
		return nil, nil
	}
	if n <= size {
		res, err := call(ctx, 0, n)
		if err != nil {
			return make([]SaveResult, n), &ChunkError{Start: 0, End: n, Err: err}
		}
		return res, nil
	}
	out := make([]SaveResult, n)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(conc, 1))
	)
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			mu.Lock()
			errs = append(errs, &ChunkError{Start: lo, End: n, Err: ctx.Err()})
			mu.Unlock()
			wg.Wait()
			return out, errors.Join(errs...)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := call(ctx, lo, hi)
			if err != nil {
				mu.Lock()
				errs = append(errs, &ChunkError{Start: lo, End: hi, Err: err})
				mu.Unlock()
				return
			}
			copy(out[lo:hi], res)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
