package natsconn_test

import (
	"bytes"
	"flag"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/natsconn"
	"github.com/kinetic-sync/kinetic/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		cfg  natsconn.Config
		want []string // substrings of the error; none: valid
	}{
		{"url only", natsconn.Config{URLs: "nats://a:4222"}, nil},
		{"several urls", natsconn.Config{URLs: "nats://a:4222,nats://b:4222"}, nil},
		{"user and password", natsconn.Config{URLs: "nats://a", User: "u", Password: "p"}, nil},
		{"password alone", natsconn.Config{URLs: "nats://a", Password: "p"}, nil},
		{"token", natsconn.Config{URLs: "nats://a", Token: "t"}, nil},
		{"nkey", natsconn.Config{URLs: "nats://a", NKeyFile: "seed.nk"}, nil},
		{"creds", natsconn.Config{URLs: "nats://a", CredsFile: "x.creds"}, nil},
		{"mutual tls", natsconn.Config{URLs: "tls://a", TLSCert: "c.pem", TLSKey: "k.pem", TLSCA: "ca.pem"}, nil},
		{"ca only", natsconn.Config{URLs: "tls://a", TLSCA: "ca.pem"}, nil},
		{"creds with tls", natsconn.Config{URLs: "tls://a", CredsFile: "x.creds", TLSCert: "c", TLSKey: "k"}, nil},
		{"no url", natsconn.Config{}, []string{"nats-url (NATS_URL): required"}},
		{"blank url", natsconn.Config{URLs: "  "}, []string{"nats-url"}},
		{"user and token", natsconn.Config{URLs: "nats://a", User: "u", Token: "t"}, []string{"one of user/password, token, nkey or creds"}},
		{"token and nkey", natsconn.Config{URLs: "nats://a", Token: "t", NKeyFile: "n"}, []string{"one of"}},
		{"nkey and creds", natsconn.Config{URLs: "nats://a", NKeyFile: "n", CredsFile: "c"}, []string{"one of"}},
		{"cert without key", natsconn.Config{URLs: "nats://a", TLSCert: "c"}, []string{"nats-tls-cert and nats-tls-key go together"}},
		{"key without cert", natsconn.Config{URLs: "nats://a", TLSKey: "k"}, []string{"go together"}},
		{"everything wrong", natsconn.Config{Token: "t", CredsFile: "c", TLSKey: "k"}, []string{"required", "one of", "go together"}},
	} {
		err := c.cfg.Validate()
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: valid", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not contain %q", c.name, err, w)
			}
		}
	}
}

func TestRegisterFlagsFromEnvironment(t *testing.T) {
	t.Setenv("NATS_URL", "nats://env-host:4333")
	t.Setenv("NATS_USER", "env-user")
	t.Setenv("NATS_PASSWORD", "env-secret-pw")
	t.Setenv("NATS_TOKEN", "")
	t.Setenv("NATS_TLS_CA", "/etc/ca.pem")
	t.Setenv("NATS_INBOX_PREFIX", "_INBOX_env")
	var c natsconn.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.URLs != "nats://env-host:4333" || c.User != "env-user" || c.Password != "env-secret-pw" || c.TLSCA != "/etc/ca.pem" || c.InboxPrefix != "_INBOX_env" {
		t.Errorf("from environment: %+v", c)
	}
	fs.PrintDefaults()
	for _, v := range []string{"NATS_URL", "NATS_USER", "NATS_PASSWORD", "NATS_TOKEN", "NATS_NKEY", "NATS_CREDS", "NATS_TLS_CERT", "NATS_TLS_KEY", "NATS_TLS_CA", "NATS_INBOX_PREFIX"} {
		if !strings.Contains(help.String(), "(env "+v+")") {
			t.Errorf("help does not name %s", v)
		}
	}
	if strings.Contains(help.String(), "env-secret-pw") {
		t.Errorf("help prints the password:\n%s", help.String())
	}

	// Flags override the environment, secrets included.
	var c2 natsconn.Config
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	c2.RegisterFlags(fs2)
	if err := fs2.Parse([]string{"--nats-url", "nats://flag:1", "--nats-password", "flag-pw", "--nats-user", "fu"}); err != nil {
		t.Fatal(err)
	}
	if c2.URLs != "nats://flag:1" || c2.Password != "flag-pw" || c2.User != "fu" {
		t.Errorf("flags: %+v", c2)
	}
}

func TestRegisterFlagsDefaults(t *testing.T) {
	for _, k := range []string{"NATS_URL", "NATS_USER", "NATS_PASSWORD", "NATS_TOKEN", "NATS_NKEY", "NATS_CREDS", "NATS_TLS_CERT", "NATS_TLS_KEY", "NATS_TLS_CA", "NATS_INBOX_PREFIX"} {
		t.Setenv(k, "")
	}
	var c natsconn.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.URLs != natsconn.DefaultURL || c.User != "" || c.Password != "" || c.Token != "" {
		t.Errorf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults are not valid: %v", err)
	}
}

func TestConnectEmbedded(t *testing.T) {
	t.Parallel()
	ns := devenv.StartTestNATS(t)
	nc, err := natsconn.Config{URLs: ns.ClientURL(), Name: "kinetic-test"}.Connect(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !nc.IsConnected() {
		t.Fatal("not connected")
	}
	// The connection works and carries its name.
	sub, err := nc.SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ping", []byte("pong")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "pong" {
		t.Errorf("round trip: %v %v", m, err)
	}
	cz, err := ns.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, ci := range cz.Conns {
		named = named || ci.Name == "kinetic-test"
	}
	if !named {
		t.Errorf("no connection named kinetic-test: %+v", cz.Conns)
	}
	// A comma-separated list with a dead server first still connects.
	nc2, err := natsconn.Config{URLs: "nats://127.0.0.1:" + strconv.Itoa(testutil.FreePort(t)) + "," + ns.ClientURL()}.Connect(zerolog.Nop())
	if err != nil {
		t.Fatalf("server list: %v", err)
	}
	nc2.Close()
}

// startAuthServer starts a plain nats-server requiring a token or a user.
func startAuthServer(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
}

func TestConnectCredentials(t *testing.T) {
	t.Parallel()
	tokenURL := startAuthServer(t, &server.Options{Authorization: "s3cret-token"})
	userURL := startAuthServer(t, &server.Options{Username: "kinetic", Password: "pw-123"})
	for _, c := range []struct {
		name string
		cfg  natsconn.Config
		ok   bool
	}{
		{"right token", natsconn.Config{URLs: tokenURL, Token: "s3cret-token"}, true},
		{"wrong token", natsconn.Config{URLs: tokenURL, Token: "nope"}, false},
		{"no token", natsconn.Config{URLs: tokenURL}, false},
		{"right user", natsconn.Config{URLs: userURL, User: "kinetic", Password: "pw-123"}, true},
		{"wrong password", natsconn.Config{URLs: userURL, User: "kinetic", Password: "bad"}, false},
	} {
		nc, err := c.cfg.Connect(zerolog.Nop())
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			} else {
				nc.Close()
			}
			continue
		}
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", c.name)
			continue
		}
		if !strings.Contains(err.Error(), "connecting to NATS at") {
			t.Errorf("%s: %v", c.name, err)
		}
		for _, secret := range []string{"s3cret-token", "pw-123", "bad", "nope"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q shows a secret", c.name, err)
			}
		}
	}
}

// With an inbox prefix, replies arrive under it: a user allowed to
// subscribe only to _INBOX_client.> can make requests, and cannot without
// the prefix (the default _INBOX.> subscription is refused).
func TestConnectInboxPrefix(t *testing.T) {
	t.Parallel()
	url := startAuthServer(t, &server.Options{Users: []*server.User{
		{Username: "svc", Password: "svc-pw"},
		{Username: "client", Password: "client-pw", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"svc"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX_client.>"}},
		}},
	}})
	svc, err := natsconn.Config{URLs: url, User: "svc", Password: "svc-pw"}.Connect(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	sub, err := svc.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond([]byte("ok:" + m.Reply)) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sub.Unsubscribe(); err != nil {
			t.Error(err)
		}
	}()
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}

	nc, err := natsconn.Config{URLs: url, User: "client", Password: "client-pw", InboxPrefix: "_INBOX_client"}.Connect(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m, err := nc.Request("svc", nil, 5*time.Second)
	if err != nil {
		t.Fatalf("request with the inbox prefix: %v", err)
	}
	if !strings.HasPrefix(string(m.Data), "ok:_INBOX_client.") {
		t.Errorf("reply subject %q does not start with the prefix", m.Data)
	}

	plain, err := natsconn.Config{URLs: url, User: "client", Password: "client-pw"}.Connect(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Request("svc", nil, 500*time.Millisecond); err == nil {
		t.Error("request without the prefix answered: _INBOX.> should not be allowed")
	}

	if _, err := (natsconn.Config{URLs: url, InboxPrefix: "_INBOX.>"}).Connect(zerolog.Nop()); err == nil {
		t.Error("an inbox prefix with a wildcard was accepted")
	}
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(testutil.FreePort(t))
	for _, c := range []struct {
		name string
		cfg  natsconn.Config
		want string
	}{
		{"nothing listening", natsconn.Config{URLs: "nats://127.0.0.1:" + port}, "connecting to NATS at nats://127.0.0.1:" + port},
		{"bad url", natsconn.Config{URLs: "nats://[::1"}, "connecting to NATS"},
		{"bad scheme", natsconn.Config{URLs: "::not a url::"}, "connecting to NATS"},
		{"invalid config", natsconn.Config{URLs: "nats://127.0.0.1:" + port, Token: "t", User: "u"}, "one of"},
		{"missing nkey file", natsconn.Config{URLs: "nats://127.0.0.1:" + port, NKeyFile: "/nonexistent/seed.nk"}, "nats-nkey"},
	} {
		nc, err := c.cfg.Connect(zerolog.Nop())
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q does not contain %q", c.name, err, c.want)
		}
	}
}

// A password in the URL must not end up in the error (it is printed and logged).
func TestConnectErrorRedactsURLCredentials(t *testing.T) {
	t.Parallel()
	_, err := natsconn.Config{URLs: "nats://kinetic:hunter2-secret@127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))}.Connect(zerolog.Nop())
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if strings.Contains(err.Error(), "hunter2-secret") {
		t.Errorf("error shows the password: %q", err)
	}
}

// --help shows NATS_URL's value as the default: never its credentials,
// whatever their form.
func TestHelpHidesURLCredentials(t *testing.T) {
	for _, c := range []struct{ url, secret, shown string }{
		{"nats://kinetic:url-pw-777@nats-1:4222", "url-pw-777", "nats://kinetic:REDACTED@nats-1:4222"},
		{"nats://tok-888@nats-1:4222,nats://tok-888@nats-2:4222", "tok-888", "nats://REDACTED@nats-1:4222,nats://REDACTED@nats-2:4222"},
		{"wss://nats-1:443/ws?token=q-999", "q-999", "wss://nats-1:443/ws?token=REDACTED"},
	} {
		t.Run(c.secret, func(t *testing.T) {
			t.Setenv("NATS_URL", c.url)
			t.Setenv("NATS_TOKEN", "env-token-555")
			var cfg natsconn.Config
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			var help bytes.Buffer
			fs.SetOutput(&help)
			cfg.RegisterFlags(fs)
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			if cfg.URLs != c.url || cfg.Token != "env-token-555" {
				t.Errorf("the values themselves must not change: %q %q", cfg.URLs, cfg.Token)
			}
			fs.PrintDefaults()
			for _, s := range []string{c.secret, "env-token-555"} {
				if strings.Contains(help.String(), s) {
					t.Errorf("--help shows %q:\n%s", s, help.String())
				}
			}
			if !strings.Contains(help.String(), c.shown) || !strings.Contains(help.String(), "(env NATS_URL)") {
				t.Errorf("--help does not show the redacted default %q:\n%s", c.shown, help.String())
			}
		})
	}
}

// Connection errors never show a credential: a token given as the URL's
// user, a password in a URL that does not parse (url.Parse's error repeats
// the URL), or the configured password and token.
func TestConnectErrorRedactsEveryCredentialForm(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(testutil.FreePort(t))
	for _, c := range []struct {
		name    string
		cfg     natsconn.Config
		secrets []string
	}{
		{"token as the user", natsconn.Config{URLs: "nats://tok-secret-1@127.0.0.1:" + port}, []string{"tok-secret-1"}},
		{"token in one of several", natsconn.Config{URLs: "nats://127.0.0.1:" + port + ",nats://tok-secret-2@127.0.0.1:" + port}, []string{"tok-secret-2"}},
		{"password in a bad URL", natsconn.Config{URLs: "nats://kinetic:pw-secret-3@[::1"}, []string{"pw-secret-3"}},
		{"token in a bad URL", natsconn.Config{URLs: "nats://tok-secret-4@[::1"}, []string{"tok-secret-4"}},
		{"query secret", natsconn.Config{URLs: "nats://127.0.0.1:" + port + "?auth=q-secret-5"}, []string{"q-secret-5"}},
	} {
		_, err := c.cfg.Connect(zerolog.Nop())
		if err == nil {
			t.Errorf("%s: connected to nothing", c.name)
			continue
		}
		for _, s := range c.secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error shows %q: %q", c.name, s, err)
			}
		}
		if !strings.Contains(err.Error(), "connecting to NATS at") {
			t.Errorf("%s: %q", c.name, err)
		}
	}
}

// The reconnection log line names the server without the token that is the
// URL's user (nats.go's ConnectedUrlRedacted hides only passwords).
func TestReconnectLogHidesToken(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(testutil.FreePort(t))
	start := func() *server.Server {
		opts := &server.Options{Host: "127.0.0.1", Port: atoi(t, port), NoLog: true, NoSigs: true, Authorization: "log-token-6"}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("server not ready")
		}
		return s
	}
	s := start()
	var logs syncBuffer
	nc, err := natsconn.Config{URLs: "nats://log-token-6@127.0.0.1:" + port}.Connect(zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s.Shutdown()
	s.WaitForShutdown()
	s = start()
	defer func() {
		s.Shutdown()
		s.WaitForShutdown()
	}()
	testutil.WaitFor(t, 20*time.Second, "the reconnection to be logged", func() bool {
		return strings.Contains(logs.String(), "reconnected to NATS")
	})
	if strings.Contains(logs.String(), "log-token-6") {
		t.Errorf("the log shows the token: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "REDACTED@127.0.0.1:"+port) {
		t.Errorf("the log does not name the server: %s", logs.String())
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// syncBuffer is a bytes.Buffer safe for the connection's handler goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
