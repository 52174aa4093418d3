package worker

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the worker's operational endpoints:
//
//	/metrics  Prometheus metrics
//	/healthz  200 while the process runs (liveness)
//	/readyz   200 when streams and consumers are set up, NATS is connected
//	          and no pipeline is paused on an auth failure; 503 otherwise,
//	          with the reason in the body
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ok, reason := w.Status(); !ok {
			rw.WriteHeader(http.StatusServiceUnavailable)
			_, _ = rw.Write([]byte("not ready: " + reason + "\n"))
			return
		}
		_, _ = rw.Write([]byte("ready\n"))
	})
	return mux
}
