package salesforce_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestConfigValidationNamesTheField(t *testing.T) {
	t.Parallel()
	ok := salesforce.Config{ClientID: "id", Username: "u", PrivateKey: "pem"}
	cases := []struct {
		name string
		mod  func(*salesforce.Config)
		want string
	}{
		{"missing client id", func(c *salesforce.Config) { c.ClientID = "" }, "ClientID (SF_CLIENT_ID): required"},
		{"missing username", func(c *salesforce.Config) { c.Username = "" }, "Username (SF_USERNAME): required"},
		{"missing key", func(c *salesforce.Config) { c.PrivateKey = "" }, "PrivateKeyFile"},
		{"password flow without password", func(c *salesforce.Config) { c.Flow = salesforce.FlowPassword }, "Password (SF_PASSWORD)"},
		{"unknown flow", func(c *salesforce.Config) { c.Flow = "saml" }, `Flow (SF_AUTH_FLOW): "saml"`},
		{"bad version", func(c *salesforce.Config) { c.APIVersion = "63" }, `APIVersion (SF_API_VERSION): "v63"`},
		{"bad version 2", func(c *salesforce.Config) { c.APIVersion = "v63.1" }, "vNN.0"},
		{"bad login url", func(c *salesforce.Config) { c.LoginURL = "login.salesforce.com" }, "LoginURL (SF_LOGIN_URL)"},
		{"concurrency", func(c *salesforce.Config) { c.MaxConcurrency = 100 }, "MaxConcurrency"},
	}
	for _, tc := range cases {
		c := ok
		tc.mod(&c)
		err := c.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	if err := ok.WithDefaults().Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	d := ok.WithDefaults()
	if d.APIVersion != "v63.0" || d.LoginURL != "https://login.salesforce.com" || d.Audience != d.LoginURL || d.Flow != salesforce.FlowJWT || d.Timeout != 2*time.Minute || d.MaxConcurrency != 4 {
		t.Errorf("defaults = %+v", d)
	}
	// Any vNN.0 is accepted.
	c := ok
	c.APIVersion = "v66.0"
	if err := c.WithDefaults().Validate(); err != nil {
		t.Errorf("v66.0: %v", err)
	}
	if _, err := salesforce.New(salesforce.Config{ClientID: "id", Username: "u", PrivateKey: "not a key"}); err == nil || !strings.Contains(err.Error(), "PEM RSA private key") {
		t.Errorf("bad PEM: %v", err)
	}
}

// Environment variables feed flag defaults; flags override them.
func TestConfigFromEnvAndFlags(t *testing.T) {
	env := sfsim.StartTest(t, sfsim.Config{Schema: schema(t)})
	keyFile := filepath.Join(t.TempDir(), "server.key")
	if err := os.WriteFile(keyFile, env.PrivateKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SF_LOGIN_URL", env.URL)
	t.Setenv("SF_ALLOW_HTTP", "true") // the simulator serves plain http
	t.Setenv("SF_CLIENT_ID", env.ClientID)
	t.Setenv("SF_USERNAME", "overridden@example.com")
	t.Setenv("SF_PRIVATE_KEY_FILE", keyFile)
	t.Setenv("SF_API_VERSION", "v60.0")
	t.Setenv("SF_TIMEOUT", "7s")

	fromEnv := salesforce.ConfigFromEnv()
	if fromEnv.LoginURL != env.URL || fromEnv.Timeout != 7*time.Second || fromEnv.APIVersion != "v60.0" {
		t.Errorf("ConfigFromEnv = %+v", fromEnv)
	}

	var cfg salesforce.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--sf-username", env.Username}); err != nil {
		t.Fatal(err)
	}
	if cfg.Username != env.Username || cfg.ClientID != env.ClientID || cfg.PrivateKeyFile != keyFile {
		t.Fatalf("flags over env = %+v", cfg)
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, v := range []string{"SF_CLIENT_ID", "SF_PRIVATE_KEY", "SF_PASSWORD", "SF_API_VERSION"} {
		if !strings.Contains(help.String(), v) {
			t.Errorf("--help does not mention %s", v)
		}
	}
	cfg.HTTPClient = env.HTTP.Client()
	c, err := salesforce.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.CreateRecord(ctxT(t), "Account", salesforce.Record{"Name": "from env"})
	if err != nil || !res.Success {
		t.Fatalf("create with a key file from the environment: %+v %v", res, err)
	}
	if c.APIVersion() != "v60.0" {
		t.Errorf("APIVersion = %s", c.APIVersion())
	}
}
