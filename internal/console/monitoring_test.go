package console

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/kinetic-sync/kinetic/internal/worker"
)

const (
	alertsFile    = "../../deploy/prometheus/alerts.yaml"
	dashboardFile = "../../deploy/grafana/kinetic.json"
)

// exporterMetrics are the series the rules and the dashboard read from
// prometheus-nats-exporter (-jsz=consumers), and Prometheus' own.
var exporterMetrics = []string{
	"jetstream_consumer_num_pending",     // NumPending of a consumer
	"jetstream_consumer_num_ack_pending", // NumAckPending of a consumer
	"up",                                 // Prometheus itself: the scrape of a target succeeded
}

// loadRules parses the alert rules with Prometheus' own rule parser, as
// Prometheus does at start-up (unknown fields are errors).
func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return groups
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	groups := loadRules(t)
	alerts := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts[r.Alert] = r
			}
		}
	}
	for _, name := range []string{"KineticLagGrowing", "KineticDeadLetterRateHigh", "KineticPipelinePaused", "KineticAPIUsageHigh", "KineticNoReadyWorker"} {
		r, ok := alerts[name]
		if !ok {
			t.Errorf("no alert %s", name)
			continue
		}
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("alert %s needs a severity label and summary and description annotations", name)
		}
		if r.For == 0 {
			t.Errorf("alert %s fires on a single evaluation: give it a for", name)
		}
	}
	if f := alerts["KineticLagGrowing"].For; f.String() != "10m" {
		t.Errorf("KineticLagGrowing for %s, want 10m", f)
	}
}

// workerMetricNames returns the names of the series the worker exports,
// from the descriptors of worker.NewMetrics (a pipeline's series exist
// only once it ran, but their descriptors always do). A histogram's name
// stands for its _bucket, _sum and _count series.
func workerMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	m := worker.NewMetrics()
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	describe := func(c prometheus.Collector, histogram bool) {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			mm := fq.FindStringSubmatch(d.String())
			if mm == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[mm[1]] = true
			if histogram {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[mm[1]+s] = true
				}
			}
		}
	}
	describe(m.Registry, false)
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if c, ok := v.Field(i).Interface().(*prometheus.HistogramVec); ok {
			describe(c, true)
		}
	}
	if !names["kinetic_records_total"] || !names["kinetic_salesforce_call_duration_seconds_bucket"] {
		t.Fatalf("unexpected worker metrics: %v", names)
	}
	return names
}

// metricNames lists the metric names a PromQL expression reads.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %q: %v", where, expr, err)
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			out = append(out, name)
		}
		return nil
	})
	return out
}

// grafanaVars replaces the dashboard's variables and Grafana's macros with
// values PromQL parses.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$pipeline", ".*")

func TestRulesAndDashboardUseExportedMetrics(t *testing.T) {
	t.Parallel()
	allowed := workerMetricNames(t)
	for _, n := range exporterMetrics {
		allowed[n] = true
	}
	type use struct{ where, expr string }
	var uses []use
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				allowed[r.Record] = true // recording rules are defined here
			}
			uses = append(uses, use{"rule " + r.Alert + r.Record, r.Expr})
		}
	}
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	panels := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		panels++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			uses = append(uses, use{"panel " + p.Title, grafanaVars.Replace(tg.Expr)})
		}
	}
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),`)
	for _, v := range dash.Templating.List {
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			uses = append(uses, use{"variable " + v.Name, m[1]})
		}
	}
	var used []string
	for _, u := range uses {
		for _, n := range metricNames(t, u.where, u.expr) {
			used = append(used, n)
			if !allowed[n] {
				t.Errorf("%s reads %s, which neither the worker (worker.NewMetrics) nor the documented exporters export", u.where, n)
			}
		}
	}
	// The dashboard covers what an operator asked for.
	for _, n := range []string{"kinetic_records_total", "jetstream_consumer_num_pending", "kinetic_salesforce_call_duration_seconds_bucket",
		"kinetic_salesforce_retries_total", "kinetic_dead_letters_total", "kinetic_pipeline_paused", "kinetic_salesforce_api_usage", "kinetic_salesforce_api_limit"} {
		if !slices.Contains(used, n) {
			t.Errorf("nothing reads %s", n)
		}
	}
	if panels < 8 {
		t.Errorf("the dashboard has %d panels", panels)
	}
}
