package worker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// Metrics are the worker's Prometheus metrics, on a registry of their own
// (no global state: tests run several workers in one process).
type Metrics struct {
	Registry *prometheus.Registry

	Records       *prometheus.CounterVec   // kinetic_records_total{pipeline,outcome,code}
	BatchSize     *prometheus.HistogramVec // kinetic_batch_size{pipeline}
	Batches       *prometheus.CounterVec   // kinetic_batches_total{pipeline}
	CallDuration  *prometheus.HistogramVec // kinetic_salesforce_call_duration_seconds{op,status}
	Retries       *prometheus.CounterVec   // kinetic_salesforce_retries_total{pipeline}
	DeadLetters   *prometheus.CounterVec   // kinetic_dead_letters_total{pipeline,code}
	InFlight      *prometheus.GaugeVec     // kinetic_in_flight_records{pipeline}
	Paused        *prometheus.GaugeVec     // kinetic_pipeline_paused{pipeline}
	APIUsed       prometheus.Gauge         // kinetic_salesforce_api_usage
	APILimit      prometheus.Gauge         // kinetic_salesforce_api_limit
	Advisories    prometheus.Counter       // kinetic_max_delivery_advisories_total
	ResultErrors  prometheus.Counter       // kinetic_result_publish_errors_total
	SettleErrors  *prometheus.CounterVec   // kinetic_settle_errors_total{pipeline}
	Redeliveries  *prometheus.CounterVec   // kinetic_redelivered_records_total{pipeline}
	APICallsTotal *prometheus.CounterVec   // kinetic_salesforce_api_calls_total{pipeline}
	SetupAttempts *prometheus.CounterVec   // kinetic_setup_attempts_total{result}
	Ready         prometheus.Gauge         // kinetic_worker_ready
}

// NewMetrics registers the worker's metrics, plus Go runtime and process
// metrics, on a new registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_records_total", Help: "Records by final outcome (loaded, dead_lettered, skipped) or retrying, and Salesforce or Kinetic error code.",
		}, []string{"pipeline", "outcome", "code"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kinetic_batch_size", Help: "Records per batch fetched from JetStream.",
			Buckets: []float64{1, 10, 50, 100, 150, 199, 200, 400, 1000, 2000, 10000},
		}, []string{"pipeline"}),
		Batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_batches_total", Help: "Batches processed.",
		}, []string{"pipeline"}),
		CallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kinetic_salesforce_call_duration_seconds", Help: "Salesforce REST call latency by operation and HTTP status.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"op", "status"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_salesforce_retries_total", Help: "Salesforce calls repeated after a transient failure or for retryable records.",
		}, []string{"pipeline"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_dead_letters_total", Help: "Records sent to the dead-letter stream, by error code.",
		}, []string{"pipeline", "code"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kinetic_in_flight_records", Help: "Records fetched and not yet settled.",
		}, []string{"pipeline"}),
		Paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kinetic_pipeline_paused", Help: "1 while a pipeline waits out a Salesforce outage, rate limit or auth failure.",
		}, []string{"pipeline"}),
		APIUsed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinetic_salesforce_api_usage", Help: "Org API requests used today, from Sforce-Limit-Info.",
		}),
		APILimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinetic_salesforce_api_limit", Help: "Org daily API request limit, from Sforce-Limit-Info.",
		}),
		Advisories: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinetic_max_delivery_advisories_total", Help: "JetStream MAX_DELIVERIES advisories handled.",
		}),
		ResultErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinetic_result_publish_errors_total", Help: "Batch results that could not be published.",
		}),
		SettleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_settle_errors_total", Help: "Acks, naks and terms that failed (the message is then redelivered).",
		}, []string{"pipeline"}),
		Redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_redelivered_records_total", Help: "Records received with a delivery count above 1.",
		}, []string{"pipeline"}),
		APICallsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_salesforce_api_calls_total", Help: "Salesforce REST calls made by pipeline.",
		}, []string{"pipeline"}),
		SetupAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinetic_setup_attempts_total", Help: "Attempts to set up streams, buckets and consumers, by result: ok, transient (retried) or permanent.",
		}, []string{"result"}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinetic_worker_ready", Help: "1 when the worker is ready (what /readyz reports), 0 otherwise.",
		}),
	}
	r.MustRegister(m.Records, m.BatchSize, m.Batches, m.CallDuration, m.Retries, m.DeadLetters, m.InFlight,
		m.Paused, m.APIUsed, m.APILimit, m.Advisories, m.ResultErrors, m.SettleErrors, m.Redeliveries, m.APICallsTotal,
		m.SetupAttempts, m.Ready,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveCall is a salesforce.Config.OnCall hook.
func (m *Metrics) ObserveCall(ci salesforce.CallInfo) {
	status := strconv.Itoa(ci.Status)
	if ci.Status == 0 {
		status = "error"
	}
	m.CallDuration.WithLabelValues(ci.Op, status).Observe(ci.Duration.Seconds())
}

// ObserveLimits records the org's API usage.
func (m *Metrics) ObserveLimits(l salesforce.LimitInfo) {
	m.APIUsed.Set(float64(l.Used))
	m.APILimit.Set(float64(l.Limit))
}
