package sfsim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type tokenBody struct {
	AccessToken string `json:"access_token"`
	InstanceURL string `json:"instance_url"`
	ID          string `json:"id"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	IssuedAt    string `json:"issued_at"`
	Signature   string `json:"signature"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func jwtForm(assertion string) url.Values {
	return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
}

func (f *fixture) claims(exp any) jwt.MapClaims {
	return jwt.MapClaims{"iss": f.env.ClientID, "sub": f.env.Username, "aud": LoginURL, "exp": exp}
}

func TestTokenJWTSuccess(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	now := time.Now()
	cases := map[string]any{
		"numeric exp":            now.Add(time.Minute).Unix(),
		"string exp":             strconv.FormatInt(now.Add(time.Minute).Unix(), 10),
		"exp within 3 min skew":  now.Add(-2 * time.Minute).Unix(),
		"string exp within skew": strconv.FormatInt(now.Add(-150*time.Second).Unix(), 10),
	}
	for name, exp := range cases {
		r := f.tokenForm(jwtForm(f.signJWT(f.claims(exp))))
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", name, r.status, r.body)
		}
		var tb tokenBody
		r.json(t, &tb)
		if tb.AccessToken == "" || tb.TokenType != "Bearer" || tb.Scope != "api" || tb.InstanceURL != f.env.URL ||
			!strings.HasPrefix(tb.ID, "https://login.salesforce.com/id/00D") || tb.IssuedAt == "" || tb.Signature == "" {
			t.Fatalf("%s: token response %s", name, r.body)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content type %q", ct)
		}
		// The token works on a data path.
		f.doToken(tb.AccessToken, "GET", "limits", nil).expect(t, http.StatusOK)
	}
	// aud may be the simulator's own URL, or a list.
	c := f.claims(now.Add(time.Minute).Unix())
	c["aud"] = f.env.URL
	f.tokenForm(jwtForm(f.signJWT(c))).expect(t, http.StatusOK)
	c["aud"] = []string{"https://other.example", TestLoginURL}
	f.tokenForm(jwtForm(f.signJWT(c))).expect(t, http.StatusOK)
}

func TestTokenJWTInvalidGrant(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	exp := time.Now().Add(time.Minute).Unix()
	otherKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	badSig, err := jwt.NewWithClaims(jwt.SigningMethodRS256, f.claims(exp)).SignedString(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, f.claims(exp)).SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) string {
		c := f.claims(exp)
		c[k] = v
		return f.signJWT(c)
	}
	cases := []struct{ name, assertion, desc string }{
		{"bad signature", badSig, "invalid assertion"},
		{"HS256", hs256, "invalid assertion"},
		{"garbage", "not.a.jwt", "invalid assertion"},
		{"missing", "", "invalid assertion"},
		{"wrong iss", with("iss", "someone-else"), "client identifier invalid"},
		{"unknown sub", with("sub", "nobody@example.com"), "user hasn't approved this consumer"},
		{"bad aud", with("aud", "https://evil.example.com"), "audience is invalid"},
		{"expired", with("exp", time.Now().Add(-4*time.Minute).Unix()), "expired authorization code"},
		{"expired string", with("exp", strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)), "expired authorization code"},
		{"non-numeric exp", with("exp", "soon"), "invalid assertion"},
	}
	for _, tc := range cases {
		r := f.tokenForm(jwtForm(tc.assertion)).expect(t, http.StatusBadRequest)
		var tb tokenBody
		r.json(t, &tb)
		if tb.Error != "invalid_grant" || tb.Description != tc.desc || tb.AccessToken != "" {
			t.Errorf("%s: %s, want invalid_grant %q", tc.name, r.body, tc.desc)
		}
	}
	st := f.env.Server.Stats()
	if st.ErrorsByCode["invalid_grant"] != int64(len(cases)) {
		t.Errorf("stats count %d invalid_grant, want %d", st.ErrorsByCode["invalid_grant"], len(cases))
	}
}

func TestTokenJWTWithoutKeysRefused(t *testing.T) {
	t.Parallel()
	sim, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	hs := httptest.NewServer(sim)
	defer hs.Close()
	key, _, err := sharedTestKey()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": DefaultConsumerKey, "sub": DefaultUsername,
		"aud": LoginURL, "exp": time.Now().Add(time.Minute).Unix()}).SignedString(key)
	resp, err := hs.Client().PostForm(hs.URL+"/services/oauth2/token", jwtForm(a))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tb tokenBody
	_ = json.NewDecoder(resp.Body).Decode(&tb)
	if resp.StatusCode != 400 || tb.Error != "invalid_grant" {
		t.Fatalf("got %d %+v", resp.StatusCode, tb)
	}
}

func TestTokenPasswordFlow(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{Users: []User{{Username: "Ops@Example.com", Password: "pw", SecurityToken: "TOK"}}})
	form := func(mod func(url.Values)) url.Values {
		v := url.Values{"grant_type": {"password"}, "client_id": {f.env.ClientID}, "client_secret": {f.env.ClientSecret},
			"username": {"ops@example.com"}, "password": {"pwTOK"}}
		mod(v)
		return v
	}
	r := f.tokenForm(form(func(url.Values) {})).expect(t, http.StatusOK)
	var tb tokenBody
	r.json(t, &tb)
	if tb.AccessToken == "" || tb.TokenType != "Bearer" {
		t.Fatalf("%s", r.body)
	}
	if ms, err := strconv.ParseInt(tb.IssuedAt, 10, 64); err != nil || ms < time.Now().Add(-time.Minute).UnixMilli() {
		t.Errorf("issued_at %q is not epoch milliseconds", tb.IssuedAt)
	}
	cases := []struct {
		name      string
		mod       func(url.Values)
		err, desc string
	}{
		{"no token suffix", func(v url.Values) { v.Set("password", "pw") }, "invalid_grant", "authentication failure"},
		{"unknown user", func(v url.Values) { v.Set("username", "x@y.z") }, "invalid_grant", "authentication failure"},
		{"bad client id", func(v url.Values) { v.Set("client_id", "nope") }, "invalid_client_id", "client identifier invalid"},
		{"bad secret", func(v url.Values) { v.Set("client_secret", "nope") }, "invalid_client", "invalid client credentials"},
		{"unsupported grant", func(v url.Values) { v.Set("grant_type", "client_credentials") }, "unsupported_grant_type", "grant type not supported"},
		{"no grant", func(v url.Values) { v.Del("grant_type") }, "unsupported_grant_type", "grant type not supported"},
	}
	for _, tc := range cases {
		r := f.tokenForm(form(tc.mod)).expect(t, http.StatusBadRequest)
		var tb tokenBody
		r.json(t, &tb)
		if tb.Error != tc.err || tb.Description != tc.desc {
			t.Errorf("%s: %s", tc.name, r.body)
		}
	}
}

func TestSessionTTLAndExpiry(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	clock.set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f := setup(t, Config{SessionTTL: time.Hour, Clock: clock.now})
	f.do("GET", "limits", nil).expect(t, http.StatusOK)
	clock.add(59 * time.Minute)
	f.do("GET", "limits", nil).expect(t, http.StatusOK) // use refreshes the inactivity timer
	clock.add(59 * time.Minute)
	f.do("GET", "limits", nil).expect(t, http.StatusOK)
	clock.add(61 * time.Minute)
	r := f.do("GET", "limits", nil).expect(t, http.StatusUnauthorized)
	code, msg, _ := r.errorArray(t)
	if code != "INVALID_SESSION_ID" || msg != "Session expired or invalid" {
		t.Fatalf("%s", r.body)
	}
	if r.header.Get("Sforce-Limit-Info") == "" {
		t.Error("401 lacks Sforce-Limit-Info")
	}
	// Unknown and missing tokens.
	f.doToken("00Dxx!bogus", "GET", "limits", nil).expect(t, http.StatusUnauthorized)
	f.doToken("", "GET", "limits", nil).expect(t, http.StatusUnauthorized)
	// ExpireSessions through the admin API.
	f.token = f.env.Token(t)
	f.do("GET", "limits", nil).expect(t, http.StatusOK)
	if err := f.env.Admin.ExpireSessions(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.do("GET", "limits", nil).expect(t, http.StatusUnauthorized)
}

func TestVersionsList(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	r := f.doToken("", "GET", "/services/data/", nil).expect(t, http.StatusOK)
	var vs []struct{ Label, URL, Version string }
	r.json(t, &vs)
	if len(vs) != MaxAPIVersion-MinAPIVersion+1 {
		t.Fatalf("%d versions", len(vs))
	}
	found := false
	for _, v := range vs {
		if v.Version == "65.0" {
			found = v.Label == "Winter '26" && v.URL == "/services/data/v65.0"
		}
	}
	if !found || vs[0].Label != "Summer '14" || vs[0].Version != "31.0" {
		t.Errorf("versions: %s", r.body)
	}
	if r.header.Get("Sforce-Limit-Info") != "" {
		t.Error("version list carries Sforce-Limit-Info")
	}
	// Any vNN.0 works on data paths; others are 404.
	f.do("GET", "/services/data/v42.0/limits", nil).expect(t, http.StatusOK)
	var res map[string]string
	f.do("GET", "/services/data/v42.0/", nil).expect(t, http.StatusOK).json(t, &res)
	if res["sobjects"] != "/services/data/v42.0/sobjects" || res["query"] != "/services/data/v42.0/query" {
		t.Errorf("resources %v", res)
	}
	r = f.do("GET", "/services/data/latest/limits", nil).expect(t, http.StatusNotFound)
	if code, _, _ := r.errorArray(t); code != "NOT_FOUND" {
		t.Errorf("%s", r.body)
	}
}

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// FuzzTokenRequest throws arbitrary form bodies and assertions at the token
// endpoint: it must never panic and always answer 200, or 400 with a JSON
// object carrying "error".
func FuzzTokenRequest(f *testing.F) {
	env := StartTest(f, Config{})
	key := env.PrivateKey
	good, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": env.ClientID, "sub": env.Username,
		"aud": LoginURL, "exp": strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)}).SignedString(key)
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + good)
	f.Add("grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=eyJhbGciOiJub25lIn0.e30.")
	f.Add("grant_type=password&client_id=" + env.ClientID + "&client_secret=" + env.ClientSecret + "&username=" + env.Username + "&password=" + env.Password)
	f.Add("grant_type=password&username=%ff%fe")
	f.Add("%%%&&==;")
	f.Add("assertion=a.b.c&grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer")
	f.Add("grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=eyJhbGciOiJSUzI1NiJ9.eyJleHAiOltdfQ.AAAA")
	sim := env.Server
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/services/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var tb tokenBody
			if err := json.Unmarshal(rec.Body.Bytes(), &tb); err != nil || tb.AccessToken == "" {
				t.Fatalf("200 without a token: %q", rec.Body.String())
			}
		case http.StatusBadRequest:
			var obj map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &obj); err != nil {
				t.Fatalf("400 body is not a JSON object: %q", rec.Body.String())
			}
			if e, _ := obj["error"].(string); e == "" {
				t.Fatalf("400 without error: %q", rec.Body.String())
			}
		default:
			t.Fatalf("status %d: %q", rec.Code, rec.Body.String())
		}
	})
}
