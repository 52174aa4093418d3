package producer_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/producer"
	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const schemaYAML = `
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 20, external_id: true, unique: true}
`

const pipelinesYAML = `
pipelines:
  - name: accounts
    sobject: Account
    mode: upsert
    external_id_field: External_Key__c
    mapping:
      key: External_Key__c
      company: Name
      revenue: { target: AnnualRevenue, transform: float }
    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms }
  - name: account-inserts
    sobject: Account
    mode: insert
    mapping:
      key: External_Key__c
      company: Name
      revenue: { target: AnnualRevenue, transform: float }
    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms }
  - name: account-deletes
    sobject: Account
    mode: delete
    mapping:
      sf_id: Id
    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms }
`

// world is one test's Kinetic: an embedded JetStream server with the
// streams and consumers set up, the simulator, and a directory for inputs
// and outputs. Workers run only when a test starts one.
type world struct {
	t      *testing.T
	ns     *devenv.NATS
	sim    *sfsim.TestEnv
	client *salesforce.Client
	cfg    *pipeline.Config
	js     jetstream.JetStream
	topo   messages.Topology
	dir    string
}

func setup(t *testing.T) *world {
	t.Helper()
	ns := devenv.StartTestNATS(t)
	schema, err := sfsim.ParseSchema([]byte(schemaYAML))
	if err != nil {
		t.Fatal(err)
	}
	sim := sfsim.StartTest(t, sfsim.Config{Schema: schema})
	client, err := salesforce.New(salesforce.Config{
		LoginURL: sim.URL, ClientID: sim.ClientID, Username: sim.Username,
		PrivateKey: string(sim.PrivateKeyPEM), HTTPClient: sim.HTTP.Client(), AllowHTTP: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.ParseConfig("pipelines.yaml", []byte(pipelinesYAML))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ns: ns, sim: sim, client: client, cfg: cfg, topo: messages.Topology{}.WithDefaults(), dir: t.TempDir()}
	nc, js := ns.ConnectTest(t)
	w.js = js
	// Streams and consumers, as a worker creates them at start-up.
	wk, err := worker.New(worker.Config{NC: nc, Client: client, Pipelines: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := wk.Setup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
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

// startWorker runs a real worker until the test ends.
func (w *world) startWorker() {
	w.t.Helper()
	wk, err := worker.New(worker.Config{
		NC: w.connect(), Client: w.client, Pipelines: w.cfg, ID: "test-worker",
		ShutdownTimeout: 10 * time.Second,
		Logger:          zerolog.New(zerolog.NewTestWriter(w.t)).Level(zerolog.WarnLevel),
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
	testutil.WaitFor(w.t, 30*time.Second, "worker ready", wk.Ready)
}

func (w *world) pipeline(name string) *pipeline.PipelineConfig {
	w.t.Helper()
	pc, ok := w.cfg.Pipeline(name)
	if !ok {
		w.t.Fatalf("no pipeline %s", name)
	}
	return pc
}

// file writes an input file in the test's directory and returns its path.
func (w *world) file(name, content string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// opts returns Options for publishing files to a pipeline, with result
// files in the test's directory.
func (w *world) opts(pipelineName string, files ...string) producer.Options {
	return producer.Options{
		JS: w.js, Pipeline: w.pipeline(pipelineName), Files: files, OutDir: w.dir,
		Log: zerolog.New(zerolog.NewTestWriter(w.t)).Level(zerolog.WarnLevel),
	}
}

// publish runs producer.Publish under a deadline.
func (w *world) publish(o producer.Options) (*producer.Report, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return producer.Publish(ctx, o)
}

func (w *world) recordsInStream() uint64 {
	w.t.Helper()
	s, err := w.js.Stream(ctxT(w.t), w.topo.RecordsStream())
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := s.Info(ctxT(w.t))
	if err != nil {
		w.t.Fatal(err)
	}
	return info.State.Msgs
}

func (w *world) live() int {
	w.t.Helper()
	c, err := w.sim.Server.Count("Account")
	if err != nil {
		w.t.Fatal(err)
	}
	return c.Live
}

// readCSV reads a result file.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// checkRows compares a CSV file with the rows wanted, row by row.
func checkRows(t *testing.T, path string, want [][]string) {
	t.Helper()
	got := readCSV(t, path)
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("%s: row %d missing: want %q", filepath.Base(path), i+1, want[i])
		case i >= len(want):
			t.Errorf("%s: extra row %d: %q", filepath.Base(path), i+1, got[i])
		case !slices.Equal(got[i], want[i]):
			t.Errorf("%s: row %d:\n got %q\nwant %q", filepath.Base(path), i+1, got[i], want[i])
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
