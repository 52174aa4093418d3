// Package natsconn turns flags and environment variables into a NATS
// connection, the same way for the worker and the producer.
package natsconn

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Config is how to reach NATS. Each field has a flag --nats-… whose default
// comes from the environment variable named in its help.
type Config struct {
	URLs      string // comma-separated server URLs (NATS_URL; default nats://127.0.0.1:4222)
	User      string // NATS_USER
	Password  string // NATS_PASSWORD
	Token     string // NATS_TOKEN
	NKeyFile  string // NATS_NKEY: file holding an nkey seed
	CredsFile string // NATS_CREDS: a .creds file (JWT + seed)
	TLSCert   string // NATS_TLS_CERT: client certificate (mutual TLS)
	TLSKey    string // NATS_TLS_KEY
	TLSCA     string // NATS_TLS_CA: CA bundle to verify the server
	Name      string // connection name shown by the server
	// RetryConnect waits for a server that is not reachable yet instead of
	// failing (a daemon started before its cluster; not a flag).
	RetryConnect bool
}

// DefaultURL is where NATS is looked for when nothing is set.
const DefaultURL = "nats://127.0.0.1:4222"

// RegisterFlags binds c to flags; their defaults come from the environment.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.URLs, "nats-url", env("NATS_URL", DefaultURL), "NATS server URL(s), comma-separated (env NATS_URL)")
	fs.StringVar(&c.User, "nats-user", env("NATS_USER", ""), "NATS user (env NATS_USER)")
	fs.StringVar(&c.NKeyFile, "nats-nkey", env("NATS_NKEY", ""), "file with an nkey seed (env NATS_NKEY)")
	fs.StringVar(&c.CredsFile, "nats-creds", env("NATS_CREDS", ""), "NATS .creds file: user JWT and seed (env NATS_CREDS)")
	fs.StringVar(&c.TLSCert, "nats-tls-cert", env("NATS_TLS_CERT", ""), "client certificate for mutual TLS (env NATS_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "nats-tls-key", env("NATS_TLS_KEY", ""), "client key for mutual TLS (env NATS_TLS_KEY)")
	fs.StringVar(&c.TLSCA, "nats-tls-ca", env("NATS_TLS_CA", ""), "CA bundle that verifies the server (env NATS_TLS_CA)")
	// Secrets: defaults from the environment, never printed by --help.
	c.Password = os.Getenv("NATS_PASSWORD")
	c.Token = os.Getenv("NATS_TOKEN")
	fs.Func("nats-password", "NATS password (env NATS_PASSWORD)", func(v string) error { c.Password = v; return nil })
	fs.Func("nats-token", "NATS token (env NATS_TOKEN)", func(v string) error { c.Token = v; return nil })
}

// Validate checks combinations that cannot work.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.URLs) == "" {
		errs = append(errs, errors.New("nats-url (NATS_URL): required"))
	}
	n := 0
	for _, set := range []bool{c.User != "" || c.Password != "", c.Token != "", c.NKeyFile != "", c.CredsFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		errs = append(errs, errors.New("nats credentials: use one of user/password, token, nkey or creds"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("nats-tls-cert and nats-tls-key go together"))
	}
	return errors.Join(errs...)
}

// Connect connects with reconnects forever (a worker outlives NATS restarts)
// and logs disconnections.
func (c Config) Connect(log zerolog.Logger) (*nats.Conn, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("disconnected from NATS")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("reconnected to NATS")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn().Err(err).Msg("NATS error")
		}),
	}
	switch {
	case c.User != "" || c.Password != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats-nkey: %w", err)
		}
		opts = append(opts, o)
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.RetryConnect {
		// A server that is not up yet is waited for, as one that went away
		// later is: the caller sees a connection that is not connected.
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	nc, err := nats.Connect(c.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURLs(c.URLs), err)
	}
	return nc, nil
}

// redactURLs hides the passwords of comma-separated URLs, for messages.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
