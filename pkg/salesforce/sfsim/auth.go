package sfsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token endpoint constants.
const (
	grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantPassword  = "password"
	// jwtSkew is the clock skew Salesforce allows on exp (and, here, nbf).
	jwtSkew = 3 * time.Minute
	// jwtMaxLife bounds how far ahead exp may be: "The validity must be the
	// expiration time of the assertion within 3 minutes" (Salesforce Help,
	// OAuth 2.0 JWT Bearer Flow). The skew applies on top of it.
	jwtMaxLife = 3 * time.Minute
	// maxTokenBody bounds a token request body.
	maxTokenBody = 64 << 10
	// sessionSweepSize is the session count above which issuing a token
	// first drops expired sessions.
	sessionSweepSize = 1024
)

// session is one access token's state.
type session struct {
	user     *userEntry
	lastUsed atomic.Int64 // unix nanoseconds
}

type userEntry struct {
	User
	id string
}

// sessions holds the issued access tokens.
type sessions struct {
	mu      sync.RWMutex
	byToken map[string]*session
	ttl     time.Duration
	sweepAt int // session count that triggers the next sweep of expired ones
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{byToken: map[string]*session{}, ttl: ttl, sweepAt: sessionSweepSize}
}

func (ss *sessions) issue(u *userEntry, token string, now time.Time) {
	s := &session{user: u}
	s.lastUsed.Store(now.UnixNano())
	ss.mu.Lock()
	if len(ss.byToken) >= ss.sweepAt {
		for t, old := range ss.byToken {
			if now.UnixNano()-old.lastUsed.Load() > int64(ss.ttl) {
				delete(ss.byToken, t)
			}
		}
		// Amortised: the next sweep waits until the map doubles.
		ss.sweepAt = max(sessionSweepSize, 2*len(ss.byToken))
	}
	ss.byToken[token] = s
	ss.mu.Unlock()
}

// check returns the live session of token and marks it used.
func (ss *sessions) check(token string, now time.Time) *session {
	ss.mu.RLock()
	s := ss.byToken[token]
	ss.mu.RUnlock()
	if s == nil {
		return nil
	}
	n := now.UnixNano()
	if n-s.lastUsed.Load() > int64(ss.ttl) {
		ss.mu.Lock()
		delete(ss.byToken, token)
		ss.mu.Unlock()
		return nil
	}
	s.lastUsed.Store(n)
	return s
}

func (ss *sessions) expireAll() {
	ss.mu.Lock()
	ss.byToken = map[string]*session{}
	ss.sweepAt = sessionSweepSize
	ss.mu.Unlock()
}

// tokenError is an OAuth error answer.
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func grantErr(desc string) *tokenError { return &tokenError{Error: "invalid_grant", Description: desc} }

// tokenResponse is the success answer, fields in Salesforce's order.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	Signature   string `json:"signature"`
	Scope       string `json:"scope"`
	InstanceURL string `json:"instance_url"`
	ID          string `json:"id"`
	TokenType   string `json:"token_type"`
	IssuedAt    string `json:"issued_at"`
}

// handleToken serves POST /services/oauth2/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) (int, string) {
	writeJSON := func(status int, v any) (int, string) {
		b, _ := json.Marshal(v)
		h := w.Header()
		h.Set("Content-Type", "application/json;charset=UTF-8")
		h.Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
		w.WriteHeader(status)
		_, _ = w.Write(b)
		if te, ok := v.(*tokenError); ok {
			return status, te.Error
		}
		return status, ""
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return writeJSON(http.StatusMethodNotAllowed, &tokenError{Error: "invalid_request", Description: "must use HTTP POST"})
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if err := r.ParseForm(); err != nil {
		return writeJSON(http.StatusBadRequest, &tokenError{Error: "invalid_request", Description: "invalid request body"})
	}
	var (
		u    *userEntry
		terr *tokenError
	)
	switch r.PostForm.Get("grant_type") {
	case grantJWTBearer:
		u, terr = s.checkAssertion(r.PostForm.Get("assertion"))
	case grantPassword:
		u, terr = s.checkPassword(r.PostForm)
	default:
		terr = &tokenError{Error: "unsupported_grant_type", Description: "grant type not supported"}
	}
	if terr != nil {
		return writeJSON(http.StatusBadRequest, terr)
	}
	now := s.clock()
	token := s.orgID[:15] + "!" + strings.ReplaceAll(rand.Text()+rand.Text(), "=", "")
	s.sessions.issue(u, token, now)
	issued := strconv.FormatInt(now.UnixMilli(), 10)
	idURL := LoginURL + "/id/" + s.orgID + "/" + u.id
	mac := hmac.New(sha256.New, []byte(s.cfg.ClientSecret))
	mac.Write([]byte(idURL + issued))
	instance := s.cfg.InstanceURL
	return writeJSON(http.StatusOK, &tokenResponse{
		AccessToken: token, Signature: base64.StdEncoding.EncodeToString(mac.Sum(nil)), Scope: "api",
		InstanceURL: instance, ID: idURL, TokenType: "Bearer", IssuedAt: issued,
	})
}

func (s *Server) checkPassword(form map[string][]string) (*userEntry, *tokenError) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if !equalSecret(get("client_id"), s.cfg.ConsumerKey) {
		return nil, &tokenError{Error: "invalid_client_id", Description: "client identifier invalid"}
	}
	if !equalSecret(get("client_secret"), s.cfg.ClientSecret) {
		return nil, &tokenError{Error: "invalid_client", Description: "invalid client credentials"}
	}
	u := s.users[strings.ToLower(get("username"))]
	if u == nil || !equalSecret(get("password"), u.Password+u.SecurityToken) {
		return nil, grantErr("authentication failure")
	}
	return u, nil
}

func equalSecret(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// checkAssertion validates a JWT bearer assertion as Salesforce does: RS256
// signed by a trusted key, iss the consumer key, sub a known user, aud
// accepted, exp (number or string) neither past by more than 3 minutes nor
// more than 3 minutes (plus the skew) ahead, nbf not ahead by more than the
// skew.
func (s *Server) checkAssertion(assertion string) (*userEntry, *tokenError) {
	if assertion == "" || len(s.cfg.PublicKeys) == 0 {
		return nil, grantErr("invalid assertion")
	}
	keys := make([]jwt.VerificationKey, len(s.cfg.PublicKeys))
	for i, k := range s.cfg.PublicKeys {
		keys[i] = k
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation(), jwt.WithJSONNumber())
	tok, err := parser.Parse(assertion, func(*jwt.Token) (any, error) {
		return jwt.VerificationKeySet{Keys: keys}, nil
	})
	if err != nil || tok == nil || !tok.Valid {
		return nil, grantErr("invalid assertion")
	}
	claims, ok := tok.Claims.(jwt.MapClaims)
	if !ok {
		return nil, grantErr("invalid assertion")
	}
	if iss, _ := claims["iss"].(string); iss != s.cfg.ConsumerKey {
		return nil, grantErr("client identifier invalid")
	}
	sub, _ := claims["sub"].(string)
	u := s.users[strings.ToLower(sub)]
	if u == nil {
		return nil, grantErr("user hasn't approved this consumer")
	}
	if !s.audienceOK(claims["aud"]) {
		return nil, grantErr("audience is invalid")
	}
	exp, ok := numericClaim(claims["exp"])
	if !ok {
		return nil, grantErr("invalid assertion")
	}
	now := s.clock()
	if float64(now.Add(-jwtSkew).Unix()) > exp || exp > float64(now.Add(jwtMaxLife+jwtSkew).Unix()) {
		return nil, grantErr("expired authorization code")
	}
	if v, present := claims["nbf"]; present {
		nbf, ok := numericClaim(v)
		if !ok {
			return nil, grantErr("invalid assertion")
		}
		if nbf > float64(now.Add(jwtSkew).Unix()) {
			return nil, grantErr("expired authorization code")
		}
	}
	return u, nil
}

func (s *Server) audienceOK(aud any) bool {
	var list []string
	switch a := aud.(type) {
	case string:
		list = []string{a}
	case []any:
		for _, x := range a {
			if str, ok := x.(string); ok {
				list = append(list, str)
			}
		}
	}
	for _, a := range list {
		a = strings.TrimSuffix(a, "/")
		for _, ok := range s.cfg.Audiences {
			if strings.EqualFold(a, strings.TrimSuffix(ok, "/")) {
				return true
			}
		}
	}
	return false
}

// numericClaim reads exp as a JSON number or a string holding one.
func numericClaim(v any) (float64, bool) {
	var str string
	switch x := v.(type) {
	case json.Number:
		str = x.String()
	case string:
		str = strings.TrimSpace(x)
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// bearerToken extracts the access token of "Authorization: Bearer x" (or
// "OAuth x", which Salesforce also accepts).
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	if len(h) > 6 && strings.EqualFold(h[:6], "OAuth ") {
		return strings.TrimSpace(h[6:])
	}
	return ""
}
