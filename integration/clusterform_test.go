//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Workers started while the NATS cluster is still forming wait, they never
// exit: two of three nodes are up, two workers start with R3 streams and
// are refused placement (err_code 10005, no suitable peers) until the third
// node joins six seconds later; both become ready within 90 s of that,
// without restarting, and load a job.
func TestWorkersWaitForAFormingCluster(t *testing.T) {
	c := NewCluster(t, Options{Workers: NoWorkers, NATSUp: 2})
	workers := c.StartWorkers(2)
	started := map[string]string{}
	for _, w := range workers {
		st, err := w.State()
		if err != nil {
			t.Fatal(err)
		}
		started[w.Name] = st.StartedAt
	}
	// While the third node is missing, every worker lives and says why it is
	// not ready.
	c.Eventually("the workers to report why they wait", 2*time.Minute, func() error {
		for _, w := range workers {
			if code, _, err := w.Get(portMetrics, "/healthz"); err != nil {
				return fmt.Errorf("%s /healthz: %w", w.Name, err)
			} else if code != http.StatusOK {
				return fmt.Errorf("%s /healthz: %d", w.Name, code)
			}
			code, body, err := w.Get(portMetrics, "/readyz")
			if err != nil {
				return err
			}
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: ") {
				return fmt.Errorf("%s /readyz: %d %q", w.Name, code, body)
			}
		}
		return nil
	})
	time.Sleep(6 * time.Second) // the scenario: the third node joins six seconds later
	for _, w := range workers {
		_, body, _ := w.Get(portMetrics, "/readyz")
		t.Logf("%s before the third node: %s", w.Name, strings.TrimSpace(body))
	}
	c.StartNATSNode(3)
	joined := time.Now()
	var mu sync.Mutex
	readyAfter := map[string]time.Duration{}
	c.Eventually("both workers ready within 90 s of the third node joining", 90*time.Second, func() error {
		for _, w := range workers {
			st, err := w.State()
			if err != nil {
				return err
			}
			if !st.Running {
				t.Fatalf("%s exited (code %d) while the cluster formed:\n%s", w.Name, st.ExitCode, w.LogTail(c.ctx, 20))
			}
			code, body, err := w.Get(portMetrics, "/readyz")
			if err != nil {
				return fmt.Errorf("%s /readyz: %w", w.Name, err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("%s: %d %q", w.Name, code, body)
			}
			mu.Lock()
			if _, ok := readyAfter[w.Name]; !ok {
				readyAfter[w.Name] = time.Since(joined)
			}
			mu.Unlock()
		}
		return nil
	})
	for _, w := range workers {
		st, err := w.State()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running || st.StartedAt != started[w.Name] {
			t.Errorf("%s: running %v, started %s, first started %s: the process did not live through", w.Name, st.Running, st.StartedAt, started[w.Name])
		}
		attempts, err := w.Metric("kinetic_setup_attempts_total")
		if err != nil {
			t.Error(err)
		}
		waits := w.LogLines("setting up streams and consumers failed; retrying")
		t.Logf("%s ready %v after the third node joined, %v set-up attempts, %d logged retries; first: %s",
			w.Name, readyAfter[w.Name].Round(100*time.Millisecond), attempts, len(waits), first(waits))
		if len(waits) == 0 {
			t.Errorf("%s never waited: the scenario did not happen", w.Name)
		}
		if fails := w.LogLines("worker failed"); len(fails) > 0 {
			t.Errorf("%s: %v", w.Name, fails)
		}
	}
	// And they work.
	j := c.UpsertJob("formed", 2000)
	c.Publish(j, 1, j.Len())
	res := c.Watch(j, 3*time.Minute)
	Report(t, "cluster forming: 2 of 3 NATS nodes, 2 workers, third node 6 s later", c.Audit(j, res, 0, AuditOptions{}))
}

// A full cluster restart under running workers: every NATS node stops
// (SIGTERM) mid-job and comes back; the workers reconnect and carry on with
// no manual step, and no record is lost.
func TestFullClusterRestart(t *testing.T) {
	const n = 10_000
	c := NewCluster(t, Options{Workers: 2})
	c.SetFaults(sfsim.Faults{Latency: time.Second, Jitter: 100 * time.Millisecond})
	j := c.UpsertJob("restart", n)
	start := time.Now()
	c.Publish(j, 1, n)
	c.WaitLive("Account", n/5, 2*time.Minute)

	before, _ := c.Live("Account")
	var wg sync.WaitGroup
	for _, node := range c.NATS {
		wg.Go(func() { node.Stop(30 * time.Second) })
	}
	wg.Wait()
	down := time.Now()
	t.Logf("all three NATS nodes stopped with %d of %d records loaded", before, n)
	for _, w := range c.Workers {
		if st, err := w.State(); err != nil || !st.Running {
			t.Fatalf("%s stopped with the cluster: %v %v", w.Name, st, err)
		}
	}
	time.Sleep(5 * time.Second) // the cluster stays down a while
	for _, node := range c.NATS {
		wg.Go(func() { node.Start() })
	}
	wg.Wait()
	t.Logf("cluster back after %v", time.Since(down).Round(100*time.Millisecond))
	c.Reconnect() // the test's own client: the nodes' mapped ports changed
	res := c.Watch(j, 10*time.Minute)
	Report(t, "full cluster restart: all 3 NATS nodes stopped mid-job and started again", c.Audit(j, res, time.Since(start), AuditOptions{}))
	for _, w := range c.Workers {
		st, err := w.State()
		if err != nil || !st.Running {
			t.Errorf("%s: %+v %v", w.Name, st, err)
		}
		code, body, err := w.Get(portMetrics, "/readyz")
		if err != nil || code != http.StatusOK {
			t.Errorf("%s not ready after the restart: %d %q %v", w.Name, code, body, err)
		}
	}
}

func first(lines []string) string {
	if len(lines) == 0 {
		return "(none)"
	}
	return lines[0]
}
