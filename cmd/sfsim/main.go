// Command sfsim serves the Salesforce simulator (pkg/salesforce/sfsim) on a
// port, for docker compose, demos and manual tests.
//
// Every flag can also be set with an environment variable SFSIM_<FLAG>, the
// flag name upper-cased with dashes as underscores (SFSIM_ADDR,
// SFSIM_RATE_503, …); a flag on the command line wins. Repeatable flags take
// a comma-separated list in their variable (SFSIM_USER=a@x:pw1,b@x:pw2).
//
// On start it prints the base URL, the token URL, the consumer key, the users
// and how to authenticate, then the line "sfsim listening on <addr>". It stops
// gracefully on SIGINT or SIGTERM. GET /__admin/healthz answers 200 "ok".
package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Defaults of the command.
const (
	defaultAddr     = "127.0.0.1:7080"
	shutdownTimeout = 10 * time.Second
	envPrefix       = "SFSIM_"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sfsim:", err)
		os.Exit(1)
	}
}

// listFlag is a repeatable flag that also splits commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// options are the parsed command line.
type options struct {
	addr, schema, genKey, consumerKey, clientSecret, instanceURL string
	adminToken                                                   string
	publicKeys, users, audiences                                 listFlag
	seed                                                         int64
	faults                                                       sfsim.Faults
	sessionTTL                                                   time.Duration
	dailyLimit, concurrentLimit                                  int
	logLevel, logFormat                                          string
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags reads args, with SFSIM_* variables (from getenv) as defaults.
func parseFlags(args []string, stderr io.Writer, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("sfsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", defaultAddr, "listen address (host:port; port 0 picks a free port)")
	fs.StringVar(&o.schema, "schema", "", "YAML schema `file` merged onto the standard objects")
	fs.Var(&o.publicKeys, "public-key", "PEM public key or certificate `file` trusted for JWT assertions (repeatable or comma list)")
	fs.StringVar(&o.genKey, "gen-key", "", "generate `dir`/server.key and dir/server.pub if absent, and trust server.pub")
	fs.StringVar(&o.consumerKey, "consumer-key", sfsim.DefaultConsumerKey, "connected app consumer key (JWT iss, password-flow client_id)")
	fs.StringVar(&o.clientSecret, "client-secret", sfsim.DefaultClientSecret, "password-flow client_secret")
	fs.Var(&o.users, "user", "user `name:password` (repeatable or comma list; default "+sfsim.DefaultUsername+":"+sfsim.DefaultPassword+")")
	fs.StringVar(&o.instanceURL, "instance-url", "", "the simulator's own base `URL`: instance_url of token responses and an accepted JWT aud (default: http:// and the listen address, 127.0.0.1 for a wildcard host; never a request's Host header)")
	fs.Var(&o.audiences, "audience", "accepted JWT aud `URL` (repeatable or comma list; default "+sfsim.LoginURL+", "+sfsim.TestLoginURL+" and the instance URL)")
	fs.StringVar(&o.adminToken, "admin-token", "", "require \"Authorization: Bearer `token`\" on every admin API call but GET /__admin/healthz (default: none)")
	fs.Int64Var(&o.seed, "seed", sfsim.DefaultSeed, "seed of every random choice")
	fs.DurationVar(&o.faults.Latency, "latency", 0, "latency added to every data call")
	fs.DurationVar(&o.faults.LatencyPerRecord, "latency-per-record", 0, "latency added per record of a data call")
	fs.DurationVar(&o.faults.Jitter, "jitter", 0, "uniform ±jitter on the latency")
	fs.Float64Var(&o.faults.Rate503, "rate-503", 0, "share of data calls answered 503 before doing anything")
	fs.Float64Var(&o.faults.Rate503AfterCommit, "rate-503-after-commit", 0, "share of data calls answered 503 after doing the work")
	fs.Float64Var(&o.faults.LockRowRate, "lock-row-rate", 0, "share of records failing UNABLE_TO_LOCK_ROW")
	fs.DurationVar(&o.sessionTTL, "session-ttl", sfsim.DefaultSessionTTL, "inactivity timeout of an access token")
	fs.IntVar(&o.faults.SessionExpiryEvery, "session-expiry-every", 0, "expire every session after every N data calls (0: never)")
	fs.IntVar(&o.dailyLimit, "daily-limit", sfsim.DefaultDailyAPILimit, "daily API request limit")
	fs.IntVar(&o.concurrentLimit, "concurrent-limit", 0, "concurrent data call limit (0: unlimited)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug (one line per call), info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "console", "log format: json or console")
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " [env " + envName(f.Name) + "]"
	})
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sfsim [flags]\n\nServes the Salesforce simulator: Salesforce REST paths under /services/, the admin API under /__admin/.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.logFormat != "json" && o.logFormat != "console" {
		return nil, fmt.Errorf("--log-format must be json or console, not %q", o.logFormat)
	}
	return o, nil
}

// config builds the simulator Config from the options; it returns the lines
// describing the trusted keys.
func (o *options) config(logger zerolog.Logger, instanceURL string) (sfsim.Config, []string, error) {
	cfg := sfsim.Config{
		ConsumerKey: o.consumerKey, ClientSecret: o.clientSecret, InstanceURL: instanceURL, Seed: o.seed,
		Audiences: o.audiences, AdminToken: o.adminToken,
		Faults: o.faults, SessionTTL: o.sessionTTL, DailyAPILimit: o.dailyLimit, ConcurrentLimit: o.concurrentLimit,
		Logger: logger,
	}
	if o.schema != "" {
		s, err := sfsim.LoadSchemaFile(o.schema)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Schema = s
	}
	for _, u := range o.users {
		name, pw, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return cfg, nil, fmt.Errorf("--user %q: want name:password", name)
		}
		cfg.Users = append(cfg.Users, sfsim.User{Username: name, Password: pw})
	}
	var keyLines []string
	files := append([]string(nil), o.publicKeys...)
	if o.genKey != "" {
		priv, pub, err := ensureKeyPair(o.genKey)
		if err != nil {
			return cfg, nil, err
		}
		files = append(files, pub)
		keyLines = append(keyLines, "private key:   "+priv+" (sign JWT assertions with it)")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return cfg, nil, fmt.Errorf("--public-key: %w", err)
		}
		k, err := sfsim.ParsePublicKeyPEM(data)
		if err != nil {
			return cfg, nil, fmt.Errorf("--public-key %s: %w", file, err)
		}
		cfg.PublicKeys = append(cfg.PublicKeys, crypto.PublicKey(k))
		keyLines = append(keyLines, "trusted key:   "+file)
	}
	return cfg, keyLines, nil
}

// ensureKeyPair creates dir/server.key and dir/server.pub unless the key exists.
func ensureKeyPair(dir string) (privPath, pubPath string, err error) {
	privPath, pubPath = filepath.Join(dir, "server.key"), filepath.Join(dir, "server.pub")
	if _, err := os.Stat(privPath); err == nil {
		if _, err := os.Stat(pubPath); err == nil {
			return privPath, pubPath, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("--gen-key: %w", err)
	}
	priv, pub, err := sfsim.GenerateKeyPair(2048)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(privPath, priv, 0o600); err != nil {
		return "", "", fmt.Errorf("--gen-key: %w", err)
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return "", "", fmt.Errorf("--gen-key: %w", err)
	}
	return privPath, pubPath, nil
}

func newLogger(o *options, stderr io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(o.logLevel)
	if err != nil || o.logLevel == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	var w io.Writer = stderr
	if o.logFormat == "console" {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.RFC3339, NoColor: true}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// run serves until ctx is done. It is main without the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr, os.Getenv)
	if err != nil {
		return err
	}
	logger, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	// The instance URL comes from the configuration, never from a
	// request's Host header: --instance-url, else the listen address.
	base := strings.TrimSuffix(o.instanceURL, "/")
	if base == "" {
		base = "http://" + displayAddr(ln.Addr().String())
	}
	cfg, keyLines, err := o.config(logger, base)
	if err != nil {
		return err
	}
	sim, err := sfsim.New(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 30 * time.Second}
	printBanner(stdout, base, cfg, keyLines)
	fmt.Fprintf(stdout, "sfsim listening on %s\n", ln.Addr())
	logger.Info().Str("addr", ln.Addr().String()).Msg("sfsim listening")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info().Msg("sfsim shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// displayAddr turns a wildcard listen address into one a client can use.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func printBanner(w io.Writer, base string, cfg sfsim.Config, keyLines []string) {
	consumer := cfg.ConsumerKey
	if consumer == "" {
		consumer = sfsim.DefaultConsumerKey
	}
	users := []string{sfsim.DefaultUsername}
	if len(cfg.Users) > 0 {
		users = users[:0]
		for _, u := range cfg.Users {
			users = append(users, u.Username)
		}
	}
	token := base + "/services/oauth2/token"
	fmt.Fprintf(w, "sfsim: Salesforce simulator\n")
	fmt.Fprintf(w, "  base URL:      %s (instance URL and login URL)\n", base)
	fmt.Fprintf(w, "  token URL:     %s\n", token)
	fmt.Fprintf(w, "  REST API:      %s/services/data/v%d.0/\n", base, sfsim.MaxAPIVersion)
	admin := "no token"
	if cfg.AdminToken != "" {
		admin = "needs Authorization: Bearer <admin token>"
	}
	fmt.Fprintf(w, "  admin API:     %s/__admin/ (healthz, reset, count, records, stats, faults, limits, schema; writes need Content-Type: application/json; %s)\n", base, admin)
	fmt.Fprintf(w, "  consumer key:  %s\n", consumer)
	fmt.Fprintf(w, "  users:         %s\n", strings.Join(users, ", "))
	for _, l := range keyLines {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if len(keyLines) == 0 {
		fmt.Fprintf(w, "  JWT flow:      off (no --public-key or --gen-key)\n")
	}
	fmt.Fprintf(w, "\nJWT bearer flow: sign these claims with RS256 (exp = now + a few minutes, number or string):\n")
	aud := sfsim.LoginURL
	if len(cfg.Audiences) > 0 {
		aud = cfg.Audiences[0]
	}
	fmt.Fprintf(w, "  {\"iss\":%q,\"sub\":%q,\"aud\":%q,\"exp\":<unix seconds, at most 3 minutes ahead>}\n", consumer, users[0], aud)
	fmt.Fprintf(w, "  curl -s %s -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer -d assertion=$JWT\n", token)
	fmt.Fprintf(w, "Password flow (password followed by the security token, if any):\n")
	fmt.Fprintf(w, "  curl -s %s -d grant_type=password -d client_id=%s -d client_secret=<client secret> -d username=%s -d password=<password>\n",
		token, consumer, users[0])
	fmt.Fprintf(w, "Then: curl -s -H \"Authorization: Bearer $TOKEN\" %s/services/data/v%d.0/limits\n\n", base, sfsim.MaxAPIVersion)
}
