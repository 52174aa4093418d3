// Package producer is the work behind `producer publish`: read CSV or JSON
// Lines files, check every row before publishing anything, publish the
// records as one job, follow the job's results with a progress display, and
// write Data Loader-style success and error files.
package producer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// Options configures one publish.
type Options struct {
	JS       jetstream.JetStream
	Topology messages.Topology
	// Pipeline is the target pipeline: its sObject and mode make the subject.
	Pipeline *pipeline.PipelineConfig
	// Subject overrides the subject (default <prefix>.records.<SObject>.<mode>).
	Subject string
	// Files to read; "-" is standard input.
	Files []string
	// Format is csv or jsonl; "" picks by extension (.csv, .jsonl/.ndjson/.json).
	Format string
	// Job id; default generated. Reusing a job id within the stream's
	// duplicate window (2 minutes) re-publishes nothing: dedup ids are
	// <job>-<seq>.
	Job string
	// KeyColumn, when set, names the column holding a business key: it goes
	// in Kinetic-Key and the dedup id becomes <sobject>-<mode>-<key>, so the
	// same key published twice (in any job) within the window is stored once.
	KeyColumn string
	// StopOnError marks the job to stop at its first failed record.
	StopOnError bool
	// Wait follows the job until every record has an outcome.
	Wait    bool
	Timeout time.Duration // of the wait; 0: none
	// OutDir receives success-<job>.csv and error-<job>.csv after a wait.
	// "" writes none.
	OutDir string
	// Progress receives progress: a bar when it is a terminal and Plain is
	// false, a line every few seconds otherwise. nil: none.
	Progress io.Writer
	Plain    bool
	Log      zerolog.Logger
}

// Report is what a publish did.
type Report struct {
	Job        string
	Subject    string
	Published  int // records the stream stored
	Duplicates int // records the stream already had (same dedup id)
	Result     *jobs.Result
	Elapsed    time.Duration
	// SuccessFile and ErrorFile are the paths written, when any.
	SuccessFile, ErrorFile string
}

// Publish runs a whole publish. A bad input file or row fails it before
// anything is published, naming the file, line and column.
func Publish(ctx context.Context, o Options) (*Report, error) {
	if o.Pipeline == nil {
		return nil, errors.New("no pipeline")
	}
	if len(o.Files) == 0 {
		return nil, errors.New("no input files (give one or more files, or - for standard input)")
	}
	topo := o.Topology.WithDefaults()
	if o.Job == "" {
		o.Job = newJobID()
	} else if !messages.ValidToken(o.Job) {
		return nil, fmt.Errorf("--job %q: a job id is letters, digits, - and _", o.Job)
	}
	subject := o.Subject
	if subject == "" {
		subject = topo.Subjects().Records(o.Pipeline.SObject, string(o.Pipeline.Mode))
	}
	inputs, cleanup, err := openInputs(o.Files, o.Format)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	// Pass 1: read everything, publish nothing, report every bad row.
	total, columns, err := check(inputs, o.KeyColumn)
	if err != nil {
		return nil, err
	}
	if total == 0 {
		return nil, fmt.Errorf("%s: no records", strings.Join(o.Files, ", "))
	}

	// Pass 2: publish.
	rep := &Report{Job: o.Job, Subject: subject}
	start := time.Now()
	pub := messages.NewPublisher(o.JS, messages.PublisherOptions{})
	seq := int64(0)
	err = eachRecord(inputs, func(_ *input, _ *pipeline.RecordReader, rec map[string]any, raw []byte) error {
		seq++
		meta := messages.RecordMeta{Job: o.Job, Seq: seq, MsgID: fmt.Sprintf("%s-%d", o.Job, seq), StopOnError: o.StopOnError}
		if o.KeyColumn != "" {
			meta.Key = fmt.Sprint(rec[o.KeyColumn])
			meta.MsgID = fmt.Sprintf("%s-%s-%s", o.Pipeline.SObject, o.Pipeline.Mode, meta.Key)
		}
		return pub.PublishAsync(ctx, subject, raw, meta)
	})
	if err != nil {
		return rep, fmt.Errorf("publishing job %s: %w", o.Job, err)
	}
	flushErr := pub.Flush(ctx)
	rep.Published, rep.Duplicates = pub.Stats()
	if flushErr != nil {
		return rep, fmt.Errorf("job %s: %d of %d records published; these were not:\n%w", o.Job, rep.Published, total, flushErr)
	}
	o.Log.Info().Str("job", o.Job).Str("subject", subject).Int("records", total).Int("duplicates", rep.Duplicates).Msg("published")
	if !o.Wait {
		rep.Elapsed = time.Since(start)
		return rep, nil
	}

	wctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	prog := newProgress(o.Progress, o.Plain, o.Pipeline.Name, total)
	// Every result of this job id counts, including those of an earlier
	// run of the same job (its records are deduplicated now). Records
	// deduplicated against another job's publish (--key-column) will get no
	// outcome under this job and are not waited for.
	var exclude []int64
	if o.KeyColumn != "" {
		for _, m := range pub.Duplicates() {
			exclude = append(exclude, m.Seq)
		}
	}
	res, werr := jobs.Watch(wctx, o.JS, jobs.Options{
		Topology: topo, Job: o.Job, Total: total, Exclude: exclude,
		Mode: o.Pipeline.Mode, SObject: o.Pipeline.SObject, OnProgress: prog.update,
	})
	prog.finish()
	rep.Result = res
	rep.Elapsed = time.Since(start)
	if res != nil {
		// The job's clock runs from the first publish.
		res.Metadata.ElapsedSeconds = rep.Elapsed.Seconds()
		if s := rep.Elapsed.Seconds(); s > 0 {
			res.Metadata.RecordsPerSecond = float64(res.SuccessCount+res.ErrorCount) / s
		}
	}
	if o.OutDir != "" && res != nil {
		if err := writeOutputs(o, rep, inputs, columns); err != nil {
			return rep, err
		}
	}
	if werr != nil {
		return rep, fmt.Errorf("job %s: waiting for results: %w (records without an outcome are counted as skipped)", o.Job, werr)
	}
	return rep, nil
}

func newJobID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// input is one input file.
type input struct {
	name   string // as given ("-" for stdin)
	path   string // readable path (stdin is spooled to a temporary file)
	format string
}

func openInputs(files []string, format string) ([]*input, func(), error) {
	var tmp []string
	cleanup := func() {
		for _, p := range tmp {
			os.Remove(p)
		}
	}
	var out []*input
	for _, f := range files {
		in := &input{name: f, path: f, format: format}
		if f == "-" {
			// Spooled so that it can be read again for the output files.
			t, err := os.CreateTemp("", "kinetic-stdin-*")
			if err != nil {
				cleanup()
				return nil, nil, err
			}
			_, err = io.Copy(t, os.Stdin)
			t.Close()
			tmp = append(tmp, t.Name())
			if err != nil {
				cleanup()
				return nil, nil, fmt.Errorf("reading standard input: %w", err)
			}
			in.path = t.Name()
			if in.format == "" {
				in.format = "jsonl"
			}
		} else if _, err := os.Stat(f); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("%s: %w", f, unwrapPathError(err))
		}
		if in.format == "" {
			switch strings.ToLower(filepath.Ext(f)) {
			case ".csv":
				in.format = "csv"
			case ".jsonl", ".ndjson", ".json":
				in.format = "jsonl"
			default:
				cleanup()
				return nil, nil, fmt.Errorf("%s: cannot tell the format from the extension; use --format csv or --format jsonl", f)
			}
		}
		if in.format != "csv" && in.format != "jsonl" {
			cleanup()
			return nil, nil, fmt.Errorf("--format %q: want csv or jsonl", in.format)
		}
		out = append(out, in)
	}
	return out, cleanup, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// eachRecord reads every input in order. raw is the record's JSON, the
// bytes to publish.
func eachRecord(inputs []*input, fn func(in *input, rr *pipeline.RecordReader, rec map[string]any, raw []byte) error) error {
	for _, in := range inputs {
		f, err := os.Open(in.path)
		if err != nil {
			return fmt.Errorf("%s: %w", in.name, unwrapPathError(err))
		}
		var rr *pipeline.RecordReader
		if in.format == "csv" {
			rr = pipeline.NewCSVReader(f, in.name)
		} else {
			rr = pipeline.NewJSONLReader(f, in.name)
		}
		for {
			rec, err := rr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return err
			}
			raw, err := messages.EncodeRecord(rec)
			if err != nil {
				f.Close()
				return &pipeline.SourceError{File: in.name, Line: rr.Line(), Msg: err.Error()}
			}
			if err := fn(in, rr, rec, raw); err != nil {
				f.Close()
				return err
			}
		}
		f.Close()
	}
	return nil
}

// check reads every input once: it counts records, collects the columns
// (CSV header, or JSON keys in order of appearance) for the output files,
// and stops at the first bad row.
func check(inputs []*input, keyColumn string) (int, []string, error) {
	n := 0
	var columns []string
	seenColumn := map[string]bool{}
	firstSeen := map[string]string{} // business key → file:line where it first appeared
	err := eachRecord(inputs, func(in *input, rr *pipeline.RecordReader, rec map[string]any, _ []byte) error {
		n++
		if keyColumn != "" {
			v, ok := rec[keyColumn]
			k := fmt.Sprint(v)
			if !ok || v == nil || k == "" {
				return &pipeline.SourceError{File: in.name, Line: rr.Line(), Column: keyColumn, Msg: "the key column is missing or empty"}
			}
			if first, dup := firstSeen[k]; dup {
				return &pipeline.SourceError{File: in.name, Line: rr.Line(), Column: keyColumn, Msg: fmt.Sprintf("key %q repeats %s: the second would be dropped as a duplicate", k, first)}
			}
			firstSeen[k] = fmt.Sprintf("%s:%d", in.name, rr.Line())
		}
		cols := rr.Header()
		if cols == nil {
			cols = sortedKeys(rec)
		}
		for _, c := range cols {
			if !seenColumn[c] {
				seenColumn[c] = true
				columns = append(columns, c)
			}
		}
		return nil
	})
	return n, columns, err
}
