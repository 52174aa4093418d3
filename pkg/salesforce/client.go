package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/redact"
)

// Client calls the Salesforce REST API. It is safe for concurrent use; all
// goroutines share one HTTP client and one cached access token.
type Client struct {
	cfg     Config
	hc      *http.Client
	tokens  *tokenCache
	log     zerolog.Logger
	limit   atomic.Pointer[LimitInfo]
	calls   atomic.Int64
	reauths atomic.Int64
	// describes caches object describes (describe.go).
	describes describeCache
}

// New builds a Client from cfg after filling defaults and validating it. It
// does not contact Salesforce; the first call authenticates.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithAuthenticator(cfg, auth), nil
}

// NewWithAuthenticator builds a Client that obtains tokens from auth. cfg's
// credential fields are ignored; its other fields apply.
func NewWithAuthenticator(cfg Config, auth Authenticator) *Client {
	cfg = cfg.WithDefaults()
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient(cfg.MaxConcurrency)
	}
	if !cfg.AllowHTTP {
		hc = httpsOnly(hc)
	}
	c := &Client{cfg: cfg, hc: hc, log: cfg.Logger}
	c.tokens = &tokenCache{auth: auth, hc: hc, timeout: cfg.Timeout, allowHTTP: cfg.AllowHTTP}
	c.tokens.onFetch = func(d time.Duration, err error) {
		c.observe(CallInfo{Op: "oauth.token", Method: http.MethodPost, Duration: d, Err: err})
		if err != nil {
			c.log.Warn().Err(err).Msg("salesforce authentication failed")
		} else {
			c.log.Debug().Dur("took", d).Msg("salesforce authenticated")
		}
	}
	return c
}

func defaultHTTPClient(concurrency int) *http.Client {
	idle := concurrency * 4
	if idle < 16 {
		idle = 16
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          idle * 2,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	// No client-wide Timeout: each call gets its own deadline from Config.Timeout,
	// and streaming downloads (bulk results, query pages) must not be cut short.
	return &http.Client{Transport: tr}
}

// httpsOnly returns a copy of hc whose every request, redirects included,
// is refused unless it goes over https: the bearer token, the JWT assertion
// and the password flow's secrets are in them. (net/http keeps the
// Authorization header on a redirect to the same host, even to http://.)
func httpsOnly(hc *http.Client) *http.Client {
	cp := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = httpsTransport{base}
	return &cp
}

type httpsTransport struct{ base http.RoundTripper }

func (t httpsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, &InsecureURLError{URL: redact.URL(r.URL.String())}
	}
	return t.base.RoundTrip(r)
}

// Config returns the client's defaulted configuration.
func (c *Client) Config() Config { return c.cfg }

// APIVersion returns the REST API version in use, e.g. "v63.0".
func (c *Client) APIVersion() string { return c.cfg.APIVersion }

// Limits returns the API usage from the last Sforce-Limit-Info header seen.
func (c *Client) Limits() (LimitInfo, bool) {
	if l := c.limit.Load(); l != nil {
		return *l, true
	}
	return LimitInfo{}, false
}

// Calls returns how many REST calls (excluding token requests) the client has made.
func (c *Client) Calls() int64 { return c.calls.Load() }

// Reauthentications returns how many token requests the client has made.
func (c *Client) Reauthentications() int64 { return c.tokens.fetches.Load() }

// InstanceURL authenticates if needed and returns the org's instance URL.
func (c *Client) InstanceURL(ctx context.Context) (string, error) {
	tok, err := c.tokens.get(ctx)
	if err != nil {
		return "", err
	}
	return tok.InstanceURL, nil
}

func (c *Client) observe(ci CallInfo) {
	if c.cfg.OnCall != nil {
		c.cfg.OnCall(ci)
	}
}

// request describes one REST call.
type request struct {
	op          string // for errors and metrics
	method      string
	path        string // below /services/data/vNN.0 unless it starts with /services/
	query       string // encoded query string, without '?'
	body        []byte
	contentType string
	accept      string
	header      http.Header
	records     int
	// okStatus lists extra non-2xx statuses the caller handles itself (e.g. 300).
	okStatus []int
	// stream leaves a 2xx body unread in response.stream for the caller to
	// read and close (bulk result CSVs can be large).
	stream bool
}

// response is a finished call. Body is fully read unless stream was requested.
type response struct {
	status int
	header http.Header
	body   []byte
	stream io.ReadCloser // set instead of body when the request asked for it
}

// do performs req, re-authenticating once on 401 INVALID_SESSION_ID. A non-2xx
// answer (other than req.okStatus) becomes an *APIError.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	tok, err := c.tokens.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, req, tok)
	if err == nil && resp.status == http.StatusUnauthorized {
		// The session expired or was revoked: one new token (shared by every
		// goroutine that saw the same 401), then one retry.
		c.reauths.Add(1)
		c.log.Debug().Str("op", req.op).Msg("salesforce session expired, re-authenticating")
		if tok, err = c.tokens.refresh(ctx, tok); err != nil {
			return nil, err
		}
		resp, err = c.send(ctx, req, tok)
	}
	if err != nil {
		return nil, err
	}
	if resp.status >= 200 && resp.status < 300 {
		return resp, nil
	}
	for _, s := range req.okStatus {
		if resp.status == s {
			return resp, nil
		}
	}
	return nil, parseAPIError(req.op, resp.status, resp.body)
}

func (c *Client) send(ctx context.Context, req request, tok *Token) (*response, error) {
	u := tok.InstanceURL
	if strings.HasPrefix(req.path, "/services/") {
		u += req.path
	} else {
		u += "/services/data/" + c.cfg.APIVersion + req.path
	}
	if req.query != "" {
		u += "?" + req.query
	}
	cancel := context.CancelFunc(func() {})
	if c.cfg.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("salesforce: %s: %w", req.op, err)
	}
	for k, v := range req.header {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if req.contentType != "" {
		hreq.Header.Set("Content-Type", req.contentType)
	}
	accept := req.accept
	if accept == "" {
		accept = "application/json"
	}
	hreq.Header.Set("Accept", accept)

	start := time.Now()
	c.calls.Add(1)
	hresp, err := c.hc.Do(hreq)
	if err != nil {
		cancel()
		// A *url.Error repeats the URL: its query (a SOQL query, ids) and
		// any credentials stay out of logs.
		err = redact.Error(err)
		c.observe(CallInfo{Op: req.op, Method: req.method, Records: req.records, Duration: time.Since(start), Err: err})
		return nil, fmt.Errorf("salesforce: %s: %w", req.op, err)
	}
	if l, ok := ParseLimitInfo(hresp.Header.Get("Sforce-Limit-Info")); ok {
		c.limit.Store(&l)
	}
	ok := hresp.StatusCode >= 200 && hresp.StatusCode < 300
	if req.stream && ok {
		c.observe(CallInfo{Op: req.op, Method: req.method, Status: hresp.StatusCode, Records: req.records, Duration: time.Since(start)})
		if hresp.ContentLength > c.cfg.MaxResultBytes {
			hresp.Body.Close()
			cancel()
			return nil, &ResponseTooLargeError{Op: req.op, Limit: c.cfg.MaxResultBytes, Size: hresp.ContentLength}
		}
		body := &cappedReader{r: hresp.Body, op: req.op, left: c.cfg.MaxResultBytes, limit: c.cfg.MaxResultBytes}
		return &response{status: hresp.StatusCode, header: hresp.Header, stream: &cancelOnClose{ReadCloser: readCloser{body, hresp.Body}, cancel: cancel}}, nil
	}
	defer cancel()
	defer hresp.Body.Close()
	limit := c.cfg.MaxResponseBytes
	if !ok {
		// An error answer is read for its message only.
		limit = min(limit, maxErrorBodyBytes)
	}
	data, err := readCapped(hresp.Body, req.op, limit)
	dur := time.Since(start)
	var tooLarge *ResponseTooLargeError
	if err != nil && !ok && errors.As(err, &tooLarge) {
		// The status says what happened; the body only adds detail.
		data, err = []byte(fmt.Sprintf("(an error body over %d bytes, not read)", limit)), nil
	}
	if err != nil {
		c.observe(CallInfo{Op: req.op, Method: req.method, Status: hresp.StatusCode, Records: req.records, Duration: dur, Err: err})
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("salesforce: %s: reading response: %w", req.op, err)
	}
	ci := CallInfo{Op: req.op, Method: req.method, Status: hresp.StatusCode, Records: req.records, Duration: dur}
	if hresp.StatusCode >= 400 {
		ci.Err = parseAPIError(req.op, hresp.StatusCode, data)
	}
	c.observe(ci)
	c.log.Debug().Str("op", req.op).Int("status", hresp.StatusCode).Int("records", req.records).Dur("took", dur).Msg("salesforce call")
	return &response{status: hresp.StatusCode, header: hresp.Header, body: data}, nil
}

// maxErrorBodyBytes caps the body of an error answer: a Salesforce error
// array is a few hundred bytes; a proxy's error page needs no more.
const maxErrorBodyBytes = 1 << 20

// readCapped reads all of r, or fails with a *ResponseTooLargeError when it
// holds more than limit bytes.
func readCapped(r io.Reader, op string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &ResponseTooLargeError{Op: op, Limit: limit}
	}
	return data, nil
}

// cappedReader fails with a *ResponseTooLargeError once more than limit
// bytes have been read: a streamed answer ends or is refused, it is never
// cut short silently.
type cappedReader struct {
	r     io.Reader
	op    string
	left  int64 // bytes that may still be read
	limit int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, &ResponseTooLargeError{Op: c.op, Limit: c.limit}
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n + int(c.left), &ResponseTooLargeError{Op: c.op, Limit: c.limit}
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// cancelOnClose releases a streamed call's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// parseAPIError decodes a Salesforce error array. Bodies that are not an array
// (a proxy's HTML page, an object) still give an APIError with the status.
func parseAPIError(op string, status int, body []byte) *APIError {
	e := &APIError{HTTPStatus: status, Op: op}
	var items []ErrorItem
	if err := json.Unmarshal(body, &items); err == nil && len(items) > 0 {
		e.Items = items
		e.Code, e.Message, e.Fields = items[0].ErrorCode, items[0].Message, items[0].Fields
		return e
	}
	var one ErrorItem
	if err := json.Unmarshal(body, &one); err == nil && one.ErrorCode != "" {
		e.Items = []ErrorItem{one}
		e.Code, e.Message, e.Fields = one.ErrorCode, one.Message, one.Fields
		return e
	}
	e.Message = http.StatusText(status)
	if len(body) > 0 {
		const max = 200
		s := strings.TrimSpace(string(body))
		if len(s) > max {
			s = s[:max] + "…"
		}
		e.Message += ": " + s
	}
	return e
}

// decodeJSON unmarshals a response body, naming the operation on failure.
func decodeJSON(op string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("salesforce: %s: decoding response: %w", op, err)
	}
	return nil
}
