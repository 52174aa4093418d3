//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// Job is a set of records published under one job id, numbered 1..N. Each
// record carries a value unique to it (Keys[seq-1]) that lands in
// Salesforce (KeyField), so the simulator's records can be matched back.
type Job struct {
	ID       string
	Pipeline *pipeline.PipelineConfig
	Subject  string   // the unkeyed subject; a keyed pipeline's records go to Subject.<key token>
	KeyField string   // External_Key__c (UPSERT) or Name (INSERT)
	Keys     []string // Keys[seq-1]
	Payloads [][]byte // Payloads[seq-1]: the bytes published
	// Unkeyed publishes a keyed pipeline's records to its unkeyed subject
	// (as a plain publisher that knows nothing of keys would).
	Unkeyed bool
}

// Len is the number of records of the job.
func (j *Job) Len() int { return len(j.Payloads) }

// UpsertJob makes n records for the accounts pipeline (UPSERT of Account
// on External_Key__c).
func (c *Cluster) UpsertJob(id string, n int) *Job {
	c.t.Helper()
	return c.UpsertJobFor("accounts", id, n)
}

// UpsertJobFor makes n records for an UPSERT pipeline whose mapping reads
// key (the external id), company and score.
func (c *Cluster) UpsertJobFor(pipelineName, id string, n int) *Job {
	c.t.Helper()
	pc := c.Pipeline(pipelineName)
	j := &Job{ID: id, Pipeline: pc, Subject: c.Topo.Subjects().Records(pc.SObject, string(pc.Mode)), KeyField: pc.ExternalIDField}
	for i := 1; i <= n; i++ {
		key := fmt.Sprintf("%s-%07d", id, i)
		rec := map[string]any{"key": key, "company": "Company " + key, "score": float64(i%100) / 10}
		if pc.SObject == "Account" {
			rec["revenue"] = i * 10
		}
		j.add(key, rec)
	}
	return j
}

// InsertJob makes n records for the ledger pipeline (INSERT); each has a
// unique Name.
func (c *Cluster) InsertJob(id string, n int) *Job {
	c.t.Helper()
	pc := c.Pipeline("ledger")
	j := &Job{ID: id, Pipeline: pc, Subject: c.Topo.Subjects().Records(pc.SObject, string(pc.Mode)), KeyField: "Name"}
	for i := 1; i <= n; i++ {
		key := fmt.Sprintf("%s-%07d", id, i)
		j.add(key, map[string]any{"name": key, "amount": float64(i) / 4})
	}
	return j
}

func (j *Job) add(key string, rec map[string]any) {
	data, err := messages.EncodeRecord(rec)
	if err != nil {
		panic(err)
	}
	j.Keys = append(j.Keys, key)
	j.Payloads = append(j.Payloads, data)
}

// Publish publishes records from..to (1-based, inclusive) of j through
// messages.Publisher, pipelined, and fails the test if the stream did not
// store every one. Each carries Kinetic-Job, Kinetic-Seq, Kinetic-Key and a
// Nats-Msg-Id, so a retried publish is deduplicated.
func (c *Cluster) Publish(j *Job, from, to int) {
	c.t.Helper()
	if err := c.publish(j, from, to); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) publish(j *Job, from, to int) error {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Minute)
	defer cancel()
	// The publisher's default retries (about 20s) ride out a stream leader
	// election when a node is lost.
	pub := messages.NewPublisher(c.JS, messages.PublisherOptions{})
	keyed := pipeline.Keyed(j.Pipeline.Mode) && !j.Unkeyed
	for seq := from; seq <= to; seq++ {
		meta := messages.RecordMeta{Job: j.ID, Seq: int64(seq), Key: j.Keys[seq-1], MsgID: fmt.Sprintf("%s-%d", j.ID, seq)}
		var err error
		if keyed {
			// As the producer publishes: to the record's key, so that its
			// changes load in order.
			var rec map[string]any
			if rec, err = messages.DecodeRecord(j.Payloads[seq-1], 0); err == nil {
				key, rerr := j.Pipeline.Key(rec)
				if rerr != nil || key == "" {
					err = pub.PublishAsync(ctx, j.Subject, j.Payloads[seq-1], meta) // no key: the worker dead-letters it
				} else {
					err = pub.PublishKeyedAsync(ctx, j.Subject, key, j.Payloads[seq-1], meta)
				}
			} else {
				err = pub.PublishAsync(ctx, j.Subject, j.Payloads[seq-1], meta) // not JSON: the worker dead-letters it
			}
		} else {
			err = pub.PublishAsync(ctx, j.Subject, j.Payloads[seq-1], meta)
		}
		if err != nil {
			return fmt.Errorf("publishing job %s: %w", j.ID, err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		return fmt.Errorf("publishing job %s: %w", j.ID, err)
	}
	if n, _ := pub.Stats(); n != to-from+1 {
		return fmt.Errorf("publishing job %s: the stream acknowledged %d of %d records", j.ID, n, to-from+1)
	}
	return nil
}

// PublishAll publishes several jobs at once, each from its own goroutine,
// so that their pipelines run side by side.
func (c *Cluster) PublishAll(js ...*Job) {
	c.t.Helper()
	errs := make([]error, len(js))
	var wg sync.WaitGroup
	for i, j := range js {
		wg.Go(func() { errs[i] = c.publish(j, 1, j.Len()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatal(err)
	}
}

// Watch follows j with pkg/jobs until every record has a final outcome. It
// gives up after timeout, or as soon as the pipeline's consumer has been
// drained for a while with outcomes still missing (nothing is left that
// could report them). It then fails the test and returns the partial
// result, so that the audit can say what became of the missing records.
func (c *Cluster) Watch(j *Job, timeout time.Duration) *jobs.Result {
	c.t.Helper()
	res, err := c.watch(j, timeout)
	if err != nil {
		if res == nil {
			c.t.Fatal(err)
		}
		c.t.Error(err)
	}
	return res
}

// stallGrace is how long a drained consumer may coexist with missing
// outcomes. Results are published before messages are settled, so once
// nothing is pending or unacknowledged every result that will ever exist is
// stored (the max-deliveries advisory handler needs a second or two more).
const stallGrace = 30 * time.Second

func (c *Cluster) watch(j *Job, timeout time.Duration) (*jobs.Result, error) {
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	last := time.Now()
	type answer struct {
		res *jobs.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := jobs.Watch(ctx, c.JS, jobs.Options{
			Topology: c.Topo, Job: j.ID, Total: j.Len(),
			OnProgress: func(p jobs.Progress) {
				if time.Since(last) >= 15*time.Second {
					last = time.Now()
					c.t.Logf("job %s: %d/%d done (loaded %d, dead-lettered %d, retry reports %d)", j.ID, p.Done, p.Total, p.Loaded, p.DeadLettered, p.Retrying)
				}
			},
		})
		done <- answer{res, err}
	}()
	var drainedSince time.Time
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var got answer
	stalled := false
wait:
	for {
		select {
		case got = <-done:
			break wait
		case <-tick.C:
			if c.drained(j.Pipeline) != nil {
				drainedSince = time.Time{}
			} else if drainedSince.IsZero() {
				drainedSince = time.Now()
			} else if time.Since(drainedSince) > stallGrace {
				stalled = true
				cancel()
				got = <-done
				break wait
			}
		}
	}
	if got.err == nil {
		return got.res, nil
	}
	doneN := 0
	var missing []int
	if got.res != nil {
		for i, o := range got.res.Outcomes {
			if o.Status != "" {
				doneN++
			} else if len(missing) < 10 {
				missing = append(missing, i+1)
			}
		}
	}
	why := fmt.Sprintf("after %v", timeout)
	if stalled {
		why = fmt.Sprintf("and the consumer has had nothing pending or unacknowledged for %v: those outcomes will never come", stallGrace)
	}
	return got.res, fmt.Errorf("job %s: %d of %d records have a final outcome %s (first without one: %v): %w", j.ID, doneN, j.Len(), why, missing, got.err)
}

// BatchResults reads every stored batch result of a job, in stream order.
// It asks the stream how many there are first, and reads until it has them
// all; a fetch that fails ("no responders" while a new ordered consumer's
// interest reaches every server, or an empty first fetch) starts it over.
func (c *Cluster) BatchResults(job string) []*messages.BatchResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Minute)
	defer cancel()
	var out []*messages.BatchResult
	err := c.poll(2*time.Minute, func() error {
		var err error
		out, err = c.readBatchResults(ctx, job)
		return err
	})
	if err != nil {
		c.t.Fatalf("reading the batch results of job %s: %v", job, err)
	}
	return out
}

func (c *Cluster) readBatchResults(ctx context.Context, job string) ([]*messages.BatchResult, error) {
	filter := c.Topo.Subjects().JobResults(job)
	stream, err := c.JS.Stream(ctx, c.Topo.ResultsStream())
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, err
	}
	want := 0
	for _, n := range info.State.Subjects {
		want += int(n)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, err
	}
	var out []*messages.BatchResult
	for len(out) < want {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			br, err := messages.DecodeBatchResult(m.Data())
			if err != nil {
				return nil, fmt.Errorf("undecodable batch result: %w", err)
			}
			out = append(out, br)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("read %d of %d, then nothing", len(out), want)
		}
	}
	return out, nil
}

// FinalWorkers maps each sequence of a job to the worker that reported its
// first final outcome (the one jobs.Watch keeps).
func FinalWorkers(results []*messages.BatchResult) map[int64]string {
	out := map[int64]string{}
	for _, br := range results {
		for _, ro := range br.Records {
			if _, seen := out[ro.Seq]; !seen && messages.Final(ro.Status) && ro.Seq > 0 {
				out[ro.Seq] = br.Worker
			}
		}
	}
	return out
}

// drained is nil when a pipeline's consumers have nothing left: no message
// pending delivery, none delivered and unacknowledged. The consumers are
// found by their metadata (kinetic_pipelines): the unkeyed one and one per
// partition.
func (c *Cluster) drained(pc *pipeline.PipelineConfig) error {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	stream, err := c.JS.Stream(ctx, c.Topo.RecordsStream())
	if err != nil {
		return err
	}
	found := 0
	lister := stream.ListConsumers(ctx)
	var busy error
	// Read the list to its end: the lister's goroutine blocks until then.
	for info := range lister.Info() {
		if !slices.Contains(strings.Split(info.Config.Metadata[messages.ConsumerMetaPipelines], ","), pc.Name) {
			continue
		}
		found++
		if busy == nil && (info.NumPending != 0 || info.NumAckPending != 0) {
			busy = fmt.Errorf("consumer %s: %d pending, %d awaiting ack", info.Name, info.NumPending, info.NumAckPending)
		}
	}
	if err := lister.Err(); err != nil {
		return err
	}
	if busy != nil {
		return busy
	}
	if found == 0 {
		return fmt.Errorf("no consumer of pipeline %s", pc.Name)
	}
	return nil
}

// DeadLetters lists the dead letters of a job.
func (c *Cluster) DeadLetters(job string) []deadletter.Entry {
	c.t.Helper()
	return c.DeadLettersWith(deadletter.Filter{Job: job})
}

// SalesforceRecords returns the live records of a job in the simulator, by
// the job's key field value.
func (c *Cluster) SalesforceRecords(j *Job) map[string][]map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Minute)
	defer cancel()
	recs, err := c.Admin.Records(ctx, j.Pipeline.SObject, false)
	if err != nil {
		c.t.Fatalf("reading %s records from the simulator: %v", j.Pipeline.SObject, err)
	}
	out := map[string][]map[string]any{}
	for _, r := range recs {
		k, _ := r[j.KeyField].(string)
		if strings.HasPrefix(k, j.ID+"-") {
			out[k] = append(out[k], r)
		}
	}
	return out
}

// Account is the accounting of one job: where every published record went.
type Account struct {
	Job          *Job
	Mode         string
	Published    int
	LoadedSF     int // distinct records of the job in the simulator
	LiveSF       int // live records of the job in the simulator (duplicates included)
	LoadedResult int // loaded, per the job's result
	DeadDLQ      int // dead letters of the job in the dead-letter stream
	DeadResult   int // dead-lettered, per the job's result
	Skipped      int
	NoOutcome    int // no final outcome reported (must be 0)
	SFDuplicates int // UPSERT: live − distinct external ids; INSERT: records sharing a Name
	Redelivered  int // final outcomes reached on a delivery > 1
	DupOutcomes  int // final outcomes reported more than once (redelivered batches)
	Elapsed      time.Duration

	DeadLetters []deadletter.Entry
	Result      *jobs.Result
	problems    []string
}

// AuditOptions adjust Audit.
type AuditOptions struct {
	// ExtraDeadLetters is how many dead letters of the job carry no
	// sequence (a record whose Kinetic-Seq header is malformed).
	ExtraDeadLetters int
}

// Audit accounts for every record of a finished job: it waits for the
// pipeline's consumer to drain, then reads the simulator's records and the
// dead-letter stream, and checks that they agree with the job's outcomes.
// Problems are reported by Report, after the table.
func (c *Cluster) Audit(j *Job, res *jobs.Result, elapsed time.Duration, o AuditOptions) *Account {
	c.t.Helper()
	drainErr := c.poll(2*time.Minute, func() error { return c.drained(j.Pipeline) })
	a := &Account{Job: j, Mode: string(j.Pipeline.Mode), Published: j.Len(), Elapsed: elapsed, Result: res,
		LoadedResult: res.SuccessCount, DeadResult: res.ErrorCount, DupOutcomes: res.Duplicates}
	omitted := 0
	problem := func(format string, args ...any) {
		if len(a.problems) >= 40 {
			omitted++
			return
		}
		a.problems = append(a.problems, fmt.Sprintf("job %s: ", j.ID)+fmt.Sprintf(format, args...))
	}
	defer func() {
		if omitted > 0 {
			a.problems = append(a.problems, fmt.Sprintf("job %s: … and %d more problems", j.ID, omitted))
		}
	}()

	if drainErr != nil {
		problem("records left in the work queue: %v", drainErr)
	}
	sf := c.SalesforceRecords(j)

	// Every record has exactly one final outcome, and the counts add up.
	counts := map[string]int{}
	var noOutcome, noOutcomeInSF []int
	for i, out := range res.Outcomes {
		counts[out.Status]++
		if out.Status == "" {
			noOutcome = append(noOutcome, i+1)
			if len(sf[j.Keys[i]]) > 0 {
				noOutcomeInSF = append(noOutcomeInSF, i+1)
			}
		}
		if out.Delivery > 1 {
			a.Redelivered++
		}
	}
	if len(noOutcome) > 0 {
		problem("%d records have no final outcome: %d of them are in Salesforce (loaded, never reported), %d are not (LOST); first: %v",
			len(noOutcome), len(noOutcomeInSF), len(noOutcome)-len(noOutcomeInSF), noOutcome[:min(10, len(noOutcome))])
	}
	// An interrupted jobs.Watch counts the records without an outcome as
	// skipped; the table shows them apart.
	a.Skipped, a.NoOutcome = counts[messages.StatusSkipped], len(noOutcome)
	if counts[messages.StatusLoaded] != res.SuccessCount || counts[messages.StatusDeadLettered] != res.ErrorCount || a.Skipped+a.NoOutcome != res.SkippedCount {
		problem("outcomes %v do not match the result's counts (%d loaded, %d failed, %d skipped)", counts, res.SuccessCount, res.ErrorCount, res.SkippedCount)
	}

	// What Salesforce holds agrees with the outcomes.
	known := make(map[string]bool, j.Len())
	for i, out := range res.Outcomes {
		key := j.Keys[i]
		known[key] = true
		recs := sf[key]
		switch out.Status {
		case messages.StatusLoaded:
			switch {
			case len(recs) == 0:
				problem("record %d (%s) reported loaded as %s, but it is not in Salesforce: LOST", i+1, key, out.ID)
			case j.Pipeline.Mode == pipeline.Upsert && (len(recs) != 1 || recs[0]["Id"] != out.ID):
				problem("record %d (%s) reported loaded as %s; Salesforce has %d record(s), first %v", i+1, key, out.ID, len(recs), recs[0]["Id"])
			case !slices.ContainsFunc(recs, func(r map[string]any) bool { return r["Id"] == out.ID }):
				problem("record %d (%s) reported loaded as %s, which Salesforce does not hold", i+1, key, out.ID)
			}
		case messages.StatusDeadLettered, messages.StatusSkipped:
			if len(recs) > 0 {
				problem("record %d (%s) is %s (%s) but Salesforce holds it as %v", i+1, key, out.Status, out.Code, recs[0]["Id"])
			}
		}
	}
	for key, recs := range sf {
		a.LoadedSF++
		a.LiveSF += len(recs)
		if !known[key] {
			problem("Salesforce holds %s, which was never published", key)
		}
	}
	a.SFDuplicates = a.LiveSF - a.LoadedSF
	if a.LoadedSF != a.LoadedResult && len(noOutcome) == 0 {
		problem("Salesforce holds %d distinct records of the job, the result says %d loaded", a.LoadedSF, a.LoadedResult)
	}
	if j.Pipeline.Mode == pipeline.Upsert && a.SFDuplicates != 0 {
		problem("%d duplicate records in Salesforce for an UPSERT job", a.SFDuplicates)
	}

	// The dead-letter stream holds exactly the dead-lettered records, with
	// their original bytes and the outcome's code.
	a.DeadLetters = c.DeadLetters(j.ID)
	a.DeadDLQ = len(a.DeadLetters)
	seen := map[int64]bool{}
	noSeq := 0
	for _, e := range a.DeadLetters {
		d := e.DeadLetter
		if d.Seq == 0 {
			noSeq++
			continue
		}
		if d.Seq < 0 || int(d.Seq) > j.Len() {
			problem("dead letter %d has sequence %d, out of the job", e.Seq, d.Seq)
			continue
		}
		if seen[d.Seq] {
			problem("record %d is dead-lettered twice", d.Seq)
		}
		seen[d.Seq] = true
		out := res.Outcomes[d.Seq-1]
		if out.Status != messages.StatusDeadLettered || out.Code != d.Code {
			problem("record %d has dead letter %d (%s) but outcome %s (%s)", d.Seq, e.Seq, d.Code, out.Status, out.Code)
		}
		if !bytes.Equal(d.Data, j.Payloads[d.Seq-1]) {
			problem("dead letter of record %d does not carry the original bytes", d.Seq)
		}
		// A keyed record's dead letter names the subject it was stored
		// under: the job's subject, its partition and its key token.
		subjectOK := d.Subject == j.Subject
		if rs, err := c.Topo.Subjects().ParseRecords(d.Subject); err == nil && rs.Key != "" {
			subjectOK = c.Topo.Subjects().Records(rs.SObject, rs.Mode) == j.Subject
		}
		if d.Pipeline != j.Pipeline.Name || !subjectOK || d.Code == "" || d.Message == "" {
			problem("dead letter of record %d is incomplete: pipeline %q subject %q code %q message %q", d.Seq, d.Pipeline, d.Subject, d.Code, d.Message)
		}
	}
	if len(seen) != a.DeadResult {
		problem("%d records dead-lettered per the result, %d in the dead-letter stream", a.DeadResult, len(seen))
	}
	if noSeq != o.ExtraDeadLetters {
		problem("%d dead letters without a sequence, want %d", noSeq, o.ExtraDeadLetters)
	}
	return a
}

// Report logs the accounting table of a scenario, then fails the test for
// every problem the audits found.
func Report(t *testing.T, scenario string, accts ...*Account) {
	t.Helper()
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "job\tmode\tpublished\tloaded (SF)\tloaded (result)\tdead-lettered (DLQ)\tdead-lettered (result)\tskipped\tno outcome\tSF duplicates\tredelivered\tdup outcomes\telapsed\trecords/s\t")
	for _, a := range accts {
		rate := 0.0
		if s := a.Elapsed.Seconds(); s > 0 {
			rate = float64(a.Published) / s
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.0f\t\n", a.Job.ID, a.Mode, a.Published, a.LoadedSF, a.LoadedResult,
			a.DeadDLQ, a.DeadResult, a.Skipped, a.NoOutcome, a.SFDuplicates, a.Redelivered, a.DupOutcomes, a.Elapsed.Round(100*time.Millisecond), rate)
	}
	tw.Flush()
	t.Logf("accounting: %s\n%s", scenario, b.String())
	var errs []error
	for _, a := range accts {
		for _, p := range a.problems {
			errs = append(errs, errors.New(p))
		}
	}
	if len(errs) > 0 {
		t.Errorf("accounting found %d problem(s):\n%v", len(errs), errors.Join(errs...))
	}
}

// CountCodes counts dead letters by code.
func CountCodes(entries []deadletter.Entry) map[string]int {
	out := map[string]int{}
	for _, e := range entries {
		out[e.DeadLetter.Code]++
	}
	return out
}

// WatchAll follows several jobs at once and returns their results and how
// long after start each finished.
func (c *Cluster) WatchAll(start time.Time, timeout time.Duration, js ...*Job) ([]*jobs.Result, []time.Duration) {
	c.t.Helper()
	res := make([]*jobs.Result, len(js))
	took := make([]time.Duration, len(js))
	errs := make([]error, len(js))
	var wg sync.WaitGroup
	for i, j := range js {
		wg.Go(func() {
			res[i], errs[i] = c.watch(j, timeout)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && res[i] == nil {
			c.t.Fatal(err)
		}
		if err != nil {
			c.t.Error(err)
		}
	}
	return res, took
}

// DeadLettersWith lists the dead letters matching f with the product's
// deadletter.Inspector, as `producer dlq list` does.
func (c *Cluster) DeadLettersWith(f deadletter.Filter) []deadletter.Entry {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Minute)
	defer cancel()
	insp, err := deadletter.NewInspector(ctx, c.JS, c.Topo)
	if err != nil {
		c.t.Fatal(err)
	}
	list, err := insp.List(ctx, f)
	if err != nil {
		c.t.Fatalf("listing dead letters %+v: %v", f, err)
	}
	return list
}
