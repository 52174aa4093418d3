package sfsim

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenJWTTimeWindow(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	f := setup(t, Config{Clock: clock.now})
	now := clock.now()
	with := func(extra map[string]any) string {
		c := f.claims(now.Add(time.Minute).Unix())
		for k, v := range extra {
			c[k] = v
		}
		return f.signJWT(c)
	}
	cases := []struct {
		name   string
		claims map[string]any
		desc   string // "" = accepted
	}{
		{"exp at the 3-minute cap plus the skew", map[string]any{"exp": now.Add(6 * time.Minute).Unix()}, ""},
		{"exp beyond the cap", map[string]any{"exp": now.Add(6*time.Minute + time.Second).Unix()}, "expired authorization code"},
		{"exp in milliseconds", map[string]any{"exp": now.Add(time.Minute).UnixMilli()}, "expired authorization code"},
		{"exp as a far string", map[string]any{"exp": "9999999999"}, "expired authorization code"},
		{"exp just past within the skew", map[string]any{"exp": now.Add(-3 * time.Minute).Unix()}, ""},
		{"nbf now", map[string]any{"nbf": now.Unix()}, ""},
		{"nbf ahead within the skew", map[string]any{"nbf": now.Add(3 * time.Minute).Unix()}, ""},
		{"nbf in the future", map[string]any{"nbf": now.Add(3*time.Minute + time.Second).Unix()}, "expired authorization code"},
		{"nbf as a string", map[string]any{"nbf": "1800000000"}, ""},
		{"nbf not a number", map[string]any{"nbf": "later"}, "invalid assertion"},
	}
	for _, tc := range cases {
		r := f.tokenForm(jwtForm(with(tc.claims)))
		var tb tokenBody
		r.json(t, &tb)
		switch {
		case tc.desc == "" && (r.status != http.StatusOK || tb.AccessToken == ""):
			t.Errorf("%s: refused: %s", tc.name, r.body)
		case tc.desc != "" && (r.status != http.StatusBadRequest || tb.Error != "invalid_grant" || tb.Description != tc.desc):
			t.Errorf("%s: %d %s, want 400 invalid_grant %q", tc.name, r.status, r.body, tc.desc)
		}
	}
}

func TestInstanceURLAndAudienceFromConfig(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	// A request naming another host gets the configured instance URL.
	post := func(host string, form url.Values) (int, tokenBody) {
		req, _ := http.NewRequest("POST", f.env.URL+"/services/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Host = host
		resp, err := f.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tb tokenBody
		data, _ := io.ReadAll(resp.Body)
		(&response{body: data}).json(t, &tb)
		return resp.StatusCode, tb
	}
	st, tb := post("evil.example:443", url.Values{"grant_type": {"password"}, "client_id": {f.env.ClientID},
		"client_secret": {f.env.ClientSecret}, "username": {f.env.Username}, "password": {f.env.Password}})
	if st != http.StatusOK || tb.InstanceURL != f.env.URL {
		t.Errorf("instance_url %q (status %d), want %q", tb.InstanceURL, st, f.env.URL)
	}
	// The audience the Host header names is not accepted; the configured one is.
	c := f.claims(time.Now().Add(time.Minute).Unix())
	c["aud"] = "https://evil.example"
	if st, tb := post("evil.example", jwtForm(f.signJWT(c))); st != http.StatusBadRequest || tb.Description != "audience is invalid" {
		t.Errorf("Host-header audience: %d %+v", st, tb)
	}
	c["aud"] = f.env.URL
	if st, _ := post("evil.example", jwtForm(f.signJWT(c))); st != http.StatusOK {
		t.Errorf("configured audience refused: %d", st)
	}

	// Explicit configuration wins; a malformed instance URL is refused.
	g := setup(t, Config{InstanceURL: "https://acme.my.salesforce.com/", Audiences: []string{"https://acme.my.salesforce.com"}})
	var out tokenBody
	g.tokenForm(url.Values{"grant_type": {"password"}, "client_id": {g.env.ClientID}, "client_secret": {g.env.ClientSecret},
		"username": {g.env.Username}, "password": {g.env.Password}}).expect(t, http.StatusOK).json(t, &out)
	if out.InstanceURL != "https://acme.my.salesforce.com" {
		t.Errorf("instance_url %q", out.InstanceURL)
	}
	c = g.claims(time.Now().Add(time.Minute).Unix())
	g.tokenForm(jwtForm(g.signJWT(c))).expect(t, http.StatusBadRequest) // LoginURL is not among the configured audiences
	for _, bad := range []string{"acme.my.salesforce.com", "ftp://x", "http://x/path"} {
		if _, err := New(Config{InstanceURL: bad}); err == nil || !strings.Contains(err.Error(), "InstanceURL") {
			t.Errorf("InstanceURL %q: %v", bad, err)
		}
	}
	sim, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if sim.cfg.InstanceURL != DefaultInstanceURL {
		t.Errorf("default instance URL %q", sim.cfg.InstanceURL)
	}
}

func TestAdminWritesNeedJSON(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.create("Account", map[string]any{"Name": "kept"})
	// What an HTML form can send cross-site is refused, and changes nothing.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		for _, call := range []struct{ method, path, body string }{
			{"POST", "reset", ""}, {"POST", "stats/reset", ""}, {"POST", "sessions/expire", ""},
			{"PUT", "faults", `{"rate_503":1}`}, {"PUT", "limits", `{"concurrent_limit":1}`},
			{"PUT", "schema", "objects: []"},
		} {
			r := f.adminWith(call.method, call.path, call.body, "Content-Type", ct).expect(t, http.StatusUnsupportedMediaType)
			if !strings.Contains(string(r.body), `"error":"admin API: `+call.method+` /__admin/`+call.path+` needs Content-Type`) {
				t.Errorf("%s %s with %q: %s", call.method, call.path, ct, r.body)
			}
		}
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 1 {
		t.Errorf("a refused reset ran: %d accounts", n.Live)
	}
	if fl := f.env.Server.Faults(); fl.Rate503 != 0 {
		t.Errorf("a refused faults change ran: %+v", fl)
	}
	f.do("GET", "limits", nil).expect(t, http.StatusOK) // the session survived
	// Reads need no content type; JSON and YAML types are accepted where due.
	f.adminWith("GET", "count", "").expect(t, http.StatusOK)
	f.adminWith("POST", "stats/reset", "", "Content-Type", "application/json; charset=utf-8").expect(t, http.StatusOK)
	for _, ct := range []string{"application/yaml", "application/x-yaml", "text/yaml", "application/json"} {
		f.adminWith("PUT", "schema", "objects: []", "Content-Type", ct).expect(t, http.StatusOK)
	}
	f.adminWith("PUT", "faults", "latency: 1s", "Content-Type", "application/yaml").expect(t, http.StatusUnsupportedMediaType)
}

func TestAdminToken(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{AdminToken: "s3cret"})
	f.adminWith("GET", "healthz", "").expect(t, http.StatusOK) // probes need no token
	for _, auth := range []string{"", "Bearer wrong", "s3cret", "Basic czNjcmV0"} {
		r := f.adminWith("GET", "count", "", "Authorization", auth).expect(t, http.StatusUnauthorized)
		if r.header.Get("WWW-Authenticate") == "" || !strings.Contains(string(r.body), "bearer token") {
			t.Errorf("%q: %v %s", auth, r.header, r.body)
		}
	}
	// The token is checked before the content type, so nothing leaks.
	f.adminWith("POST", "reset", "", "Content-Type", "application/json").expect(t, http.StatusUnauthorized)
	f.adminWith("GET", "count", "", "Authorization", "Bearer s3cret").expect(t, http.StatusOK)

	var ae *AdminError
	if _, err := f.env.Admin.Counts(t.Context()); !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
		t.Errorf("client without the token: %v", err)
	}
	admin := NewAdminClient(f.env.URL, f.hc, WithAdminToken("s3cret"))
	if err := admin.Healthz(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := admin.Reset(t.Context()); err != nil {
		t.Errorf("Reset with the token: %v", err)
	}
	if err := admin.ApplySchemaYAML(t.Context(), []byte("objects: []")); err != nil {
		t.Errorf("ApplySchemaYAML with the token: %v", err)
	}
	if _, err := admin.Stats(t.Context()); err != nil {
		t.Errorf("Stats with the token: %v", err)
	}
}
