package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

const dlqUsage = `Usage: producer dlq COMMAND [flags]

  list     list dead letters (filters below)
  show     print dead letters by sequence: the original record, its headers and the error
  replay   republish the original bytes to their pipeline's record subject (or
           --to-pipeline's), at most once, removing each dead letter once its
           republish is acknowledged; the report says what happened to each
  purge    delete dead letters (asks for --yes)

Filters: --pipeline, --sobject, --mode, --code, --job, --since, --until, --seq (repeatable),
--limit. Times are RFC 3339 (2026-11-26T10:00:00Z) or durations back from now (90m, 24h).
`

type dlqFlags struct {
	common
	pipeline, sobject, mode, code, job string
	since, until                       string
	seqs                               []string
	limit                              int
}

func (d *dlqFlags) register(fs *flag.FlagSet) {
	d.common.register(fs)
	e := d.env
	e.String(&d.pipeline, "pipeline", "KINETIC_DLQ_PIPELINE", "", "only this pipeline's dead letters")
	e.String(&d.sobject, "sobject", "KINETIC_DLQ_SOBJECT", "", "only this sObject's")
	e.String(&d.mode, "mode", "KINETIC_DLQ_MODE", "", "only this mode's (insert, update, upsert, delete)")
	e.String(&d.code, "code", "KINETIC_DLQ_CODE", "", "only this error code (e.g. REQUIRED_FIELD_MISSING)")
	e.String(&d.job, "job", "KINETIC_DLQ_JOB", "", "only this job's")
	e.String(&d.since, "since", "KINETIC_DLQ_SINCE", "", "only dead letters stored at or after this time (RFC 3339, or a duration back from now)")
	e.String(&d.until, "until", "KINETIC_DLQ_UNTIL", "", "only dead letters stored before this time")
	e.List(&d.seqs, "seq", "KINETIC_DLQ_SEQ", "only this dead-letter sequence")
	e.Int(&d.limit, "limit", "KINETIC_DLQ_LIMIT", 0, "at most this many (0: all)")
}

func (d *dlqFlags) filter(now time.Time) (deadletter.Filter, error) {
	f := deadletter.Filter{Pipeline: d.pipeline, SObject: d.sobject, Mode: d.mode, Code: d.code, Job: d.job, Limit: d.limit}
	var err error
	if f.Since, err = parseWhen(d.since, now); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = parseWhen(d.until, now); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	for _, s := range d.seqs {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return f, fmt.Errorf("--seq %q: want a dead-letter sequence number", s)
		}
		f.Seqs = append(f.Seqs, n)
	}
	return f, nil
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
}

func cmdDLQ(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, dlqUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("dlq "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), dlqUsage+"\nFlags:\n"); fs.PrintDefaults() }
	var d dlqFlags
	d.register(fs)
	var (
		toPipeline, pipelines, by        string
		dryRun, yes, asJSON, inDoubtOver bool
		concurrency                      int
	)
	switch sub {
	case "list", "show":
		d.env.Bool(&asJSON, "json", "KINETIC_DLQ_JSON", false, "print JSON (one dead letter per line)")
	case "replay":
		d.env.String(&toPipeline, "to-pipeline", "KINETIC_DLQ_TO_PIPELINE", "", "replay into this pipeline instead of each dead letter's own (a keyed pipeline keys each record by its own key field)")
		d.env.String(&pipelines, "pipelines", "KINETIC_PIPELINES", "examples/pipelines.yaml", "pipelines YAML file (the workers'): replay publishes only to these pipelines' record subjects")
		d.env.Bool(&dryRun, "dry-run", "KINETIC_DLQ_DRY_RUN", false, "report what a replay would do, refusals included; change nothing")
		d.env.Bool(&asJSON, "json", "KINETIC_DLQ_JSON", false, "print the report as one JSON object")
		d.env.String(&by, "by", "KINETIC_DLQ_BY", "", "who replays, kept in the replay records (default user@host)")
		d.env.Int(&concurrency, "concurrency", "KINETIC_DLQ_CONCURRENCY", 8,
			"dead letters replayed at once (one key's always one after another); a replay killed outright leaves at most this many to settle")
		d.env.Bool(&inDoubtOver, "republish-in-doubt", "KINETIC_DLQ_REPUBLISH_IN_DOUBT", false,
			"republish the --seq dead letters reported in doubt, under a new Nats-Msg-Id: only after checking they did not reach the records stream")
	case "purge":
		d.env.Bool(&yes, "yes", "KINETIC_DLQ_YES", false, "really delete")
	default:
		fmt.Fprintf(stderr, "producer dlq: unknown command %q\n\n%s", sub, dlqUsage)
		return exitUsage
	}
	if code := parse(fs, &d.common, args, stderr); code >= 0 {
		return code
	}
	if sub == "show" {
		d.seqs = append(d.seqs, fs.Args()...)
		if len(d.seqs) == 0 {
			fmt.Fprintln(stderr, "producer dlq show: give one or more sequence numbers (from dlq list)")
			return exitUsage
		}
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "producer dlq %s: unexpected arguments %q\n", sub, fs.Args())
		return exitUsage
	}
	f, err := d.filter(time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "producer dlq %s: %v\n", sub, err)
		return exitUsage
	}
	if inDoubtOver && len(f.Seqs) == 0 {
		fmt.Fprintln(stderr, "producer dlq replay: --republish-in-doubt needs the dead letters named with --seq, each checked first")
		return exitUsage
	}
	log, err := d.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return exitUsage
	}
	var opts []deadletter.Option
	if sub == "replay" {
		cfg, err := pipeline.LoadConfig(pipelines)
		if err != nil {
			fmt.Fprintf(stderr, "producer dlq replay: %v\n", err)
			return exitUsage
		}
		if _, ok := cfg.Pipeline(toPipeline); toPipeline != "" && !ok {
			fmt.Fprintf(stderr, "producer dlq replay: %s: no pipeline %q (it has: %v)\n", pipelines, toPipeline, cfg.Names())
			return exitUsage
		}
		opts = append(opts, deadletter.WithPipelines(cfg), deadletter.WithConcurrency(concurrency))
	}
	// No reconnect buffer: Replay refuses a connection that could send a
	// republish minutes after its request timed out.
	d.NATS.Name = "kinetic-producer-dlq"
	nc, err := d.NATS.Connect(log, nats.ReconnectBufSize(-1))
	if err != nil {
		fmt.Fprintf(stderr, "producer dlq: %v\n", err)
		return exitError
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "producer dlq: %v\n", err)
		return exitError
	}
	insp, err := deadletter.NewInspector(ctx, js, d.topology(), opts...)
	if err != nil {
		fmt.Fprintf(stderr, "producer dlq: %v\n", err)
		return exitError
	}
	switch sub {
	case "list":
		err = dlqList(ctx, insp, f, asJSON, stdout)
	case "show":
		err = dlqShow(ctx, insp, f, asJSON, stdout)
	case "replay":
		err = dlqReplay(ctx, insp, f, deadletter.ReplayOptions{ToPipeline: toPipeline, DryRun: dryRun, By: by, RepublishInDoubt: inDoubtOver}, asJSON, stdout)
	case "purge":
		err = dlqPurge(ctx, insp, f, yes, stdin, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "producer dlq %s: %v\n", sub, err)
		return exitError
	}
	return exitOK
}

func dlqList(ctx context.Context, insp *deadletter.Inspector, f deadletter.Filter, asJSON bool, w io.Writer) error {
	entries, err := insp.List(ctx, f)
	if err != nil {
		return err
	}
	return writeList(w, entries, asJSON)
}

// writeList prints dead letters as a table, or as JSON lines.
func writeList(w io.Writer, entries []deadletter.Entry, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, e := range entries {
			if err := enc.Encode(jsonEntry(e)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTORED\tPIPELINE\tSOBJECT\tMODE\tJOB\tJOB SEQ\tATTEMPTS\tCODE\tMESSAGE")
	for _, e := range entries {
		d := e.DeadLetter
		msg := shorten(d.Message, 70)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), d.Pipeline, d.SObject, d.Mode, d.Job, d.Seq, d.Attempts, d.Code, msg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d dead letters\n", len(entries))
	return nil
}

// shorten cuts s to at most n characters (runes, never within one), marking
// a cut with "…".
func shorten(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos] + "…"
		}
		i++
	}
	return s
}

func jsonEntry(e deadletter.Entry) map[string]any {
	d := e.DeadLetter
	var rec any = string(d.Data)
	var parsed any
	if json.Unmarshal(d.Data, &parsed) == nil {
		rec = parsed
	}
	return map[string]any{
		"seq": e.Seq, "stored": e.Time.UTC(), "pipeline": d.Pipeline, "sobject": d.SObject, "mode": d.Mode,
		"subject": d.Subject, "stream_seq": d.StreamSeq, "job": d.Job, "job_seq": d.Seq, "key": d.Key,
		"code": d.Code, "message": d.Message, "fields": d.Fields, "attempts": d.Attempts,
		"first_failure": d.FirstFailure, "last_failure": d.LastFailure, "worker": d.Worker, "record": rec,
	}
}

func dlqShow(ctx context.Context, insp *deadletter.Inspector, f deadletter.Filter, asJSON bool, w io.Writer) error {
	entries, err := insp.List(ctx, f)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if asJSON {
			je := jsonEntry(e)
			st, err := insp.ReplayStatus(ctx, e)
			if err != nil {
				return err
			}
			if st != nil {
				je["replay"] = st
			}
			if err := json.NewEncoder(w).Encode(je); err != nil {
				return err
			}
			continue
		}
		d := e.DeadLetter
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "dead letter %d (stored %s)\n", e.Seq, e.Time.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "  pipeline:   %s (%s %s)\n", d.Pipeline, d.SObject, d.Mode)
		fmt.Fprintf(w, "  record:     %s stream seq %d", d.Subject, d.StreamSeq)
		if d.Job != "" {
			fmt.Fprintf(w, ", job %s seq %d", d.Job, d.Seq)
		}
		if d.Key != "" {
			fmt.Fprintf(w, ", key %s", d.Key)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  error:      %s: %s\n", d.Code, d.Message)
		if len(d.Fields) > 0 {
			fmt.Fprintf(w, "  fields:     %s\n", strings.Join(d.Fields, ", "))
		}
		fmt.Fprintf(w, "  attempts:   %d (first failure %s, last %s, worker %s)\n", d.Attempts,
			d.FirstFailure.UTC().Format(time.RFC3339), d.LastFailure.UTC().Format(time.RFC3339), d.Worker)
		for k, vs := range d.Headers {
			fmt.Fprintf(w, "  header:     %s: %s\n", k, strings.Join(vs, ", "))
		}
		fmt.Fprintf(w, "  original:   %s\n", d.Data)
		st, err := insp.ReplayStatus(ctx, e)
		if err != nil {
			return err
		}
		if st != nil {
			fmt.Fprintf(w, "  replay:     %s\n", replayStatusText(st))
		}
	}
	if len(entries) == 0 {
		return fmt.Errorf("no dead letter matches")
	}
	return nil
}

// replayStatusText says what the replays bucket holds about a dead letter.
func replayStatusText(st *deadletter.ReplayStatus) string {
	if !st.Matches {
		return fmt.Sprintf("the replay record of this sequence is about another dead letter (run %s by %s): the dead-letter stream was re-created", st.Run, st.By)
	}
	s := fmt.Sprintf("%s by %s (run %s, attempt %d, Nats-Msg-Id %s) at %s, to %s", st.State, st.By, st.Run, st.Attempt, st.MsgID,
		st.ClaimedAt.UTC().Format(time.RFC3339), st.Subject)
	if st.RecordsSeq > 0 {
		s += fmt.Sprintf("; records stream seq %d", st.RecordsSeq)
	}
	if st.State == "claimed" {
		s += "; whether it was published is not recorded (dlq replay settles it, or reports it in doubt)"
	}
	return s
}

func dlqReplay(ctx context.Context, insp *deadletter.Inspector, f deadletter.Filter, o deadletter.ReplayOptions, asJSON bool, w io.Writer) error {
	rep, err := insp.Replay(ctx, f, o)
	if rep != nil {
		if asJSON {
			if jerr := writeReplayJSON(w, rep); jerr != nil {
				return jerr
			}
		} else {
			writeReplay(w, rep)
		}
	}
	if err != nil {
		return err
	}
	if n := rep.Unsettled(); n > 0 {
		if rep.DryRun {
			return fmt.Errorf("%d dead letters would not be replayed (see above)", n)
		}
		return fmt.Errorf("%d dead letters were not replayed and are still in the dead-letter stream (see above)", n)
	}
	return nil
}

// writeReplay prints a replay report: one line per dead letter (and what to
// do, where there is something), then the counts.
func writeReplay(w io.Writer, rep *deadletter.ReplayReport) {
	if rep.DryRun {
		fmt.Fprintln(w, "dry run: nothing is published or removed")
	}
	for _, r := range rep.Results {
		fmt.Fprintf(w, "dead letter %d: %s\n", r.Seq, describe(r, rep.DryRun))
		if len(r.DroppedHeaders) > 0 {
			fmt.Fprintf(w, "  headers left out: %s\n", strings.Join(r.DroppedHeaders, ", "))
		}
		if r.Action != "" {
			fmt.Fprintf(w, "  what to do: %s\n", r.Action)
		}
	}
	var parts []string
	for _, o := range deadletter.Outcomes {
		if n := rep.Count(o); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, outcomeText(o, rep.DryRun)))
		}
	}
	if len(parts) == 0 {
		fmt.Fprintln(w, "no dead letter matches: nothing to replay")
		return
	}
	fmt.Fprintf(w, "%d dead letters: %s\n", len(rep.Results), strings.Join(parts, ", "))
}

func outcomeText(o deadletter.Outcome, dryRun bool) string {
	switch o {
	case deadletter.Replayed:
		if dryRun {
			return "would be replayed"
		}
		return "replayed"
	case deadletter.AlreadyReplayed:
		return "already replayed"
	case deadletter.ReplayedConcurrently:
		return "replayed by a concurrent replay"
	case deadletter.InDoubt:
		return "in doubt"
	case deadletter.NotReached:
		return "not reached"
	}
	return string(o)
}

// describe says what happened to one dead letter, in one line.
func describe(r deadletter.Result, dryRun bool) string {
	var b strings.Builder
	b.WriteString(outcomeText(r.Outcome, dryRun))
	switch r.Outcome {
	case deadletter.Replayed, deadletter.AlreadyReplayed, deadletter.ReplayedConcurrently:
		fmt.Fprintf(&b, " to %s", r.Subject)
		if r.RecordsSeq > 0 {
			fmt.Fprintf(&b, " (records stream seq %d)", r.RecordsSeq)
		}
		if r.By != "" && r.Outcome != deadletter.Replayed {
			fmt.Fprintf(&b, " by %s", r.By)
			if !r.At.IsZero() {
				fmt.Fprintf(&b, " at %s", r.At.UTC().Format(time.RFC3339))
			}
		}
		if r.Duplicate {
			b.WriteString("; the stream already had it from an interrupted replay, and kept one copy")
		}
		if !dryRun && !r.Removed && r.Reason == "" {
			b.WriteString("; the dead letter may still be listed")
		}
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, ": %s", r.Reason)
	}
	return b.String()
}

// writeReplayJSON prints the report as one JSON object; each result also
// names its dead letter's pipeline, job and error.
func writeReplayJSON(w io.Writer, rep *deadletter.ReplayReport) error {
	type result struct {
		deadletter.Result
		DeadLetter map[string]any `json:"dead_letter,omitempty"`
	}
	out := struct {
		*deadletter.ReplayReport
		Results []result `json:"results"`
	}{ReplayReport: rep, Results: []result{}}
	for _, r := range rep.Results {
		res := result{Result: r}
		if d := r.Entry.DeadLetter; d != nil {
			res.DeadLetter = map[string]any{"pipeline": d.Pipeline, "sobject": d.SObject, "mode": d.Mode, "subject": d.Subject,
				"job": d.Job, "job_seq": d.Seq, "key": d.Key, "code": d.Code, "message": d.Message}
		}
		out.Results = append(out.Results, res)
	}
	return json.NewEncoder(w).Encode(out)
}

func dlqPurge(ctx context.Context, insp *deadletter.Inspector, f deadletter.Filter, yes bool, stdin io.Reader, w io.Writer) error {
	if !yes {
		entries, err := insp.List(ctx, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "delete %d dead letters? type yes: ", len(entries))
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return fmt.Errorf("not confirmed; nothing deleted (use --yes in scripts)")
		}
	}
	n, err := insp.Purge(ctx, f)
	fmt.Fprintf(w, "deleted %d dead letters\n", n)
	return err
}
