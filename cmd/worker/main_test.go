package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe to write from run's goroutines while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runSync runs the command to completion.
func runSync(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// running is the command running in the background until stop.
type running struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func start(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- run(ctx, args, &r.stdout, &r.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(40 * time.Second):
			t.Error("worker did not stop")
		}
	})
	return r
}

// stop cancels the context (SIGTERM) and returns the exit code.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return code
	case <-time.After(40 * time.Second):
		t.Fatal("worker did not stop within 40s of its context ending")
		return -1
	}
}

// exited fails the test if the command has already returned.
func (r *running) exited(t *testing.T) {
	t.Helper()
	select {
	case code := <-r.done:
		r.done <- code
		t.Fatalf("worker exited with %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout.String(), r.stderr.String())
	default:
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, 40*time.Second, what, cond)
}

// logField finds the first JSON log line with message msg and returns field.
func logField(log, msg, field string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["message"] == msg {
			if v, ok := rec[field].(string); ok {
				return v
			}
		}
	}
	return ""
}

func httpGet(url string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHelpNamesEveryFlagsEnvironmentVariable(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runSync(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	help := stdout + stderr
	if !strings.Contains(help, "worker --pipelines FILE") || !strings.Contains(help, "worker --dev") {
		t.Errorf("usage missing:\n%s", help)
	}
	flags := map[string]string{}
	name := ""
	for _, line := range strings.Split(help, "\n") {
		if m := regexp.MustCompile(`^  -([a-z0-9-]+)`).FindStringSubmatch(line); m != nil {
			name = m[1]
			flags[name] = line
		} else if name != "" && strings.HasPrefix(line, "    ") {
			flags[name] += " " + line
		}
	}
	want := map[string]string{
		"pipelines": "KINETIC_PIPELINES", "pipeline": "KINETIC_PIPELINE", "concurrency": "KINETIC_CONCURRENCY",
		"prefix": "KINETIC_PREFIX", "stream-replicas": "KINETIC_STREAM_REPLICAS", "metrics-addr": "KINETIC_METRICS_ADDR",
		"log-level": "KINETIC_LOG_LEVEL", "log-format": "KINETIC_LOG_FORMAT", "shutdown-timeout": "KINETIC_SHUTDOWN_TIMEOUT",
		"id": "KINETIC_WORKER_ID", "check": "KINETIC_CHECK", "dev": "KINETIC_DEV", "dev-nats-port": "KINETIC_DEV_NATS_PORT",
		"dev-sf-addr": "KINETIC_DEV_SF_ADDR", "dev-schema": "KINETIC_DEV_SCHEMA", "dev-store": "KINETIC_DEV_STORE",
		"nats-url": "NATS_URL", "nats-user": "NATS_USER", "nats-password": "NATS_PASSWORD", "nats-token": "NATS_TOKEN",
		"nats-nkey": "NATS_NKEY", "nats-creds": "NATS_CREDS", "nats-tls-cert": "NATS_TLS_CERT", "nats-tls-key": "NATS_TLS_KEY",
		"nats-tls-ca":  "NATS_TLS_CA",
		"sf-login-url": "SF_LOGIN_URL", "sf-client-id": "SF_CLIENT_ID", "sf-username": "SF_USERNAME",
		"sf-private-key-file": "SF_PRIVATE_KEY_FILE", "sf-auth-flow": "SF_AUTH_FLOW", "sf-audience": "SF_AUDIENCE",
		"sf-api-version": "SF_API_VERSION", "sf-timeout": "SF_TIMEOUT", "sf-max-concurrency": "SF_MAX_CONCURRENCY",
		"sf-client-secret": "SF_CLIENT_SECRET", "sf-password": "SF_PASSWORD",
	}
	for f, env := range want {
		text, ok := flags[f]
		if !ok {
			t.Errorf("--help does not list --%s", f)
			continue
		}
		if !strings.Contains(text, "env "+env) {
			t.Errorf("--%s: help %q does not name %s", f, strings.TrimSpace(text), env)
		}
	}
	for f, text := range flags {
		if !regexp.MustCompile(`env (KINETIC|NATS|SF)_[A-Z0-9_]+`).MatchString(text) {
			t.Errorf("--%s names no KINETIC_, NATS_ or SF_ variable: %q", f, strings.TrimSpace(text))
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--pipelines (KINETIC_PIPELINES): required"},
		{[]string{"--metrics-addr", ""}, "--pipelines (KINETIC_PIPELINES): required"},
		{[]string{"--pipelines", "p.yaml", "extra"}, "unexpected arguments"},
		{[]string{"--pipelines", "p.yaml", "--stream-replicas", "9"}, "--stream-replicas (KINETIC_STREAM_REPLICAS): 9 is out of range"},
		{[]string{"--pipelines", "p.yaml", "--concurrency", "-1"}, "--concurrency (KINETIC_CONCURRENCY)"},
		{[]string{"--pipelines", "p.yaml", "--prefix", "a.b"}, "--prefix (KINETIC_PREFIX)"},
		{[]string{"--pipelines", "p.yaml", "--shutdown-timeout", "0s"}, "--shutdown-timeout"},
		{[]string{"--pipelines", "p.yaml", "--log-level", "chatty"}, `"chatty"`},
		{[]string{"--pipelines", "p.yaml", "--log-format", "xml"}, `"xml"`},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--concurrency", "many"}, "many"},
	} {
		code, _, stderr := runSync(t, c.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", c.args, code, stderr)
			continue
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("%v: stderr %q does not contain %q", c.args, stderr, c.want)
		}
	}
	// Every problem at once, not one per run.
	_, _, stderr := runSync(t, "--stream-replicas", "0", "--concurrency", "99")
	for _, want := range []string{"--pipelines", "--stream-replicas", "--concurrency"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("combined errors %q lack %s", stderr, want)
		}
	}
}

func TestBadEnvironment(t *testing.T) {
	t.Setenv("KINETIC_CONCURRENCY", "abc")
	t.Setenv("KINETIC_SHUTDOWN_TIMEOUT", "forever")
	code, _, stderr := runSync(t, "--pipelines", "testdata/pipelines.yaml")
	if code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, stderr)
	}
	for _, want := range []string{`KINETIC_CONCURRENCY="abc"`, "not a whole number", `KINETIC_SHUTDOWN_TIMEOUT="forever"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not contain %q", stderr, want)
		}
	}
}

func TestEnvironmentConfigures(t *testing.T) {
	t.Setenv("KINETIC_PIPELINES", "testdata/no-such-file.yaml")
	t.Setenv("KINETIC_METRICS_ADDR", "")
	// The variable names the file: the run fails on that file (exit 1), not on a missing flag.
	code, _, stderr := runSync(t, "--log-format", "json")
	if code != 1 || !strings.Contains(stderr, "no-such-file.yaml") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// --dev: embedded NATS and simulator, the example pipelines; it prints where
// they are, serves /readyz, loads a record, and exits 0 when its context ends.
func TestDevMode(t *testing.T) {
	t.Parallel()
	port := testutil.FreePort(t)
	r := start(t, "--dev", "--dev-nats-port", fmt.Sprint(port), "--dev-sf-addr", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0", "--dev-schema", "../../examples/schema.yaml",
		"--pipelines", "../../examples/pipelines.yaml", "--dev-store", t.TempDir(), "--log-format", "json", "--id", "dev-worker")
	waitFor(t, "the dev environment banner", func() bool {
		r.exited(t)
		return strings.Contains(r.stdout.String(), "Publish from another terminal")
	})
	out := r.stdout.String()
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	if !strings.Contains(out, "NATS JetStream:        "+natsURL) {
		t.Errorf("banner does not give the NATS URL %s:\n%s", natsURL, out)
	}
	simURL := regexp.MustCompile(`Salesforce simulator:\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	if simURL == nil {
		t.Fatalf("banner does not give the simulator URL:\n%s", out)
	}
	if code, body := httpGet(simURL[1] + "/__admin/healthz"); code != 200 {
		t.Errorf("simulator at %s: %d %s", simURL[1], code, body)
	}
	// The banner says "publish": by then the streams exist, so a producer
	// started on reading it finds them (it once came before them).
	nc, js := devenv.ConnectTest(t, natsURL)
	if _, err := js.Stream(context.Background(), messages.Topology{}.WithDefaults().RecordsStream()); err != nil {
		t.Errorf("the banner came before the records stream: %v", err)
	}
	var addr string
	waitFor(t, "the metrics address in the log", func() bool {
		r.exited(t)
		addr = logField(r.stderr.String(), "serving /metrics, /healthz and /readyz", "addr")
		return addr != ""
	})
	waitFor(t, "/readyz 200", func() bool {
		r.exited(t)
		code, _ := httpGet("http://" + addr + "/readyz")
		return code == 200
	})
	if code, body := httpGet("http://" + addr + "/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz %d %q", code, body)
	}
	if code, body := httpGet("http://" + addr + "/metrics"); code != 200 || !strings.Contains(body, "kinetic_") {
		t.Errorf("/metrics %d, no kinetic_ metrics", code)
	}

	// It works: a record published to the embedded NATS lands in the simulator.
	res := publishAndWait(t, nc, messages.Topology{}, "dev-job", `{"ext_id":"DEV-1","company":"Dev Co","status":"Active"}`)
	if res.SuccessCount != 1 {
		t.Fatalf("dev record: %v %+v", res.SyncResult, res.Outcomes)
	}

	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d after the context ended\n%s", code, r.stderr.String())
	}
	// Everything it started is gone: the NATS port is free again.
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("NATS port still in use after exit: %v", err)
	} else {
		ln.Close()
	}
}

// publishAndWait publishes one record as job and follows the job.
func publishAndWait(t *testing.T, nc *nats.Conn, topo messages.Topology, job, record string) *jobs.Result {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := messages.NewPublisher(js, messages.PublisherOptions{})
	if _, err := pub.Publish(ctx, topo.Subjects().Records("Account", "upsert"), []byte(record), messages.RecordMeta{Job: job, Seq: 1, MsgID: job + "-1"}); err != nil {
		t.Fatal(err)
	}
	res, err := jobs.Watch(ctx, js, jobs.Options{Topology: topo, Job: job, Total: 1})
	if err != nil {
		t.Fatalf("job %s: %v", job, err)
	}
	return res
}

// A production-style run: NATS and Salesforce from flags (the JWT bearer
// flow with a key file), a custom prefix; it processes a published record.
func TestRunAgainstNATSAndSalesforce(t *testing.T) {
	t.Parallel()
	ns := devenv.StartTestNATS(t)
	schema, err := sfsim.ParseSchema([]byte("objects:\n  - name: Account\n    fields:\n      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sim := sfsim.StartTest(t, sfsim.Config{Schema: schema})
	keyFile := filepath.Join(t.TempDir(), "server.key")
	if err := os.WriteFile(keyFile, sim.PrivateKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--pipelines", "testdata/pipelines.yaml", "--nats-url", ns.ClientURL(), "--prefix", "acme",
		"--sf-login-url", sim.URL, "--sf-allow-http", "--sf-client-id", sim.ClientID, "--sf-username", sim.Username,
		"--sf-private-key-file", keyFile, "--metrics-addr", "", "--id", "flag-worker", "--log-format", "json",
		"--shutdown-timeout", "5s")
	nc, js := ns.ConnectTest(t)
	topo := messages.Topology{Prefix: "acme"}
	waitFor(t, "the worker to create its streams", func() bool {
		r.exited(t)
		_, err := js.Stream(context.Background(), "ACME_RESULTS")
		return err == nil && strings.Contains(r.stderr.String(), "worker running")
	})
	res := publishAndWait(t, nc, topo, "flag-job", `{"key":"F-1","company":"Flag Co"}`)
	if res.SuccessCount != 1 || res.Outcomes[0].ID == "" || !res.Outcomes[0].Created {
		t.Fatalf("record: %v %+v", res.SyncResult, res.Outcomes)
	}
	got, err := sim.Server.Records("Account")
	if err != nil || len(got) != 1 || got[0]["Name"] != "Flag Co" || got[0]["External_Key__c"] != "F-1" {
		t.Errorf("org holds %v (%v)", got, err)
	}
	if !strings.Contains(r.stderr.String(), `"worker":"flag-worker"`) {
		t.Errorf("the log does not name the worker id:\n%s", r.stderr.String())
	}
	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d\n%s", code, r.stderr.String())
	}
}

// A worker that cannot start (a bad key, no pipelines file) fails with exit
// 1 and says why. (NATS not being there yet is not such a failure:
// TestWaitsForNATS.)
func TestRunStartFailures(t *testing.T) {
	t.Parallel()
	unreachable := fmt.Sprintf("nats://127.0.0.1:%d", testutil.FreePort(t))
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"bad private key", []string{"--sf-private-key-file", "testdata/pipelines.yaml"}, "private key"},
		{"missing pipelines file", []string{"--pipelines", "testdata/none.yaml", "--sf-auth-flow", "password", "--sf-client-secret", "s", "--sf-password", "p"}, "testdata/none.yaml"},
	} {
		args := append([]string{"--pipelines", "testdata/pipelines.yaml", "--nats-url", unreachable,
			"--sf-login-url", "http://127.0.0.1:1", "--sf-allow-http", "--sf-client-id", "x", "--sf-username", "u",
			"--metrics-addr", "", "--log-format", "json"}, c.args...)
		code, _, stderr := runSync(t, args...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1: %s", c.name, code, stderr)
			continue
		}
		if logField(stderr, "worker failed", "error") == "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: stderr %q should log \"worker failed\" with %q", c.name, stderr, c.want)
		}
	}
}

// A worker started before NATS waits for it, never exits: /healthz says it
// lives, /readyz says why it is not ready, and once a server answers on
// the URL it sets up and runs.
func TestWaitsForNATS(t *testing.T) {
	t.Parallel()
	natsPort, metricsPort := testutil.FreePort(t), testutil.FreePort(t)
	metrics := fmt.Sprintf("http://127.0.0.1:%d", metricsPort)
	r := start(t, append(simArgs(t), "--pipelines", "testdata/pipelines.yaml", "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", natsPort),
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metricsPort), "--log-format", "json")...)
	var body string
	waitFor(t, "the worker to serve /readyz, not ready, saying why", func() bool {
		r.exited(t)
		var code int
		code, body = httpGet(metrics + "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "not ready: ") && strings.Contains(body, "not connected to NATS")
	})
	if code, _ := httpGet(metrics + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d while waiting for NATS, want 200", code)
	}
	ns, err := devenv.StartNATS(devenv.NATSOptions{Port: natsPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	waitFor(t, "the worker to become ready once NATS is up", func() bool {
		r.exited(t)
		code, _ := httpGet(metrics + "/readyz")
		return code == http.StatusOK
	})
	_, body = httpGet(metrics + "/metrics")
	if !regexp.MustCompile(`kinetic_setup_attempts_total\{result="ok"\} 1`).MatchString(body) || !strings.Contains(body, "kinetic_worker_ready 1") {
		t.Errorf("metrics do not show the set-up:\n%s", grepLines(body, "kinetic_setup_attempts_total", "kinetic_worker_ready"))
	}
	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d\n%s", code, r.stderr.String())
	}
}

// A configuration the operator must change (three stream replicas on a
// single server) is not waited out: the worker exits 1 and says what to
// change.
func TestPermanentSetupErrorExits(t *testing.T) {
	t.Parallel()
	ns := devenv.StartTestNATS(t)
	code, _, stderr := runSync(t, append(simArgs(t), "--pipelines", "testdata/pipelines.yaml", "--nats-url", ns.ClientURL(), "--stream-replicas", "3",
		"--metrics-addr", "", "--log-format", "json")...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	if msg := logField(stderr, "worker failed", "error"); !strings.Contains(msg, "--stream-replicas 1") {
		t.Errorf("the error should say what to change; got %q", msg)
	}
}

func grepLines(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// simArgs starts a simulator for the test and returns the worker flags that
// reach it (JWT bearer flow, as in production).
func simArgs(t *testing.T) []string {
	t.Helper()
	schema, err := sfsim.ParseSchema([]byte("objects:\n  - name: Account\n    fields:\n      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sim := sfsim.StartTest(t, sfsim.Config{Schema: schema})
	keyFile := filepath.Join(t.TempDir(), "server.key")
	if err := os.WriteFile(keyFile, sim.PrivateKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--sf-login-url", sim.URL, "--sf-allow-http", "--sf-client-id", sim.ClientID, "--sf-username", sim.Username, "--sf-private-key-file", keyFile}
}

// --check checks the pipelines against the org's describe without NATS:
// exit 0 and "ok" when they fit; exit 1 naming the pipeline, the mapping
// key and the field when one does not.
func TestCheck(t *testing.T) {
	t.Parallel()
	schema, err := sfsim.ParseSchema([]byte("objects:\n  - name: Account\n    fields:\n      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sim := sfsim.StartTest(t, sfsim.Config{Schema: schema})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "server.key")
	if err := os.WriteFile(keyFile, sim.PrivateKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`pipelines:
  - name: accounts
    sobject: Account
    mode: upsert
    external_id_field: External_Key__c
    mapping: {key: External_Key__c, company: Name}
  - name: tiers
    sobject: Account
    mode: insert
    mapping: {tier: Foo__c}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	sf := []string{"--sf-login-url", sim.URL, "--sf-allow-http", "--sf-client-id", sim.ClientID, "--sf-username", sim.Username,
		"--sf-private-key-file", keyFile, "--metrics-addr", "", "--nats-url", "nats://127.0.0.1:1", "--check"}

	code, stdout, stderr := runSync(t, append([]string{"--pipelines", "testdata/pipelines.yaml"}, sf...)...)
	if code != 0 || !strings.Contains(stdout, "accounts (Account upsert): ok") || !strings.Contains(stdout, "every pipeline fits") {
		t.Fatalf("good file: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runSync(t, append([]string{"--pipelines", bad}, sf...)...)
	if code != 1 || !strings.Contains(stdout, "accounts (Account upsert): ok") || !strings.Contains(stdout, "tiers (Account insert): 1 problem") ||
		!strings.Contains(stdout, "Foo__c") || !strings.Contains(stdout, "tier") || !strings.Contains(stdout, "check failed") {
		t.Fatalf("bad file: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runSync(t, append([]string{"--pipelines", bad, "--pipeline", "accounts"}, sf...)...)
	if code != 0 || strings.Contains(stdout, "tiers") {
		t.Fatalf("--pipeline accounts: exit %d\n%s", code, stdout)
	}
}
