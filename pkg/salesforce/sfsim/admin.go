package sfsim

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxAdminBody bounds an admin request body.
const maxAdminBody = 8 << 20

// adminGuard refuses admin requests that a browser could send cross-site or
// that lack the admin token: with Config.AdminToken set, every call but GET
// /__admin/healthz needs "Authorization: Bearer <token>" (401 otherwise);
// every write (POST, PUT, PATCH, DELETE) needs a JSON content type (415
// otherwise; the schema upload also takes YAML types). HTML forms can only
// send application/x-www-form-urlencoded, multipart/form-data or
// text/plain without a CORS preflight, and the admin API answers no
// preflight, so it cannot be driven from another site.
func (s *Server) adminGuard(w http.ResponseWriter, r *http.Request, path string) bool {
	if tok := s.cfg.AdminToken; tok != "" && path != "healthz" {
		if !equalSecret(bearerToken(r), tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sfsim admin"`)
			adminError(w, http.StatusUnauthorized, errors.New("admin API: missing or wrong bearer token"))
			return false
		}
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		ok := err == nil && mt == "application/json"
		if path == "schema" && err == nil {
			ok = ok || mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml"
		}
		if !ok {
			want := "application/json"
			if path == "schema" {
				want = "application/json, application/yaml, application/x-yaml or text/yaml"
			}
			adminError(w, http.StatusUnsupportedMediaType, errors.New("admin API: "+r.Method+" /__admin/"+path+" needs Content-Type "+want))
			return false
		}
	}
	return true
}

// serveAdmin serves /__admin/…: JSON, errors as {"error":"…"}.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/__admin"), "/")
	if !s.adminGuard(w, r, path) {
		return
	}
	seg := strings.Split(path, "/")
	m := r.Method
	switch {
	case path == "healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	case path == "reset" && m == http.MethodPost:
		s.Reset()
		adminJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case seg[0] == "count" && len(seg) <= 2 && m == http.MethodGet:
		counts := s.Counts()
		if len(seg) == 2 {
			c, err := s.Count(seg[1])
			if err != nil {
				adminError(w, http.StatusNotFound, err)
				return
			}
			st := s.org.cat.Load().store(seg[1])
			counts = map[string]ObjectCount{st.def.Load().name: c}
		}
		adminJSON(w, http.StatusOK, counts)
	case seg[0] == "records" && len(seg) == 2 && m == http.MethodGet:
		b := s.bufs.get()
		defer s.bufs.put(b)
		var err error
		b.b, err = s.appendAdminRecords(b.b, seg[1], r.URL.Query().Get("deleted") == "true")
		if err != nil {
			adminError(w, http.StatusNotFound, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b.b)
	case path == "stats" && m == http.MethodGet:
		adminJSON(w, http.StatusOK, s.Stats())
	case path == "stats/reset" && m == http.MethodPost:
		s.ResetStats()
		adminJSON(w, http.StatusOK, s.Stats())
	case path == "faults" && m == http.MethodGet:
		adminJSON(w, http.StatusOK, s.Faults())
	case path == "faults" && m == http.MethodPut:
		var f Faults
		if err := readAdminJSON(r, &f); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		if err := s.SetFaults(f); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, s.Faults())
	case path == "limits" && m == http.MethodGet:
		adminJSON(w, http.StatusOK, s.Limits())
	case path == "limits" && m == http.MethodPut:
		// Absent keys keep their value; api_usage changes only when given.
		var in struct {
			DailyAPILimit   *int   `json:"daily_api_limit"`
			ConcurrentLimit *int   `json:"concurrent_limit"`
			APIUsage        *int64 `json:"api_usage"`
		}
		if err := readAdminJSON(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		l := s.Limits()
		if in.DailyAPILimit != nil {
			l.DailyAPILimit = *in.DailyAPILimit
		}
		if in.ConcurrentLimit != nil {
			l.ConcurrentLimit = *in.ConcurrentLimit
		}
		err := s.SetLimits(l)
		if err == nil && in.APIUsage != nil {
			err = s.SetAPIUsage(*in.APIUsage)
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, s.Limits())
	case path == "sessions/expire" && m == http.MethodPost:
		s.ExpireSessions()
		adminJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case path == "schema" && m == http.MethodGet:
		adminJSON(w, http.StatusOK, s.Schema())
	case path == "schema" && m == http.MethodPut:
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		sch, err := decodeSchema(data)
		if err == nil {
			err = s.ApplySchema(sch)
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		adminJSON(w, http.StatusOK, s.Schema())
	default:
		adminError(w, http.StatusNotFound, errors.New("no admin call "+m+" /__admin/"+path))
	}
}

func readAdminJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		adminError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func adminError(w http.ResponseWriter, status int, err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
