package worker_test

import (
	"context"
	"os"

	"fmt"
	"github.com/cenkalti/backoff/v4"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
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
      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}
      - {name: Score__c, type: double}
`

// pipelinesYAML has a pipeline per mode, with short worker timings for tests.
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
      company: Name
      key: External_Key__c
    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms }
  - name: account-updates
    sobject: Account
    mode: update
    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms }
  - name: account-deletes
    sobject: Account
    mode: delete
    worker: { ack_wait: 3s, max_deliver: 4, linger: 20ms }
`

// env is one test's world: an embedded JetStream server, the simulator and
// a Salesforce client, plus the means to run workers and publish.
type env struct {
	t      *testing.T
	url    string // the NATS server or cluster
	sim    *sfsim.TestEnv
	client *salesforce.Client
	cfg    *pipeline.Config
	nc     *nats.Conn
	js     jetstream.JetStream
	topo   messages.Topology
}

func setup(t *testing.T, simCfg sfsim.Config) *env {
	t.Helper()
	ns := devenv.StartTestNATS(t)
	return setupOn(t, ns.ClientURL(), 1, simCfg)
}

// setupCluster is setup on a 3-node cluster with R3 streams, as deployed.
func setupCluster(t *testing.T, simCfg sfsim.Config) (*env, *devenv.Cluster) {
	t.Helper()
	c := devenv.StartTestCluster(t, 3)
	return setupOn(t, c.URLs(), 3, simCfg), c
}

func setupOn(t *testing.T, url string, replicas int, simCfg sfsim.Config) *env {
	t.Helper()
	if simCfg.Schema == nil {
		s, err := sfsim.ParseSchema([]byte(schemaYAML))
		if err != nil {
			t.Fatal(err)
		}
		simCfg.Schema = s
	}
	sim := sfsim.StartTest(t, simCfg)
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
	e := &env{t: t, url: url, sim: sim, client: client, cfg: cfg, topo: messages.Topology{Replicas: replicas}.WithDefaults()}
	e.nc = e.connect()
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) connect() *nats.Conn {
	e.t.Helper()
	nc, err := nats.Connect(e.url, nats.MaxReconnects(-1))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	return nc
}

// running is a worker started by start.
type running struct {
	w      *worker.Worker
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // what Run returned, once done is closed
}

// stop shuts the worker down gracefully and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("worker Run: %v", r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop within 30s")
	}
}

// start runs a worker on its own connection until the test ends, and waits
// until it is ready.
func (e *env) start(mod func(*worker.Config)) *running {
	e.t.Helper()
	r := e.startUnready(mod)
	e.waitFor("worker ready", func() bool { return r.w.Ready() })
	return r
}

// startUnready runs a worker without waiting for it to become ready.
func (e *env) startUnready(mod func(*worker.Config)) *running {
	e.t.Helper()
	nc := e.connect()
	o := worker.Config{
		NC: nc, Client: e.client, Pipelines: e.cfg, Topology: e.topo,
		ShutdownTimeout: 10 * time.Second,
		NakBackOff:      constant(100 * time.Millisecond),
		HoldBackOff:     constant(50 * time.Millisecond),
		Logger:          zerolog.New(zerolog.NewTestWriter(e.t)).Level(testLogLevel()),
	}
	if mod != nil {
		mod(&o)
	}
	o.Logger = o.Logger.With().Str("replica", o.ID).Logger()
	w, err := worker.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = w.Run(ctx)
		close(r.done)
	}()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			e.t.Error("worker did not stop within 30s of the test's end")
		}
	})
	return r
}

// constant is a retry schedule that waits d every time.
func constant(d time.Duration) func() backoff.BackOff {
	return func() backoff.BackOff { return backoff.NewConstantBackOff(d) }
}

// setupStreams creates the streams and consumers without processing.
func (e *env) setupStreams() {
	e.t.Helper()
	w, err := worker.New(worker.Config{NC: e.nc, Client: e.client, Pipelines: e.cfg, Topology: e.topo})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Setup(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// publish publishes records as job, numbered 1..n, to the pipeline's subject.
func (e *env) publish(pipelineName, job string, recs []map[string]any, stopOnError bool) {
	e.t.Helper()
	pc, ok := e.cfg.Pipeline(pipelineName)
	if !ok {
		e.t.Fatalf("no pipeline %s", pipelineName)
	}
	subj := e.topo.Subjects().Records(pc.SObject, string(pc.Mode))
	pub := messages.NewPublisher(e.js, messages.PublisherOptions{})
	ctx := context.Background()
	for i, r := range recs {
		data, err := messages.EncodeRecord(r)
		if err != nil {
			e.t.Fatal(err)
		}
		meta := messages.RecordMeta{Job: job, Seq: int64(i + 1), MsgID: fmt.Sprintf("%s-%d", job, i+1), StopOnError: stopOnError}
		if err := pub.PublishAsync(ctx, subj, data, meta); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// publishRaw publishes one payload as it is.
func (e *env) publishRaw(subject string, data []byte, meta messages.RecordMeta) {
	e.t.Helper()
	if _, err := messages.NewPublisher(e.js, messages.PublisherOptions{}).Publish(context.Background(), subject, data, meta); err != nil {
		e.t.Fatal(err)
	}
}

// wait follows a job until all n records have a final outcome.
func (e *env) wait(job string, n int) *jobs.Result {
	e.t.Helper()
	return e.waitLong(job, n, 60*time.Second)
}

// waitLong is wait with a timeout of its own.
func (e *env) waitLong(job string, n int, timeout time.Duration) *jobs.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := jobs.Watch(ctx, e.js, jobs.Options{Job: job, Total: n})
	if err != nil {
		e.t.Fatalf("job %s: %v (so far %v)", job, err, res.SyncResult)
	}
	return res
}

func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	testutil.WaitFor(e.t, 60*time.Second, what, cond)
}

func (e *env) live(obj string) int {
	e.t.Helper()
	n, err := e.sim.Server.Count(obj)
	if err != nil {
		e.t.Fatal(err)
	}
	return n.Live
}

func (e *env) deadLetters() []*messages.DeadLetter {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), e.topo.DLQStream())
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*messages.DeadLetter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		dl, err := messages.DecodeDeadLetter(raw.Header, raw.Data)
		if err != nil {
			e.t.Fatalf("dead letter %d: %v", seq, err)
		}
		out = append(out, dl)
	}
	return out
}

func accounts(n int, prefix string) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"key": fmt.Sprintf("%s-%d", prefix, i), "company": fmt.Sprintf("%s company %d", prefix, i), "revenue": fmt.Sprint(i * 10)}
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func natsMsg(subject string, h nats.Header, body []byte) *nats.Msg {
	return &nats.Msg{Subject: subject, Header: h, Data: body}
}

// replayMsg builds the message Replay would publish for a dead letter.
func replayMsg(e *env, en deadletter.Entry) *nats.Msg {
	m := nats.NewMsg(en.DeadLetter.Subject)
	m.Data = en.DeadLetter.Data
	m.Header.Set(messages.HeaderReplayOf, fmt.Sprint(en.Seq))
	m.Header.Set(messages.HeaderMsgID, fmt.Sprintf("replay-%s-%d", e.topo.DLQStream(), en.Seq))
	return m
}

// testLogLevel is the workers' log level in tests: warn, or
// KINETIC_TEST_LOG_LEVEL (debug, to follow a failure).
func testLogLevel() zerolog.Level {
	if l, err := zerolog.ParseLevel(os.Getenv("KINETIC_TEST_LOG_LEVEL")); err == nil && l != zerolog.NoLevel {
		return l
	}
	return zerolog.WarnLevel
}
