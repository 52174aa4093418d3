package console

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
)

// dlqFilter is what the dead-letter pages filter on: pkg/deadletter's
// Filter fields plus a text search over the code, message, key, job,
// fields and original record.
type dlqFilter struct {
	Pipeline, Code, Job, Q string
	Seqs                   []uint64 // a selection, when given
}

func readFilter(r *http.Request) (dlqFilter, error) {
	if err := r.ParseForm(); err != nil {
		return dlqFilter{}, err
	}
	f := dlqFilter{Pipeline: param(r, "pipeline"), Code: param(r, "code"), Job: param(r, "job"), Q: param(r, "q")}
	for _, v := range r.Form["seq"] {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || n == 0 {
			return f, fmt.Errorf("%q is not a dead-letter sequence number", v)
		}
		f.Seqs = append(f.Seqs, n)
	}
	slices.Sort(f.Seqs)
	f.Seqs = slices.Compact(f.Seqs)
	return f, nil
}

// Query renders the filter (without the selection) as a query string.
func (f dlqFilter) Query() string {
	return string(query("pipeline", f.Pipeline, "code", f.Code, "job", f.Job, "q", f.Q))
}

// Empty reports whether the filter matches every dead letter.
func (f dlqFilter) Empty() bool {
	return f.Pipeline == "" && f.Code == "" && f.Job == "" && f.Q == "" && len(f.Seqs) == 0
}

func (f dlqFilter) library(limit int) deadletter.Filter {
	return deadletter.Filter{Pipeline: f.Pipeline, Code: f.Code, Job: f.Job, Seqs: f.Seqs, Limit: limit}
}

func (f dlqFilter) matchText(e *deadletter.Entry) bool {
	if f.Q == "" {
		return true
	}
	q := strings.ToLower(f.Q)
	d := e.DeadLetter
	for _, s := range []string{d.Code, d.Message, d.Key, d.Job, d.Subject, d.Worker, strings.Join(d.Fields, " "), string(d.Data)} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

// dlqGroup is the dead letters of one pipeline and error code.
type dlqGroup struct {
	Pipeline, SObject, Mode, Code string
	Count                         int
	Jobs                          int
	First, Last                   time.Time
	Sample                        deadletter.Entry // the newest
}

// Query selects the group.
func (g dlqGroup) Query(f dlqFilter) string {
	return string(query("pipeline", g.Pipeline, "code", g.Code, "job", f.Job, "q", f.Q))
}

type dlqPage struct {
	Filter    dlqFilter
	Groups    []dlqGroup
	Entries   []deadletter.Entry
	Total     int
	Truncated bool // the listing stopped at MaxDeadLetters
	Limit     int
	Pipelines []string
	Codes     []string
}

func (s *Server) inspector(ctx context.Context) (*deadletter.Inspector, error) {
	js, err := s.js()
	if err != nil {
		return nil, err
	}
	return deadletter.NewInspector(ctx, js, s.opts.Topology, deadletter.WithPipelines(s.opts.Pipelines))
}

// replayable is the dead letters a replay report says were (or, dry, would
// be) replayed.
func replayable(rep *deadletter.ReplayReport) []deadletter.Entry {
	var out []deadletter.Entry
	for _, r := range rep.Results {
		if r.Outcome == deadletter.Replayed {
			out = append(out, r.Entry)
		}
	}
	return out
}

// list reads the dead letters a filter selects, oldest first.
func (s *Server) list(ctx context.Context, insp *deadletter.Inspector, f dlqFilter) ([]deadletter.Entry, bool, error) {
	lf := f.library(s.opts.MaxDeadLetters)
	if len(f.Seqs) > 0 {
		lf.Limit = 0
	}
	entries, err := insp.List(ctx, lf)
	if err != nil {
		return nil, false, err
	}
	truncated := lf.Limit > 0 && len(entries) >= lf.Limit
	if f.Q != "" {
		entries = slices.DeleteFunc(entries, func(e deadletter.Entry) bool { return !f.matchText(&e) })
	}
	return entries, truncated, nil
}

func (s *Server) dlqPage(w http.ResponseWriter, r *http.Request, name string) {
	f, err := readFilter(r)
	if err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad filter", err.Error())
		return
	}
	dp := &dlqPage{Filter: f, Limit: s.opts.MaxDeadLetters, Pipelines: s.knownPipelines()}
	v := view{Title: "Dead letters", Nav: "dlq", Data: dp}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	insp, err := s.inspector(ctx)
	if err == nil {
		dp.Entries, dp.Truncated, err = s.list(ctx, insp, f)
	}
	if err != nil {
		v.Errors = append(v.Errors, "reading dead letters: "+err.Error())
		s.render(w, r, http.StatusOK, name, v)
		return
	}
	dp.Total = len(dp.Entries)
	groups := map[[2]string]*dlqGroup{}
	jobs := map[[2]string]map[string]bool{}
	codes := map[string]bool{}
	for _, e := range dp.Entries {
		d := e.DeadLetter
		codes[d.Code] = true
		k := [2]string{d.Pipeline, d.Code}
		g := groups[k]
		if g == nil {
			g = &dlqGroup{Pipeline: d.Pipeline, SObject: d.SObject, Mode: d.Mode, Code: d.Code, First: e.Time}
			groups[k] = g
			jobs[k] = map[string]bool{}
		}
		g.Count++
		if d.Job != "" {
			jobs[k][d.Job] = true
		}
		if !e.Time.Before(g.Last) {
			g.Last, g.Sample = e.Time, e
		}
		if e.Time.Before(g.First) {
			g.First = e.Time
		}
	}
	for k, g := range groups {
		g.Jobs = len(jobs[k])
		dp.Groups = append(dp.Groups, *g)
	}
	slices.SortFunc(dp.Groups, func(a, b dlqGroup) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Pipeline, b.Pipeline); c != 0 {
			return c
		}
		return cmp.Compare(a.Code, b.Code)
	})
	dp.Codes = slices.Sorted(func(yield func(string) bool) {
		for c := range codes {
			if !yield(c) {
				return
			}
		}
	})
	if name == "dlq_list" {
		slices.Reverse(dp.Entries) // newest first
	}
	s.render(w, r, http.StatusOK, name, v)
}

func (s *Server) handleDLQGroups(w http.ResponseWriter, r *http.Request) { s.dlqPage(w, r, "dlq") }
func (s *Server) handleDLQList(w http.ResponseWriter, r *http.Request)   { s.dlqPage(w, r, "dlq_list") }

// knownPipelines lists pipeline names for the filter's suggestions.
func (s *Server) knownPipelines() []string {
	set := map[string]bool{}
	if s.opts.Pipelines != nil {
		for _, pc := range s.opts.Pipelines.Pipelines {
			set[pc.Name] = true
		}
	}
	for n := range s.results.pipelineNames() {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// dlqEntryPage is one dead letter in full.
type dlqEntryPage struct {
	Entry   *deadletter.Entry
	Record  string // the original record, indented when it is JSON
	Headers [][2]string
}

func (s *Server) handleDLQShow(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		s.renderError(w, r, http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	insp, err := s.inspector(ctx)
	var e *deadletter.Entry
	if err == nil {
		e, err = insp.Get(ctx, seq)
	}
	if err != nil {
		s.render(w, r, http.StatusOK, "dlq_show", view{Title: fmt.Sprintf("Dead letter %d", seq), Nav: "dlq",
			Errors: []string{err.Error()}, Data: &dlqEntryPage{}})
		return
	}
	p := &dlqEntryPage{Entry: e, Record: prettyJSON(e.DeadLetter.Data)}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range e.DeadLetter.Headers {
			if !yield(k) {
				return
			}
		}
	}) {
		p.Headers = append(p.Headers, [2]string{k, strings.Join(e.DeadLetter.Headers[k], ", ")})
	}
	s.render(w, r, http.StatusOK, "dlq_show", view{Title: fmt.Sprintf("Dead letter %d", seq), Nav: "dlq", Data: p})
}

func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Valid(b) && json.Indent(&out, b, "", "  ") == nil {
		return out.String()
	}
	return string(b)
}

// actionPage is a replay dry run or a purge preview, and the confirm form.
type actionPage struct {
	Action    string // replay or purge
	Filter    dlqFilter
	Entries   []deadletter.Entry
	Truncated bool
	Limit     int
}

// preview lists what an action would act on. A replay preview is
// pkg/deadletter's dry run, exactly as `producer dlq replay --dry-run`.
func (s *Server) preview(w http.ResponseWriter, r *http.Request, action string) {
	f, err := readFilter(r)
	if err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad selection", err.Error())
		return
	}
	ap := &actionPage{Action: action, Filter: f, Limit: s.opts.MaxDeadLetters}
	title := "Replay dead letters: dry run"
	if action == "purge" {
		title = "Purge dead letters"
	}
	v := view{Title: title, Nav: "dlq", Data: ap}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	insp, err := s.inspector(ctx)
	if err == nil {
		switch {
		case action == "replay" && f.Q == "" && len(f.Seqs) == 0:
			// The dry run of the filter itself: one pass, as
			// `producer dlq replay --dry-run` with the same filters.
			var rep *deadletter.ReplayReport
			rep, err = insp.Replay(ctx, f.library(s.opts.MaxDeadLetters), deadletter.ReplayOptions{DryRun: true})
			if rep != nil {
				ap.Entries = replayable(rep)
				ap.Truncated = len(ap.Entries) >= s.opts.MaxDeadLetters
			}
		default:
			ap.Entries, ap.Truncated, err = s.list(ctx, insp, f)
		}
		if err == nil && action == "replay" && (f.Q != "" || len(f.Seqs) > 0) && len(ap.Entries) > 0 {
			// The preview is pkg/deadletter's dry run of exactly what the
			// confirm step will replay.
			seqs := make([]uint64, len(ap.Entries))
			for i, e := range ap.Entries {
				seqs[i] = e.Seq
			}
			var rep *deadletter.ReplayReport
			rep, err = insp.Replay(ctx, deadletter.Filter{Seqs: seqs}, deadletter.ReplayOptions{DryRun: true})
			ap.Entries = nil
			if rep != nil {
				ap.Entries = replayable(rep)
			}
		}
	}
	if err != nil {
		v.Errors = append(v.Errors, "reading dead letters: "+err.Error())
	}
	s.render(w, r, http.StatusOK, "action", v)
}

func (s *Server) handleReplayPreview(w http.ResponseWriter, r *http.Request) {
	s.preview(w, r, "replay")
}
func (s *Server) handlePurgePreview(w http.ResponseWriter, r *http.Request) { s.preview(w, r, "purge") }

// actionReport is what a confirmed replay or purge did.
type actionReport struct {
	Action     string
	Filter     dlqFilter
	Requested  int
	Done       []deadletter.Entry // replayed
	Purged     int
	Duplicates int
	Failed     []string
	Missing    []uint64 // no longer in the stream (replayed or purged meanwhile)
}

// present splits confirmed sequence numbers into those still in the
// dead-letter stream and those gone since the preview (replayed or purged
// meanwhile, by someone else): pkg/deadletter fails a whole action on a
// missing sequence, and its error is not typed.
func (s *Server) present(ctx context.Context, seqs []uint64) (have, missing []uint64, failed []string) {
	js, err := s.js()
	if err != nil {
		return nil, nil, []string{err.Error()}
	}
	stream, err := js.Stream(ctx, s.opts.Topology.DLQStream())
	if err != nil {
		return nil, nil, []string{"dead-letter stream: " + err.Error()}
	}
	for _, seq := range seqs {
		if _, err := stream.GetMsg(ctx, seq); err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				missing = append(missing, seq)
			} else {
				failed = append(failed, fmt.Sprintf("dead letter %d: %v", seq, err))
			}
			continue
		}
		have = append(have, seq)
	}
	return have, missing, failed
}

// confirmed reads the confirm form: the sequence numbers the preview listed.
func (s *Server) confirmed(w http.ResponseWriter, r *http.Request) (dlqFilter, bool) {
	f, err := readFilter(r)
	switch {
	case err != nil:
		s.renderError(w, r, http.StatusBadRequest, "Bad selection", err.Error())
		return f, false
	case len(f.Seqs) == 0:
		s.renderError(w, r, http.StatusBadRequest, "Nothing selected", "The confirmation lists no dead letter: nothing was changed.")
		return f, false
	case len(f.Seqs) > s.opts.MaxDeadLetters:
		s.renderError(w, r, http.StatusBadRequest, "Too many", fmt.Sprintf("At most %d dead letters at once: nothing was changed.", s.opts.MaxDeadLetters))
		return f, false
	}
	return f, true
}

func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request) {
	f, ok := s.confirmed(w, r)
	if !ok {
		return
	}
	rep := &actionReport{Action: "replay", Filter: f, Requested: len(f.Seqs)}
	v := view{Title: "Replay: report", Nav: "dlq", Data: rep}
	ctx, cancel := context.WithTimeout(r.Context(), 90*time.Second)
	defer cancel()
	insp, err := s.inspector(ctx)
	if err != nil {
		v.Errors = append(v.Errors, err.Error())
		s.render(w, r, http.StatusServiceUnavailable, "report", v)
		return
	}
	var have []uint64
	have, rep.Missing, rep.Failed = s.present(ctx, f.Seqs)
	if len(have) > 0 {
		res, err := insp.Replay(ctx, deadletter.Filter{Seqs: have}, deadletter.ReplayOptions{})
		if res != nil {
			rep.Done = replayable(res)
			for _, r := range res.Results {
				switch {
				case r.Outcome == deadletter.Replayed && r.Duplicate:
					rep.Duplicates++
				case r.Outcome != deadletter.Replayed:
					rep.Failed = append(rep.Failed, fmt.Sprintf("dead letter %d: %s: %s", r.Seq, r.Outcome, r.Reason))
				}
			}
		}
		if err != nil {
			rep.Failed = append(rep.Failed, err.Error())
		}
	}
	s.log.Info().Int("requested", rep.Requested).Int("replayed", len(rep.Done)).Int("duplicates", rep.Duplicates).
		Int("failed", len(rep.Failed)).Int("missing", len(rep.Missing)).Str("remote", r.RemoteAddr).Msg("console: dead letters replayed")
	s.render(w, r, http.StatusOK, "report", v)
}

func (s *Server) handlePurge(w http.ResponseWriter, r *http.Request) {
	f, ok := s.confirmed(w, r)
	if !ok {
		return
	}
	rep := &actionReport{Action: "purge", Filter: f, Requested: len(f.Seqs)}
	v := view{Title: "Purge: report", Nav: "dlq", Data: rep}
	ctx, cancel := context.WithTimeout(r.Context(), 90*time.Second)
	defer cancel()
	insp, err := s.inspector(ctx)
	if err != nil {
		v.Errors = append(v.Errors, err.Error())
		s.render(w, r, http.StatusServiceUnavailable, "report", v)
		return
	}
	var have []uint64
	have, rep.Missing, rep.Failed = s.present(ctx, f.Seqs)
	if len(have) > 0 {
		n, err := insp.Purge(ctx, deadletter.Filter{Seqs: have})
		rep.Purged = n
		if err != nil {
			rep.Failed = append(rep.Failed, err.Error())
		}
	}
	s.log.Info().Int("requested", rep.Requested).Int("purged", rep.Purged).Int("failed", len(rep.Failed)).
		Int("missing", len(rep.Missing)).Str("remote", r.RemoteAddr).Msg("console: dead letters purged")
	s.render(w, r, http.StatusOK, "report", v)
}
