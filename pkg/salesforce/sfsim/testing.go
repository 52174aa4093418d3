package sfsim

import (
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// testKey is the one RSA key pair StartTest shares within a process:
// generating a 2048-bit key takes long enough to matter in test suites.
var testKey struct {
	once         sync.Once
	key          *rsa.PrivateKey
	privPEM, pub []byte
	err          error
}

func sharedTestKey() (*rsa.PrivateKey, []byte, error) {
	testKey.once.Do(func() {
		testKey.privPEM, testKey.pub, testKey.err = GenerateKeyPair(2048)
		if testKey.err == nil {
			testKey.key, testKey.err = ParsePrivateKeyPEM(testKey.privPEM)
		}
	})
	return testKey.key, testKey.privPEM, testKey.err
}

// TestEnv is a simulator served by an httptest.Server.
type TestEnv struct {
	// URL is the base URL (scheme and host) of the server: the login URL,
	// instance URL and admin API base.
	URL string
	// Server is the simulator, for the Go run-time controls.
	Server *Server
	// HTTP is the httptest server.
	HTTP *httptest.Server
	// ClientID is the consumer key (JWT iss, password-flow client_id).
	ClientID     string
	ClientSecret string
	// Username and Password are the first configured user's.
	Username string
	Password string
	// PrivateKeyPEM and PrivateKey sign JWT assertions; the matching public
	// key is trusted by the simulator.
	PrivateKeyPEM []byte
	PrivateKey    *rsa.PrivateKey
	// Admin is a client of the admin API.
	Admin *AdminClient
}

// StartTest starts a simulator for a test or benchmark: it trusts a shared
// test key pair (in addition to cfg.PublicKeys), serves on an httptest
// server, and registers a Cleanup that closes both.
func StartTest(tb testing.TB, cfg Config) *TestEnv {
	tb.Helper()
	key, privPEM, err := sharedTestKey()
	if err != nil {
		tb.Fatalf("sfsim: test key: %v", err)
	}
	cfg.PublicKeys = append(append([]crypto.PublicKey(nil), cfg.PublicKeys...), &key.PublicKey)
	// The server's address is known before it starts, so the simulator is
	// configured with its own URL (instance_url, JWT audience).
	hs := httptest.NewUnstartedServer(nil)
	if cfg.InstanceURL == "" {
		cfg.InstanceURL = "http://" + hs.Listener.Addr().String()
	}
	sim, err := New(cfg)
	if err != nil {
		hs.Close()
		tb.Fatalf("sfsim: %v", err)
	}
	hs.Config.Handler = sim
	hs.Start()
	tb.Cleanup(func() {
		hs.Close()
		_ = sim.Close()
	})
	u := sim.cfg.Users[0]
	return &TestEnv{
		URL: hs.URL, Server: sim, HTTP: hs, ClientID: sim.cfg.ConsumerKey, ClientSecret: sim.cfg.ClientSecret,
		Username: u.Username, Password: u.Password + u.SecurityToken, PrivateKeyPEM: privPEM, PrivateKey: key,
		Admin: NewAdminClient(hs.URL, hs.Client()),
	}
}

// Token obtains an access token with the password flow over HTTP.
func (e *TestEnv) Token(tb testing.TB) string {
	tb.Helper()
	resp, err := e.HTTP.Client().PostForm(e.URL+tokenPath, url.Values{
		"grant_type": {"password"}, "client_id": {e.ClientID}, "client_secret": {e.ClientSecret},
		"username": {e.Username}, "password": {e.Password},
	})
	if err != nil {
		tb.Fatalf("sfsim: token: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("sfsim: token: status %d, error %q (%v)", resp.StatusCode, out.Error, err)
	}
	return out.AccessToken
}

// DataURL returns the URL of a data path under /services/data/v66.0/, e.g.
// DataURL("sobjects/Account").
func (e *TestEnv) DataURL(path string) string {
	return e.URL + dataPrefix + "v" + itoa(MaxAPIVersion) + ".0/" + strings.TrimPrefix(path, "/")
}
