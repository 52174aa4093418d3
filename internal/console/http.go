package console

import (
	"io/fs"
	"net/http"
	"strings"
)

// maxFormBytes bounds a POST body: a confirm form lists at most
// MaxDeadLetters sequence numbers.
const maxFormBytes = 2 << 20

// Handler serves the console:
//
//	GET  /                         overview: one row per pipeline
//	GET  /workers                  worker replicas
//	GET  /jobs                     recent jobs
//	GET  /jobs/{id}                one job's SyncResult
//	GET  /jobs/{id}/success.csv    its loaded records
//	GET  /jobs/{id}/errors.csv     its failed and skipped records
//	GET  /dlq                      dead letters grouped by pipeline and code (filters: pipeline, code, job, q)
//	GET  /dlq/list                 the dead letters of a filter, to pick from
//	GET  /dlq/{seq}                one dead letter, in full
//	GET  /dlq/replay               dry run of a replay, with the confirm button
//	POST /dlq/replay               replay (write credentials)
//	GET  /dlq/purge                what a purge would delete, with the confirm button
//	POST /dlq/purge                purge (write credentials)
//	GET  /healthz                  200 while the process runs
//
// Every POST must pass http.CrossOriginProtection; write actions need the
// write credentials.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleOverview)
	mux.HandleFunc("GET /workers", s.handleWorkers)
	mux.HandleFunc("GET /jobs", s.handleJobs)
	mux.HandleFunc("GET /jobs/{id}", s.handleJob)
	mux.HandleFunc("GET /jobs/{id}/success.csv", s.handleJobCSV)
	mux.HandleFunc("GET /jobs/{id}/errors.csv", s.handleJobCSV)
	mux.HandleFunc("GET /dlq", s.handleDLQGroups)
	mux.HandleFunc("GET /dlq/list", s.handleDLQList)
	mux.HandleFunc("GET /dlq/{seq}", s.handleDLQShow)
	mux.HandleFunc("GET /dlq/replay", s.handleReplayPreview)
	mux.Handle("POST /dlq/replay", s.requireWrite(http.HandlerFunc(s.handleReplay)))
	mux.HandleFunc("GET /dlq/purge", s.handlePurgePreview)
	mux.Handle("POST /dlq/purge", s.requireWrite(http.HandlerFunc(s.handlePurge)))
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".")
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusForbidden, "Cross-origin request refused",
			"This request came from another site (or did not say where it came from), so the console refused it. Use the console's own pages.")
	}))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders sets headers every response carries. The pages run no
// script at all.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// requireWrite lets a request through only when writes are enabled and it
// carries the write credentials.
func (s *Server) requireWrite(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.WritesEnabled() {
			s.renderError(w, r, http.StatusForbidden, "Read-only console",
				"This console is read-only: nothing was changed. Start it with --write-token (KINETIC_CONSOLE_WRITE_TOKEN) or --write-user and --write-password to replay and purge dead letters.")
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Kinetic console write actions", charset="UTF-8"`)
			s.renderError(w, r, http.StatusUnauthorized, "Write credentials needed",
				"Replaying and purging need the console's write credentials: nothing was changed. Sign in with the write user and password, or with the write token as the password.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}

// param reads a trimmed query or form value.
func param(r *http.Request, k string) string { return strings.TrimSpace(r.FormValue(k)) }
