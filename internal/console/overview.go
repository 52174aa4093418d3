package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// level is how much a row needs attention.
type level int

const (
	levelOK level = iota
	levelWarn
	levelCrit
)

func (l level) String() string {
	switch l {
	case levelCrit:
		return "crit"
	case levelWarn:
		return "warn"
	}
	return "ok"
}

// problem is one reason a pipeline needs attention.
type problem struct {
	Level level
	Text  string
}

// consumerLag is one consumer of a pipeline, as KEDA sees it.
type consumerLag struct {
	Name       string
	Partition  string // "" for the consumer of unkeyed records
	Pending    uint64 // NumPending: not yet delivered
	AckPending int    // NumAckPending: delivered, not yet acknowledged
	Waiting    int    // pull requests waiting: replicas asking for work
	Shared     []string
}

// Lag is what KEDA's nats-jetstream scaler computes.
func (c consumerLag) Lag() uint64 { return c.Pending + uint64(c.AckPending) }

// pipelineRow is one line of the overview.
type pipelineRow struct {
	Name, SObject, Mode string
	Configured          bool // in the pipelines file
	Level               level
	Problems            []problem

	State    string   // running, paused, refused; "" when no replica reports it
	Reasons  []string // why paused or refused, with the replicas saying so
	Replicas int
	InFlight int

	Consumers []consumerLag
	Lag       uint64
	LagKnown  bool
	Shared    []string // other pipelines served by the same consumers

	Rate1m, Rate15m float64 // final outcomes per second
	Window15m       counts
	ErrorRate       float64 // dead-lettered / final, last 15 minutes
	DeadLetters     uint64  // in the dead-letter stream now
	DLKnown         bool
	LastResult      time.Time
	Spark           template.HTML
}

// overview is the data of the overview page.
type overview struct {
	Rows          []*pipelineRow
	Workers       int
	Ready         int
	WorkersKnown  bool
	Pulling       bool // some consumer has pull requests waiting: a replica is alive
	TotalLag      uint64
	TotalRate     float64
	TotalDL       uint64
	Unhealthy     int
	Worst         level // the worst row's level
	IndexCaughtUp bool
	IndexRead     int
	Chart         template.HTML
}

var partitionSuffix = regexp.MustCompile(`_p([0-9]+)$`)

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	ov, errs := s.collectOverview(r.Context())
	v := view{Title: "Overview", Nav: "overview", Data: ov, Errors: errs}
	if s.opts.Refresh > 0 && r.URL.Query().Get("refresh") != "0" {
		v.Refresh = int(s.opts.Refresh / time.Second)
	}
	s.render(w, r, http.StatusOK, "overview", v)
}

// collectOverview gathers everything the overview shows. It returns what it
// could read and, for each source it could not, why.
func (s *Server) collectOverview(ctx context.Context) (*overview, []string) {
	now := s.opts.Now()
	rows := map[string]*pipelineRow{}
	row := func(name string) *pipelineRow {
		p := rows[name]
		if p == nil {
			p = &pipelineRow{Name: name}
			rows[name] = p
		}
		return p
	}
	durables := map[string]string{} // consumer name → pipeline, from the pipelines file
	if s.opts.Pipelines != nil {
		for _, pc := range s.opts.Pipelines.Pipelines {
			p := row(pc.Name)
			p.Configured, p.SObject, p.Mode = true, pc.SObject, string(pc.Mode)
			if set, err := worker.SettingsOf(pc); err == nil {
				durables[set.Durable] = pc.Name
			}
		}
	}
	for name, om := range s.results.pipelineNames() {
		p := row(name)
		if p.SObject == "" {
			p.SObject, p.Mode = om[0], om[1]
		}
	}

	var errs []string
	ov := &overview{}
	st := s.results.status()
	ov.IndexCaughtUp, ov.IndexRead = st.CaughtUp, st.Read
	if st.Err != nil {
		errs = append(errs, "results stream: "+st.Err.Error())
	}
	var lagOK, dlOK bool
	js, err := s.js()
	if err != nil {
		errs = append(errs, err.Error())
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := s.collectConsumers(ctx, js, row, durables); err != nil {
			errs = append(errs, "records stream consumers (lag): "+err.Error())
		} else {
			lagOK = true
		}
		if err := s.collectDeadLetterCounts(ctx, js, row); err != nil {
			errs = append(errs, "dead-letter stream: "+err.Error())
		} else {
			dlOK = true
		}
		workers, err := messages.ListWorkers(ctx, js, s.opts.Topology)
		if err != nil {
			errs = append(errs, "workers bucket: "+err.Error())
		} else {
			ov.WorkersKnown = true
			ov.Workers = len(workers)
			for _, ws := range workers {
				if ws.Ready {
					ov.Ready++
				}
				for _, wp := range ws.Pipelines {
					p := row(wp.Name)
					if p.SObject == "" {
						p.SObject, p.Mode = wp.SObject, wp.Mode
					}
					p.Replicas++
					p.InFlight += wp.InFlight
					switch {
					case wp.State == messages.PipelineRefused:
						p.State = wp.State
					case wp.State == messages.PipelinePaused && p.State != messages.PipelineRefused:
						p.State = wp.State
					case p.State == "":
						p.State = wp.State
					}
					if wp.Reason != "" {
						p.Reasons = append(p.Reasons, fmt.Sprintf("%s on %s: %s", wp.State, ws.ID, wp.Reason))
					}
				}
			}
		}
	}

	var chartSeries [][]counts
	for _, p := range rows {
		for _, c := range p.Consumers {
			ov.Pulling = ov.Pulling || c.Waiting > 0
		}
	}
	for _, p := range rows {
		p.LagKnown, p.DLKnown = lagOK, dlOK
		w1 := s.results.window(p.Name, now, time.Minute)
		p.Window15m = s.results.window(p.Name, now, 15*time.Minute)
		p.Rate1m = float64(w1.Final()) / 60
		p.Rate15m = float64(p.Window15m.Final()) / (15 * 60)
		if f := p.Window15m.Loaded + p.Window15m.DeadLettered; f > 0 {
			p.ErrorRate = float64(p.Window15m.DeadLettered) / float64(f)
		}
		p.LastResult = s.results.lastResult(p.Name)
		series := s.results.series(p.Name, now, time.Minute, 60)
		chartSeries = append(chartSeries, series)
		p.Spark = sparkline(series, fmt.Sprintf("%s: records per minute, last hour", p.Name))
		judge(p, ov, now)
		ov.TotalLag += p.Lag
		ov.TotalRate += p.Rate1m
		ov.TotalDL += p.DeadLetters
		if p.Level != levelOK {
			ov.Unhealthy++
		}
		ov.Worst = max(ov.Worst, p.Level)
		ov.Rows = append(ov.Rows, p)
	}
	ov.Chart = areaChart(sumSeries(chartSeries), now, time.Minute)
	slices.SortFunc(ov.Rows, func(a, b *pipelineRow) int {
		if c := cmp.Compare(b.Level, a.Level); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return ov, errs
}

// judge decides a row's problems and level.
func judge(p *pipelineRow, ov *overview, now time.Time) {
	add := func(l level, format string, a ...any) {
		p.Problems = append(p.Problems, problem{Level: l, Text: fmt.Sprintf(format, a...)})
		p.Level = max(p.Level, l)
	}
	switch p.State {
	case messages.PipelineRefused:
		add(levelCrit, "refused: %s", reasons(p.Reasons))
	case messages.PipelinePaused:
		add(levelCrit, "paused: %s", reasons(p.Reasons))
	}
	if ov.WorkersKnown && ov.Workers > 0 && p.Replicas == 0 && p.Configured {
		if p.Lag > 0 {
			add(levelCrit, "no replica runs it: %s records waiting", formatInt(p.Lag))
		} else {
			add(levelWarn, "no replica runs it")
		}
	}
	if ov.WorkersKnown && ov.Workers == 0 && !ov.Pulling && p.Lag > 0 {
		add(levelCrit, "no worker replica is alive: %s records waiting", formatInt(p.Lag))
	}
	if p.Lag > 0 && p.State == messages.PipelineRunning && p.Window15m.Final() == 0 && now.Sub(p.LastResult) > 5*time.Minute {
		add(levelCrit, "stalled: %s records waiting, nothing loaded for 5 minutes", formatInt(p.Lag))
	}
	if p.DeadLetters > 0 {
		recent := ""
		if n := p.Window15m.DeadLettered; n > 0 {
			recent = fmt.Sprintf(", %s in the last 15 min (%s of outcomes)", formatInt(n), formatPct(p.ErrorRate))
		}
		add(levelWarn, "%s dead letters waiting%s", formatInt(p.DeadLetters), recent)
	} else if n := p.Window15m.DeadLettered; n > 0 {
		add(levelWarn, "%s dead-lettered in the last 15 min (%s)", formatInt(n), formatPct(p.ErrorRate))
	}
}

func reasons(rs []string) string {
	if len(rs) == 0 {
		return "no reason given"
	}
	return strings.Join(slices.Compact(slices.Sorted(slices.Values(rs))), "; ")
}

// collectConsumers reads the records stream's consumers and adds their lag
// to the pipelines they serve: those named in the consumer's
// kinetic_pipelines metadata; else the pipeline whose configured durable it
// is; else kinetic_<pipeline> or kinetic_<pipeline>_p<N> by name.
func (s *Server) collectConsumers(ctx context.Context, js jetstream.JetStream, row func(string) *pipelineRow, durables map[string]string) error {
	stream, err := js.Stream(ctx, s.opts.Topology.RecordsStream())
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("%s does not exist yet: no worker has started", s.opts.Topology.RecordsStream())
		}
		return err
	}
	lister := stream.ListConsumers(ctx)
	for ci := range lister.Info() {
		names := consumerPipelines(ci, durables)
		if len(names) == 0 {
			continue
		}
		cl := consumerLag{Name: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending, Waiting: ci.NumWaiting}
		cl.Partition = ci.Config.Metadata[messages.ConsumerMetaPartition]
		if m := partitionSuffix.FindStringSubmatch(ci.Name); cl.Partition == "" && m != nil {
			cl.Partition = m[1]
		}
		for _, n := range names {
			p := row(n)
			c := cl
			for _, o := range names {
				if o != n {
					c.Shared = append(c.Shared, o)
					if !slices.Contains(p.Shared, o) {
						p.Shared = append(p.Shared, o)
					}
				}
			}
			p.Consumers = append(p.Consumers, c)
			p.Lag += c.Lag()
			if p.SObject == "" {
				if rs, err := s.opts.Topology.Subjects().ParseRecords(firstFilter(ci.Config)); err == nil {
					p.SObject, p.Mode = rs.SObject, rs.Mode
				}
			}
		}
	}
	return lister.Err()
}

func firstFilter(c jetstream.ConsumerConfig) string {
	if c.FilterSubject != "" {
		return c.FilterSubject
	}
	if len(c.FilterSubjects) > 0 {
		return c.FilterSubjects[0]
	}
	return ""
}

// consumerPipelines names the pipelines a records-stream consumer serves.
func consumerPipelines(ci *jetstream.ConsumerInfo, durables map[string]string) []string {
	if v := ci.Config.Metadata[messages.ConsumerMetaPipelines]; v != "" {
		var out []string
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
		return out
	}
	if n, ok := durables[ci.Name]; ok {
		return []string{n}
	}
	if rest, ok := strings.CutPrefix(ci.Name, "kinetic_"); ok {
		rest = partitionSuffix.ReplaceAllString(rest, "")
		if rest != "" {
			return []string{rest}
		}
	}
	return nil
}

// collectDeadLetterCounts counts the dead letters of each pipeline from the
// dead-letter stream's subjects (<prefix>.dlq.<pipeline>.<SObject>.<mode>),
// without reading them.
func (s *Server) collectDeadLetterCounts(ctx context.Context, js jetstream.JetStream, row func(string) *pipelineRow) error {
	stream, err := js.Stream(ctx, s.opts.Topology.DLQStream())
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("%s does not exist yet: no worker has started", s.opts.Topology.DLQStream())
		}
		return err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(s.opts.Topology.Subjects().AllDeadLetters()))
	if err != nil {
		return err
	}
	prefix := s.opts.Topology.Subjects().DeadLetterFilter("", "", "")
	prefix = strings.TrimSuffix(prefix, "*.*.*")
	for subj, n := range info.State.Subjects {
		rest, ok := strings.CutPrefix(subj, prefix)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		row(name).DeadLetters += n
	}
	return nil
}

// sumSeries adds several pipelines' series step by step.
func sumSeries(all [][]counts) []counts {
	if len(all) == 0 {
		return make([]counts, 60)
	}
	out := make([]counts, len(all[0]))
	for _, s := range all {
		for i := range s {
			out[i].add(s[i])
		}
	}
	return out
}
