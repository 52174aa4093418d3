// Package console is Kinetic's operator console: a web application, served
// by Kinetic itself, that shows the pipelines (lag, throughput, errors, dead
// letters, paused or refused state), the worker replicas and recent jobs,
// and lets an operator inspect, replay and purge dead letters.
//
// Pages are plain server-rendered HTML (html/template) with SVG charts
// drawn on the server; there is no JavaScript. Everything it knows comes
// from NATS: the records stream's consumers (lag, as KEDA computes it:
// NumPending + NumAckPending), the workers bucket (replicas and the state of
// the pipelines they run), the results stream (throughput, error rates,
// jobs) and the dead-letter stream. Dead-letter actions go through
// pkg/deadletter, exactly as `producer dlq` does.
//
// It is read-only unless write credentials are configured (a token, or a
// user and password, checked with HTTP basic authentication); every POST
// is also checked by http.CrossOriginProtection. See docs/console.md.
package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// Options configures a console. Zero values take the defaults stated.
type Options struct {
	// Topology names the streams and buckets. Its zero value is the default.
	Topology messages.Topology
	// Pipelines is the pipelines file, when given: its pipelines are listed
	// even before they have consumers or results. Optional.
	Pipelines *pipeline.Config
	// WriteToken enables write actions (replay, purge) for requests that
	// present it: "Authorization: Bearer <token>", or as the password of
	// HTTP basic authentication (any user name), which is what a browser
	// prompts for.
	WriteToken string
	// WriteUser and WritePassword enable write actions for requests with
	// these basic-authentication credentials.
	WriteUser, WritePassword string
	// History is how far back results are read at start. Default 24h.
	History time.Duration
	// Refresh is how often the overview and workers pages reload
	// themselves. Default 15s; negative disables.
	Refresh time.Duration
	// MaxDeadLetters bounds how many dead letters one page or action reads.
	// Default 10,000.
	MaxDeadLetters int
	// MaxJobs is how many recent jobs are tracked. Default 500.
	MaxJobs int
	// NATSURL is the server address shown while not connected (with any
	// user, password or token taken out).
	NATSURL string
	// Logger; default disabled.
	Logger zerolog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	o.Topology = o.Topology.WithDefaults()
	if o.History == 0 {
		o.History = 24 * time.Hour
	}
	if o.Refresh == 0 {
		o.Refresh = 15 * time.Second
	}
	if o.MaxDeadLetters == 0 {
		o.MaxDeadLetters = 10000
	}
	if o.MaxJobs == 0 {
		o.MaxJobs = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if (o.WriteUser == "") != (o.WritePassword == "") {
		errs = append(errs, errors.New("console: WriteUser and WritePassword go together"))
	}
	if o.History < 0 {
		errs = append(errs, errors.New("console: History must not be negative"))
	}
	if o.MaxDeadLetters < 0 || o.MaxJobs < 0 {
		errs = append(errs, errors.New("console: MaxDeadLetters and MaxJobs must not be negative"))
	}
	return errors.Join(errs...)
}

// Server is the console. Create it with New, give it a NATS connection
// with Attach (pages say that NATS is unreachable until then), serve
// Handler, and Close it.
type Server struct {
	opts    Options
	log     zerolog.Logger
	pages   *pages
	results *resultsIndex

	conn    atomic.Pointer[conn]
	connErr atomic.Pointer[string]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type conn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// New builds a console. It does not touch NATS.
func New(opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, log: opts.Logger, pages: p, ctx: ctx, cancel: cancel,
		results: newResultsIndex(opts.Topology, opts.History, opts.MaxJobs, opts.Logger, opts.Now),
	}
	return s, nil
}

// Attach gives the console its NATS connection and starts following the
// results stream. The console does not close nc.
func (s *Server) Attach(nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if !s.conn.CompareAndSwap(nil, &conn{nc: nc, js: js}) {
		return errors.New("console: already attached")
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.results.run(s.ctx, js)
	}()
	return nil
}

// SetConnectError records why connecting to NATS fails, for the pages.
// User information in URLs (a user name, or a token as nats://token@host)
// is taken out.
func (s *Server) SetConnectError(err error) {
	msg := userInfo.ReplaceAllString(err.Error(), "//***@")
	s.connErr.Store(&msg)
}

var userInfo = regexp.MustCompile(`//[^/@\s]+@`)

// Close stops following the results stream.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

// WritesEnabled reports whether write credentials are configured.
func (s *Server) WritesEnabled() bool {
	return s.opts.WriteToken != "" || s.opts.WriteUser != ""
}

// js returns the JetStream context, or an error saying why there is none.
func (s *Server) js() (jetstream.JetStream, error) {
	c := s.conn.Load()
	if c == nil {
		if e := s.connErr.Load(); e != nil {
			return nil, errors.New("not connected to NATS: " + *e)
		}
		return nil, fmt.Errorf("not connected to NATS at %s yet", RedactURLs(s.opts.NATSURL))
	}
	if !c.nc.IsConnected() {
		return nil, fmt.Errorf("NATS connection lost (%s); reconnecting", c.nc.Status())
	}
	return c.js, nil
}

// natsStatus is the connection state shown in every page's header.
func (s *Server) natsStatus() (ok bool, text string) {
	c := s.conn.Load()
	switch {
	case c == nil:
		if e := s.connErr.Load(); e != nil {
			return false, "NATS unreachable: " + *e
		}
		return false, "connecting to NATS"
	case c.nc.IsConnected():
		return true, "NATS " + RedactURLs(c.nc.ConnectedUrl())
	default:
		return false, "NATS " + c.nc.Status().String() + ": reconnecting"
	}
}

// authorized reports whether r carries the write credentials.
func (s *Server) authorized(r *http.Request) bool {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	if s.opts.WriteToken != "" {
		if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " && eq(h[7:], s.opts.WriteToken) {
			return true
		}
		if _, p, ok := r.BasicAuth(); ok && eq(p, s.opts.WriteToken) {
			return true
		}
	}
	if s.opts.WriteUser != "" {
		if u, p, ok := r.BasicAuth(); ok && eq(u, s.opts.WriteUser) && eq(p, s.opts.WritePassword) {
			return true
		}
	}
	return false
}

// RedactURLs takes the user information (user, password or token) out of
// comma-separated URLs, for display: nats://user:pass@h:4222 and
// nats://token@h:4222 both become nats://***@h:4222.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		start := 0
		if j := strings.Index(p, "://"); j >= 0 {
			start = j + 3
		}
		if at := strings.LastIndex(p, "@"); at >= start {
			p = p[:start] + "***" + p[at:]
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
