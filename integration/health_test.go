//go:build integration

package integration

import (
	"net/http"
	"strings"
	"testing"
)

// A worker in the cluster answers /healthz, /readyz and /metrics on its
// metrics port, reached through the mapped port.
func TestWorkerHealthEndpoints(t *testing.T) {
	c := NewCluster(t, Options{Workers: 1})
	w := c.Workers[0]
	for _, tc := range []struct{ path, body string }{
		{"/healthz", "ok"},
		{"/readyz", "ready"},
	} {
		code, body, err := w.Get(portMetrics, tc.path)
		if err != nil || code != http.StatusOK || strings.TrimSpace(body) != tc.body {
			t.Errorf("GET %s = %d %q, %v; want 200 %q", tc.path, code, body, err, tc.body)
		}
	}
	code, body, err := w.Get(portMetrics, "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", code, err)
	}
	// Metrics that exist before any record: the process is Kinetic's worker,
	// wired to the Prometheus registry, not some other server on the port.
	for _, name := range []string{"kinetic_max_delivery_advisories_total", "kinetic_result_publish_errors_total", "go_goroutines"} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("/metrics does not export %s", name)
		}
	}
	// One batch through, so that the per-pipeline metrics exist too.
	j := c.UpsertJob("health", 10)
	c.Publish(j, 1, j.Len())
	if res := c.Watch(j, startupTimeout); res.SuccessCount != 10 {
		t.Fatalf("job health: %v", res.SyncResult)
	}
	if n, err := w.Metric("kinetic_batches_total"); err != nil || n < 1 {
		t.Errorf("kinetic_batches_total = %v, %v; want ≥ 1", n, err)
	}
	if n, err := w.Metric("kinetic_records_total"); err != nil || n != 10 {
		t.Errorf("kinetic_records_total = %v, %v; want 10", n, err)
	}
}
