package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// QueryOption adjusts a query.
type QueryOption func(*queryOptions)

type queryOptions struct{ batchSize int }

// BatchSize asks Salesforce for pages of n records (Sforce-Query-Options:
// batchSize=n; Salesforce accepts 200 to 2000 and may send fewer). Default 2000.
func BatchSize(n int) QueryOption { return func(o *queryOptions) { o.batchSize = n } }

// QueryIterator walks the records of a SOQL query one page at a time: it
// fetches the next page (nextRecordsUrl) only when the current one is used up,
// so memory holds one page however large the result.
//
//	it := client.Query(ctx, "SELECT Id, Name FROM Account")
//	for it.Next() {
//		rec := it.Record()
//	}
//	if err := it.Err(); err != nil { … }
type QueryIterator struct {
	c       *Client
	ctx     context.Context
	op      string
	opts    queryOptions
	next    string // path of the next page; "" before the first and after the last
	started bool
	page    []Record
	pos     int
	total   int
	done    bool
	err     error
	pages   int
}

// Query runs a SOQL query (GET /query?q=…). Nothing is sent until Next.
func (c *Client) Query(ctx context.Context, soql string, opts ...QueryOption) *QueryIterator {
	return c.newQuery(ctx, "query", "/query", soql, opts)
}

// QueryAll is Query including deleted and archived records (GET /queryAll).
func (c *Client) QueryAll(ctx context.Context, soql string, opts ...QueryOption) *QueryIterator {
	return c.newQuery(ctx, "queryAll", "/queryAll", soql, opts)
}

func (c *Client) newQuery(ctx context.Context, op, path, soql string, opts []QueryOption) *QueryIterator {
	it := &QueryIterator{c: c, ctx: ctx, op: op}
	for _, f := range opts {
		f(&it.opts)
	}
	it.next = path + "?" + url.Values{"q": {soql}}.Encode()
	return it
}

// Next advances to the next record, fetching a page when needed. It returns
// false at the end or on error; see Err.
func (it *QueryIterator) Next() bool {
	if it.err != nil {
		return false
	}
	it.pos++
	for it.pos >= len(it.page) {
		if it.started && it.next == "" {
			it.page = nil
			return false
		}
		if err := it.fetch(); err != nil {
			it.err = err
			it.page = nil
			return false
		}
	}
	return true
}

func (it *QueryIterator) fetch() error {
	path, query := it.next, ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	var hdr http.Header
	if it.opts.batchSize > 0 {
		hdr = http.Header{"Sforce-Query-Options": {"batchSize=" + strconv.Itoa(it.opts.batchSize)}}
	}
	resp, err := it.c.do(it.ctx, request{op: it.op, method: http.MethodGet, path: path, query: query, header: hdr})
	if err != nil {
		return err
	}
	var page struct {
		TotalSize      int               `json:"totalSize"`
		Done           bool              `json:"done"`
		NextRecordsURL string            `json:"nextRecordsUrl"`
		Records        []json.RawMessage `json:"records"`
	}
	if err := decodeJSON(it.op, resp.body, &page); err != nil {
		return err
	}
	it.started = true
	it.pages++
	it.total, it.done = page.TotalSize, page.Done
	it.next = ""
	if !page.Done {
		if page.NextRecordsURL == "" {
			return fmt.Errorf("salesforce: %s: page says done=false without nextRecordsUrl", it.op)
		}
		it.next = page.NextRecordsURL
	}
	it.page = it.page[:0]
	for _, raw := range page.Records {
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("salesforce: %s: decoding record: %w", it.op, err)
		}
		it.page = append(it.page, stripAttributes(r))
	}
	it.pos = 0
	return nil
}

// Record returns the current record.
func (it *QueryIterator) Record() Record {
	if it.pos < len(it.page) {
		return it.page[it.pos]
	}
	return nil
}

// Err returns the error that stopped the iteration, if any.
func (it *QueryIterator) Err() error { return it.err }

// TotalSize returns the query's totalSize (known after the first Next). For
// SELECT COUNT() queries it is the count.
func (it *QueryIterator) TotalSize() int { return it.total }

// Pages returns how many pages have been fetched.
func (it *QueryIterator) Pages() int { return it.pages }

// All adapts the iterator to a range-over-func loop:
//
//	for rec, err := range client.Query(ctx, soql).All() { … }
//
// The loop ends after yielding an error.
func (it *QueryIterator) All() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for it.Next() {
			if !yield(it.Record(), nil) {
				return
			}
		}
		if it.err != nil {
			yield(nil, it.err)
		}
	}
}

// Count runs a SELECT COUNT() query and returns the count.
func (c *Client) Count(ctx context.Context, soql string) (int, error) {
	it := c.Query(ctx, soql)
	for it.Next() {
	}
	if err := it.Err(); err != nil {
		return 0, err
	}
	return it.TotalSize(), nil
}
