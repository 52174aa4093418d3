// Package producer is the work behind `producer publish`: read CSV or JSON
// Lines files (UTF-8, or Latin-1/Windows-1252 converted explicitly), check
// every row before publishing anything (shape, encoding, exact values,
// message size; every bad row reported by file, line and column), publish
// the records as one job (keyed records to their key's subject, in order),
// stop at the first failed publish, follow the job's results with a
// progress display, and write Data Loader-style success and error files.
// docs/architecture.md ("The producer") records the decisions.
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
	"golang.org/x/text/encoding/charmap"

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
	// Records of a keyed pipeline go to Subject + "." + KeyToken(key).
	Subject string
	// Files to read; "-" is standard input.
	Files []string
	// Format is csv or jsonl; "" picks by extension (.csv, .jsonl/.ndjson/.json).
	Format string
	// Encoding of the files: utf-8 (default), latin1 (iso-8859-1) or
	// windows-1252. Bytes that are not characters of it are refused with
	// their file, line and column; nothing is replaced.
	Encoding string
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
	// Wait follows the job until every published record has an outcome.
	Wait    bool
	Timeout time.Duration // of the wait; 0: none
	// OutDir receives success-<job>.csv and error-<job>.csv after a wait
	// (and duplicates-<job>.csv when records were inserted more than once).
	// "" writes none.
	OutDir string
	// Progress receives progress: a bar when it is a terminal and Plain is
	// false, a line every few seconds otherwise. nil: none.
	Progress io.Writer
	Plain    bool
	// OnPublished, when set, is called once publishing has ended, before
	// the wait, with the report so far.
	OnPublished func(*Report)
	// Publisher tunes the publisher (retries, ack timeout); zero: defaults.
	Publisher messages.PublisherOptions
	Log       zerolog.Logger
}

// Report is what a publish did.
type Report struct {
	Job     string
	Subject string // the unkeyed subject; keyed records went to Subject.<key token>
	Total   int    // records in the input
	// Published counts the records the stream stored, Duplicates those of
	// them it already had (same dedup id).
	Published  int
	Duplicates int
	// NotPublished maps the sequence of each record that is not in the
	// stream to why: its publish failed, or publishing stopped before it.
	NotPublished map[int64]string
	// Unkeyed are records of a keyed pipeline whose key cannot be computed
	// (a mapping fails, the key is missing): they were published unkeyed
	// and the workers dead-letter them. The first 20; UnkeyedCount counts all.
	Unkeyed      []*InputError
	UnkeyedCount int
	Result       *jobs.Result
	Elapsed      time.Duration
	// SuccessFile and ErrorFile are the paths written, when any;
	// DuplicatesFile when records were inserted more than once.
	SuccessFile, ErrorFile, DuplicatesFile string
}

// Publish runs a whole publish. Every row of every input is read and
// checked before anything is published: bad rows (up to 20 reported, the
// rest counted) fail it with their file, line and column, and nothing is
// published. A publish that fails part-way stops there; with Wait, the
// records that were published are still followed to their outcome.
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
	base := o.Subject
	if base == "" {
		base = topo.Subjects().Records(o.Pipeline.SObject, string(o.Pipeline.Mode))
	}
	inputs, cleanup, err := openInputs(o.Files, o.Format, o.Encoding)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	pl, err := newPlan(ctx, o, base)
	if err != nil {
		return nil, err
	}

	// Pass 1: read everything, publish nothing, report every bad row.
	checked, err := pl.check(inputs)
	if err != nil {
		return nil, err
	}
	if checked.total == 0 {
		return nil, fmt.Errorf("%s: no records", strings.Join(o.Files, ", "))
	}
	rep := &Report{Job: o.Job, Subject: base, Total: checked.total, NotPublished: map[int64]string{},
		Unkeyed: checked.unkeyed, UnkeyedCount: checked.unkeyedCount}
	for _, u := range checked.unkeyed {
		o.Log.Info().Str("job", o.Job).Str("record", fmt.Sprintf("%s:%d", u.File, u.Line)).Str("reason", u.Msg).Msg("no key: published unkeyed, it will be dead-lettered")
	}
	for i, in := range inputs {
		if stamp(in.path) != checked.stamps[i] {
			return rep, fmt.Errorf("%s changed since it was checked; nothing was published", in.name)
		}
	}

	// Pass 2: publish, stopping at the first failure.
	start := time.Now()
	pub := messages.NewPublisher(o.JS, o.Publisher)
	sent := int64(0)
	errStopped := errors.New("stopped")
	passErr := pl.eachRecord(inputs, func(rec *record) error {
		if pub.Failures() > 0 {
			return errStopped
		}
		sent++
		// A stop-on-error job is published unkeyed: its records reach one
		// consumer in job order, so "after the first failure" means what
		// it says. (Keyed, they would spread over partitions loaded in
		// parallel.)
		switch {
		case o.StopOnError:
			return pub.PublishAsync(ctx, pl.base, rec.data, rec.meta)
		case rec.key != "":
			return pub.PublishKeyedAsync(ctx, pl.base, rec.key, rec.data, rec.meta)
		}
		return pub.PublishAsync(ctx, rec.subject, rec.data, rec.meta)
	})
	flushErr := pub.Flush(ctx)
	rep.Published, rep.Duplicates = pub.Stats()
	var failures []error
	if joined, ok := flushErr.(interface{ Unwrap() []error }); ok {
		failures = joined.Unwrap()
	} else if flushErr != nil {
		failures = []error{flushErr}
	}
	for _, f := range failures {
		var pe *messages.PublishError
		if errors.As(f, &pe) && pe.Meta.Seq > 0 {
			rep.NotPublished[pe.Meta.Seq] = "NOT_PUBLISHED: " + pe.Err.Error()
		}
	}
	for seq := sent + 1; seq <= int64(checked.total); seq++ {
		rep.NotPublished[seq] = "NOT_PUBLISHED: publishing stopped before this record"
	}
	var pubErr error
	if len(failures) > 0 || (passErr != nil && !errors.Is(passErr, errStopped)) || len(rep.NotPublished) > 0 {
		cause := errors.Join(failures...)
		if passErr != nil && !errors.Is(passErr, errStopped) {
			cause = errors.Join(passErr, cause)
		}
		if cause == nil {
			cause = errors.New("publishing stopped")
		}
		pubErr = fmt.Errorf("job %s: %d of %d records published; publishing stopped: %w", o.Job, rep.Published, checked.total, cause)
		o.Log.Error().Err(cause).Str("job", o.Job).Int("published", rep.Published).Int("records", checked.total).Msg("publishing stopped")
	} else {
		o.Log.Info().Str("job", o.Job).Str("subject", base).Int("records", checked.total).Int("duplicates", rep.Duplicates).Msg("published")
	}
	if o.OnPublished != nil {
		o.OnPublished(rep)
	}
	if !o.Wait || rep.Published == 0 || ctx.Err() != nil {
		rep.Elapsed = time.Since(start)
		return rep, pubErr
	}

	wctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	prog := newProgress(o.Progress, o.Plain, o.Pipeline.Name, checked.total-len(rep.NotPublished))
	// Every result of this job id counts, including those of an earlier
	// run of the same job (its records are deduplicated now). Records
	// deduplicated against another job's publish (--key-column), and those
	// not published, will get no outcome under this job and are not
	// waited for.
	var exclude []int64
	if o.KeyColumn != "" {
		for _, m := range pub.Duplicates() {
			exclude = append(exclude, m.Seq)
		}
	}
	for seq := range rep.NotPublished {
		exclude = append(exclude, seq)
	}
	res, werr := jobs.Watch(wctx, o.JS, jobs.Options{
		Topology: topo, Job: o.Job, Total: checked.total, Exclude: exclude,
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
		if len(rep.NotPublished) > 0 && werr == nil {
			// Records that never reached the stream did not succeed.
			res.Status = pipeline.Partial
			if res.SuccessCount == 0 {
				res.Status = pipeline.Failed
			}
		}
	}
	if o.OutDir != "" && res != nil {
		if err := writeOutputs(o, pl, rep, inputs, checked.columns); err != nil {
			return rep, errors.Join(pubErr, err)
		}
	}
	if werr != nil {
		werr = fmt.Errorf("job %s: waiting for results: %w (records without an outcome are counted as skipped)", o.Job, werr)
	}
	return rep, errors.Join(pubErr, werr)
}

func newJobID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// input is one input file.
type input struct {
	name     string // as given ("-" for stdin)
	path     string // readable path (stdin is spooled to a temporary file)
	format   string
	encoding string           // its name
	charmap  *charmap.Charmap // nil: UTF-8
}

func openInputs(files []string, format, encoding string) ([]*input, func(), error) {
	cm, encName, err := lookupEncoding(encoding)
	if err != nil {
		return nil, nil, err
	}
	var tmp []string
	cleanup := func() {
		for _, p := range tmp {
			os.Remove(p)
		}
	}
	var out []*input
	for _, f := range files {
		in := &input{name: f, path: f, format: format, encoding: encName, charmap: cm}
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
