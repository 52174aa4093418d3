package salesforce_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestJWTBearerAuthenticatesOnceAndSharesTheToken(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": fmt.Sprint("A", i)})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Reauthentications(); got != 1 {
		t.Errorf("token requests = %d, want 1 shared by 20 goroutines", got)
	}
	if got := env.Server.Stats().CallsByKind["token"]; got != 1 {
		t.Errorf("simulator saw %d token calls, want 1", got)
	}
	inst, err := c.InstanceURL(ctx)
	if err != nil || inst != env.URL {
		t.Errorf("InstanceURL = %q, %v; want %q", inst, err, env.URL)
	}
}

func TestReauthenticatesOnceOnExpiredSessionUnderConcurrency(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	if _, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": "first"}); err != nil {
		t.Fatal(err)
	}
	env.Server.ExpireSessions()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Insert(ctx, "Account", []salesforce.Record{{"Name": fmt.Sprint("B", i)}}); err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d calls failed after session expiry, first: %v", len(failed), failed[0])
	}
	if got := c.Reauthentications(); got != 2 {
		t.Errorf("token requests = %d, want 2 (initial + one single-flight refresh for 32 goroutines)", got)
	}
	if got := env.Server.Stats().ErrorsByCode["INVALID_SESSION_ID"]; got < 1 {
		t.Errorf("simulator reported %d INVALID_SESSION_ID answers, want at least 1", got)
	}
	if n := liveCount(t, env, "Account"); n != 33 {
		t.Errorf("accounts = %d, want 33", n)
	}
}

func TestSessionExpiryFaultEveryNCalls(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{Faults: sfsim.Faults{SessionExpiryEvery: 3}})
	ctx := ctxT(t)
	for i := 0; i < 10; i++ {
		if _, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": fmt.Sprint("S", i)}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := liveCount(t, env, "Account"); got != 10 {
		t.Errorf("accounts = %d, want 10", got)
	}
	if c.Reauthentications() < 3 {
		t.Errorf("token requests = %d, want at least 3 with sessions expiring every 3 calls", c.Reauthentications())
	}
}

func TestAuthErrorsNameTheCause(t *testing.T) {
	t.Parallel()
	env := sfsim.StartTest(t, sfsim.Config{})
	otherKey, _, err := sfsim.GenerateKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mod  func(*salesforce.Config)
		desc string
	}{
		{"unknown consumer key", func(c *salesforce.Config) { c.ClientID = "nope" }, ""},
		{"unknown user", func(c *salesforce.Config) { c.Username = "ghost@example.com" }, ""},
		{"wrong audience", func(c *salesforce.Config) { c.Audience = "https://evil.example.com" }, "audience"},
		{"untrusted key", func(c *salesforce.Config) { c.PrivateKey = string(otherKey) }, ""},
		{"bad password", func(c *salesforce.Config) {
			c.PrivateKey, c.Flow, c.ClientSecret, c.Password = "", salesforce.FlowPassword, env.ClientSecret, "wrong"
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := salesforce.New(clientConfig(env, tc.mod))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.CreateRecord(ctxT(t), "Account", salesforce.Record{"Name": "x"})
			var ae *salesforce.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *AuthError", err)
			}
			if ae.HTTPStatus != 400 || ae.Code != "invalid_grant" || ae.Description == "" {
				t.Errorf("AuthError = %+v, want 400 invalid_grant with a description", ae)
			}
			if tc.desc != "" && !strings.Contains(ae.Description, tc.desc) {
				t.Errorf("description %q does not name %q", ae.Description, tc.desc)
			}
			if got := salesforce.Classify(err); got != salesforce.ClassAuth {
				t.Errorf("Classify = %v, want auth", got)
			}
		})
	}
}

func TestPasswordFlow(t *testing.T) {
	t.Parallel()
	env := sfsim.StartTest(t, sfsim.Config{})
	c, err := salesforce.New(clientConfig(env, func(c *salesforce.Config) {
		c.PrivateKey, c.ClientSecret, c.Password = "", env.ClientSecret, env.Password
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Config().Flow != salesforce.FlowPassword {
		t.Fatalf("flow = %q, want password (chosen because a password and no key are set)", c.Config().Flow)
	}
	res, err := c.CreateRecord(ctxT(t), "Account", salesforce.Record{"Name": "pw"})
	if err != nil || !res.Success || !salesforce.ValidID(res.ID) {
		t.Fatalf("create with password flow: %+v, %v", res, err)
	}
}

func TestTokenStringRedactsTheAccessToken(t *testing.T) {
	t.Parallel()
	tok := &salesforce.Token{AccessToken: "00Dxx!SECRET", InstanceURL: "https://x.my.salesforce.com"}
	if s := fmt.Sprint(tok); strings.Contains(s, "SECRET") {
		t.Errorf("Token printed its access token: %s", s)
	}
}
