package salesforce_test

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// startTLS serves a simulator over https (httptest's certificate; use the
// server's Client) and returns its URL. handler wraps the simulator when set.
func startTLS(t *testing.T, cfg sfsim.Config, wrap func(http.Handler) http.Handler) (*sfsim.TestEnv, *httptest.Server) {
	t.Helper()
	// The simulator takes its instance URL (and JWT audience) from its
	// configuration: the TLS server's URL, known once it listens.
	var h http.Handler
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	ts.StartTLS()
	t.Cleanup(ts.Close)
	if cfg.InstanceURL == "" {
		cfg.InstanceURL = ts.URL
	}
	cfg.Audiences = append(cfg.Audiences, ts.URL) // clients log in at the TLS URL
	env := sfsim.StartTest(t, cfg)                // for the shared test key and defaults
	h = env.Server
	if wrap != nil {
		h = wrap(h)
	}
	return env, ts
}

func tlsConfig(env *sfsim.TestEnv, ts *httptest.Server) salesforce.Config {
	return salesforce.Config{LoginURL: ts.URL, ClientID: env.ClientID, Username: env.Username,
		PrivateKey: string(env.PrivateKeyPEM), HTTPClient: ts.Client()}
}

// Login URLs must be https://; plain http:// only with AllowHTTP.
func TestLoginURLMustBeHTTPS(t *testing.T) {
	t.Parallel()
	ok := salesforce.Config{ClientID: "id", Username: "u", PrivateKey: "pem"}
	for _, c := range []struct {
		url   string
		allow bool
		want  string // "" valid
	}{
		{"https://login.salesforce.com", false, ""},
		{"https://acme.my.salesforce.com/", false, ""},
		{"http://sfsim:7080", false, "is not an https:// URL (plain http:// is allowed only with AllowHTTP"},
		{"http://sfsim:7080", true, ""},
		{"HTTP://sfsim:7080", false, "AllowHTTP"},
		{"ftp://login.salesforce.com", true, "is not an https:// URL"},
		{"https://", false, "is not an https:// URL"},
		{"login.salesforce.com", false, "is not an https:// URL"},
		{"https://user:login-pw-1@login.salesforce.com", false, ""},
		{"http://user:login-pw-2@sfsim", false, "user:REDACTED@sfsim"},
	} {
		cfg := ok
		cfg.LoginURL, cfg.AllowHTTP = c.url, c.allow
		err := cfg.WithDefaults().Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s (AllowHTTP %v): %v", c.url, c.allow, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "LoginURL (SF_LOGIN_URL)")):
			t.Errorf("%s (AllowHTTP %v): err = %v, want it to name LoginURL and say %q", c.url, c.allow, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "login-pw") {
			t.Errorf("%s: the error shows the password: %v", c.url, err)
		}
	}
	// The flow types refuse it too when used on their own.
	for _, a := range []salesforce.Authenticator{
		&salesforce.PasswordFlow{LoginURL: "http://127.0.0.1:1", ClientID: "c", Username: "u", Password: "p"},
		&salesforce.JWTBearer{LoginURL: "http://127.0.0.1:1", ClientID: "c", Username: "u", Key: testKey(t, 2048)},
	} {
		_, err := a.Authenticate(ctxT(t), http.DefaultClient)
		var ie *salesforce.InsecureURLError
		if !errors.As(err, &ie) {
			t.Errorf("%T over http: %v, want an *InsecureURLError", a, err)
		}
	}
}

// Everything works over https without AllowHTTP; an http instance_url from
// the token endpoint is refused like an http login URL, and the token is
// never sent to it.
func TestInstanceURLMustBeHTTPS(t *testing.T) {
	t.Parallel()
	env, ts := startTLS(t, sfsim.Config{Schema: schema(t)}, nil)
	c, err := salesforce.New(tlsConfig(env, ts))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.CreateRecord(ctxT(t), "Account", salesforce.Record{"Name": "over https"})
	if err != nil || !res.Success {
		t.Fatalf("https end to end: %+v %v", res, err)
	}

	// A plain listener stands for the http instance: it must see no request.
	var hits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer plain.Close()
	env2, ts2 := startTLS(t, sfsim.Config{Schema: schema(t), InstanceURL: plain.URL}, nil)
	c2, err := salesforce.New(tlsConfig(env2, ts2))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.CreateRecord(ctxT(t), "Account", salesforce.Record{"Name": "x"})
	var ae *salesforce.AuthError
	if !errors.As(err, &ae) || ae.Code != "insecure_instance_url" || !strings.Contains(err.Error(), plain.URL) || !strings.Contains(err.Error(), "AllowHTTP") {
		t.Fatalf("err = %v, want an AuthError refusing the http instance URL", err)
	}
	if got := salesforce.Classify(err); got != salesforce.ClassAuth {
		t.Errorf("Classify = %v, want auth (a configuration to fix, never the records')", got)
	}
	if _, err := c2.InstanceURL(ctxT(t)); err == nil {
		t.Error("the refused token was kept")
	}
	if hits.Load() != 0 {
		t.Errorf("the http instance got %d requests", hits.Load())
	}
}

// A redirect to http:// is not followed with the bearer token (net/http keeps
// Authorization on a same-host redirect, whatever the scheme).
func TestNoRequestLeavesOverPlainHTTP(t *testing.T) {
	t.Parallel()
	var leaked atomic.Value
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
	}))
	defer plain.Close()
	env, ts := startTLS(t, sfsim.Config{Schema: schema(t)}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/sobjects/") {
				http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c, err := salesforce.New(tlsConfig(env, ts))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRecord(ctxT(t), "Account", salesforce.Record{"Name": "x"})
	var ie *salesforce.InsecureURLError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *InsecureURLError", err)
	}
	if v := leaked.Load(); v != nil {
		t.Errorf("the http server got a request (Authorization %q)", v)
	}
}

// JWT assertions are signed with RSA keys of 2048 bits or more.
func TestRSAKeyOf1024BitsIsRefused(t *testing.T) {
	t.Parallel()
	weak, _, err := sfsim.GenerateKeyPair(1024)
	if err != nil {
		t.Fatal(err)
	}
	_, err = salesforce.New(salesforce.Config{ClientID: "id", Username: "u", PrivateKey: string(weak)})
	var wk *salesforce.WeakKeyError
	if !errors.As(err, &wk) || wk.Bits != 1024 || !strings.Contains(err.Error(), "1024 bits; at least 2048") {
		t.Errorf("New with a 1024-bit key: %v", err)
	}
	j := &salesforce.JWTBearer{ClientID: "c", Username: "u", Audience: "a", Key: testKey(t, 1024)}
	if _, err := j.Assertion(); !errors.As(err, &wk) {
		t.Errorf("Assertion with a 1024-bit key: %v", err)
	}
	j.Key = testKey(t, 2048)
	if _, err := j.Assertion(); err != nil {
		t.Errorf("Assertion with a 2048-bit key: %v", err)
	}
}

func testKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	pemBytes, _, err := sfsim.GenerateKeyPair(bits)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A JSON answer over MaxResponseBytes fails the call with a clear error;
// it is never truncated silently.
func TestResponseOverTheCapIsRefused(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, sfsim.Config{}, func(c *salesforce.Config) { c.MaxResponseBytes = 4 << 10 })
	ctx := ctxT(t)
	if _, err := c.Insert(ctx, "Account", accounts(60, "cap")); err != nil {
		t.Fatalf("a small answer passes: %v", err)
	}
	it := c.Query(ctx, "SELECT Id, Name, External_Key__c FROM Account")
	for it.Next() {
	}
	err := it.Err()
	var big *salesforce.ResponseTooLargeError
	if !errors.As(err, &big) || big.Limit != 4<<10 || !strings.Contains(err.Error(), "4096-byte limit") || !strings.Contains(err.Error(), "SF_MAX_RESPONSE_BYTES") {
		t.Fatalf("query over the cap: %v", err)
	}
	if got := salesforce.Classify(err); got != salesforce.ClassPermanentRequest {
		t.Errorf("Classify = %v, want permanent_request", got)
	}
}

// A Bulk result CSV over MaxResultBytes fails the ingest; with the default
// cap the same job reads whole.
func TestBulkResultOverTheCapIsRefused(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{}, func(c *salesforce.Config) { c.MaxResultBytes = 8 << 10 })
	recs := accounts(500, "bulkcap")
	_, err := c.BulkIngest(ctxT(t), salesforce.BulkRequest{Object: "Account", Operation: salesforce.BulkInsert, Records: recs, Poll: fastPoll})
	var big *salesforce.ResponseTooLargeError
	if !errors.As(err, &big) || big.Limit != 8<<10 || big.Op != "bulk.results" {
		t.Fatalf("bulk results over the cap: %v", err)
	}
	c2, err := salesforce.New(clientConfig(env))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c2.BulkIngest(ctxT(t), salesforce.BulkRequest{Object: "Account", Operation: salesforce.BulkUpsert, ExternalIDField: "External_Key__c", Records: recs, Poll: fastPoll})
	if err != nil || len(out.Results) != 500 || !out.Results[499].Success {
		t.Fatalf("default cap: %v", err)
	}
}

// A token endpoint that answers more than a token's worth is refused.
func TestTokenResponseOverTheCapIsRefused(t *testing.T) {
	t.Parallel()
	huge := `{"access_token":"x","instance_url":"http://127.0.0.1:1","pad":"` + strings.Repeat("a", 100<<10) + `"}`
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, huge) }))
	defer ts.Close()
	c, err := salesforce.New(salesforce.Config{LoginURL: ts.URL, AllowHTTP: true, Flow: salesforce.FlowPassword, ClientID: "c", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.InstanceURL(ctxT(t))
	var big *salesforce.ResponseTooLargeError
	if !errors.As(err, &big) || big.Op != "oauth.token" {
		t.Errorf("err = %v, want a ResponseTooLargeError", err)
	}
}

// Errors and --help never show credentials in a URL: the login URL's
// user part (a token) or password.
func TestLoginURLCredentialsStayHidden(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t))) // nothing listens there
	for _, u := range []string{"https://tok-secret-7@" + addr, "https://user:pw-secret-8@" + addr} {
		c, err := salesforce.New(salesforce.Config{LoginURL: u, Flow: salesforce.FlowPassword, ClientID: "c", Username: "u", Password: "p"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.InstanceURL(ctxT(t))
		if err == nil {
			t.Fatalf("%s: connected to nothing", u)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows a credential: %v", err)
		}
	}
	t.Setenv("SF_LOGIN_URL", "https://tok-secret-9@login.example.com")
	var cfg salesforce.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cfg.LoginURL != "https://tok-secret-9@login.example.com" {
		t.Errorf("LoginURL %q", cfg.LoginURL)
	}
	fs.PrintDefaults()
	if strings.Contains(help.String(), "tok-secret-9") || !strings.Contains(help.String(), "https://REDACTED@login.example.com") {
		t.Errorf("--help:\n%s", help.String())
	}
}
