package salesforce

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"

	"github.com/kinetic-sync/kinetic/internal/redact"
)

// Token is an access token and where to use it.
type Token struct {
	AccessToken string `json:"access_token"`
	InstanceURL string `json:"instance_url"`
	ID          string `json:"id"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	IssuedAt    string `json:"issued_at"`
}

// String hides the access token, so a Token can never be logged by accident.
func (t *Token) String() string {
	return "Token{instance_url: " + t.InstanceURL + ", access_token: <redacted>}"
}

// Authenticator obtains a new access token from the OAuth token endpoint.
type Authenticator interface {
	Authenticate(ctx context.Context, hc *http.Client) (*Token, error)
}

// JWTBearer is the OAuth 2.0 JWT bearer flow: an RS256-signed assertion with
// iss (consumer key), sub (username), aud (login URL) and exp is exchanged
// for an access token. No client secret is sent and no refresh token comes
// back: a new assertion is signed whenever a token is needed.
type JWTBearer struct {
	LoginURL string
	ClientID string
	Username string
	Audience string
	Key      *rsa.PrivateKey
	// Lifetime of the assertion. Salesforce allows 3 minutes of clock skew
	// and recommends short assertions. Default 3m.
	Lifetime time.Duration
	Clock    func() time.Time
	// AllowHTTP lets LoginURL be plain http:// (a development simulator).
	AllowHTTP bool
}

// Assertion signs the JWT that Authenticate sends.
func (j *JWTBearer) Assertion() (string, error) {
	now := time.Now
	if j.Clock != nil {
		now = j.Clock
	}
	life := j.Lifetime
	if life == 0 {
		life = 3 * time.Minute
	}
	if j.Key == nil {
		return "", errors.New("no private key")
	}
	if bits := j.Key.N.BitLen(); bits < MinRSAKeyBits {
		return "", &WeakKeyError{Bits: bits}
	}
	claims := jwt.MapClaims{
		"iss": j.ClientID,
		"sub": j.Username,
		"aud": j.Audience,
		"exp": now().Add(life).Unix(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(j.Key)
}

// Authenticate implements Authenticator.
func (j *JWTBearer) Authenticate(ctx context.Context, hc *http.Client) (*Token, error) {
	assertion, err := j.Assertion()
	if err != nil {
		return nil, fmt.Errorf("salesforce: sign JWT assertion: %w", err)
	}
	form := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {assertion},
	}
	return requestToken(ctx, hc, j.LoginURL, j.AllowHTTP, form)
}

// WeakKeyError is an RSA key too short to sign JWT assertions: fewer than
// MinRSAKeyBits (2048) bits, which NIST has not allowed since 2013 and a
// determined attacker can factor.
type WeakKeyError struct{ Bits int }

func (e *WeakKeyError) Error() string {
	return fmt.Sprintf("the RSA key has %d bits; at least %d are required", e.Bits, MinRSAKeyBits)
}

// PasswordFlow is the OAuth 2.0 username-password flow, for development.
// Password is the user's password with the security token appended.
type PasswordFlow struct {
	LoginURL     string
	ClientID     string
	ClientSecret string
	Username     string
	Password     string
	// AllowHTTP lets LoginURL be plain http:// (a development simulator).
	AllowHTTP bool
}

// Authenticate implements Authenticator.
func (p *PasswordFlow) Authenticate(ctx context.Context, hc *http.Client) (*Token, error) {
	form := url.Values{
		"grant_type":    {"password"},
		"client_id":     {p.ClientID},
		"client_secret": {p.ClientSecret},
		"username":      {p.Username},
		"password":      {p.Password},
	}
	return requestToken(ctx, hc, p.LoginURL, p.AllowHTTP, form)
}

// maxTokenResponseBytes caps a token endpoint answer: a token response or
// an OAuth error is well under 2 KiB.
const maxTokenResponseBytes = 64 << 10

func requestToken(ctx context.Context, hc *http.Client, loginURL string, allowHTTP bool, form url.Values) (*Token, error) {
	if err := checkURL(loginURL, allowHTTP); err != nil {
		return nil, fmt.Errorf("salesforce: token request: login URL %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(loginURL, "/")+"/services/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("salesforce: token request: %w", redact.Error(err, loginURL))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("salesforce: token request: %w", redact.Error(err, loginURL))
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, "oauth.token", maxTokenResponseBytes)
	var tooLarge *ResponseTooLargeError
	if err != nil && (!errors.As(err, &tooLarge) || resp.StatusCode == http.StatusOK) {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		ae := &AuthError{HTTPStatus: resp.StatusCode}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err == nil && json.Unmarshal(body, &e) == nil && e.Error != "" {
			ae.Code, ae.Description = e.Error, e.Description
		} else {
			ae.Code, ae.Description = "unexpected_response", http.StatusText(resp.StatusCode)
		}
		return nil, ae
	}
	var tok Token
	if err := json.Unmarshal(body, &tok); err != nil {
		return nil, fmt.Errorf("salesforce: token response: %w", err)
	}
	if tok.AccessToken == "" || tok.InstanceURL == "" {
		return nil, &AuthError{HTTPStatus: resp.StatusCode, Code: "unexpected_response", Description: "token response lacks access_token or instance_url"}
	}
	tok.InstanceURL = strings.TrimRight(tok.InstanceURL, "/")
	return &tok, nil
}

// tokenCache holds the current token, shared by every goroutine of a Client.
// Refreshes are single-flight: however many goroutines see a 401 at once,
// one token request is made and all of them use its answer.
type tokenCache struct {
	auth    Authenticator
	hc      *http.Client
	timeout time.Duration
	current atomic.Pointer[Token]
	group   singleflight.Group
	fetches atomic.Int64 // token requests made, for tests and stats
	onFetch func(time.Duration, error)
	// allowHTTP accepts an http:// instance URL (Config.AllowHTTP).
	allowHTTP bool
}

// get returns the cached token, authenticating if there is none.
func (t *tokenCache) get(ctx context.Context) (*Token, error) {
	if tok := t.current.Load(); tok != nil {
		return tok, nil
	}
	return t.refresh(ctx, nil)
}

// refresh replaces stale with a new token. If another goroutine already
// replaced it, that token is returned without a new request.
func (t *tokenCache) refresh(ctx context.Context, stale *Token) (*Token, error) {
	ch := t.group.DoChan("token", func() (any, error) {
		if cur := t.current.Load(); cur != nil && cur != stale {
			return cur, nil
		}
		// The request outlives any single caller's cancellation: other
		// goroutines wait on the same answer.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
		defer cancel()
		start := time.Now()
		tok, err := t.auth.Authenticate(fctx, t.hc)
		t.fetches.Add(1)
		if t.onFetch != nil {
			t.onFetch(time.Since(start), err)
		}
		if err != nil {
			return nil, err
		}
		// The access token goes to the instance with every call: never to
		// a plain http:// one (unless allowed), nor to a URL that is not one.
		if err := checkURL(tok.InstanceURL, t.allowHTTP); err != nil {
			return nil, &AuthError{HTTPStatus: http.StatusOK, Code: "insecure_instance_url",
				Description: "the token endpoint's instance_url " + err.Error()}
		}
		t.current.Store(tok)
		return tok, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Token), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// newAuthenticator builds the Authenticator a defaulted, valid Config names.
func newAuthenticator(c Config) (Authenticator, error) {
	switch c.Flow {
	case FlowPassword:
		return &PasswordFlow{LoginURL: c.LoginURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Username: c.Username, Password: c.Password, AllowHTTP: c.AllowHTTP}, nil
	default:
		pemBytes := []byte(c.PrivateKey)
		if len(pemBytes) == 0 {
			b, err := os.ReadFile(c.PrivateKeyFile)
			if err != nil {
				return nil, fmt.Errorf("salesforce config: PrivateKeyFile: %w", err)
			}
			pemBytes = b
		}
		key, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("salesforce config: private key: not a PEM RSA private key (PKCS#1 or PKCS#8): %w", err)
		}
		if bits := key.N.BitLen(); bits < MinRSAKeyBits {
			return nil, fmt.Errorf("salesforce config: private key: %w", &WeakKeyError{Bits: bits})
		}
		return &JWTBearer{LoginURL: c.LoginURL, ClientID: c.ClientID, Username: c.Username, Audience: c.Audience, Key: key, Clock: c.Clock, AllowHTTP: c.AllowHTTP}, nil
	}
}
