package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startRun runs the command in-process and returns its base URL once it
// printed the listening line, plus the whole banner.
func startRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("run did not stop")
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr)
	}()
	var banner strings.Builder
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("run ended before listening; output:\n%s", banner.String())
			}
			banner.WriteString(line + "\n")
			if addr, found := strings.CutPrefix(line, "sfsim listening on "); found {
				go func() {
					for range lines {
					}
				}()
				return "http://" + addr, banner.String()
			}
		case <-timeout:
			t.Fatalf("no listening line; output so far:\n%s", banner.String())
		}
	}
}

func TestRunServesTokenAndCreate(t *testing.T) {
	dir := t.TempDir()
	base, banner := startRun(t, "--addr", "127.0.0.1:0", "--gen-key", dir, "--user", "ops@example.com:s3cret",
		"--consumer-key", "ck-test")
	for _, want := range []string{"token URL:     " + base + "/services/oauth2/token", "consumer key:  ck-test",
		"users:         ops@example.com", "grant_type=password", `"iss":"ck-test"`} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, "s3cret") {
		t.Errorf("banner shows the password:\n%s", banner)
	}

	// Health check.
	resp, err := http.Get(base + "/__admin/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}

	// Password flow.
	resp, err = http.PostForm(base+"/services/oauth2/token", url.Values{"grant_type": {"password"},
		"client_id": {"ck-test"}, "client_secret": {sfsim.DefaultClientSecret},
		"username": {"ops@example.com"}, "password": {"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if tok.InstanceURL != base {
		t.Errorf("instance_url %q, want %q", tok.InstanceURL, base)
	}

	// JWT flow with the generated key.
	keyPEM, err := os.ReadFile(filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := sfsim.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": "ck-test",
		"sub": "ops@example.com", "aud": sfsim.LoginURL, "exp": time.Now().Add(time.Minute).Unix()}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.PostForm(base+"/services/oauth2/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("jwt token: %d", resp.StatusCode)
	}

	// Create a record.
	req, _ := http.NewRequest("POST", base+"/services/data/v66.0/sobjects/Account",
		strings.NewReader(`{"Name":"Acme"}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID      string `json:"id"`
		Success bool   `json:"success"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || !created.Success || !strings.HasPrefix(created.ID, "001") || len(created.ID) != 18 {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	if li := resp.Header.Get("Sforce-Limit-Info"); li != "api-usage=1/5000000" {
		t.Errorf("Sforce-Limit-Info %q", li)
	}
	n, err := sfsim.NewAdminClient(base, nil).Count(context.Background(), "Account")
	if err != nil || n.Live != 1 {
		t.Fatalf("admin count: %+v %v", n, err)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestParseFlagsEnvAndErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SFSIM_ADDR": ":9999", "SFSIM_RATE_503": "0.25", "SFSIM_USER": "a@x:1,b@x:2",
		"SFSIM_LATENCY": "150ms"}
	o, err := parseFlags([]string{"--latency", "20ms"}, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != ":9999" || o.faults.Rate503 != 0.25 || len(o.users) != 2 || o.users[1] != "b@x:2" {
		t.Errorf("env not applied: %+v", o)
	}
	if o.faults.Latency != 20*time.Millisecond {
		t.Errorf("command line should win over env: latency %v", o.faults.Latency)
	}
	if _, err := parseFlags([]string{"--log-format", "xml"}, io.Discard, func(string) string { return "" }); err == nil {
		t.Error("bad --log-format accepted")
	}
	if _, err := parseFlags(nil, io.Discard, func(k string) string {
		if k == "SFSIM_SEED" {
			return "notanumber"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "SFSIM_SEED") {
		t.Errorf("bad env value: %v", err)
	}
	var help strings.Builder
	if _, err := parseFlags([]string{"--help"}, &help, func(string) string { return "" }); err == nil {
		t.Error("--help returned no error")
	}
	if !strings.Contains(help.String(), "SFSIM_LATENCY_PER_RECORD") {
		t.Errorf("--help does not show env names:\n%s", help.String())
	}
}

func TestRunRejectsBadSchema(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(file, []byte("objects:\n  - name: X__c\n    fields:\n      - {name: A__c, type: money}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--schema", file}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown type "money"`) {
		t.Fatalf("run: %v", err)
	}
}

func TestRunInstanceURLAudienceAndAdminToken(t *testing.T) {
	dir := t.TempDir()
	base, banner := startRun(t, "--addr", "127.0.0.1:0", "--gen-key", dir, "--instance-url", "http://sfsim:7080/",
		"--audience", "http://sfsim:7080", "--admin-token", "tok-1")
	if !strings.Contains(banner, "base URL:      http://sfsim:7080") || !strings.Contains(banner, "Authorization: Bearer <admin token>") {
		t.Errorf("banner:\n%s", banner)
	}
	if strings.Contains(banner, "tok-1") {
		t.Errorf("banner shows the admin token:\n%s", banner)
	}
	// base is the listening address; the token answers with the configured instance URL.
	resp, err := http.PostForm(base+"/services/oauth2/token", url.Values{"grant_type": {"password"},
		"client_id": {sfsim.DefaultConsumerKey}, "client_secret": {sfsim.DefaultClientSecret},
		"username": {sfsim.DefaultUsername}, "password": {sfsim.DefaultPassword}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		InstanceURL string `json:"instance_url"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.InstanceURL != "http://sfsim:7080" {
		t.Errorf("instance_url %q", tok.InstanceURL)
	}
	// Only the configured audience is accepted.
	keyPEM, err := os.ReadFile(filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := sfsim.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for aud, want := range map[string]int{"http://sfsim:7080": 200, sfsim.LoginURL: 400, base: 400} {
		a, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": sfsim.DefaultConsumerKey,
			"sub": sfsim.DefaultUsername, "aud": aud, "exp": time.Now().Add(time.Minute).Unix()}).SignedString(key)
		resp, err := http.PostForm(base+"/services/oauth2/token", url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {a}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("aud %s: %d, want %d", aud, resp.StatusCode, want)
		}
	}
	// The admin token guards the admin API.
	ctx := context.Background()
	if _, err := sfsim.NewAdminClient(base, nil).Counts(ctx); err == nil {
		t.Error("admin call without the token succeeded")
	}
	if _, err := sfsim.NewAdminClient(base, nil, sfsim.WithAdminToken("tok-1")).Counts(ctx); err != nil {
		t.Errorf("admin call with the token: %v", err)
	}
	if err := sfsim.NewAdminClient(base, nil).Healthz(ctx); err != nil {
		t.Errorf("healthz: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}
