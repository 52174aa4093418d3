package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/clock"
	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// The benchmark's org and pipeline: accounts upserted on an external id,
// with the mapping forms of the examples.
const benchSchema = `
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}
      - {name: Email__c, type: email, length: 80}
`

const benchPipelines = `
pipelines:
  - name: bench
    sobject: Account
    mode: upsert
    external_id_field: External_Key__c
    batch_size: 200
    concurrency: %d
    api: collections
    mapping:
      ext_id: External_Key__c
      company: Name
      email: { target: Email__c, transform: lower }
      revenue: { target: AnnualRevenue, transform: float }
      employees: { target: NumberOfEmployees, transform: int }
      industry: Industry
`

// record returns the i-th benchmark record (about 150 bytes of JSON). keys
// bounds the distinct external ids, so that a large backlog does not make
// the simulator's org (and the process's memory) grow with it.
func record(i, keys int) map[string]any {
	k := i
	if keys > 0 {
		k = i % keys
	}
	return map[string]any{
		"ext_id":    fmt.Sprintf("K-%08d", k),
		"company":   fmt.Sprintf("Company %d Holdings", k),
		"email":     fmt.Sprintf("Contact%d@Example.COM", k),
		"revenue":   fmt.Sprint(1000 + k%100000),
		"employees": fmt.Sprint(1 + k%5000),
		"industry":  "Technology",
	}
}

type harness struct {
	o         options
	out       io.Writer
	log       zerolog.Logger
	work      string // temporary directory
	workerBin string // cmd/worker, built once
}

func newHarness(o options, out io.Writer) (*harness, error) {
	dir, err := os.MkdirTemp("", "kinetic-bench-*")
	if err != nil {
		return nil, err
	}
	log := zerolog.Nop()
	if os.Getenv("BENCH_WORKER_LOG") != "" { // the in-process workers' log on stderr, for diagnosis
		log = zerolog.New(os.Stderr).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	}
	return &harness{o: o, out: out, log: log, work: dir}, nil
}

func (h *harness) close() { os.RemoveAll(h.work) }

func (h *harness) printf(format string, args ...any) {
	fmt.Fprintf(h.out, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (h *harness) want(name string) bool {
	if h.o.only == "" {
		return true
	}
	for _, s := range strings.Split(h.o.only, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

// env is one measurement's world: an embedded JetStream server (file
// storage) or a 3-node cluster of them, and the simulator, fresh each time.
type env struct {
	h        *harness
	nats     *devenv.NATS
	cluster  *devenv.Cluster
	url      string
	replicas int
	sim      *devenv.Sim
	nc       *nats.Conn
	js       jetstream.JetStream
	// progress, when set, receives runJob's progress.
	progress func(jobs.Progress)
}

func (h *harness) newEnv(faults sfsim.Faults) (*env, error) { return h.newEnvOn(faults, 0) }

// newEnvOn starts a single server (clusterSize 0) or a cluster of
// clusterSize servers whose streams get that many replicas.
func (h *harness) newEnvOn(faults sfsim.Faults, clusterSize int) (*env, error) {
	store, err := os.MkdirTemp(h.work, "js-*")
	if err != nil {
		return nil, err
	}
	e := &env{h: h, replicas: 1}
	if clusterSize > 0 {
		e.cluster, err = devenv.StartCluster(clusterSize, store)
		if err != nil {
			return nil, err
		}
		e.url, e.replicas = e.cluster.URLs(), clusterSize
	} else {
		e.nats, err = devenv.StartNATS(devenv.NATSOptions{StoreDir: store})
		if err != nil {
			return nil, err
		}
		e.url = e.nats.ClientURL()
	}
	schemaFile, err := h.schemaFile()
	if err != nil {
		e.close()
		return nil, err
	}
	e.sim, err = devenv.StartSim(devenv.SimOptions{SchemaFile: schemaFile, Faults: faults})
	if err != nil {
		e.close()
		return nil, err
	}
	e.nc, err = nats.Connect(e.url)
	if err != nil {
		e.close()
		return nil, err
	}
	e.js, err = jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(4000))
	if err != nil {
		e.close()
		return nil, err
	}
	if e.cluster != nil {
		// Wait for JetStream's meta leader.
		deadline := time.Now().Add(time.Minute)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := e.js.AccountInfo(ctx)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				e.close()
				return nil, fmt.Errorf("cluster: JetStream not ready: %w", err)
			}
			_ = clock.Sleep(context.Background(), 200*time.Millisecond)
		}
	}
	return e, nil
}

// schemaFile writes the simulator's schema file once.
func (h *harness) schemaFile() (string, error) {
	path := filepath.Join(h.work, "schema.yaml")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	return path, os.WriteFile(path, []byte(benchSchema), 0o644)
}

func (e *env) close() {
	if e.nc != nil {
		e.nc.Close()
	}
	if e.sim != nil {
		e.sim.Close()
	}
	if e.nats != nil {
		e.nats.Shutdown()
	}
	if e.cluster != nil {
		e.cluster.Shutdown()
	}
}

func (e *env) topology() messages.Topology { return messages.Topology{Replicas: e.replicas} }

// pipelines writes the benchmark's pipelines file with that concurrency
// and extra worker settings (YAML lines under "worker:", or "").
func (e *env) pipelines(concurrency int, workerSettings ...string) (*pipeline.Config, string, error) {
	text := fmt.Sprintf(benchPipelines, concurrency)
	if len(workerSettings) > 0 {
		text += "    worker:\n"
		for _, l := range workerSettings {
			text += "      " + l + "\n"
		}
	}
	f, err := os.CreateTemp(e.h.work, "pipelines-*.yaml")
	if err != nil {
		return nil, "", err
	}
	path := f.Name()
	f.Close()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, "", err
	}
	cfg, err := pipeline.ParseConfig(path, []byte(text))
	return cfg, path, err
}

// startWorkers runs n in-process worker replicas (each with its own NATS
// connection and Salesforce client) on the env's topology.
func (e *env) startWorkers(n, concurrency int) (stop func(), err error) {
	cfg, _, err := e.pipelines(concurrency)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var conns []*nats.Conn
	stop = func() {
		cancel()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}
	for i := range n {
		id := fmt.Sprintf("worker-%d", i+1)
		nc, err := nats.Connect(e.url, nats.Name("kinetic-"+id))
		if err != nil {
			stop()
			return nil, err
		}
		conns = append(conns, nc)
		client, err := salesforce.New(e.sim.SalesforceConfig())
		if err != nil {
			stop()
			return nil, err
		}
		w, err := worker.New(worker.Config{NC: nc, Client: client, Pipelines: cfg, ID: id, Topology: e.topology(), Logger: e.h.log})
		if err != nil {
			stop()
			return nil, err
		}
		if err := w.Setup(ctx); err != nil {
			stop()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil && ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "bench: worker stopped:", err)
			}
		}()
	}
	return stop, nil
}

// payloadSet holds encoded benchmark records back to back in one buffer.
// One pointer-free allocation instead of one per record: a million small
// objects kept live through a run would add their marking to every garbage
// collection of the process, which runs Kinetic too.
type payloadSet struct {
	buf  []byte
	ends []int
}

func (p *payloadSet) len() int { return len(p.ends) }

func (p *payloadSet) at(i int) []byte {
	start := 0
	if i > 0 {
		start = p.ends[i-1]
	}
	return p.buf[start:p.ends[i]:p.ends[i]]
}

// payloads encodes n benchmark records, ahead of a timed run (the limit
// measurement publishes ready bytes too).
func payloads(n, keys int) (*payloadSet, error) {
	p := &payloadSet{ends: make([]int, 0, n)}
	for i := range n {
		b, err := messages.EncodeRecord(record(i, keys))
		if err != nil {
			return nil, err
		}
		p.buf = append(p.buf, b...)
		p.ends = append(p.ends, len(p.buf))
	}
	return p, nil
}

// publish publishes the payloads as one job with the producer library,
// unkeyed.
func (e *env) publish(ctx context.Context, job string, data *payloadSet) error {
	pub := messages.NewPublisher(e.js, messages.PublisherOptions{MaxPending: 2000})
	subj := e.topology().Subjects().Records("Account", "upsert")
	for i := range data.len() {
		if err := pub.PublishAsync(ctx, subj, data.at(i), messages.RecordMeta{Job: job, Seq: int64(i + 1), MsgID: job + "-" + strconv.Itoa(i+1)}); err != nil {
			return err
		}
	}
	return pub.Flush(ctx)
}

// publishKeyed publishes the payloads as one job, each on its record's
// keyed subject (the key from the pipeline's external id), as the producer
// CLI does for an upsert pipeline.
func (e *env) publishKeyed(ctx context.Context, job string, data *payloadSet, keys []string) error {
	pub := messages.NewPublisher(e.js, messages.PublisherOptions{MaxPending: 2000})
	base := e.topology().Subjects().Records("Account", "upsert")
	for i := range data.len() {
		if err := pub.PublishKeyedAsync(ctx, base, keys[i], data.at(i), messages.RecordMeta{Job: job, Seq: int64(i + 1), MsgID: job + "-" + strconv.Itoa(i+1)}); err != nil {
			return err
		}
	}
	return pub.Flush(ctx)
}

// runJob publishes n records with publish and waits for every outcome; the
// clock runs from the first publish to the last result. Every record must
// be loaded.
func (e *env) runJob(ctx context.Context, job string, n int, publish func(context.Context) error) (time.Duration, *jobs.Result, error) {
	start := time.Now()
	var pubErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pubErr = publish(ctx)
	}()
	res, err := jobs.Watch(ctx, e.js, jobs.Options{Topology: e.topology(), Job: job, Total: n, Since: start.Add(-time.Second), OnProgress: e.progress})
	elapsed := time.Since(start)
	wg.Wait()
	if pubErr != nil {
		return elapsed, res, pubErr
	}
	if err != nil {
		return elapsed, res, err
	}
	if res.SuccessCount != n {
		return elapsed, res, fmt.Errorf("job %s: %d of %d loaded (%d errors; first %v)", job, res.SuccessCount, n, res.ErrorCount, firstErr(res))
	}
	return elapsed, res, nil
}

func firstErr(res *jobs.Result) any {
	if len(res.Errors) > 0 {
		return res.Errors[0]
	}
	return nil
}

// profileFirst runs f, under profile in the first trial only.
func (h *harness) profileFirst(t *trial, name string, f func() error) error {
	if t.k == 1 {
		return h.profile(name, f)
	}
	return f()
}

// profile runs f with a CPU profile, then writes an allocation profile.
func (h *harness) profile(name string, f func() error) error {
	cpu, err := os.Create(filepath.Join(h.o.out, name+"-cpu.prof"))
	if err != nil {
		return err
	}
	defer cpu.Close()
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return err
	}
	ferr := f()
	pprof.StopCPUProfile()
	allocs, err := os.Create(filepath.Join(h.o.out, name+"-allocs.prof"))
	if err != nil {
		return err
	}
	defer allocs.Close()
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(allocs, 0); err != nil {
		return err
	}
	return ferr
}
