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

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
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
	o    options
	out  io.Writer
	log  zerolog.Logger
	work string // temporary directory
}

func newHarness(o options, out io.Writer) (*harness, error) {
	dir, err := os.MkdirTemp("", "kinetic-bench-*")
	if err != nil {
		return nil, err
	}
	return &harness{o: o, out: out, log: zerolog.Nop(), work: dir}, nil
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
// storage) and the simulator, fresh each time.
type env struct {
	h    *harness
	nats *devenv.NATS
	sim  *devenv.Sim
	nc   *nats.Conn
	js   jetstream.JetStream
}

func (h *harness) newEnv(faults sfsim.Faults) (*env, error) {
	store, err := os.MkdirTemp(h.work, "js-*")
	if err != nil {
		return nil, err
	}
	ns, err := devenv.StartNATS(devenv.NATSOptions{StoreDir: store})
	if err != nil {
		return nil, err
	}
	schemaFile := filepath.Join(h.work, "schema.yaml")
	if err := os.WriteFile(schemaFile, []byte(benchSchema), 0o644); err != nil {
		ns.Shutdown()
		return nil, err
	}
	sim, err := devenv.StartSim(devenv.SimOptions{SchemaFile: schemaFile, Faults: faults})
	if err != nil {
		ns.Shutdown()
		return nil, err
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		sim.Close()
		ns.Shutdown()
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4000))
	if err != nil {
		return nil, err
	}
	return &env{h: h, nats: ns, sim: sim, nc: nc, js: js}, nil
}

func (e *env) close() {
	e.nc.Close()
	e.sim.Close()
	e.nats.Shutdown()
}

func (e *env) pipelines(concurrency int) (*pipeline.Config, string, error) {
	text := fmt.Sprintf(benchPipelines, concurrency)
	path := filepath.Join(e.h.work, fmt.Sprintf("pipelines-%d.yaml", concurrency))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, "", err
	}
	cfg, err := pipeline.ParseConfig(path, []byte(text))
	return cfg, path, err
}

// startWorkers runs n in-process worker replicas.
func (e *env) startWorkers(n, concurrency int) (stop func(), err error) {
	cfg, _, err := e.pipelines(concurrency)
	if err != nil {
		return nil, err
	}
	return devenv.StartWorkers(e.nats.ClientURL(), e.sim.SalesforceConfig(), cfg, n, e.h.log)
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

// publish publishes the payloads as one job with the producer library.
func (e *env) publish(ctx context.Context, job string, data *payloadSet) error {
	pub := messages.NewPublisher(e.js, messages.PublisherOptions{MaxPending: 2000})
	subj := messages.Subjects{}.Records("Account", "upsert")
	for i := range data.len() {
		if err := pub.PublishAsync(ctx, subj, data.at(i), messages.RecordMeta{Job: job, Seq: int64(i + 1), MsgID: job + "-" + strconv.Itoa(i+1)}); err != nil {
			return err
		}
	}
	return pub.Flush(ctx)
}

// runJob publishes the records and waits for every outcome; the clock runs
// from the first publish to the last result.
func (e *env) runJob(ctx context.Context, job string, data *payloadSet) (time.Duration, *jobs.Result, error) {
	n := data.len()
	start := time.Now()
	var pubErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pubErr = e.publish(ctx, job, data)
	}()
	res, err := jobs.Watch(ctx, e.js, jobs.Options{Job: job, Total: n, Since: start.Add(-time.Second)})
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
