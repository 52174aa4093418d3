package sfsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// AdminClient calls the admin API of a simulator running elsewhere (another
// process or a container).
type AdminClient struct {
	base  string
	hc    *http.Client
	token string
}

// AdminOption configures an AdminClient.
type AdminOption func(*AdminClient)

// WithAdminToken makes the client send "Authorization: Bearer <token>", for
// a simulator started with an admin token (Config.AdminToken,
// --admin-token).
func WithAdminToken(token string) AdminOption {
	return func(a *AdminClient) { a.token = token }
}

// NewAdminClient returns a client for the simulator at baseURL (scheme and
// host, e.g. "http://127.0.0.1:7080"). A nil hc means http.DefaultClient.
func NewAdminClient(baseURL string, hc *http.Client, opts ...AdminOption) *AdminClient {
	if hc == nil {
		hc = http.DefaultClient
	}
	a := &AdminClient{base: strings.TrimSuffix(baseURL, "/"), hc: hc}
	for _, o := range opts {
		o(a)
	}
	return a
}

// AdminError is an admin API failure.
type AdminError struct {
	StatusCode int
	Message    string
}

func (e *AdminError) Error() string {
	return fmt.Sprintf("sfsim admin: HTTP %d: %s", e.StatusCode, e.Message)
}

func (a *AdminClient) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.base+adminPrefix+path, body)
	if err != nil {
		return err
	}
	if contentType == "" && method != http.MethodGet && method != http.MethodHead {
		contentType = "application/json" // the admin API refuses other writes
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = string(data)
		}
		return &AdminError{StatusCode: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return nil
	}
	return json.Unmarshal(data, out)
}

func (a *AdminClient) putJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return a.do(ctx, http.MethodPut, path, "application/json", bytes.NewReader(b), out)
}

// Healthz checks that the simulator answers.
func (a *AdminClient) Healthz(ctx context.Context) error {
	var s string
	if err := a.do(ctx, http.MethodGet, "healthz", "", nil, &s); err != nil {
		return err
	}
	if s != "ok" {
		return &AdminError{StatusCode: http.StatusOK, Message: "unexpected healthz answer " + s}
	}
	return nil
}

// Reset deletes every record, job and cursor and restores the start-up
// schema, faults and limits.
func (a *AdminClient) Reset(ctx context.Context) error {
	return a.do(ctx, http.MethodPost, "reset", "", nil, nil)
}

// Counts returns the record counts of every object.
func (a *AdminClient) Counts(ctx context.Context) (map[string]ObjectCount, error) {
	var out map[string]ObjectCount
	err := a.do(ctx, http.MethodGet, "count", "", nil, &out)
	return out, err
}

// Count returns the record counts of one object.
func (a *AdminClient) Count(ctx context.Context, object string) (ObjectCount, error) {
	var out map[string]ObjectCount
	if err := a.do(ctx, http.MethodGet, "count/"+url.PathEscape(object), "", nil, &out); err != nil {
		return ObjectCount{}, err
	}
	for _, c := range out {
		return c, nil
	}
	return ObjectCount{}, &AdminError{StatusCode: http.StatusOK, Message: "empty count answer"}
}

// Records returns the records of an object (with the deleted ones when
// includeDeleted), each with "attributes" and every field.
func (a *AdminClient) Records(ctx context.Context, object string, includeDeleted bool) ([]map[string]any, error) {
	path := "records/" + url.PathEscape(object)
	if includeDeleted {
		path += "?deleted=true"
	}
	var out []map[string]any
	err := a.do(ctx, http.MethodGet, path, "", nil, &out)
	return out, err
}

// Stats returns the call statistics.
func (a *AdminClient) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	err := a.do(ctx, http.MethodGet, "stats", "", nil, &out)
	return out, err
}

// ResetStats zeroes the call statistics.
func (a *AdminClient) ResetStats(ctx context.Context) error {
	return a.do(ctx, http.MethodPost, "stats/reset", "", nil, nil)
}

// Faults returns the faults in force.
func (a *AdminClient) Faults(ctx context.Context) (Faults, error) {
	var out Faults
	err := a.do(ctx, http.MethodGet, "faults", "", nil, &out)
	return out, err
}

// SetFaults replaces the faults in force.
func (a *AdminClient) SetFaults(ctx context.Context, f Faults) error {
	return a.putJSON(ctx, "faults", f, nil)
}

// Limits returns the limits in force and the API usage.
func (a *AdminClient) Limits(ctx context.Context) (Limits, error) {
	var out Limits
	err := a.do(ctx, http.MethodGet, "limits", "", nil, &out)
	return out, err
}

// SetLimits replaces the daily, concurrent and long-running limits, leaving the API usage
// as it is (see SetAPIUsage).
func (a *AdminClient) SetLimits(ctx context.Context, l Limits) error {
	return a.putJSON(ctx, "limits", map[string]int{"daily_api_limit": l.DailyAPILimit,
		"concurrent_limit": l.ConcurrentLimit, "long_running_limit": l.LongRunningLimit}, nil)
}

// SetAPIUsage sets N of api-usage=N/LIMIT.
func (a *AdminClient) SetAPIUsage(ctx context.Context, n int64) error {
	return a.putJSON(ctx, "limits", map[string]int64{"api_usage": n}, nil)
}

// ExpireSessions invalidates every access token.
func (a *AdminClient) ExpireSessions(ctx context.Context) error {
	return a.do(ctx, http.MethodPost, "sessions/expire", "", nil, nil)
}

// ApplySchema merges a schema into the org.
func (a *AdminClient) ApplySchema(ctx context.Context, s *Schema) error {
	return a.putJSON(ctx, "schema", s, nil)
}

// ApplySchemaYAML merges a YAML (or JSON) schema document into the org.
func (a *AdminClient) ApplySchemaYAML(ctx context.Context, doc []byte) error {
	return a.do(ctx, http.MethodPut, "schema", "application/yaml", bytes.NewReader(doc), nil)
}

// Schema returns the org's current schema.
func (a *AdminClient) Schema(ctx context.Context) (*Schema, error) {
	var out Schema
	return &out, a.do(ctx, http.MethodGet, "schema", "", nil, &out)
}
