// Package natsconn turns flags and environment variables into a NATS
// connection, the same way for the worker and the producer.
package natsconn

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/cli"
	"github.com/kinetic-sync/kinetic/internal/redact"
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
	// InboxPrefix (NATS_INBOX_PREFIX) replaces _INBOX as the prefix of reply
	// subjects: JetStream acks, API replies and pulled messages arrive there.
	// Give each user its own (e.g. _INBOX_worker) and allow it to subscribe
	// to that prefix only, so that no user can read another's replies.
	InboxPrefix string
	Name        string // connection name shown by the server
	// RetryConnect waits for a server that is not reachable yet instead of
	// failing (a daemon started before its cluster; not a flag).
	RetryConnect bool
}

// DefaultURL is where NATS is looked for when nothing is set.
const DefaultURL = "nats://127.0.0.1:4222"

// RegisterFlags binds c to flags; their defaults come from the environment
// (cli.Env). --help never shows a secret: the password and token flags show
// only their variable, and the URL's default is shown with its credentials
// hidden (a NATS_URL of nats://user:password@host or nats://token@host).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	e := &cli.Env{FS: fs}
	e.URL(&c.URLs, "nats-url", "NATS_URL", DefaultURL, "NATS server `URL`(s), comma-separated")
	e.String(&c.User, "nats-user", "NATS_USER", "", "NATS user")
	e.String(&c.NKeyFile, "nats-nkey", "NATS_NKEY", "", "file with an nkey seed")
	e.String(&c.CredsFile, "nats-creds", "NATS_CREDS", "", "NATS .creds file: user JWT and seed")
	e.String(&c.TLSCert, "nats-tls-cert", "NATS_TLS_CERT", "", "client certificate for mutual TLS")
	e.String(&c.TLSKey, "nats-tls-key", "NATS_TLS_KEY", "", "client key for mutual TLS")
	e.String(&c.TLSCA, "nats-tls-ca", "NATS_TLS_CA", "", "CA bundle that verifies the server")
	e.Secret(&c.Password, "nats-password", "NATS_PASSWORD", "NATS `password`")
	e.Secret(&c.Token, "nats-token", "NATS_TOKEN", "NATS `token`")
	e.String(&c.InboxPrefix, "nats-inbox-prefix", "NATS_INBOX_PREFIX", "", "prefix of reply subjects instead of _INBOX, e.g. _INBOX_worker")
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
// and logs disconnections. extra options go after these (a command that
// must not buffer publishes while reconnecting adds nats.ReconnectBufSize(-1)).
func (c Config) Connect(log zerolog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(c.redactErr(err)).Msg("disconnected from NATS")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			// Not ConnectedUrlRedacted: it shows a token given as the URL's user.
			log.Info().Str("url", redact.URL(nc.ConnectedUrl())).Msg("reconnected to NATS")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn().Err(c.redactErr(err)).Msg("NATS error")
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
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	if c.RetryConnect {
		// A server that is not up yet is waited for, as one that went away
		// later is: the caller sees a connection that is not connected.
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	nc, err := nats.Connect(c.URLs, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redact.URLs(c.URLs), c.redactErr(err))
	}
	return nc, nil
}

// redactErr hides the configured secrets, and credentials in any URL, from
// an error that is going to be printed or logged (a URL that does not parse
// comes back whole in url.Parse's error).
func (c Config) redactErr(err error) error {
	secrets := append([]string{c.Password, c.Token}, strings.Split(c.URLs, ",")...)
	return redact.Error(err, secrets...)
}
