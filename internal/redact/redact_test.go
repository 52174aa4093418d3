package redact_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/kinetic-sync/kinetic/internal/redact"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string
		secrets  []string // must not appear in the output
	}{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222", nil},
		{"nats://kinetic:hunter2@nats-1:4222", "nats://kinetic:REDACTED@nats-1:4222", []string{"hunter2"}},
		{"nats://s3cret-token@nats-1:4222", "nats://REDACTED@nats-1:4222", []string{"s3cret-token"}},
		{"nats://:only-pass@host", "nats://:REDACTED@host", []string{"only-pass"}},
		{"tls://u:p%40ss@host:4443", "tls://u:REDACTED@host:4443", []string{"p%40ss", "p@ss"}},
		{"kinetic:hunter2@127.0.0.1:4222", "kinetic:REDACTED@127.0.0.1:4222", []string{"hunter2"}},
		{"tok3n@127.0.0.1:4222", "REDACTED@127.0.0.1:4222", []string{"tok3n"}},
		{"127.0.0.1:4222", "127.0.0.1:4222", nil},
		{"https://sf.example.com/services/oauth2/token?client_secret=abc123&grant_type=password",
			"https://sf.example.com/services/oauth2/token?client_secret=REDACTED&grant_type=REDACTED", []string{"abc123"}},
		{"wss://host/ws?token=zzz999", "wss://host/ws?token=REDACTED", []string{"zzz999"}},
		{"https://host/cb#access_token=frag-secret", "https://host/cb#REDACTED", []string{"frag-secret"}},
		{"https://host/p?", "https://host/p?", nil},
		// Does not parse: the user part and the query still go.
		{"nats://user:pa ss@[::1", "nats://REDACTED@[::1", []string{"pa ss"}},
		{"nats://t0ken@[bad?x=leak", "nats://REDACTED@[bad?REDACTED", []string{"t0ken", "leak"}},
		{"::not a url::", "::not a url::", nil},
		{"", "", nil},
	} {
		got := redact.URL(c.in)
		if got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, s := range c.secrets {
			if strings.Contains(got, s) {
				t.Errorf("URL(%q) = %q shows %q", c.in, got, s)
			}
		}
	}
}

func TestURLs(t *testing.T) {
	t.Parallel()
	got := redact.URLs("nats://a:pw1@n1:4222, nats://tok@n2:4222,nats://n3:4222")
	want := "nats://a:REDACTED@n1:4222,nats://REDACTED@n2:4222,nats://n3:4222"
	if got != want {
		t.Errorf("URLs = %q, want %q", got, want)
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	if redact.Error(nil, "x") != nil {
		t.Error("Error(nil) is not nil")
	}
	cause := errors.New("dial failed")
	plain := fmt.Errorf("connecting: %w", cause)
	if got := redact.Error(plain, "absent-secret"); got != plain { //nolint:errorlint // identity: the same value comes back
		t.Errorf("an error without secrets is returned as it is, got %v", got)
	}

	// A *url.Error carries the whole URL, credentials included.
	_, perr := url.Parse("nats://user:hunter2@[::1") //nolint:staticcheck // SA1007: the invalid URL is the point, for its *url.Error
	wrapped := fmt.Errorf("connecting to NATS: %w", perr)
	got := redact.Error(wrapped)
	if strings.Contains(got.Error(), "hunter2") {
		t.Errorf("url.Error not redacted: %q", got)
	}
	var ue *url.Error
	if !errors.As(got, &ue) {
		t.Errorf("the redacted error does not unwrap to the *url.Error")
	}

	// Known secrets are hidden wherever they appear; URLs by their redacted form.
	err := fmt.Errorf("auth with pw-123456 at nats://t0k3n-abc@host:4222 failed: %w", cause)
	got = redact.Error(err, "pw-123456", "nats://t0k3n-abc@host:4222", "")
	if want := "auth with REDACTED at nats://REDACTED@host:4222 failed: dial failed"; got.Error() != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(got, cause) {
		t.Error("the redacted error does not unwrap to its cause")
	}
}
