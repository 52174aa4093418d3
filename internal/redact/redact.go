// Package redact hides credentials in URLs and error messages before they
// are printed, logged or shown as a flag's default in --help.
//
// Every credential form a URL can carry is hidden:
//
//	nats://user:pass@host      → nats://user:REDACTED@host  (the user name stays: it says who connects)
//	nats://s3cret-token@host   → nats://REDACTED@host       (a user part alone is a token to NATS)
//	https://host/p?token=x&a=1 → https://host/p?a=REDACTED&token=REDACTED
//	https://host/p#access=x    → https://host/p#REDACTED
//
// Query strings are hidden whole (keys stay, every value goes): no URL
// Kinetic prints needs one, and a rule that guessed which names are secret
// would miss some.
package redact

import (
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Mask replaces a hidden value.
const Mask = "REDACTED"

// URL returns raw with its credentials hidden. A URL without a scheme
// ("user:pass@host:4222", which NATS accepts) and one that does not parse
// are redacted too: then everything between the scheme and the last '@'
// before the path, and everything after '?' or '#', is hidden.
func URL(raw string) string {
	s := strings.TrimSpace(raw)
	if s == "" {
		return raw
	}
	schemeless := !strings.Contains(s, "://")
	parse := s
	if schemeless {
		parse = "x://" + s
	}
	u, err := url.Parse(parse)
	if err != nil || u.Opaque != "" {
		return fallback(s)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else {
			u.User = url.User(Mask)
		}
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = Mask, ""
	}
	out := u.String()
	if schemeless {
		out = strings.TrimPrefix(out, "x://")
	}
	return out
}

// URLs redacts a comma-separated list of URLs (NATS_URL's form).
func URLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = URL(p)
	}
	return strings.Join(parts, ",")
}

func redactQuery(q string) string {
	if q == "" {
		return ""
	}
	var keys []string
	seen := map[string]bool{}
	for _, kv := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		} else {
			k = Mask // a key that does not decode may be the secret itself
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	v := url.Values{}
	for _, k := range keys {
		v.Set(k, Mask)
	}
	return v.Encode()
}

// userinfoRE finds a URL's user information in text that does not parse:
// after "scheme://" (or at the start), up to the last '@' before a path.
var userinfoRE = regexp.MustCompile(`^((?:[A-Za-z][A-Za-z0-9+.-]*://)?)[^/?#]*@`)

func fallback(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i+1] + Mask
	}
	return userinfoRE.ReplaceAllString(s, "${1}"+Mask+"@")
}

// Error returns err with every occurrence of the given secrets (passwords,
// tokens, URLs holding credentials) hidden from its message. URLs among the
// secrets are replaced by their redacted form, other secrets by Mask; a
// *url.Error anywhere in the chain has its URL redacted. The result unwraps
// to err, so errors.Is and errors.As still see the cause; print the result,
// never what it unwraps to. It returns nil for a nil err.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		msg = strings.ReplaceAll(msg, ue.URL, URL(ue.URL))
	}
	// Longest first, so that a URL is replaced before a password inside it.
	ss := append([]string(nil), secrets...)
	sort.Slice(ss, func(i, j int) bool { return len(ss[i]) > len(ss[j]) })
	for _, s := range ss {
		if strings.TrimSpace(s) == "" {
			continue
		}
		repl := Mask
		if strings.Contains(s, "://") || strings.Contains(s, "@") {
			repl = URLs(s)
		}
		msg = strings.ReplaceAll(msg, s, repl)
	}
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
