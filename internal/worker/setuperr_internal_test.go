package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// TestSetupErrorTable runs one case per row of the set-up error table: an
// API error with the row's JetStream code is classified as the row says,
// and the row names the nats-server constant of that code (errors.json of
// the nats-server module this project builds with).
func TestSetupErrorTable(t *testing.T) {
	t.Parallel()
	constants := serverErrorConstants(t)
	seen := map[jetstream.ErrorCode]bool{}
	for _, r := range setupRules {
		t.Run(fmt.Sprintf("%d_%s", r.code, r.constant), func(t *testing.T) {
			if seen[r.code] {
				t.Fatalf("code %d appears twice in the table", r.code)
			}
			seen[r.code] = true
			if got := constants[uint16(r.code)]; got != r.constant {
				t.Errorf("nats-server calls code %d %q, the table says %q", r.code, got, r.constant)
			}
			err := fmt.Errorf("worker: stream KINETIC_RECORDS: %w", &jetstream.APIError{ErrorCode: r.code, Code: 400, Description: "x"})
			class, say := classifySetup(err, nil)
			if class != r.class || say != r.say {
				t.Errorf("classified %v %q, want %v %q", class, say, r.class, r.say)
			}
			if say == "" {
				t.Error("a row must say why the worker waits or what to change")
			}
		})
	}
}

// serverErrorConstants reads nats-server's errors.json from the module
// cache: code → constant name.
func serverErrorConstants(t *testing.T) map[uint16]string {
	t.Helper()
	dir, err := moduleDir("github.com/nats-io/nats-server/v2")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "server", "errors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Constant  string `json:"constant"`
		ErrorCode uint16 `json:"error_code"`
	}
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatal(err)
	}
	m := map[uint16]string{}
	for _, r := range rows {
		m[r.ErrorCode] = r.Constant
	}
	return m
}

// TestSetupErrorsWithoutCode: errors that carry no JetStream code.
func TestSetupErrorsWithoutCode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want setupClass
	}{
		{"no responders", fmt.Errorf("stream: %w", nats.ErrNoResponders), setupTransient},
		{"jetstream not enabled (no responders)", jetstream.ErrJetStreamNotEnabled, setupTransient},
		{"timeout", fmt.Errorf("stream: %w", context.DeadlineExceeded), setupTransient},
		{"nats timeout", nats.ErrTimeout, setupTransient},
		{"reconnecting", nats.ErrConnectionReconnecting, setupTransient},
		{"connection closed", nats.ErrConnectionClosed, setupPermanent},
		{"unknown 5xx", &jetstream.APIError{ErrorCode: 19999, Code: 503}, setupTransient},
		{"unknown 4xx", &jetstream.APIError{ErrorCode: 19998, Code: 400}, setupPermanent},
		{"request timeout 408", &jetstream.APIError{ErrorCode: 19997, Code: 408}, setupTransient},
	} {
		if got, say := classifySetup(c.err, nil); got != c.want || say == "" {
			t.Errorf("%s: %v %q, want %v", c.name, got, say, c.want)
		}
	}
}

// TestSetupErrorsFromARealServer provokes permanent set-up errors on an
// embedded server and checks the worker's classification of what the
// server really answers.
func TestSetupErrorsFromARealServer(t *testing.T) {
	t.Parallel()
	nc, js := embeddedJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Replicas 3 on a single server.
	err := messages.Topology{Prefix: "rep", Replicas: 3}.Ensure(ctx, js)
	if class, say := classifySetup(err, nc); class != setupPermanent || !strings.Contains(say, "--stream-replicas 1") {
		t.Errorf("replicas 3 on one server: %v: %v %q", err, class, say)
	}
	// Another stream already takes the records subjects.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SQUATTER", Subjects: []string{"ovl.records.>"}}); err != nil {
		t.Fatal(err)
	}
	err = messages.Topology{Prefix: "ovl"}.Ensure(ctx, js)
	if class, say := classifySetup(err, nc); class != setupPermanent || !strings.Contains(say, "another stream already takes these subjects") {
		t.Errorf("subject overlap: %v: %v %q", err, class, say)
	}
	// Another consumer reads the subject of a work-queue stream.
	topo := messages.Topology{Prefix: "wq"}
	if err := topo.Ensure(ctx, js); err != nil {
		t.Fatal(err)
	}
	subj := topo.Subjects().Records("Account", "upsert")
	if _, err := js.CreateConsumer(ctx, topo.RecordsStream(), jetstream.ConsumerConfig{Durable: "other", FilterSubject: subj, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	_, err = js.CreateConsumer(ctx, topo.RecordsStream(), jetstream.ConsumerConfig{Durable: "mine", FilterSubject: subj, AckPolicy: jetstream.AckExplicitPolicy})
	if class, _ := classifySetup(err, nc); class != setupPermanent {
		t.Errorf("work-queue consumer not unique: %v: %v", err, class)
	}
}

// moduleDir is where the go command keeps a dependency's source.
func moduleDir(path string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	return strings.TrimSpace(string(out)), err
}

// embeddedJetStream starts a single JetStream server for one test (this
// package cannot use devenv, which imports it).
func embeddedJetStream(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
