//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/kinetic-sync/kinetic/deploy/natsauth"
	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// TestSecureNATS runs NATS as deploy/docker-compose.yaml does
// (deploy/nats/nats-server.conf, deploy/natsauth's certificates and nkeys)
// and proves what it promises:
//   - a connection without the CA, without credentials or with an unknown
//     nkey is refused, and so is a route without a certificate of the CA;
//   - the workers load jobs with their own credentials, which a producer
//     publishes and follows with its own (the producer binary too), and no
//     permission is missing for either;
//   - a producer cannot read, purge or delete dead letters, delete a stream,
//     settle records, forge results or dead letters, write the workers' state,
//     or listen to records or another user's replies;
//   - an operator can list and purge dead letters (the dead-letter binary
//     too, where the producer's credentials fail), but cannot delete a stream;
//   - a worker can announce itself in the workers bucket and list the
//     others, and so can the operator list them; a producer cannot.
func TestSecureNATS(t *testing.T) {
	c := NewCluster(t, Options{Workers: 2, Secure: true})

	t.Run("refused connections", func(t *testing.T) {
		caOnly := nats.RootCAs(filepath.Join(c.Secrets, natsauth.CAFile))
		stranger := nkeyOption(t, mustCreateUser(t))
		for _, tc := range []struct {
			name string
			opts []nats.Option
			want func(error) bool
		}{
			{"no CA, no credentials", nil, isUnknownAuthority},
			{"the producer's nkey without the CA", []nats.Option{nkeyOption(t, c.seed(natsauth.Producer))}, isUnknownAuthority},
			{"the CA, no credentials", []nats.Option{caOnly}, isAuthorization},
			{"the CA and an nkey the servers do not know", []nats.Option{caOnly, stranger}, isAuthorization},
		} {
			nc, err := c.dial(tc.opts...)
			if err == nil {
				nc.Close()
				t.Errorf("%s: connected", tc.name)
				continue
			}
			if !tc.want(err) {
				t.Errorf("%s: refused for another reason: %v", tc.name, err)
			}
		}
		nc, err := c.dial(c.clientOptions(natsauth.Producer)...)
		if err != nil {
			t.Fatalf("the producer's credentials: %v", err)
		}
		nc.Close()
	})

	t.Run("routes need a certificate of the CA", func(t *testing.T) {
		foreign := t.TempDir()
		if _, err := natsauth.Generate(natsauth.Options{Dir: foreign}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name    string
			certDir string // "": no client certificate
			refused bool
		}{
			{"no certificate", "", true},
			{"a certificate of another CA", filepath.Join(foreign, "nats-2"), true},
			{"nats-2's certificate", filepath.Join(c.Secrets, "nats-2"), false},
		} {
			err := c.routeHandshake(tc.certDir)
			switch {
			case tc.refused && (err == nil || !strings.Contains(err.Error(), "tls:") || !strings.Contains(err.Error(), "certificate")):
				t.Errorf("%s: %v, want a TLS alert about the certificate", tc.name, err)
			case !tc.refused && err != nil:
				t.Errorf("%s: %v, want the route INFO", tc.name, err)
			}
		}
	})

	prod := c.connectAs(natsauth.Producer)
	op := c.connectAs(natsauth.Operator)
	var failing, stopping *Job
	t.Run("the workers load a producer's jobs", func(t *testing.T) {
		// 3 undecodable records: dead letters. A stop-on-error job whose
		// first record fails: the workers write its stop flag in the state
		// bucket and skip what they have not loaded yet.
		failing = c.UpsertJob("secure", 300)
		for _, seq := range []int{10, 150, 290} {
			failing.Payloads[seq-1] = []byte(`not json`)
		}
		stopping = c.UpsertJob("secure-stop", 50)
		stopping.Payloads[0] = []byte(`not json`)
		prod.publish(t, failing, false)
		prod.publish(t, stopping, true)
		res := prod.watch(t, failing)
		if res.SuccessCount != 297 || res.ErrorCount != 3 {
			t.Errorf("job %s: %d loaded, %d dead-lettered; want 297 and 3", failing.ID, res.SuccessCount, res.ErrorCount)
		}
		res = prod.watch(t, stopping)
		if res.ErrorCount != 1 || res.SuccessCount+res.SkippedCount != 49 {
			t.Errorf("job %s: %d loaded, %d dead-lettered, %d skipped; want 1 dead-lettered and 49 loaded or skipped",
				stopping.ID, res.SuccessCount, res.ErrorCount, res.SkippedCount)
		}
		stops := 0
		for _, w := range c.Workers {
			stops += len(w.LogLines("job stopped on error"))
		}
		if stops == 0 {
			t.Errorf("no worker wrote job %s's stop flag to the state bucket", stopping.ID)
		}

		// The producer binary, with the producer's files and settings.
		var data bytes.Buffer
		for i := 1; i <= 50; i++ {
			fmt.Fprintf(&data, `{"key":"secure-cli-%03d","company":"Company %d","score":1.5}`+"\n", i, i)
		}
		code, logs := c.runTool(t, "publish-1", natsauth.Producer,
			[]testcontainers.ContainerFile{{Reader: bytes.NewReader(data.Bytes()), ContainerFilePath: "/data/records.jsonl", FileMode: 0o644}},
			"publish", "--pipeline", "accounts", "--wait", "--plain", "--out-dir", "", "/data/records.jsonl")
		if code != 0 || !regexp.MustCompile(`loaded: +50\b`).MatchString(logs) {
			t.Errorf("producer publish --wait: exit %d, want 0 and 50 loaded:\n%s", code, logs)
		}
	})

	t.Run("a producer's limits", func(t *testing.T) {
		// Requests the servers refuse: each must come back as a violation of
		// exactly that subject.
		for _, tc := range []struct{ what, subject, data string }{
			{"read a dead letter", "$JS.API.STREAM.MSG.GET.KINETIC_DLQ", `{"seq":1}`},
			{"list dead letters", "$JS.API.CONSUMER.CREATE.KINETIC_DLQ.snoop.kinetic.dlq.accounts.Account.upsert",
				`{"stream_name":"KINETIC_DLQ","config":{"name":"snoop","filter_subject":"kinetic.dlq.accounts.Account.upsert","ack_policy":"none"}}`},
			{"purge the dead letters", "$JS.API.STREAM.PURGE.KINETIC_DLQ", `{}`},
			{"delete a dead letter", "$JS.API.STREAM.MSG.DELETE.KINETIC_DLQ", `{"seq":1}`},
			{"delete the records stream", "$JS.API.STREAM.DELETE.KINETIC_RECORDS", ``},
			{"delete the dead-letter stream", "$JS.API.STREAM.DELETE.KINETIC_DLQ", ``},
			{"change a stream", "$JS.API.STREAM.UPDATE.KINETIC_RESULTS", `{}`},
			{"settle a record", "$JS.ACK.KINETIC_RECORDS.kinetic_accounts.1.1.1.1.0", `+ACK`},
			{"forge a result", "kinetic.results.accounts.forged", `{}`},
			{"forge a dead letter", "kinetic.dlq.accounts.Account.upsert", `{}`},
			{"write the workers' state", "$KV.KINETIC_STATE.stop.forged", `x`},
		} {
			prod.refusedPublish(t, tc.what, tc.subject, tc.data)
		}
		for _, subject := range []string{"_INBOX.>", "_INBOX_worker.>", "_INBOX_operator.>", "kinetic.records.>", "kinetic.dlq.>", ">"} {
			prod.refusedSubscribe(t, subject)
		}
		// Through the jetstream API: an error, and the stream is still there.
		ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
		err := prod.JS.DeleteStream(ctx, c.Topo.DLQStream())
		cancel()
		prod.provoked["$JS.API.STREAM.DELETE.KINETIC_DLQ"] = true
		if err == nil {
			t.Error("the producer deleted the dead-letter stream")
		}
		prod.expectViolation(t, `Publish to "$JS.API.STREAM.DELETE.KINETIC_DLQ"`)

		// Nothing happened, as the operator sees it: the 4 dead letters
		// (none forged, none removed), no forged result.
		if n := c.streamMsgs(t, c.Topo.DLQStream(), ""); n != 4 {
			t.Errorf("%s holds %d messages, want the 4 dead letters", c.Topo.DLQStream(), n)
		}
		if n := c.streamMsgs(t, c.Topo.ResultsStream(), "kinetic.results.accounts.forged"); n != 0 {
			t.Errorf("%s stored %d forged results", c.Topo.ResultsStream(), n)
		}
	})

	t.Run("an operator purges dead letters, a producer cannot", func(t *testing.T) {
		insp, err := deadletter.NewInspector(c.ctx, c.JS, c.Topo)
		if err != nil {
			t.Fatal(err)
		}
		list := func() int {
			ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
			defer cancel()
			l, err := insp.List(ctx, deadletter.Filter{Job: failing.ID})
			if err != nil {
				t.Fatalf("listing dead letters as the operator: %v", err)
			}
			return len(l)
		}
		if n := list(); n != 3 {
			t.Fatalf("the operator lists %d dead letters of job %s, want 3", n, failing.ID)
		}
		code, logs := c.runTool(t, "dlq-purge-producer", natsauth.Producer, nil, "dlq", "purge", "--job", failing.ID, "--yes")
		if code == 0 || !strings.Contains(logs, "Permissions Violation") {
			t.Errorf("producer dlq purge with the producer's credentials: exit %d, want a failure on a permissions violation:\n%s", code, logs)
		}
		if n := list(); n != 3 {
			t.Fatalf("after the producer's purge, %d dead letters of job %s, want 3", n, failing.ID)
		}
		code, logs = c.runTool(t, "dlq-purge-operator", natsauth.Operator, nil, "dlq", "purge", "--job", failing.ID, "--yes")
		if code != 0 || !strings.Contains(logs, "deleted 3 dead letters") {
			t.Errorf("producer dlq purge with the operator's credentials: exit %d, want 0 and 3 deleted:\n%s", code, logs)
		}
		if n := list(); n != 0 {
			t.Errorf("after the operator's purge, %d dead letters of job %s, want 0", n, failing.ID)
		}
		if n := c.streamMsgs(t, c.Topo.DLQStream(), ""); n != 1 {
			t.Errorf("%s holds %d dead letters, want job %s's 1", c.Topo.DLQStream(), n, stopping.ID)
		}

		// The operator reads JetStream's state, and cannot delete a stream.
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		defer cancel()
		var names []string
		lister := c.JS.StreamNames(ctx)
		for n := range lister.Name() {
			names = append(names, n)
		}
		if err := lister.Err(); err != nil || !slices.Contains(names, c.Topo.RecordsStream()) {
			t.Errorf("the operator lists streams %v (%v), want %s among them", names, err, c.Topo.RecordsStream())
		}
		op.refusedPublish(t, "delete the records stream", "$JS.API.STREAM.DELETE.KINETIC_RECORDS", "")
		op.refusedPublish(t, "purge the results", "$JS.API.STREAM.PURGE.KINETIC_RESULTS", "{}")
	})

	t.Run("the workers bucket", func(t *testing.T) {
		// What a worker announces and reads to share out partitions, and
		// what the operator (the console) reads: with the worker's and the
		// operator's own credentials.
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		defer cancel()
		w := c.connectAs(natsauth.Worker)
		kv, err := w.JS.KeyValue(ctx, c.Topo.WorkersBucket())
		if err != nil {
			t.Fatalf("the worker opens %s: %v", c.Topo.WorkersBucket(), err)
		}
		status, err := messages.EncodeWorkerStatus(messages.WorkerStatus{ID: "secure-test", Started: time.Now(), Updated: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, "secure-test", status); err != nil {
			t.Fatalf("the worker announces itself: %v", err)
		}
		defer func() { _ = kv.Delete(context.WithoutCancel(ctx), "secure-test") }()
		for _, rc := range []*roleConn{w, op} {
			list, err := messages.ListWorkers(ctx, rc.JS, c.Topo)
			if err != nil || !slices.ContainsFunc(list, func(s messages.WorkerStatus) bool { return s.ID == "secure-test" }) {
				t.Errorf("the %s lists the workers: %v (%v), want secure-test among them", rc.role, list, err)
			}
		}
		prod.provoked["$JS.API.STREAM.INFO.KV_KINETIC_WORKERS"] = true
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		defer pcancel()
		if _, err := prod.JS.KeyValue(pctx, c.Topo.WorkersBucket()); err == nil {
			t.Error("the producer opened the workers bucket")
		}
		prod.expectViolation(t, `Publish to "$JS.API.STREAM.INFO.KV_KINETIC_WORKERS"`)
	})

	t.Run("no permission is missing", func(t *testing.T) {
		// Every violation the servers logged is one this test provoked;
		// none is the workers'.
		provoked := map[string]map[string]bool{
			publicKey(t, c.seed(natsauth.Producer)): prod.provoked,
			publicKey(t, c.seed(natsauth.Operator)): op.provoked,
		}
		// The producer binary's dead-letter purge stops at its first request.
		prod.provoked["$JS.API.STREAM.INFO.KINETIC_DLQ"] = true
		workerKey := publicKey(t, c.seed(natsauth.Worker))
		line := regexp.MustCompile(`KINETIC/nkey:(U[A-Z0-9]+)" - (Publish|Subscription) Violation - Subject "([^"]+)"`)
		total := 0
		for _, n := range c.NATS {
			for _, l := range n.LogLines("Violation") {
				m := line.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("%s: unexpected violation line: %s", n.Name, l)
					continue
				}
				total++
				switch {
				case m[1] == workerKey:
					t.Errorf("%s: the worker was refused %s to %s", n.Name, m[2], m[3])
				case !provoked[m[1]][m[3]]:
					t.Errorf("%s: %s was refused %s to %s, which this test did not provoke", n.Name, m[1], m[2], m[3])
				}
			}
		}
		for _, w := range c.Workers {
			if l := w.LogLines("ermissions violation"); len(l) > 0 {
				t.Errorf("%s: %d permission violations, e.g. %s", w.Name, len(l), l[0])
			}
		}
		t.Logf("%d violations logged by the servers, all provoked", total)
	})
}

// Paths of a client's files in its container (deploy/docker-compose.yaml's).
const (
	ctrNATSCA   = "/etc/kinetic/nats/ca.pem"
	ctrNATSSeed = "/etc/kinetic/nats/user.nk"
)

// generateSecrets makes the Secure cluster's certificates and nkeys.
func (c *Cluster) generateSecrets() {
	c.t.Helper()
	c.Secrets = c.t.TempDir()
	if _, err := natsauth.Generate(natsauth.Options{Dir: c.Secrets}); err != nil {
		c.t.Fatalf("generating the NATS certificates and nkeys: %v", err)
	}
}

// secureNATSRequest is a NATS server of deploy/docker-compose.yaml: its
// config file and its own directory of the material, as compose mounts them.
func (c *Cluster) secureNATSRequest(name string) testcontainers.GenericContainerRequest {
	conf, err := os.ReadFile(filepath.Join("..", "deploy", "nats", "nats-server.conf"))
	if err != nil {
		c.t.Fatal(err)
	}
	files := []testcontainers.ContainerFile{{Reader: bytes.NewReader(conf), ContainerFilePath: "/etc/nats/nats-server.conf", FileMode: 0o644}}
	for _, f := range []string{natsauth.CAFile, natsauth.ServerCertFile, natsauth.ServerKeyFile, natsauth.UsersFile} {
		files = append(files, testcontainers.ContainerFile{HostFilePath: filepath.Join(c.Secrets, name, f), ContainerFilePath: "/etc/nats/secrets/" + f, FileMode: 0o644})
	}
	return c.request(name, imageNATS, testcontainers.ContainerRequest{
		Cmd:          []string{"-c", "/etc/nats/nats-server.conf"},
		Env:          map[string]string{"NATS_SERVER_NAME": name},
		Files:        files,
		ExposedPorts: []string{portNATS, portRoute},
		// Monitoring listens inside the container only: wait for the log
		// line; connect() then waits for JetStream (the meta leader).
		WaitingFor: wait.ForLog("Server is ready").WithStartupTimeout(startupTimeout).WithPollInterval(250 * time.Millisecond),
	})
}

// portRoute is the cluster port, published by Secure clusters for the
// mutual-TLS check.
const portRoute = "6222/tcp"

// clientEnv is what natsconn reads for a role in a Secure cluster, inside
// the network (nil otherwise).
func (c *Cluster) clientEnv(role string) map[string]string {
	if c.Secrets == "" {
		return nil
	}
	return map[string]string{
		"NATS_URL":          "tls://nats-1:4222,tls://nats-2:4222,tls://nats-3:4222",
		"NATS_TLS_CA":       ctrNATSCA,
		"NATS_NKEY":         ctrNATSSeed,
		"NATS_INBOX_PREFIX": natsauth.InboxPrefix(role),
	}
}

// clientFiles are a role's CA and seed, where clientEnv says (nil when not Secure).
func (c *Cluster) clientFiles(role string) []testcontainers.ContainerFile {
	if c.Secrets == "" {
		return nil
	}
	return []testcontainers.ContainerFile{
		{HostFilePath: filepath.Join(c.Secrets, role, natsauth.CAFile), ContainerFilePath: ctrNATSCA, FileMode: 0o644},
		{HostFilePath: filepath.Join(c.Secrets, role, natsauth.SeedFile), ContainerFilePath: ctrNATSSeed, FileMode: 0o644},
	}
}

// clientOptions are a role's nats options from the host in a Secure
// cluster: the CA, the nkey, the inbox prefix (nil when not Secure).
func (c *Cluster) clientOptions(role string) []nats.Option {
	if c.Secrets == "" {
		return nil
	}
	return []nats.Option{
		nats.RootCAs(filepath.Join(c.Secrets, role, natsauth.CAFile)),
		nkeyOption(c.t, c.seed(role)),
		nats.CustomInboxPrefix(natsauth.InboxPrefix(role)),
	}
}

func (c *Cluster) seed(role string) string { return filepath.Join(c.Secrets, role, natsauth.SeedFile) }

// dial connects once from the host, without reconnecting.
func (c *Cluster) dial(opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(strings.Join(c.hostURLs(), ","), append([]nats.Option{
		nats.IgnoreDiscoveredServers(), nats.MaxReconnects(0), nats.Timeout(10 * time.Second),
	}, opts...)...)
}

// routeHandshake connects to nats-1's cluster port as a route would (TLS
// first), presenting the certificate of certDir ("" for none), and reads
// what the server sends: the route INFO once it accepts the certificate.
func (c *Cluster) routeHandshake(certDir string) error {
	ca, err := os.ReadFile(filepath.Join(c.Secrets, natsauth.CAFile))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool, ServerName: "nats-1", MinVersion: tls.VersionTLS12}
	if certDir != "" {
		pair, err := tls.LoadX509KeyPair(filepath.Join(certDir, natsauth.ServerCertFile), filepath.Join(certDir, natsauth.ServerKeyFile))
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	conn, err := net.DialTimeout("tcp", c.NATS[0].HostPort(portRoute), 10*time.Second)
	if err != nil {
		return fmt.Errorf("dialing the route port: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	// With TLS 1.3 the server checks the client's certificate after the
	// client has finished the handshake: its verdict is the first read.
	info, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(info, "INFO ") {
		return fmt.Errorf("route port: %q, want the route INFO", info)
	}
	return nil
}

// roleConn is a connection of one role from the host that collects the
// permission violations the servers report to it.
type roleConn struct {
	c          *Cluster
	role       string
	NC         *nats.Conn
	JS         jetstream.JetStream
	violations chan string
	provoked   map[string]bool // subjects refused on purpose
}

func (c *Cluster) connectAs(role string) *roleConn {
	c.t.Helper()
	rc := &roleConn{c: c, role: role, violations: make(chan string, 64), provoked: map[string]bool{}}
	nc, err := c.dial(append(c.clientOptions(role),
		nats.Name("kinetic-integration-"+role),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case rc.violations <- err.Error():
				default:
				}
			}
		}))...)
	if err != nil {
		c.t.Fatalf("connecting as %s: %v", role, err)
	}
	c.t.Cleanup(nc.Close)
	rc.NC = nc
	if rc.JS, err = jetstream.New(nc); err != nil {
		c.t.Fatal(err)
	}
	return rc
}

// expectViolation waits (10 s at most) for the servers to report a
// violation whose message contains what.
func (rc *roleConn) expectViolation(t *testing.T, what string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case v := <-rc.violations:
			if strings.Contains(v, what) {
				return
			}
		case <-deadline:
			t.Errorf("%s: no permissions violation for %s within 10s", rc.role, what)
			return
		case <-rc.c.ctx.Done():
			t.Fatal(rc.c.ctx.Err())
		}
	}
}

// refusedPublish publishes a request to subject and expects the servers to
// refuse it.
func (rc *roleConn) refusedPublish(t *testing.T, what, subject, data string) {
	t.Helper()
	rc.provoked[subject] = true
	if err := rc.NC.PublishRequest(subject, rc.NC.NewInbox(), []byte(data)); err != nil {
		t.Fatalf("%s: %s: %v", rc.role, what, err)
	}
	rc.expectViolation(t, `Publish to "`+subject+`"`)
}

// refusedSubscribe subscribes to subject and expects the servers to refuse it.
func (rc *roleConn) refusedSubscribe(t *testing.T, subject string) {
	t.Helper()
	rc.provoked[subject] = true
	sub, err := rc.NC.SubscribeSync(subject)
	if err != nil {
		t.Fatalf("%s: subscribing to %s: %v", rc.role, subject, err)
	}
	defer func() {
		if err := sub.Unsubscribe(); err != nil {
			t.Error(err)
		}
	}()
	rc.expectViolation(t, `Subscription to "`+subject+`"`)
}

// publish publishes a job through messages.Publisher with this connection.
func (rc *roleConn) publish(t *testing.T, j *Job, stopOnError bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(rc.c.ctx, 2*time.Minute)
	defer cancel()
	pub := messages.NewPublisher(rc.JS, messages.PublisherOptions{})
	for seq := 1; seq <= j.Len(); seq++ {
		meta := messages.RecordMeta{Job: j.ID, Seq: int64(seq), Key: j.Keys[seq-1], MsgID: fmt.Sprintf("%s-%d", j.ID, seq), StopOnError: stopOnError}
		if err := pub.PublishAsync(ctx, j.Subject, j.Payloads[seq-1], meta); err != nil {
			t.Fatalf("%s publishing job %s: %v", rc.role, j.ID, err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatalf("%s publishing job %s: %v", rc.role, j.ID, err)
	}
	if n, _ := pub.Stats(); n != j.Len() {
		t.Fatalf("%s publishing job %s: %d of %d stored", rc.role, j.ID, n, j.Len())
	}
}

// watch follows a job with this connection until every record has an outcome.
func (rc *roleConn) watch(t *testing.T, j *Job) *jobs.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(rc.c.ctx, 3*time.Minute)
	defer cancel()
	res, err := jobs.Watch(ctx, rc.JS, jobs.Options{Topology: rc.c.Topo, Job: j.ID, Total: j.Len()})
	if err != nil {
		t.Fatalf("%s following job %s: %v", rc.role, j.ID, err)
	}
	return res
}

// streamMsgs is how many messages a stream holds (on subject, if not ""),
// as the operator sees it.
func (c *Cluster) streamMsgs(t *testing.T, stream, subject string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	s, err := c.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	if subject == "" {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatalf("stream %s: %v", stream, err)
		}
		return info.State.Msgs
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return info.State.Subjects[subject]
}

// runTool runs the producer binary (the publish and dead-letter tools) to
// its end with a role's credentials, and returns its exit code and output.
func (c *Cluster) runTool(t *testing.T, name, role string, files []testcontainers.ContainerFile, args ...string) (int, string) {
	t.Helper()
	env := map[string]string{"KINETIC_PIPELINES": ctrPipelines, "KINETIC_LOG_LEVEL": "warn"}
	for k, v := range c.clientEnv(role) {
		env[k] = v
	}
	files = append(append(files, testcontainers.ContainerFile{Reader: bytes.NewReader(c.pipelinesYAML), ContainerFilePath: ctrPipelines, FileMode: 0o644}),
		c.clientFiles(role)...)
	n, err := c.run(name, c.request(name, imageProducer, testcontainers.ContainerRequest{
		Cmd: args, Env: env, Files: files,
		WaitingFor: wait.ForExit().WithExitTimeout(3 * time.Minute).WithPollInterval(250 * time.Millisecond),
	}))
	if err != nil {
		t.Fatal(err)
	}
	st, err := n.State()
	if err != nil {
		t.Fatal(err)
	}
	return st.ExitCode, n.LogTail(c.ctx, 200)
}

func nkeyOption(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	o, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatalf("nkey %s: %v", seedFile, err)
	}
	return o
}

// mustCreateUser writes the seed of a new nkey user and returns its file.
func mustCreateUser(t *testing.T) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stranger.nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func publicKey(t *testing.T, seedFile string) string {
	t.Helper()
	b, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

func isAuthorization(err error) bool { return errors.Is(err, nats.ErrAuthorization) }
