package sfsim

import (
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/clock"
)

// User is an org user that can obtain a session.
type User struct {
	Username string `json:"username"`
	// Password is checked by the password flow, which expects the password
	// followed by SecurityToken.
	Password      string `json:"-"`
	SecurityToken string `json:"-"`
}

// Defaults of Config.
const (
	DefaultConsumerKey     = "sfsim-consumer-key"
	DefaultClientSecret    = "sfsim-secret"
	DefaultUsername        = "dev@kinetic.local"
	DefaultPassword        = "password"
	DefaultSessionTTL      = 2 * time.Hour
	DefaultDailyAPILimit   = 5_000_000
	DefaultSeed            = 1
	DefaultBulkWorkers     = 2
	DefaultMaxCursors      = 10_000
	DefaultCursorTTL       = 15 * time.Minute
	DefaultMaxBulkJobBytes = 150 << 20
	// DefaultLongRunningAfter is how long a request runs before Salesforce
	// counts it as long-running.
	DefaultLongRunningAfter = 20 * time.Second
	// LongRunningLimitProduction and LongRunningLimitDeveloper are
	// Salesforce's concurrent long-running request limits.
	LongRunningLimitProduction = 25
	LongRunningLimitDeveloper  = 5
	// DefaultBulkBatchSize is the number of records Salesforce puts in each
	// internal batch of a Bulk API 2.0 ingest job.
	DefaultBulkBatchSize = 10_000
	// LoginURL and TestLoginURL are accepted JWT audiences by default.
	LoginURL     = "https://login.salesforce.com"
	TestLoginURL = "https://test.salesforce.com"
	// DefaultInstanceURL is the instance URL of a simulator whose
	// Config.InstanceURL is empty: cmd/sfsim's default address.
	DefaultInstanceURL = "http://127.0.0.1:7080"
)

// Config configures a simulator. The zero value is usable: every field states
// its default, filled in by New (see withDefaults).
type Config struct {
	// Schema holds objects and fields, merged onto DefaultSchema()
	// (Account, Contact, Lead, Opportunity). Default: DefaultSchema().
	Schema *Schema
	// ConsumerKey is the connected app's consumer key: the JWT iss and the
	// password flow's client_id. Default "sfsim-consumer-key".
	ConsumerKey string
	// ClientSecret is the password flow's client_secret. Default "sfsim-secret".
	ClientSecret string
	// Users may obtain sessions; a JWT sub must name one. Default: one user
	// dev@kinetic.local with password "password" and no security token.
	Users []User
	// PublicKeys may sign JWT assertions (see ParsePublicKeyPEM). Default:
	// none, and the JWT flow answers invalid_grant.
	PublicKeys []crypto.PublicKey
	// Audiences are the accepted JWT aud values. Default: LoginURL,
	// TestLoginURL and InstanceURL. A request's Host header is never
	// trusted for it.
	Audiences []string
	// InstanceURL is the simulator's own base URL (scheme and host): the
	// instance_url of token responses and a default audience. It is never
	// taken from a request's Host header. Default DefaultInstanceURL
	// (http://127.0.0.1:7080); StartTest sets its server's URL.
	InstanceURL string
	// AdminToken, when set, makes every admin API call (except GET
	// /__admin/healthz) require "Authorization: Bearer <AdminToken>".
	// Default: none.
	AdminToken string
	// SessionTTL is the inactivity timeout of an access token. Default 2h.
	SessionTTL time.Duration
	// DailyAPILimit is the LIMIT of api-usage=N/LIMIT; once N reaches it,
	// data calls answer 403 REQUEST_LIMIT_EXCEEDED. Default 5,000,000.
	DailyAPILimit int
	// ConcurrentLimit bounds the data calls in flight; over it a call
	// answers 403 REQUEST_LIMIT_EXCEEDED. Default 0: unlimited.
	ConcurrentLimit int
	// LongRunningLimit is the concurrent long-running request limit: when
	// that many data calls have each run for LongRunningAfter, a new call
	// answers 403 REQUEST_LIMIT_EXCEEDED. Default 0: off (Salesforce: 25,
	// LongRunningLimitProduction; 5 on Developer Edition).
	LongRunningLimit int
	// LongRunningAfter is how long a call runs before it counts as
	// long-running. Default 20s.
	LongRunningAfter time.Duration
	// Faults are injected into data calls. Default: none.
	Faults Faults
	// Sleep waits d or until ctx is done; the call latency and the Bulk API
	// timing wait with it. Default: a timer. Tests with a fake Clock give a
	// Sleep that returns when the fake clock has advanced by d.
	Sleep func(ctx context.Context, d time.Duration) error
	// Seed seeds every random choice (faults, jitter). Default 1 (0 means 1).
	Seed int64
	// Clock is the time source. Default time.Now.
	Clock func() time.Time
	// Logger receives one line per request (never tokens, passwords, keys
	// or record bodies). Default: the zero Logger, which is disabled.
	Logger zerolog.Logger
	// BulkWorkers is the number of goroutines processing Bulk API jobs.
	// Default 2.
	BulkWorkers int
	// MaxCursors bounds the open query cursors; the least recently used one
	// is dropped beyond it. Default 10,000.
	MaxCursors int
	// CursorTTL drops a query cursor unused for that long. Default 15m.
	CursorTTL time.Duration
	// MaxBulkJobBytes bounds one Bulk API upload (after decompression).
	// Default 150 MiB.
	MaxBulkJobBytes int64
	// BulkBatchSize is the number of rows of a Bulk API 2.0 ingest job
	// that Salesforce processes as one internal batch ("Salesforce creates
	// a separate batch for every 10,000 records in your job data"): the
	// unit within which a duplicate key fails every copy. Default 10,000.
	BulkBatchSize int
}

// withDefaults returns c with every unset field given its default.
func (c Config) withDefaults() Config {
	if c.Schema == nil {
		c.Schema = DefaultSchema()
	} else {
		c.Schema = DefaultSchema().Merge(c.Schema)
	}
	if c.ConsumerKey == "" {
		c.ConsumerKey = DefaultConsumerKey
	}
	if c.ClientSecret == "" {
		c.ClientSecret = DefaultClientSecret
	}
	if len(c.Users) == 0 {
		c.Users = []User{{Username: DefaultUsername, Password: DefaultPassword}}
	} else {
		c.Users = append([]User(nil), c.Users...)
	}
	c.PublicKeys = append([]crypto.PublicKey(nil), c.PublicKeys...)
	if c.InstanceURL == "" {
		c.InstanceURL = DefaultInstanceURL
	}
	c.InstanceURL = strings.TrimSuffix(c.InstanceURL, "/")
	if len(c.Audiences) == 0 {
		c.Audiences = []string{LoginURL, TestLoginURL, c.InstanceURL}
	} else {
		c.Audiences = append([]string(nil), c.Audiences...)
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.DailyAPILimit == 0 {
		c.DailyAPILimit = DefaultDailyAPILimit
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = clock.Sleep
	}
	if c.LongRunningAfter == 0 {
		c.LongRunningAfter = DefaultLongRunningAfter
	}
	if c.BulkWorkers == 0 {
		c.BulkWorkers = DefaultBulkWorkers
	}
	if c.MaxCursors == 0 {
		c.MaxCursors = DefaultMaxCursors
	}
	if c.CursorTTL == 0 {
		c.CursorTTL = DefaultCursorTTL
	}
	if c.MaxBulkJobBytes == 0 {
		c.MaxBulkJobBytes = DefaultMaxBulkJobBytes
	}
	if c.BulkBatchSize == 0 {
		c.BulkBatchSize = DefaultBulkBatchSize
	}
	return c
}

// validate reports the first invalid field of a defaulted Config.
func (c Config) validate() error {
	var errs []error
	for i, u := range c.Users {
		if u.Username == "" {
			errs = append(errs, fmt.Errorf("sfsim: Config.Users[%d].Username is empty", i))
		}
	}
	for i, k := range c.PublicKeys {
		if _, ok := k.(*rsa.PublicKey); !ok {
			errs = append(errs, fmt.Errorf("sfsim: Config.PublicKeys[%d] is %T, want *rsa.PublicKey (Salesforce signs with RS256 only)", i, k))
		}
	}
	if u, err := url.Parse(c.InstanceURL); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Path != "" {
		errs = append(errs, fmt.Errorf("sfsim: Config.InstanceURL %q is not a scheme://host[:port] URL", c.InstanceURL))
	}
	if c.SessionTTL < 0 {
		errs = append(errs, errors.New("sfsim: Config.SessionTTL is negative"))
	}
	if c.DailyAPILimit < 0 {
		errs = append(errs, errors.New("sfsim: Config.DailyAPILimit is negative"))
	}
	if c.LongRunningLimit < 0 || c.LongRunningAfter < 0 {
		errs = append(errs, errors.New("sfsim: Config.LongRunningLimit and Config.LongRunningAfter must not be negative"))
	}
	if c.ConcurrentLimit < 0 {
		errs = append(errs, errors.New("sfsim: Config.ConcurrentLimit is negative"))
	}
	if c.BulkWorkers < 0 {
		errs = append(errs, errors.New("sfsim: Config.BulkWorkers is negative"))
	}
	if c.MaxCursors < 0 {
		errs = append(errs, errors.New("sfsim: Config.MaxCursors is negative"))
	}
	if c.CursorTTL < 0 {
		errs = append(errs, errors.New("sfsim: Config.CursorTTL is negative"))
	}
	if c.BulkBatchSize < 0 {
		errs = append(errs, errors.New("sfsim: Config.BulkBatchSize is negative"))
	}
	if c.MaxBulkJobBytes < 0 {
		errs = append(errs, errors.New("sfsim: Config.MaxBulkJobBytes is negative"))
	}
	if err := c.Faults.validate(); err != nil {
		errs = append(errs, fmt.Errorf("sfsim: Config.Faults: %w", err))
	}
	return errors.Join(errs...)
}
