package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
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
	c := &Client{cfg: cfg, hc: hc, log: cfg.Logger}
	c.tokens = &tokenCache{auth: auth, hc: hc, timeout: cfg.Timeout}
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
		c.observe(CallInfo{Op: req.op, Method: req.method, Records: req.records, Duration: time.Since(start), Err: err})
		return nil, fmt.Errorf("salesforce: %s: %w", req.op, err)
	}
	if l, ok := ParseLimitInfo(hresp.Header.Get("Sforce-Limit-Info")); ok {
		c.limit.Store(&l)
	}
	if req.stream && hresp.StatusCode >= 200 && hresp.StatusCode < 300 {
		c.observe(CallInfo{Op: req.op, Method: req.method, Status: hresp.StatusCode, Records: req.records, Duration: time.Since(start)})
		return &response{status: hresp.StatusCode, header: hresp.Header, stream: &cancelOnClose{ReadCloser: hresp.Body, cancel: cancel}}, nil
	}
	defer cancel()
	defer hresp.Body.Close()
	data, err := io.ReadAll(hresp.Body)
	dur := time.Since(start)
	if err != nil {
		c.observe(CallInfo{Op: req.op, Method: req.method, Status: hresp.StatusCode, Records: req.records, Duration: dur, Err: err})
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
