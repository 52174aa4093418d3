//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/kinetic-sync/kinetic/deploy/natsauth"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Ports inside the containers.
const (
	portNATS    = "4222/tcp"
	portNATSMon = "8222/tcp"
	portSim     = "7080/tcp"
	portMetrics = "9464/tcp"
)

// Files inside the containers. The images run as 65532 (no shell, no
// home): the files are copied world-readable.
const (
	ctrPipelines = "/etc/kinetic/pipelines.yaml"
	ctrSchema    = "/etc/kinetic/schema.yaml"
	ctrPublicKey = "/etc/kinetic/jwt.pub"
)

// startupTimeout bounds how long one container may take to answer its
// readiness probe; the machine is small and shared.
const startupTimeout = 120 * time.Second

// keys is the JWT key pair of every test: the workers sign with the private
// key, the simulator trusts the public one. RSA generation is slow, so once.
var keys = sync.OnceValues(func() (priv, pub []byte) {
	priv, pub, err := sfsim.GenerateKeyPair(2048)
	if err != nil {
		panic(err)
	}
	return priv, pub
})

// Options shape a cluster.
type Options struct {
	// Workers is how many worker replicas to start, each waited for until
	// ready. Default 3; NoWorkers for none (start them with StartWorkers).
	Workers int
	// NATSUp is how many of the three NATS nodes start with the cluster
	// (the others with StartNATSNode). Default 3.
	NATSUp int
	// Secure runs NATS as deploy/docker-compose.yaml does: the servers load
	// deploy/nats/nats-server.conf with material from deploy/natsauth (TLS
	// on client and route connections, mutual on routes; nkey users with
	// permissions). The workers connect as the worker user, and the test
	// process's NC and JS as the operator (secure_test.go). The servers'
	// monitoring port is then inside the containers only.
	Secure bool
}

// NoWorkers in Options.Workers starts the cluster without workers.
const NoWorkers = -1

// Cluster is one test's world: its own Docker network, a 3-node NATS
// JetStream cluster, the simulator and the workers, and the test process's
// clients on mapped ports.
type Cluster struct {
	t      *testing.T
	ctx    context.Context // ends before the test binary's -timeout, so cleanups run
	docker *testcontainers.DockerClient
	net    *testcontainers.DockerNetwork

	NATS    []*Node
	Sim     *Node
	Workers []*Node

	mu    sync.Mutex
	nodes []*Node // every container created, for cleanup and logs

	Admin *sfsim.AdminClient
	HTTP  *http.Client
	NC    *nats.Conn
	JS    jetstream.JetStream
	Topo  messages.Topology
	Pipes *pipeline.Config

	workerEnv     map[string]string
	pipelinesYAML []byte // testdata/pipelines.yaml, copied into every worker

	// Secrets is the directory of the Secure cluster's certificates and
	// nkeys (deploy/natsauth's layout); "" when not Secure.
	Secrets string
}

// Node is one container.
type Node struct {
	Name string // network alias and hostname: nats-1, sfsim, worker-2, …
	C    *testcontainers.DockerContainer
	c    *Cluster
}

// NewCluster starts a cluster for t and removes it when t ends, dumping
// container logs first when t failed.
func NewCluster(t *testing.T, o Options) *Cluster {
	t.Helper()
	if o.Workers == 0 {
		o.Workers = 3
	}
	if o.Workers == NoWorkers {
		o.Workers = 0
	}
	if o.NATSUp == 0 {
		o.NATSUp = 3
	}
	began := time.Now()
	ctx, cancel := testContext(t)
	c := &Cluster{t: t, ctx: ctx, HTTP: &http.Client{Timeout: time.Minute}, Topo: messages.Topology{Replicas: 3}.WithDefaults()}
	t.Cleanup(cancel)

	path := filepath.Join("testdata", "pipelines.yaml")
	yaml, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pipes, err = pipeline.ParseConfig(path, yaml); err != nil {
		t.Fatal(err)
	}
	c.pipelinesYAML = yaml

	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	c.docker = docker
	// One cleanup for everything, registered before anything is created:
	// it sees every container added later, and runs even when setup fails.
	t.Cleanup(c.teardown)

	nw, err := network.New(ctx, network.WithLabels(ownerLabels()))
	if err != nil {
		t.Fatalf("creating the test network: %v", err)
	}
	c.net = nw

	if o.Secure {
		c.generateSecrets()
	}
	c.startNATS(o.NATSUp)
	c.startSim()
	c.connect()
	priv, _ := keys()
	c.workerEnv = map[string]string{
		"NATS_URL":                 "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222",
		"KINETIC_PIPELINES":        ctrPipelines,
		"KINETIC_STREAM_REPLICAS":  "3",
		"KINETIC_METRICS_ADDR":     ":9464",
		"KINETIC_SHUTDOWN_TIMEOUT": "10s",
		"KINETIC_LOG_LEVEL":        envOr("KINETIC_TEST_LOG_LEVEL", "info"),
		"SF_LOGIN_URL":             "http://sfsim:7080",
		"SF_ALLOW_HTTP":            "true", // the simulator, inside the test network
		"SF_CLIENT_ID":             "sfsim-consumer-key",
		"SF_USERNAME":              "dev@kinetic.local",
		"SF_PRIVATE_KEY":           string(priv),
		// Far above any latency the tests inject, far below the 2m default:
		// a call into a partitioned network gives up in reasonable time.
		"SF_TIMEOUT": "30s",
	}
	for k, v := range c.clientEnv(natsauth.Worker) {
		c.workerEnv[k] = v
	}
	c.Workers = c.startAll("worker", o.Workers, c.workerRequest)
	if len(c.Workers) > 0 {
		// Ready replicas share the keyed partitions through the workers
		// bucket within a moment; a job published before that has records
		// handed over from one replica to another (a redelivery that tests
		// of clean runs would count).
		c.Eventually("the workers to share the partitions", time.Minute, c.partitionsShared)
	}
	retries := 0
	for _, w := range c.Workers {
		retries += len(w.LogLines("setting up streams and consumers failed"))
	}
	t.Logf("cluster up in %v: %d NATS nodes, the simulator, %d workers (%d set-up retries)", time.Since(began).Round(100*time.Millisecond), o.NATSUp, o.Workers, retries)
	return c
}

// testContext ends two minutes before the test binary's deadline, so that a
// hung step fails the test and its cleanups still remove the containers
// (the -timeout panic would skip them).
func testContext(t *testing.T) (context.Context, context.CancelFunc) {
	if d, ok := t.Deadline(); ok {
		return context.WithDeadline(context.Background(), d.Add(-2*time.Minute))
	}
	return context.WithTimeout(context.Background(), 30*time.Minute)
}

func ownerLabels() map[string]string {
	l := testcontainers.GenericLabels()
	l[labelOwner] = "true"
	l[labelPID] = strconv.Itoa(os.Getpid())
	return l
}

// request fills what every container of the cluster shares.
func (c *Cluster) request(name, image string, req testcontainers.ContainerRequest) testcontainers.GenericContainerRequest {
	req.Image = image
	req.Labels = ownerLabels()
	req.Networks = []string{c.net.Name}
	req.NetworkAliases = map[string][]string{c.net.Name: {name}}
	req.ConfigModifier = func(cfg *container.Config) { cfg.Hostname = name }
	return testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true}
}

// run creates and starts a container and waits for its readiness probe.
func (c *Cluster) run(name string, req testcontainers.GenericContainerRequest) (*Node, error) {
	ctr, err := testcontainers.GenericContainer(c.ctx, req)
	n := &Node{Name: name, c: c}
	if ctr != nil {
		n.C = ctr.(*testcontainers.DockerContainer)
		c.mu.Lock()
		c.nodes = append(c.nodes, n)
		c.mu.Unlock()
	}
	if err != nil {
		return n, fmt.Errorf("starting %s: %w", name, err)
	}
	return n, nil
}

// startAll starts count containers named kind-1…kind-count in parallel.
func (c *Cluster) startAll(kind string, count int, reqFor func(name string) testcontainers.GenericContainerRequest) []*Node {
	c.t.Helper()
	nodes := make([]*Node, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		name := fmt.Sprintf("%s-%d", kind, i+1)
		wg.Go(func() { nodes[i], errs[i] = c.run(name, reqFor(name)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatal(err)
	}
	return nodes
}

// startNATS starts the first up nodes of the three, in parallel (the full
// /healthz they are waited on needs a meta group: a quorum of the three).
func (c *Cluster) startNATS(up int) {
	c.t.Helper()
	c.NATS = c.startAll("nats", up, c.natsRequestFor)
}

// StartNATSNode starts node i (1..3) of the cluster, which NewCluster did
// not start (Options.NATSUp), and waits for its full /healthz.
func (c *Cluster) StartNATSNode(i int) *Node {
	c.t.Helper()
	name := fmt.Sprintf("nats-%d", i)
	n, err := c.run(name, c.natsRequestFor(name))
	if err != nil {
		c.t.Fatal(err)
	}
	c.NATS = append(c.NATS, n)
	return n
}

// natsRequestFor is a node's container, secured when the cluster is.
func (c *Cluster) natsRequestFor(name string) testcontainers.GenericContainerRequest {
	if c.Secrets != "" {
		return c.secureNATSRequest(name)
	}
	return c.natsRequest(name)
}

func (c *Cluster) natsRequest(name string) testcontainers.GenericContainerRequest {
	var routes []string
	for i := 1; i <= 3; i++ {
		if other := fmt.Sprintf("nats-%d", i); other != name {
			routes = append(routes, "nats://"+other+":6222")
		}
	}
	return c.request(name, imageNATS, testcontainers.ContainerRequest{
		Cmd: []string{"-js", "-sd", "/data", "-n", name, "--cluster_name", "kinetic",
			"--cluster", "nats://0.0.0.0:6222", "--routes", strings.Join(routes, ","),
			"-m", "8222", "--no_advertise"},
		ExposedPorts: []string{portNATS, portNATSMon},
		// The full /healthz: JetStream enabled and the meta group formed
		// (a quorum must be up for it, hence the parallel start).
		WaitingFor: wait.ForHTTP("/healthz").WithPort(portNATSMon).WithForcedIPv4LocalHost().
			WithStartupTimeout(startupTimeout).WithPollInterval(250 * time.Millisecond),
	})
}

func (c *Cluster) startSim() {
	c.t.Helper()
	schema, err := os.ReadFile(filepath.Join("testdata", "schema.yaml"))
	if err != nil {
		c.t.Fatal(err)
	}
	_, pub := keys()
	n, err := c.run("sfsim", c.request("sfsim", imageSim, testcontainers.ContainerRequest{
		Cmd: []string{"--addr", "0.0.0.0:7080", "--instance-url", "http://sfsim:7080", "--schema", ctrSchema, "--public-key", ctrPublicKey,
			"--log-level", "info", "--log-format", "json"},
		ExposedPorts: []string{portSim},
		Files: []testcontainers.ContainerFile{
			{Reader: bytes.NewReader(schema), ContainerFilePath: ctrSchema, FileMode: 0o644},
			{Reader: bytes.NewReader(pub), ContainerFilePath: ctrPublicKey, FileMode: 0o644},
		},
		WaitingFor: wait.ForHTTP("/__admin/healthz").WithPort(portSim).WithForcedIPv4LocalHost().
			WithStartupTimeout(startupTimeout).WithPollInterval(250 * time.Millisecond),
	}))
	if err != nil {
		c.t.Fatal(err)
	}
	c.Sim = n
	c.Admin = sfsim.NewAdminClient(n.URL(portSim), c.HTTP)
}

// StartWorkers starts more worker replicas, named worker-<k> after the
// existing ones, without waiting for them to become ready: the test
// watches their /readyz.
func (c *Cluster) StartWorkers(count int) []*Node {
	c.t.Helper()
	nodes := make([]*Node, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		name := fmt.Sprintf("worker-%d", len(c.Workers)+i+1)
		req := c.workerRequest(name)
		req.WaitingFor = nil
		wg.Go(func() { nodes[i], errs[i] = c.run(name, req) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatal(err)
	}
	c.Workers = append(c.Workers, nodes...)
	return nodes
}

func (c *Cluster) workerRequest(name string) testcontainers.GenericContainerRequest {
	env := map[string]string{"KINETIC_WORKER_ID": name}
	for k, v := range c.workerEnv {
		env[k] = v
	}
	return c.request(name, imageWorker, testcontainers.ContainerRequest{
		Env:          env,
		ExposedPorts: []string{portMetrics},
		Files: append([]testcontainers.ContainerFile{{Reader: bytes.NewReader(c.pipelinesYAML), ContainerFilePath: ctrPipelines, FileMode: 0o644}},
			c.clientFiles(natsauth.Worker)...),
		WaitingFor: wait.ForHTTP("/readyz").WithPort(portMetrics).WithForcedIPv4LocalHost().
			WithStartupTimeout(startupTimeout).WithPollInterval(250 * time.Millisecond),
	})
}

// hostURLs are the NATS servers' client URLs on their published ports.
func (c *Cluster) hostURLs() []string {
	scheme := "nats://"
	if c.Secrets != "" {
		scheme = "tls://"
	}
	var urls []string
	for _, n := range c.NATS {
		urls = append(urls, scheme+n.HostPort(portNATS))
	}
	return urls
}

// connect connects the test process to the NATS cluster through the mapped
// client ports, and waits until JetStream answers (meta leader elected).
func (c *Cluster) connect() {
	c.t.Helper()
	urls := c.hostURLs()
	nc, err := nats.Connect(strings.Join(urls, ","), append([]nats.Option{
		nats.Name("kinetic-integration-test"),
		// The test process talks to the published ports only, never to the
		// containers' own addresses that the servers would advertise.
		nats.IgnoreDiscoveredServers(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
	}, c.clientOptions(natsauth.Operator)...)...)
	if err != nil {
		c.t.Fatalf("connecting to NATS at %v: %v", urls, err)
	}
	c.NC = nc
	if c.JS, err = jetstream.New(nc); err != nil {
		c.t.Fatal(err)
	}
	c.Eventually("JetStream to answer", 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		_, err := c.JS.AccountInfo(ctx)
		return err
	})
	// The workers create the R3 streams themselves, all at once on a fresh
	// cluster (they retry until JetStream answers).
}

// Reconnect connects the test process again, after every node restarted
// (their mapped ports changed).
func (c *Cluster) Reconnect() {
	c.t.Helper()
	c.NC.Close()
	c.connect()
}

// teardown dumps logs when the test failed, then removes every container
// and the network.
func (c *Cluster) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if c.NC != nil {
		c.NC.Close()
	}
	c.mu.Lock()
	nodes := slices.Clone(c.nodes)
	c.mu.Unlock()
	// KINETIC_TEST_LOG_DIR keeps every container's whole log, passed or
	// failed (with KINETIC_TEST_LOG_LEVEL=trace the workers log each record
	// received and settled: how the lost-in-flight pulls of internal/jspull
	// were found).
	if d := os.Getenv("KINETIC_TEST_LOG_DIR"); d != "" {
		// A directory per run of the test (-count N runs it N times).
		base := filepath.Join(d, strings.ReplaceAll(c.t.Name(), "/", "_"))
		dir := base
		if err := os.MkdirAll(d, 0o755); err != nil {
			c.t.Errorf("keeping the logs: %v", err)
		}
		for i := 2; ; i++ {
			if err := os.Mkdir(dir, 0o755); err == nil || !errors.Is(err, fs.ErrExist) {
				break
			}
			dir = fmt.Sprintf("%s.%d", base, i)
		}
		for _, n := range nodes {
			if err := os.WriteFile(filepath.Join(dir, n.Name+".log"), []byte(n.LogTail(ctx, math.MaxInt)), 0o644); err != nil {
				c.t.Errorf("keeping the log of %s: %v", n.Name, err)
			}
		}
	}
	if c.t.Failed() {
		for _, n := range nodes {
			c.t.Logf("---- last log lines of %s ----\n%s", n.Name, n.LogTail(ctx, 60))
		}
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			if err := n.C.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil && !cerrdefs.IsNotFound(err) {
				c.t.Errorf("removing container %s: %v", n.Name, err)
			}
		})
	}
	wg.Wait()
	if c.net != nil {
		if err := c.net.Remove(ctx); err != nil {
			c.t.Errorf("removing network %s: %v", c.net.Name, err)
		}
	}
	c.HTTP.CloseIdleConnections()
	if c.docker != nil {
		c.docker.Close()
	}
}

// Eventually polls cond until it returns nil, failing the test with the
// last error after timeout.
// partitionsShared reports whether every worker is in the workers
// bucket and each keyed pipeline's partitions are owned once each.
func (c *Cluster) partitionsShared() error {
	ws, err := messages.ListWorkers(c.ctx, c.JS, c.Topo)
	if err != nil {
		return err
	}
	if len(ws) != len(c.Workers) {
		return fmt.Errorf("%d of %d workers announced", len(ws), len(c.Workers))
	}
	for _, pc := range c.Pipes.Pipelines {
		if !pipeline.Keyed(pc.Mode) {
			continue
		}
		owner := map[int]string{}
		for _, w := range ws {
			for _, wp := range w.Pipelines {
				if wp.Name != pc.Name {
					continue
				}
				for _, p := range wp.Partitions {
					if o, dup := owner[p]; dup {
						return fmt.Errorf("pipeline %s: partition %d owned by %s and %s", pc.Name, p, o, w.ID)
					}
					owner[p] = w.ID
				}
			}
		}
		if len(owner) != c.Topo.WithDefaults().Partitions {
			return fmt.Errorf("pipeline %s: %d partitions owned", pc.Name, len(owner))
		}
	}
	return nil
}

func (c *Cluster) Eventually(what string, timeout time.Duration, cond func() error) {
	c.t.Helper()
	if err := c.poll(timeout, cond); err != nil {
		c.t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
	}
}

func (c *Cluster) poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || c.ctx.Err() != nil {
			return err
		}
		select {
		case <-c.ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Worker returns the worker named name.
func (c *Cluster) Worker(name string) *Node {
	for _, w := range c.Workers {
		if w.Name == name {
			return w
		}
	}
	c.t.Fatalf("no worker %s", name)
	return nil
}

// Pipeline returns a pipeline of testdata/pipelines.yaml.
func (c *Cluster) Pipeline(name string) *pipeline.PipelineConfig {
	pc, ok := c.Pipes.Pipeline(name)
	if !ok {
		c.t.Fatalf("no pipeline %s in testdata/pipelines.yaml", name)
	}
	return pc
}

// HostPort is host:port where a container port is published (127.0.0.1
// here: see engineIsLocal). A restarted container gets new mapped ports, so
// ask again after a restart.
func (n *Node) HostPort(port string) string {
	host, err := n.C.Host(n.c.ctx)
	if err != nil {
		n.c.t.Fatalf("%s: host: %v", n.Name, err)
	}
	p, err := n.C.MappedPort(n.c.ctx, port)
	if err != nil {
		n.c.t.Fatalf("%s: mapped port %s: %v", n.Name, port, err)
	}
	return net.JoinHostPort(host, p.Port())
}

// URL is http://<host>:<mapped port>.
func (n *Node) URL(port string) string { return "http://" + n.HostPort(port) }

// Kill sends SIGKILL: the process dies at once, nothing is flushed.
func (n *Node) Kill() {
	n.c.t.Helper()
	if err := n.kill(); err != nil {
		n.c.t.Fatal(err)
	}
}

func (n *Node) kill() error {
	if _, err := n.c.docker.ContainerKill(n.c.ctx, n.C.GetContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		return fmt.Errorf("kill -9 %s: %w", n.Name, err)
	}
	_, err := n.waitExited()
	return err
}

// Stop sends SIGTERM and waits up to grace for the process to exit (then
// Docker kills it), and returns its exit code.
func (n *Node) Stop(grace time.Duration) int {
	n.c.t.Helper()
	if err := n.C.Stop(n.c.ctx, &grace); err != nil {
		n.c.t.Fatalf("stopping %s: %v", n.Name, err)
	}
	st, err := n.waitExited()
	if err != nil {
		n.c.t.Fatal(err)
	}
	return st.ExitCode
}

func (n *Node) waitExited() (*container.State, error) {
	var st *container.State
	err := n.c.poll(60*time.Second, func() error {
		var err error
		if st, err = n.State(); err != nil {
			return err
		}
		if st.Running {
			return errors.New("still running")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for %s to exit: %w", n.Name, err)
	}
	return st, nil
}

// Start starts a stopped container and waits for its readiness probe.
func (n *Node) Start() {
	n.c.t.Helper()
	if err := n.start(); err != nil {
		n.c.t.Fatal(err)
	}
}

func (n *Node) start() error {
	if err := n.C.Start(n.c.ctx); err != nil {
		return fmt.Errorf("starting %s again: %w", n.Name, err)
	}
	return nil
}

// State is the container's state as Docker reports it.
func (n *Node) State() (*container.State, error) {
	res, err := n.c.docker.ContainerInspect(n.c.ctx, n.C.GetContainerID(), client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	return res.Container.State, nil
}

// Disconnect cuts the container off the test network: its connections
// hang, as in a network partition.
func (n *Node) Disconnect() {
	n.c.t.Helper()
	if _, err := n.c.docker.NetworkDisconnect(n.c.ctx, n.c.net.ID, client.NetworkDisconnectOptions{Container: n.C.GetContainerID()}); err != nil {
		n.c.t.Fatalf("disconnecting %s: %v", n.Name, err)
	}
}

// Reconnect puts the container back on the test network under its alias.
func (n *Node) Reconnect() {
	n.c.t.Helper()
	_, err := n.c.docker.NetworkConnect(n.c.ctx, n.c.net.ID, client.NetworkConnectOptions{
		Container:      n.C.GetContainerID(),
		EndpointConfig: &mobynet.EndpointSettings{Aliases: []string{n.Name}},
	})
	if err != nil {
		n.c.t.Fatalf("reconnecting %s: %v", n.Name, err)
	}
}

// Get fetches a path of the container's port through its mapped port.
func (n *Node) Get(port, path string) (int, string, error) {
	resp, err := n.c.HTTP.Get(n.URL(port) + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// Metric sums the samples of a Prometheus metric (any labels) on a worker.
func (n *Node) Metric(name string) (float64, error) {
	code, body, err := n.Get(portMetrics, "/metrics")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("/metrics: HTTP %d", code)
	}
	sum, found := 0.0, false
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric sharing the prefix
		}
		v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", name, line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not exported", name)
	}
	return sum, nil
}

// LogLines returns the lines of the container's output that contain s.
func (n *Node) LogLines(s string) []string {
	var out []string
	for line := range strings.Lines(n.LogTail(n.c.ctx, 100_000)) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// LogTail returns the last lines of the container's output.
func (n *Node) LogTail(ctx context.Context, lines int) string {
	rc, err := n.C.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Sprintf("(reading logs: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// SetFaults replaces the simulator's faults.
func (c *Cluster) SetFaults(f sfsim.Faults) {
	c.t.Helper()
	if err := c.Admin.SetFaults(c.ctx, f); err != nil {
		c.t.Fatalf("setting faults %+v: %v", f, err)
	}
}

// SetDailyLimit sets the simulator's daily API limit and nothing else.
// (AdminClient.SetLimits sends api_usage too, which would overwrite the
// usage the workers add between reading and writing it.)
func (c *Cluster) SetDailyLimit(limit int) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPut, c.Sim.URL(portSim)+"/__admin/limits",
		strings.NewReader(fmt.Sprintf(`{"daily_api_limit": %d}`, limit)))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("setting the daily limit: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("setting the daily limit: HTTP %d %s", resp.StatusCode, body)
	}
}

// Live is the number of live records of an object in the simulator.
func (c *Cluster) Live(object string) (int, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	n, err := c.Admin.Count(ctx, object)
	return n.Live, err
}

// WaitLive waits until the simulator holds at least n live records of an
// object, and returns how many it holds.
func (c *Cluster) WaitLive(object string, n int, timeout time.Duration) int {
	c.t.Helper()
	var live int
	c.Eventually(fmt.Sprintf("%d %s records in Salesforce", n, object), timeout, func() error {
		var err error
		if live, err = c.Live(object); err != nil {
			return err
		}
		if live < n {
			return fmt.Errorf("%d so far", live)
		}
		return nil
	})
	return live
}

// Chaos kills the workers one after the other with SIGKILL and starts each
// again after a while, until stopped.
type Chaos struct {
	c        *Cluster
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	kills    []time.Time
	err      error
}

// KillWorkers kills a worker every `every` (round robin) and starts it again
// `down` later (docker start, then its /readyz).
func (c *Cluster) KillWorkers(every, down time.Duration) *Chaos {
	ch := &Chaos{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go ch.run(every, down)
	// A test that fails before Stop must not leave it killing containers
	// during teardown (cleanups run last-registered first).
	c.t.Cleanup(ch.halt)
	return ch
}

func (ch *Chaos) run(every, down time.Duration) {
	defer close(ch.done)
	c := ch.c
	for i := 0; ; i++ {
		select {
		case <-ch.stop:
			return
		case <-c.ctx.Done():
			return
		case <-time.After(every):
		}
		w := c.Workers[i%len(c.Workers)]
		if err := w.kill(); err != nil {
			ch.err = err
			return
		}
		ch.kills = append(ch.kills, time.Now())
		c.t.Logf("chaos: kill -9 %s (kill %d)", w.Name, len(ch.kills))
		// Down for a while whatever happens, then up again: the cluster
		// must end with every worker running.
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(down):
		}
		t0 := time.Now()
		if err := w.start(); err != nil {
			ch.err = err
			return
		}
		c.t.Logf("chaos: %s restarted and ready in %v", w.Name, time.Since(t0).Round(time.Millisecond))
	}
}

func (ch *Chaos) halt() {
	ch.stopOnce.Do(func() { close(ch.stop) })
	<-ch.done
}

// Stop ends the chaos (after restarting a worker it killed) and returns the
// kill times.
func (ch *Chaos) Stop() []time.Time {
	ch.c.t.Helper()
	ch.halt()
	if ch.err != nil {
		ch.c.t.Fatalf("chaos: %v", ch.err)
	}
	return ch.kills
}
