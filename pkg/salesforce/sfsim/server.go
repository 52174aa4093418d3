package sfsim

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
	"github.com/rs/zerolog"
)

// Path prefixes.
const (
	dataPrefix  = "/services/data/"
	tokenPath   = "/services/oauth2/token"
	adminPrefix = "/__admin/"
	// MaxAPIVersion is the newest version GET /services/data/ lists.
	MaxAPIVersion = 66
	// MinAPIVersion is the oldest version GET /services/data/ lists.
	MinAPIVersion = 31
	// maxJSONBody bounds a JSON request body.
	maxJSONBody = 64 << 20
)

// Server is the simulator: an http.Handler serving the Salesforce paths and
// the admin API. Create it with New and stop it with Close.
type Server struct {
	cfg         Config
	startSchema *compiledSchema
	log         zerolog.Logger
	clock       func() time.Time

	orgID    string
	users    map[string]*userEntry
	ids      *idGen
	org      *org
	sessions *sessions
	faults   *faultState
	limits   *limitState
	stats    *statsState
	cursors  *cursorStore
	bulk     *bulkManager

	dataCalls atomic.Int64 // for Faults.SessionExpiryEvery
	bufs      bufferPool
	mux       *http.ServeMux // top level: versions, token, admin, data
	dataMux   *http.ServeMux // data calls, on "/{ver}/…" (routes.go)

	closeOnce sync.Once
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New builds a simulator from cfg (defaults filled in, then validated) and
// starts its bulk workers. Close stops them.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	schema, err := compileSchema(cfg.Schema)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, startSchema: schema, log: cfg.Logger, clock: cfg.Clock,
		ids: newIDGen(), users: map[string]*userEntry{},
		sessions: newSessions(cfg.SessionTTL), faults: newFaultState(cfg.Faults, cfg.Seed),
		limits: newLimitState(cfg.DailyAPILimit, cfg.ConcurrentLimit, cfg.LongRunningLimit, cfg.LongRunningAfter), stats: newStatsState(),
	}
	s.orgID = makeID(prefixOrg, 1)
	for i, u := range cfg.Users {
		lower := strings.ToLower(u.Username)
		if s.users[lower] != nil {
			return nil, fmt.Errorf("sfsim: Config.Users[%d]: username %q given twice", i, u.Username)
		}
		s.users[lower] = &userEntry{User: u, id: makeID(prefixUser, uint64(i+1))}
	}
	s.org = newOrg(schema, s.ids, cfg.Clock)
	s.cursors = newCursorStore(cfg.MaxCursors, cfg.CursorTTL, cfg.Clock, s.ids)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.bulk = newBulkManager(s, cfg.BulkWorkers)
	s.mux, s.dataMux = s.routes()
	return s, nil
}

// Close stops the bulk workers and waits for them. It does not close
// listeners: the caller owns the http.Server. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel() // the bulk workers stop at their next chunk
		s.wg.Wait()
	})
	return nil
}

// apiError is a call-level error, answered as a JSON array
// [{"message","errorCode","fields"}].
type apiError struct {
	status  int
	code    string
	message string
	fields  []string
	// noFields leaves "fields" out, as Salesforce does for errors of its
	// JSON reader (JSON_PARSER_ERROR, an unknown field).
	noFields bool
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newAPIError(status int, code, message string, fields ...string) *apiError {
	return &apiError{status: status, code: code, message: message, fields: fields}
}

func errNotFound() *apiError {
	return newAPIError(http.StatusNotFound, codeNotFound, "The requested resource does not exist")
}

func errMethod(method string, allowed ...string) *apiError {
	return newAPIError(http.StatusMethodNotAllowed, codeMethodNotAllowed,
		"HTTP Method '"+method+"' not allowed. Allowed are "+strings.Join(allowed, ","))
}

func errFromRec(status int, e *recErr) *apiError {
	return &apiError{status: status, code: e.code, message: e.message, fields: e.fields}
}

// call is one data call in progress.
type call struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	ver     string // "v65.0"
	verNum  float64
	cat     *catalog
	sess    *session
	st      callStats
	latRecs float64 // records for LatencyPerRecord

	faults Faults

	status      int
	body        *buffer
	contentType string
	gzipOK      bool

	start    time.Time
	recorded bool // stats recorded (before the answer is written)
}

// record counts the call in the stats and logs it, once. It runs before the
// answer is written, so a client that reads the stats after an answer sees
// its call.
func (c *call) record() {
	if c.recorded {
		return
	}
	c.recorded = true
	c.s.stats.record(&c.st)
	c.s.logCall(c.r, &c.st, c.start)
}

// ServeHTTP routes Salesforce paths and the admin API (routes.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Server) logCall(r *http.Request, cs *callStats, start time.Time) {
	if e := s.log.Debug(); e.Enabled() {
		e.Str("method", r.Method).Str("path", r.URL.Path).Str("kind", cs.kind).Int("status", cs.status).
			Str("sf_code", cs.code).Int64("records", cs.records).Dur("took", time.Since(start)).Msg("sfsim call")
	}
}

// writeErrorArray answers e as Salesforce's error array.
func writeErrorArray(w http.ResponseWriter, e *apiError, limitInfo []byte) {
	var arr [512]byte
	body := appendErrorArray(arr[:0], e)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	if limitInfo != nil {
		h.Set("Sforce-Limit-Info", string(limitInfo))
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

func appendErrorArray(b []byte, e *apiError) []byte {
	b = append(b, `[{"message":`...)
	b = jsontext.AppendStringHTML(b, e.message)
	b = append(b, `,"errorCode":`...)
	b = jsontext.AppendStringHTML(b, e.code)
	if !e.noFields {
		b = append(b, `,"fields":`...)
		b = appendStrings(b, e.fields)
	}
	return append(b, "}]"...)
}

// parseVersion reads "v65.0".
func parseVersion(seg string) (float64, bool) {
	if len(seg) < 4 || seg[0] != 'v' || !strings.HasSuffix(seg, ".0") {
		return 0, false
	}
	n, err := strconv.Atoi(seg[1 : len(seg)-2])
	if err != nil || n < 1 || n > 999 {
		return 0, false
	}
	return float64(n), true
}

// serveData runs one data call: version (vNN.0, else 404) → session (401)
// → session-expiry fault → concurrent and daily limits (403) → one API
// request counted → 503 fault → the handler fn → latency → 503-after-commit
// fault → answer. kind is the stats kind until fn sets its own.
func (s *Server) serveData(w http.ResponseWriter, r *http.Request, fn func(c *call) *apiError) {
	c := &call{s: s, w: w, r: r, ver: r.PathValue("ver"), st: callStats{kind: "other"}, start: time.Now()}
	defer c.record() // answers that wrote nothing (client gone)
	var ok bool
	if c.verNum, ok = parseVersion(c.ver); !ok {
		c.fail(errNotFound())
		return
	}
	c.sess = s.sessions.check(bearerToken(r), s.clock())
	if c.sess == nil {
		c.fail(newAPIError(http.StatusUnauthorized, codeInvalidSessionID, "Session expired or invalid"))
		return
	}
	faults := s.faults.get()
	c.faults = faults
	if every := faults.SessionExpiryEvery; every > 0 && s.dataCalls.Add(1)%int64(every) == 0 {
		// Every N-th data call finds every session expired.
		s.sessions.expireAll()
		c.fail(newAPIError(http.StatusUnauthorized, codeInvalidSessionID, "Session expired or invalid"))
		return
	}
	if !s.limits.acquire() {
		c.fail(newAPIError(http.StatusForbidden, codeRequestLimitExceeded, "ConcurrentRequests (Concurrent API Requests) Limit exceeded."))
		return
	}
	defer s.limits.release()
	tok, ok := s.limits.admit(s.clock())
	if !ok {
		c.fail(newAPIError(http.StatusForbidden, codeRequestLimitExceeded, "ConcurrentRequests (Concurrent API Requests) Limit exceeded."))
		return
	}
	defer s.limits.leave(tok)
	if !s.limits.spend() {
		c.fail(newAPIError(http.StatusForbidden, codeRequestLimitExceeded, "TotalRequests Limit exceeded."))
		return
	}
	if s.faults.chance(faults.Rate503) {
		c.fail(newAPIError(http.StatusServiceUnavailable, codeServerUnavailable, "Server is unavailable"))
		return
	}
	c.cat = s.org.cat.Load()
	c.body = s.bufs.get()
	defer s.bufs.put(c.body)
	if err := fn(c); err != nil {
		c.fail(err)
		return
	}
	if d := s.faults.latency(faults, c.latRecs); d > 0 {
		if s.cfg.Sleep(r.Context(), d) != nil {
			c.st.status = 499 // client went away; nothing to write
			return
		}
	}
	if s.faults.chance(faults.Rate503AfterCommit) {
		c.fail(newAPIError(http.StatusServiceUnavailable, codeServerUnavailable, "Server is unavailable"))
		return
	}
	c.flush()
}

// lockFault returns the per-record UNABLE_TO_LOCK_ROW draw, nil when off.
func (c *call) lockFault() func() bool {
	rate := c.faults.LockRowRate
	if rate <= 0 {
		return nil
	}
	return func() bool { return c.s.faults.chance(rate) }
}

// fail answers an error array; it counts the code in the stats.
func (c *call) fail(e *apiError) {
	c.st.status, c.st.code = e.status, e.code
	c.record()
	var li []byte
	var arr [48]byte
	li = c.s.limits.appendLimitInfo(arr[:0])
	writeErrorArray(c.w, e, li)
}

// flush writes the response prepared by a handler.
func (c *call) flush() {
	h := c.w.Header()
	var arr [48]byte
	h.Set("Sforce-Limit-Info", string(c.s.limits.appendLimitInfo(arr[:0])))
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	c.st.status = status
	c.record()
	if status == http.StatusNoContent {
		c.w.WriteHeader(status)
		return
	}
	ct := c.contentType
	if ct == "" {
		ct = "application/json;charset=UTF-8"
	}
	h.Set("Content-Type", ct)
	if c.gzipOK && acceptsGzip(c.r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		c.w.WriteHeader(status)
		zw := gzip.NewWriter(c.w)
		_, _ = zw.Write(c.body.b)
		_ = zw.Close()
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(c.body.b)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(c.body.b)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(name, "gzip") {
			return true
		}
	}
	return false
}

// readBody reads the request body, inflating gzip, up to limit bytes.
func (c *call) readBody(limit int64) ([]byte, *apiError) {
	var rd io.Reader = http.MaxBytesReader(c.w, c.r.Body, limit)
	if strings.EqualFold(c.r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, newAPIError(http.StatusBadRequest, codeJSONParserError, "request body is not valid gzip")
		}
		defer zr.Close()
		rd = io.LimitReader(zr, limit+1)
	}
	data, err := io.ReadAll(rd)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(data)) > limit {
		return nil, newAPIError(http.StatusRequestEntityTooLarge, "REQUEST_ENTITY_TOO_LARGE", "request body too large")
	}
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, codeJSONParserError, "could not read the request body")
	}
	return data, nil
}

// serveVersions answers GET /services/data/ (no auth, no limit header).
func (s *Server) serveVersions(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cs := callStats{kind: "versions", status: http.StatusOK}
	record := func() {
		s.stats.record(&cs)
		s.logCall(r, &cs, start)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		e := errMethod(r.Method, "GET", "HEAD")
		cs.status, cs.code = e.status, e.code
		record()
		writeErrorArray(w, e, nil)
		return
	}
	record()
	b := s.bufs.get()
	defer s.bufs.put(b)
	b.b = append(b.b, '[')
	for v := MinAPIVersion; v <= MaxAPIVersion; v++ {
		if v > MinAPIVersion {
			b.b = append(b.b, ',')
		}
		b.b = append(b.b, `{"label":`...)
		b.b = jsontext.AppendStringHTML(b.b, releaseName(v))
		b.b = append(b.b, `,"url":"/services/data/v`...)
		b.b = strconv.AppendInt(b.b, int64(v), 10)
		b.b = append(b.b, `.0","version":"`...)
		b.b = strconv.AppendInt(b.b, int64(v), 10)
		b.b = append(b.b, `.0"}`...)
	}
	b.b = append(b.b, ']')
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_, _ = w.Write(b.b)
}

// releaseName maps an API version to its release: 63 Spring '25, 64 Summer
// '25, 65 Winter '26, and so on three a year.
func releaseName(v int) string {
	k := v - 63
	season := ((k % 3) + 3) % 3
	year := 25 + floorDiv(k, 3)
	name := [...]string{"Spring", "Summer", "Winter"}[season]
	if season == 2 {
		year++
	}
	return fmt.Sprintf("%s '%02d", name, year)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// limitsInfo answers GET /limits.
func (c *call) limitsInfo() *apiError {
	l := c.s.limits.get()
	remaining := int64(l.DailyAPILimit) - l.APIUsage
	if remaining < 0 {
		remaining = 0
	}
	b := c.body.b
	b = append(b, `{"DailyApiRequests":{"Max":`...)
	b = appendInt(b, int64(l.DailyAPILimit))
	b = append(b, `,"Remaining":`...)
	b = appendInt(b, remaining)
	b = append(b, "}}"...)
	c.body.b = b
	return nil
}
