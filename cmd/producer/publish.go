package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kinetic-sync/kinetic/internal/producer"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

const publishUsage = `Usage: producer publish --pipeline NAME [flags] FILE...

Publishes the records of CSV (header row first) or JSON Lines files, or of
standard input ("-"), as one job to the pipeline's subject. Records of an
upsert, update or delete pipeline go to the keyed subject
<subject>.<key token>, so that each key's changes load in order; a record
whose key cannot be computed (its mapping fails, the key is missing) is
published unkeyed and dead-lettered by the workers, and is listed here.

Every row is read and checked before anything is published: bad rows (not
CSV or JSON, bytes that are not characters of --encoding, too large a
message for NATS) stop the command with the file, line and column of each
(the first 20; the rest are counted), and nothing is published. A UTF-8 byte
order mark at the start of a file is read as such. Files in Latin-1 or
Windows-1252 need --encoding; nothing is ever replaced.

A publish that fails (a permanent error is not retried; a passing one is)
stops there; the records not published are listed in the error file.

With --wait it follows the job: a progress bar on a terminal (plain lines
otherwise), then the result summary, success-<job>.csv and error-<job>.csv in
--out-dir (and duplicates-<job>.csv when a redelivered INSERT created a
record twice), and an exit code: 0 SUCCESS, 3 PARTIAL, 4 FAILED, 1 when
publishing failed (the published records are still waited for).

Flags:
`

func cmdPublish(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), publishUsage); fs.PrintDefaults() }
	var (
		c                                  common
		pipelines, name, job, key, format  string
		encoding                           string
		outDir, subject                    string
		wait, stopOnError, plain, progress bool
		timeout                            time.Duration
	)
	c.register(fs)
	e := c.env
	e.String(&pipelines, "pipelines", "KINETIC_PIPELINES", "examples/pipelines.yaml", "pipelines YAML file (the workers')")
	e.String(&name, "pipeline", "KINETIC_PIPELINE", "", "pipeline to publish to (required)")
	e.String(&job, "job", "KINETIC_JOB", "", "job id (default: generated); re-running with the same id re-publishes nothing within 2 minutes")
	e.String(&key, "key-column", "KINETIC_KEY_COLUMN", "", "column holding a business key: deduplicates by key instead of by job and line")
	e.String(&format, "format", "KINETIC_FORMAT", "", "input format: csv or jsonl (default: from the file extension; jsonl for stdin)")
	e.String(&encoding, "encoding", "KINETIC_ENCODING", "utf-8", "input encoding: utf-8, latin1 (iso-8859-1) or windows-1252; bytes that are not characters of it are refused")
	e.String(&subject, "subject", "KINETIC_SUBJECT", "", "publish to this subject instead of the pipeline's (keyed records: SUBJECT.<key token>)")
	e.Bool(&stopOnError, "stop-on-error", "KINETIC_STOP_ON_ERROR", false, "the job stops at its first failed record; the rest is skipped")
	e.Bool(&wait, "wait", "KINETIC_WAIT", false, "follow the job until every record has an outcome")
	e.Duration(&timeout, "timeout", "KINETIC_TIMEOUT", 0, "with --wait: give up after this long (0: no limit)")
	e.String(&outDir, "out-dir", "KINETIC_OUT_DIR", ".", `with --wait: where success-<job>.csv and error-<job>.csv go ("" writes none)`)
	e.Bool(&plain, "plain", "KINETIC_PLAIN", false, "plain progress lines even on a terminal")
	e.Bool(&progress, "progress", "KINETIC_PROGRESS", true, "show progress while waiting")
	if code := parse(fs, &c, args, stderr); code >= 0 {
		return code
	}
	if name == "" {
		fmt.Fprintln(stderr, "producer publish: --pipeline is required (see --help)")
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "producer publish: give one or more files, or - for standard input (see --help)")
		return exitUsage
	}
	log, err := c.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return exitUsage
	}
	pc, _, err := pipelineFor(pipelines, name)
	if err != nil {
		fmt.Fprintf(stderr, "producer publish: %v\n", err)
		return exitUsage
	}
	nc, js, err := c.connect(log)
	if err != nil {
		fmt.Fprintf(stderr, "producer publish: %v\n", err)
		return exitError
	}
	defer nc.Close()
	var progressW io.Writer
	if progress {
		progressW = stderr // a bar when it is a terminal
	}
	printed := false
	rep, err := producer.Publish(ctx, producer.Options{
		JS: js, Topology: c.topology(), Pipeline: pc, Subject: subject, Files: fs.Args(), Format: format,
		Encoding: encoding, Job: job, KeyColumn: key, StopOnError: stopOnError, Wait: wait, Timeout: timeout,
		OutDir: outDir, Progress: progressW, Plain: plain, Log: log,
		OnPublished: func(rep *producer.Report) { printPublished(stdout, rep); printed = true },
	})
	if rep != nil {
		if !printed && rep.Published > 0 {
			printPublished(stdout, rep)
		}
		if rep.Result != nil {
			printSummary(stdout, rep.Result)
			if rep.SuccessFile != "" {
				fmt.Fprintf(stdout, "  success file:      %s\n  error file:        %s\n", rep.SuccessFile, rep.ErrorFile)
			}
			if rep.DuplicatesFile != "" {
				fmt.Fprintf(stdout, "  duplicates file:   %s\n", rep.DuplicatesFile)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "producer publish: %v\n", err)
		if rep == nil || len(rep.NotPublished) == 0 {
			if errors.Is(err, context.DeadlineExceeded) {
				return exitTimeout
			}
		}
		return exitError
	}
	if rep.Result != nil {
		return statusCode(rep.Result.SyncResult)
	}
	return exitOK
}

// printPublished says what was published, before any wait.
func printPublished(w io.Writer, rep *producer.Report) {
	fmt.Fprintf(w, "job %s: published %d records to %s", rep.Job, rep.Published, rep.Subject)
	if rep.Duplicates > 0 {
		fmt.Fprintf(w, " (%d were already there)", rep.Duplicates)
	}
	fmt.Fprintln(w)
	if n := len(rep.NotPublished); n > 0 {
		fmt.Fprintf(w, "  not published:     %d of %d records (listed in the error file)\n", n, rep.Total)
	}
	if rep.UnkeyedCount > 0 {
		fmt.Fprintf(w, "  without a key:     %d records, published unkeyed; the workers dead-letter them:\n", rep.UnkeyedCount)
		const show = 5
		for i, u := range rep.Unkeyed {
			if i == show {
				break
			}
			fmt.Fprintf(w, "    %s\n", u)
		}
		if rep.UnkeyedCount > show {
			fmt.Fprintf(w, "    … and %d more\n", rep.UnkeyedCount-show)
		}
	}
}

func statusCode(r *pipeline.SyncResult) int {
	switch r.Status {
	case pipeline.Success:
		return exitOK
	case pipeline.Partial:
		return exitPartial
	default:
		return exitFailed
	}
}

// printSummary prints a job's SyncResult in the original's vocabulary.
func printSummary(w io.Writer, res *jobs.Result) {
	r := res.SyncResult
	fmt.Fprintf(w, "  status:            %s\n", r.Status)
	fmt.Fprintf(w, "  total records:     %d\n", r.TotalRecords)
	fmt.Fprintf(w, "  loaded:            %d\n", r.SuccessCount)
	fmt.Fprintf(w, "  dead-lettered:     %d\n", r.ErrorCount)
	fmt.Fprintf(w, "  skipped:           %d\n", r.SkippedCount)
	fmt.Fprintf(w, "  success rate:      %.1f%%\n", r.SuccessRate())
	fmt.Fprintf(w, "  elapsed:           %.2fs\n", r.Metadata.ElapsedSeconds)
	fmt.Fprintf(w, "  throughput:        %.0f records/s\n", r.Metadata.RecordsPerSecond)
	fmt.Fprintf(w, "  salesforce calls:  %d (redelivered outcomes ignored: %d)\n", r.Metadata.APICalls, res.Duplicates)
	if n := len(res.DuplicateInserts); n > 0 {
		// INSERT is at-least-once: a worker that died after Salesforce
		// applied a batch and before acking it made the batch load again.
		fmt.Fprintf(w, "  INSERTED TWICE:    %d records were inserted more than once (a worker died after Salesforce applied them); Salesforce holds %d extra records:\n", n, res.Copies())
		const show = 10
		for i, d := range res.DuplicateInserts {
			if i == show {
				fmt.Fprintf(w, "    … and %d more (all in the duplicates file)\n", n-show)
				break
			}
			fmt.Fprintf(w, "    record %d: %s (kept in the success file), extra: %s\n", d.Seq, d.IDs[0], strings.Join(d.IDs[1:], ", "))
		}
	}
	if len(r.Errors) > 0 {
		codes := map[string]int{}
		var order []string
		for _, e := range r.Errors {
			if codes[e.Code] == 0 {
				order = append(order, e.Code)
			}
			codes[e.Code]++
		}
		fmt.Fprintf(w, "  dead letters by code:\n")
		for _, c := range order {
			fmt.Fprintf(w, "    %-40s %d\n", c, codes[c])
		}
	}
}

const waitUsage = `Usage: producer wait --job ID --total N [flags]

Follows a job published earlier (by this tool or any other publisher that
numbered its records 1..N in Kinetic-Seq) until every record has an outcome,
then prints the summary. Exit code as publish --wait.

Flags:
`

func cmdWait(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), waitUsage); fs.PrintDefaults() }
	var (
		c       common
		job     string
		total   int
		timeout time.Duration
	)
	c.register(fs)
	c.env.String(&job, "job", "KINETIC_JOB", "", "job id (required)")
	c.env.Int(&total, "total", "KINETIC_TOTAL", 0, "number of records in the job (required)")
	c.env.Duration(&timeout, "timeout", "KINETIC_TIMEOUT", 0, "give up after this long (0: no limit)")
	if code := parse(fs, &c, args, stderr); code >= 0 {
		return code
	}
	if job == "" || total <= 0 {
		fmt.Fprintln(stderr, "producer wait: --job and --total are required (see --help)")
		return exitUsage
	}
	log, err := c.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v\n", err)
		return exitUsage
	}
	nc, js, err := c.connect(log)
	if err != nil {
		fmt.Fprintf(stderr, "producer wait: %v\n", err)
		return exitError
	}
	defer nc.Close()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	res, err := jobs.Watch(ctx, js, jobs.Options{Topology: c.topology(), Job: job, Total: total})
	if res != nil {
		fmt.Fprintf(stdout, "job %s:\n", job)
		printSummary(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "producer wait: %v\n", err)
		if errors.Is(err, context.DeadlineExceeded) {
			return exitTimeout
		}
		return exitError
	}
	return statusCode(res.SyncResult)
}
