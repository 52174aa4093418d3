package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// TestMain checks for leaked goroutines. (Inspector.List returns only once
// the subscription of its read is closed: see TestListLeavesNoFetchRunning
// in pkg/deadletter.)
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const pipelinesFile = "testdata/pipelines.yaml"

// The tier picklist is restricted: "Bronze" fails until the schema allows it.
const schemaYAML = `
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 20, external_id: true, unique: true}
      - {name: Customer_Tier__c, type: picklist, values: [Platinum, Gold, Silver], restricted: true}
`

// world is one test's Kinetic: embedded JetStream, the simulator and a
// worker running the pipelines of testdata/pipelines.yaml.
type world struct {
	t   *testing.T
	ns  *devenv.NATS
	sim *sfsim.TestEnv
	js  jetstream.JetStream
	dir string
}

func setup(t *testing.T) *world {
	t.Helper()
	ns := devenv.StartTestNATS(t)
	schema, err := sfsim.ParseSchema([]byte(schemaYAML))
	if err != nil {
		t.Fatal(err)
	}
	sim := sfsim.StartTest(t, sfsim.Config{Schema: schema})
	w := &world{t: t, ns: ns, sim: sim, dir: t.TempDir()}
	_, w.js = ns.ConnectTest(t)
	w.startWorker()
	return w
}

func (w *world) connect() *nats.Conn {
	w.t.Helper()
	nc, err := nats.Connect(w.ns.ClientURL())
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(nc.Close)
	return nc
}

func (w *world) startWorker() {
	w.t.Helper()
	cfg, err := pipeline.LoadConfig(pipelinesFile)
	if err != nil {
		w.t.Fatal(err)
	}
	client, err := salesforce.New(salesforce.Config{
		LoginURL: w.sim.URL, ClientID: w.sim.ClientID, Username: w.sim.Username,
		PrivateKey: string(w.sim.PrivateKeyPEM), HTTPClient: w.sim.HTTP.Client(), AllowHTTP: true,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	wk, err := worker.New(worker.Config{
		NC: w.connect(), Client: client, Pipelines: cfg, ID: "test-worker", ShutdownTimeout: 10 * time.Second,
		Logger: zerolog.New(zerolog.NewTestWriter(w.t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wk.Run(ctx) }()
	w.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				w.t.Errorf("worker: %v", err)
			}
		case <-time.After(30 * time.Second):
			w.t.Error("worker did not stop")
		}
	})
	waitFor(w.t, "worker ready", wk.Ready)
}

// file writes an input file in the test's directory.
func (w *world) file(name, content string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// result is what one run of the command did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the producer command against this world's NATS.
func (w *world) run(stdin string, args ...string) result {
	w.t.Helper()
	full := append([]string(nil), args...)
	if len(full) > 0 && full[0] == "dlq" && len(full) > 1 {
		full = append([]string{"dlq", full[1], "--nats-url", w.ns.ClientURL()}, full[2:]...)
	} else if len(full) > 0 {
		full = append([]string{full[0], "--nats-url", w.ns.ClientURL()}, full[1:]...)
	}
	return runCmd(w.t, stdin, full...)
}

func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func (r result) expect(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func (w *world) live() int {
	w.t.Helper()
	c, err := w.sim.Server.Count("Account")
	if err != nil {
		w.t.Fatal(err)
	}
	return c.Live
}

// fixSchema lets the tier picklist take "Bronze".
func (w *world) fixSchema() {
	w.t.Helper()
	w.fixSchemaWith("{name: Customer_Tier__c, type: picklist, values: [Platinum, Gold, Silver, Bronze], restricted: true}")
}

// fixSchemaWith replaces one Account field in the simulator's schema.
func (w *world) fixSchemaWith(field string) {
	w.t.Helper()
	s, err := sfsim.ParseSchema([]byte("objects:\n  - name: Account\n    fields:\n      - " + field + "\n"))
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.sim.Server.ApplySchema(s); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) streamMsgs(name string) uint64 { return w.streamState(name).Msgs }

// published is how many messages a stream ever stored.
func (w *world) published(name string) uint64 { return w.streamState(name).LastSeq }

func (w *world) streamState(name string) jetstream.StreamState {
	w.t.Helper()
	s, err := w.js.Stream(context.Background(), name)
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return info.State
}

var topo = messages.Topology{}.WithDefaults()

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, what, cond)
}

// contains fails the test unless s contains every want.
func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
