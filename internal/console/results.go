package console

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// bucketWidth is the resolution of the per-pipeline counters.
const bucketWidth = 10 * time.Second

// counts are record outcomes, as batch results report them.
type counts struct {
	Loaded, DeadLettered, Skipped, Retrying, APICalls int
}

func (c *counts) add(o counts) {
	c.Loaded += o.Loaded
	c.DeadLettered += o.DeadLettered
	c.Skipped += o.Skipped
	c.Retrying += o.Retrying
	c.APICalls += o.APICalls
}

// Final is the number of records with a final outcome.
func (c counts) Final() int { return c.Loaded + c.DeadLettered + c.Skipped }

// pipelineSeries is one pipeline's outcomes over time, in 10-second buckets
// keyed by their start (Unix seconds / 10).
type pipelineSeries struct {
	SObject, Mode string
	buckets       map[int64]*counts
	last          time.Time // newest result
}

// jobInfo is what the results stream says about one job.
type jobInfo struct {
	ID         string
	Pipelines  []string
	SObject    string
	Mode       string
	First      time.Time // first result stored
	Last       time.Time // newest result stored
	Counts     counts    // final outcomes counted once per job sequence
	Retries    int       // retrying reports
	MaxSeq     int64     // highest job sequence reported: the job has at least this many records
	Duplicates int       // final outcomes reported again (redelivered batches), not counted
	Workers    []string
	done       bitset // job sequences with a final outcome
}

type bitset []uint64

func (b *bitset) testAndSet(i int64) bool {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w-len(*b)+1)...)
	}
	m := uint64(1) << (i % 64)
	was := (*b)[w]&m != 0
	(*b)[w] |= m
	return was
}

// resultsIndex follows the results stream and keeps what the overview and
// the jobs page show: per-pipeline outcome counts over time and per-job
// progress. It reads the last History of results at start, then follows.
type resultsIndex struct {
	topo    messages.Topology
	history time.Duration
	maxJobs int
	log     zerolog.Logger
	now     func() time.Time

	mu        sync.Mutex
	pipelines map[string]*pipelineSeries
	jobs      map[string]*jobInfo
	lastSeq   uint64 // stream sequence of the newest result read
	caughtUp  bool   // read everything that was stored when following started
	err       error  // why following fails, while it does
	read      int    // results read
}

func newResultsIndex(topo messages.Topology, history time.Duration, maxJobs int, log zerolog.Logger, now func() time.Time) *resultsIndex {
	return &resultsIndex{
		topo: topo, history: history, maxJobs: maxJobs, log: log, now: now,
		pipelines: map[string]*pipelineSeries{}, jobs: map[string]*jobInfo{},
	}
}

// run follows the results stream until ctx ends, starting again (after the
// newest result read) whenever the stream or the connection fails.
func (ix *resultsIndex) run(ctx context.Context, js jetstream.JetStream) {
	wait := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := ix.follow(ctx, js)
		if ctx.Err() != nil {
			return
		}
		ix.mu.Lock()
		ix.err = err
		ix.mu.Unlock()
		ix.log.Debug().Err(err).Dur("retry_in", wait).Msg("following the results stream")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (ix *resultsIndex) follow(ctx context.Context, js jetstream.JetStream) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{ix.topo.Subjects().AllResults()}}
	ix.mu.Lock()
	last := ix.lastSeq
	ix.mu.Unlock()
	if last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
	} else {
		since := ix.now().Add(-ix.history)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	stream, err := js.Stream(cctx, ix.topo.ResultsStream())
	if err == nil {
		var info *jetstream.StreamInfo
		if info, err = stream.Info(cctx); err == nil && (info.State.Msgs == 0 || info.State.LastSeq <= last ||
			(last == 0 && info.State.LastTime.Before(*cfg.OptStartTime))) {
			ix.mu.Lock()
			ix.caughtUp = true
			ix.mu.Unlock()
		}
	}
	var cons jetstream.Consumer
	if err == nil {
		cons, err = stream.OrderedConsumer(cctx, cfg)
	}
	cancel()
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return errors.New("the results stream " + ix.topo.ResultsStream() + " does not exist yet: no worker has started")
	}
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	ix.mu.Lock()
	ix.err = nil
	ix.mu.Unlock()
	for {
		msg, err := it.Next()
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		br, err := messages.DecodeBatchResult(msg.Data())
		ix.mu.Lock()
		ix.lastSeq = md.Sequence.Stream
		if err == nil {
			ix.add(br, md.Timestamp)
		}
		if md.NumPending == 0 {
			ix.caughtUp = true
		}
		ix.mu.Unlock()
	}
}

// add folds one batch result in; ix.mu is held.
func (ix *resultsIndex) add(br *messages.BatchResult, at time.Time) {
	ix.read++
	ps := ix.pipelines[br.Pipeline]
	if ps == nil {
		ps = &pipelineSeries{buckets: map[int64]*counts{}}
		ix.pipelines[br.Pipeline] = ps
	}
	ps.SObject, ps.Mode = br.SObject, br.Mode
	if at.After(ps.last) {
		ps.last = at
	}
	var j *jobInfo
	if br.Job != "" && br.Job != messages.NoJob {
		j = ix.jobs[br.Job]
		if j == nil {
			j = &jobInfo{ID: br.Job, SObject: br.SObject, Mode: br.Mode, First: at, Last: at}
			ix.jobs[br.Job] = j
			ix.pruneJobs()
		}
		if !slices.Contains(j.Pipelines, br.Pipeline) {
			j.Pipelines = append(j.Pipelines, br.Pipeline)
		}
		if br.Worker != "" && !slices.Contains(j.Workers, br.Worker) {
			j.Workers = append(j.Workers, br.Worker)
		}
		if at.After(j.Last) {
			j.Last = at
		}
		j.Counts.APICalls += br.APICalls
	}
	// The pipeline counts every final outcome a job reports for the first
	// time (a redelivered batch reports some again), and every outcome of
	// records without a job sequence.
	var c counts
	c.APICalls = br.APICalls
	for _, ro := range br.Records {
		if ro.Status == messages.StatusRetrying {
			c.Retrying++
			if j != nil {
				j.Retries++
			}
			continue
		}
		if j != nil && ro.Seq > 0 {
			j.MaxSeq = max(j.MaxSeq, ro.Seq)
			if j.done.testAndSet(ro.Seq - 1) {
				j.Duplicates++
				continue
			}
		}
		switch ro.Status {
		case messages.StatusLoaded:
			c.Loaded++
		case messages.StatusDeadLettered:
			c.DeadLettered++
		case messages.StatusSkipped:
			c.Skipped++
		}
	}
	if j != nil {
		j.Counts.Loaded += c.Loaded
		j.Counts.DeadLettered += c.DeadLettered
		j.Counts.Skipped += c.Skipped
	}
	key := at.Unix() / int64(bucketWidth/time.Second)
	b := ps.buckets[key]
	if b == nil {
		b = &counts{}
		ps.buckets[key] = b
		ix.pruneBuckets(ps, at)
	}
	b.add(c)
}

// pruneBuckets drops buckets older than the history; ix.mu is held.
func (ix *resultsIndex) pruneBuckets(ps *pipelineSeries, now time.Time) {
	oldest := now.Add(-ix.history).Unix() / int64(bucketWidth/time.Second)
	for k := range ps.buckets {
		if k < oldest {
			delete(ps.buckets, k)
		}
	}
}

// pruneJobs keeps the maxJobs most recent jobs; ix.mu is held.
func (ix *resultsIndex) pruneJobs() {
	if len(ix.jobs) <= ix.maxJobs {
		return
	}
	var oldest *jobInfo
	for _, j := range ix.jobs {
		if oldest == nil || j.Last.Before(oldest.Last) {
			oldest = j
		}
	}
	delete(ix.jobs, oldest.ID)
}

// indexStatus says how far the index is.
type indexStatus struct {
	CaughtUp bool
	Err      error
	Read     int
}

func (ix *resultsIndex) status() indexStatus {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return indexStatus{CaughtUp: ix.caughtUp, Err: ix.err, Read: ix.read}
}

// window sums a pipeline's outcomes stored in [now-d, now].
func (ix *resultsIndex) window(pipeline string, now time.Time, d time.Duration) counts {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var c counts
	ps := ix.pipelines[pipeline]
	if ps == nil {
		return c
	}
	w := int64(bucketWidth / time.Second)
	from, to := now.Add(-d).Unix()/w, now.Unix()/w
	// A window of d covers d/width buckets, the current (partial) one included.
	from = max(from, to-int64(d/bucketWidth)+1)
	for k := from; k <= to; k++ {
		if b := ps.buckets[k]; b != nil {
			c.add(*b)
		}
	}
	return c
}

// series returns a pipeline's outcomes per step over the n steps ending
// with the one holding now, oldest first.
func (ix *resultsIndex) series(pipeline string, now time.Time, step time.Duration, n int) []counts {
	out := make([]counts, n)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ps := ix.pipelines[pipeline]
	if ps == nil {
		return out
	}
	stepS, w := int64(step/time.Second), int64(bucketWidth/time.Second)
	end := now.Unix()/stepS*stepS + stepS // end of the step holding now
	start := end - int64(n)*stepS
	for k, b := range ps.buckets {
		t := k * w
		if t < start || t >= end {
			continue
		}
		out[(t-start)/stepS].add(*b)
	}
	return out
}

// pipelineNames lists the pipelines seen in results, with sObject and mode.
func (ix *resultsIndex) pipelineNames() map[string][2]string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := make(map[string][2]string, len(ix.pipelines))
	for name, ps := range ix.pipelines {
		out[name] = [2]string{ps.SObject, ps.Mode}
	}
	return out
}

// lastResult is when a pipeline's newest result was stored.
func (ix *resultsIndex) lastResult(pipeline string) time.Time {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ps := ix.pipelines[pipeline]; ps != nil {
		return ps.last
	}
	return time.Time{}
}

// jobList returns copies of the known jobs, newest first.
func (ix *resultsIndex) jobList() []jobInfo {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := make([]jobInfo, 0, len(ix.jobs))
	for _, j := range ix.jobs {
		c := *j
		c.done = nil
		c.Pipelines = slices.Clone(j.Pipelines)
		c.Workers = slices.Clone(j.Workers)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b jobInfo) int { return b.First.Compare(a.First) })
	return out
}

// job returns a copy of one job.
func (ix *resultsIndex) job(id string) (jobInfo, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	j := ix.jobs[id]
	if j == nil {
		return jobInfo{}, false
	}
	c := *j
	c.done = nil
	c.Pipelines = slices.Clone(j.Pipelines)
	c.Workers = slices.Clone(j.Workers)
	return c, true
}
