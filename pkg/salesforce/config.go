package salesforce

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/redact"
)

// Auth flows.
const (
	FlowJWT      = "jwt"      // OAuth 2.0 JWT bearer flow (production)
	FlowPassword = "password" // OAuth 2.0 username-password flow (development)
)

// Defaults.
const (
	DefaultLoginURL       = "https://login.salesforce.com"
	DefaultAPIVersion     = "v63.0"
	DefaultTimeout        = 2 * time.Minute
	DefaultMaxConcurrency = 4
	// MaxCollectionRecords is the most records one sObject Collections call takes.
	MaxCollectionRecords = 200
	// DefaultMaxResponseBytes caps a JSON answer read into memory. The
	// largest legitimate ones are query pages (at most 2,000 records, fewer
	// when records are wide: Salesforce shrinks batches that select long
	// text) and Collections retrieves of 2,000 ids; 64 MiB is 32 KiB a record
	// at 2,000 records. Everything else (save results of 200 records, job
	// info, errors) is a few hundred KiB at most.
	DefaultMaxResponseBytes = 64 << 20
	// DefaultMaxResultBytes caps one Bulk API 2.0 result CSV, read as a
	// stream. A job takes one upload of at most 100 MB of raw CSV; its
	// results repeat every row with an id and a status or error message
	// added, so 1 GiB leaves room for rows much shorter than their errors.
	DefaultMaxResultBytes = 1 << 30
	// MinRSAKeyBits is the smallest RSA key accepted for JWT assertions.
	MinRSAKeyBits = 2048
)

// Config configures a Client. Every field maps to a flag (RegisterFlags) and an
// environment variable (the flag's default comes from the variable); Validate
// names the field at fault.
type Config struct {
	// LoginURL is the OAuth authorization server: https://login.salesforce.com,
	// https://test.salesforce.com or a My Domain URL. Env SF_LOGIN_URL.
	// Default https://login.salesforce.com.
	LoginURL string
	// ClientID is the connected app's consumer key (JWT "iss", password-flow
	// client_id). Env SF_CLIENT_ID. Required.
	ClientID string
	// ClientSecret is the consumer secret, password flow only. Env SF_CLIENT_SECRET.
	ClientSecret string
	// Username is the integration user (JWT "sub"). Env SF_USERNAME. Required.
	Username string
	// Password is the user's password with the security token appended,
	// password flow only. Env SF_PASSWORD.
	Password string
	// PrivateKeyFile is a path to the PEM RSA private key that signs JWT
	// assertions. Env SF_PRIVATE_KEY_FILE.
	PrivateKeyFile string
	// PrivateKey is the PEM itself, for platforms that inject secrets as
	// variables. Env SF_PRIVATE_KEY. Takes precedence over PrivateKeyFile.
	PrivateKey string
	// Flow is "jwt" or "password". Env SF_AUTH_FLOW. Default: "jwt" when a
	// private key is set, else "password" when a password is set.
	Flow string
	// Audience is the JWT "aud" claim. Env SF_AUDIENCE. Default: LoginURL.
	Audience string
	// APIVersion is the REST API version, "vNN.0". Env SF_API_VERSION. Default v63.0.
	APIVersion string
	// Timeout bounds each HTTP call (the caller's context may end it sooner).
	// Env SF_TIMEOUT. Default 2m.
	Timeout time.Duration
	// MaxConcurrency is how many sObject Collections calls one chunked call
	// (more than 200 records) runs at once. Env SF_MAX_CONCURRENCY. Default 4.
	MaxConcurrency int
	// DescribeTTL is how long Describe keeps an object's describe before
	// reading it again; RefreshDescribe reads it at once. Env
	// SF_DESCRIBE_TTL. Default 15m; a negative value turns the cache off.
	DescribeTTL time.Duration
	// AllowHTTP lets the login URL and the instance URL that the token
	// endpoint returns be plain http://, for a development simulator only.
	// Without it both must be https://, and no request leaves over plain
	// HTTP (a redirect to http:// included): the access token, the JWT
	// assertion and the password flow's secrets travel in those requests.
	// Env SF_ALLOW_HTTP. Default false.
	AllowHTTP bool
	// MaxResponseBytes caps a JSON answer (query page, save results, job
	// info) read into memory; a larger one fails the call with a
	// *ResponseTooLargeError. Env SF_MAX_RESPONSE_BYTES. Default 64 MiB
	// (DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// MaxResultBytes caps one Bulk API 2.0 result CSV, which is streamed;
	// reading past it fails with a *ResponseTooLargeError. Env
	// SF_MAX_RESULT_BYTES. Default 1 GiB (DefaultMaxResultBytes).
	MaxResultBytes int64

	// HTTPClient is the shared HTTP client. Default: a keep-alive client sized
	// for MaxConcurrency, with dial and TLS timeouts; gzip responses are
	// requested and decoded transparently by net/http.
	HTTPClient *http.Client
	// Logger receives debug lines about calls and re-authentication. Tokens,
	// keys and record bodies are never logged. Default: disabled.
	Logger zerolog.Logger
	// OnCall, when set, is called after every HTTP call (metrics hook).
	OnCall func(CallInfo)
	// Clock returns the current time; JWT expiry uses it. Default time.Now.
	Clock func() time.Time
}

// CallInfo describes one finished HTTP call to Salesforce.
type CallInfo struct {
	Op       string        // e.g. "collections.upsert", "query", "bulk.upload", "oauth.token"
	Method   string        // HTTP method
	Status   int           // HTTP status, 0 when no response arrived
	Records  int           // records carried by the call, when known
	Duration time.Duration // wall time of the call
	Err      error         // the call's error, nil on success
}

var apiVersionRE = regexp.MustCompile(`^v[1-9][0-9]*\.0$`)

// ConfigFromEnv returns a Config filled from the SF_* environment variables.
func ConfigFromEnv() Config {
	var c Config
	c.loadEnv(os.Getenv)
	return c
}

func (c *Config) loadEnv(getenv func(string) string) {
	set := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	set(&c.LoginURL, "SF_LOGIN_URL")
	set(&c.ClientID, "SF_CLIENT_ID")
	set(&c.ClientSecret, "SF_CLIENT_SECRET")
	set(&c.Username, "SF_USERNAME")
	set(&c.Password, "SF_PASSWORD")
	set(&c.PrivateKeyFile, "SF_PRIVATE_KEY_FILE")
	set(&c.PrivateKey, "SF_PRIVATE_KEY")
	set(&c.Flow, "SF_AUTH_FLOW")
	set(&c.Audience, "SF_AUDIENCE")
	set(&c.APIVersion, "SF_API_VERSION")
	if v := getenv("SF_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			c.Timeout = d
		}
	}
	if v := getenv("SF_DESCRIBE_TTL"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			c.DescribeTTL = d
		}
	}
	if v := getenv("SF_MAX_CONCURRENCY"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			c.MaxConcurrency = n
		}
	}
	if v := getenv("SF_ALLOW_HTTP"); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			c.AllowHTTP = b
		}
	}
	for key, dst := range map[string]*int64{"SF_MAX_RESPONSE_BYTES": &c.MaxResponseBytes, "SF_MAX_RESULT_BYTES": &c.MaxResultBytes} {
		if v := getenv(key); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				*dst = n
			}
		}
	}
}

// RegisterFlags binds the Config's fields to flags named --sf-…, whose
// defaults come from the SF_* environment variables (so a flag overrides its
// variable). The secret flags show only the variable name in --help.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.loadEnv(os.Getenv)
	// The login URL's default is shown with any credentials hidden.
	fs.Var(redactedURL{&c.LoginURL}, "sf-login-url", "Salesforce login `URL`: https://login.salesforce.com, https://test.salesforce.com or a My Domain URL (env SF_LOGIN_URL; default "+DefaultLoginURL+")")
	fs.StringVar(&c.ClientID, "sf-client-id", c.ClientID, "connected app consumer key, the JWT iss claim (env SF_CLIENT_ID)")
	fs.StringVar(&c.Username, "sf-username", c.Username, "integration user name, the JWT sub claim (env SF_USERNAME)")
	fs.StringVar(&c.PrivateKeyFile, "sf-private-key-file", c.PrivateKeyFile, "PEM RSA private key that signs JWT assertions (env SF_PRIVATE_KEY_FILE; or put the PEM itself in SF_PRIVATE_KEY)")
	fs.StringVar(&c.Flow, "sf-auth-flow", c.Flow, `auth flow: "jwt" or "password" (env SF_AUTH_FLOW; default jwt when a key is set)`)
	fs.StringVar(&c.Audience, "sf-audience", c.Audience, "JWT aud claim (env SF_AUDIENCE; default: the login URL)")
	fs.StringVar(&c.APIVersion, "sf-api-version", c.APIVersion, "REST API version vNN.0 (env SF_API_VERSION; default "+DefaultAPIVersion+")")
	fs.DurationVar(&c.Timeout, "sf-timeout", c.Timeout, "timeout of one HTTP call (env SF_TIMEOUT; default 2m)")
	fs.IntVar(&c.MaxConcurrency, "sf-max-concurrency", c.MaxConcurrency, "sObject Collections calls in flight for one chunked call (env SF_MAX_CONCURRENCY; default 4)")
	fs.DurationVar(&c.DescribeTTL, "sf-describe-ttl", c.DescribeTTL, "how long an object's describe is cached; negative: not cached (env SF_DESCRIBE_TTL; default 15m)")
	fs.BoolVar(&c.AllowHTTP, "sf-allow-http", c.AllowHTTP, "allow plain http:// login and instance URLs: a development simulator only (env SF_ALLOW_HTTP; default false)")
	fs.Int64Var(&c.MaxResponseBytes, "sf-max-response-bytes", c.MaxResponseBytes, "largest JSON answer read from Salesforce (env SF_MAX_RESPONSE_BYTES; default 64 MiB)")
	fs.Int64Var(&c.MaxResultBytes, "sf-max-result-bytes", c.MaxResultBytes, "largest Bulk API 2.0 result CSV read (env SF_MAX_RESULT_BYTES; default 1 GiB)")
	// Secrets: read from the environment only by default, but accepted as flags
	// for development; --help never prints their values.
	fs.Func("sf-client-secret", "consumer secret, password flow only (env SF_CLIENT_SECRET)", func(v string) error { c.ClientSecret = v; return nil })
	fs.Func("sf-password", "password + security token, password flow only (env SF_PASSWORD)", func(v string) error { c.Password = v; return nil })
}

// WithDefaults returns a copy of c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.LoginURL == "" {
		c.LoginURL = DefaultLoginURL
	}
	c.LoginURL = strings.TrimRight(c.LoginURL, "/")
	if c.Flow == "" {
		switch {
		case c.PrivateKey != "" || c.PrivateKeyFile != "":
			c.Flow = FlowJWT
		case c.Password != "":
			c.Flow = FlowPassword
		default:
			c.Flow = FlowJWT
		}
	}
	if c.Audience == "" {
		c.Audience = c.LoginURL
	}
	if c.APIVersion == "" {
		c.APIVersion = DefaultAPIVersion
	}
	if !strings.HasPrefix(c.APIVersion, "v") {
		c.APIVersion = "v" + c.APIVersion
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.DescribeTTL == 0 {
		c.DescribeTTL = DefaultDescribeTTL
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxResultBytes == 0 {
		c.MaxResultBytes = DefaultMaxResultBytes
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Validate reports the first invalid field of a defaulted Config.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("salesforce config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if err := checkURL(c.LoginURL, c.AllowHTTP); err != nil {
		bad("LoginURL (SF_LOGIN_URL)", "%v", err)
	}
	if c.ClientID == "" {
		bad("ClientID (SF_CLIENT_ID)", "required")
	}
	if c.Username == "" {
		bad("Username (SF_USERNAME)", "required")
	}
	switch c.Flow {
	case FlowJWT:
		if c.PrivateKey == "" && c.PrivateKeyFile == "" {
			bad("PrivateKeyFile (SF_PRIVATE_KEY_FILE / SF_PRIVATE_KEY)", "required for the jwt flow")
		}
	case FlowPassword:
		if c.Password == "" {
			bad("Password (SF_PASSWORD)", "required for the password flow")
		}
	default:
		bad("Flow (SF_AUTH_FLOW)", "%q is not jwt or password", c.Flow)
	}
	if !apiVersionRE.MatchString(c.APIVersion) {
		bad("APIVersion (SF_API_VERSION)", "%q is not of the form vNN.0", c.APIVersion)
	}
	if c.Timeout < 0 {
		bad("Timeout (SF_TIMEOUT)", "must not be negative")
	}
	if c.MaxConcurrency < 1 || c.MaxConcurrency > 64 {
		bad("MaxConcurrency (SF_MAX_CONCURRENCY)", "%d is out of range 1..64", c.MaxConcurrency)
	}
	if c.MaxResponseBytes < 1 {
		bad("MaxResponseBytes (SF_MAX_RESPONSE_BYTES)", "%d: must be positive", c.MaxResponseBytes)
	}
	if c.MaxResultBytes < 1 {
		bad("MaxResultBytes (SF_MAX_RESULT_BYTES)", "%d: must be positive", c.MaxResultBytes)
	}
	return errors.Join(errs...)
}

// InsecureURLError is a login or instance URL that is not https:// while
// Config.AllowHTTP is off.
type InsecureURLError struct {
	URL string // with any credentials hidden
}

func (e *InsecureURLError) Error() string {
	return fmt.Sprintf("%q is not an https:// URL (plain http:// is allowed only with AllowHTTP, SF_ALLOW_HTTP, for a development simulator)", e.URL)
}

// checkURL accepts an absolute https:// URL with a host, or an http:// one
// when allowHTTP is set.
func checkURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an https:// URL", redact.URL(raw))
	}
	if u.Scheme == "http" && !allowHTTP {
		return &InsecureURLError{URL: redact.URL(raw)}
	}
	return nil
}

// redactedURL is a URL flag whose default, shown by --help, hides credentials.
type redactedURL struct{ p *string }

func (v redactedURL) String() string {
	if v.p == nil {
		return ""
	}
	return redact.URL(*v.p)
}

func (v redactedURL) Set(s string) error {
	*v.p = s
	return nil
}
