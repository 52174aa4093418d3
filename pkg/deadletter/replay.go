package deadletter

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// ReplayOptions adjusts Replay.
type ReplayOptions struct {
	// ToPipeline, when set, replays into this pipeline of the pipelines file
	// instead of each dead letter's own (see plan for the key).
	ToPipeline string
	// DryRun reports what a real run would do, refusals included, and
	// changes nothing.
	DryRun bool
}

// ErrNoPipelines is Replay's error when the Inspector has no pipelines file
// (WithPipelines): it would not know where a dead letter may go.
var ErrNoPipelines = errors.New("replay needs the pipelines file (deadletter.WithPipelines): it publishes only to a record subject of one of its pipelines")

// Replay republishes the matching dead letters' original bytes to a record
// subject of their pipeline (or ToPipeline's), with only Kinetic's record
// headers and Kinetic-Replay-Of added, and deletes each dead letter once the
// records stream acknowledged its record. A dead letter that fails the
// checks (see plan) is refused and never published.
//
// The report has one result per matching dead letter. The error is for a
// replay that could not run or was cut short (ctx); the report then says
// what was done until then.
func (i *Inspector) Replay(ctx context.Context, f Filter, o ReplayOptions) (*ReplayReport, error) {
	rep := &ReplayReport{DryRun: o.DryRun, Started: now()}
	defer func() {
		rep.Finished = now()
		rep.count()
	}()
	if i.opts.pipelines == nil {
		return rep, ErrNoPipelines
	}
	var to *pipeline.PipelineConfig
	if o.ToPipeline != "" {
		var ok bool
		if to, ok = i.opts.pipelines.Pipeline(o.ToPipeline); !ok {
			return rep, fmt.Errorf("%s: no pipeline %q (it has: %v)", i.opts.pipelines.Path, o.ToPipeline, i.opts.pipelines.Names())
		}
	}
	entries, err := i.List(ctx, f)
	if err != nil {
		return rep, err
	}
	for n, e := range entries {
		if ctx.Err() != nil {
			for _, e := range entries[n:] {
				rep.Results = append(rep.Results, Result{Seq: e.Seq, Outcome: NotReached, Reason: "the replay was stopped before it", Entry: e})
			}
			return rep, ctx.Err()
		}
		rep.Results = append(rep.Results, i.replayOne(ctx, e, to, o))
	}
	return rep, nil
}

func (i *Inspector) replayOne(ctx context.Context, e Entry, to *pipeline.PipelineConfig, o ReplayOptions) Result {
	res := Result{Seq: e.Seq, Entry: e}
	t, why := i.plan(e, to)
	if why != "" {
		res.Outcome, res.Reason = Refused, string(why)
		res.Action = "fix what the reason names, or replay it into another pipeline (--to-pipeline), or purge it"
		return res
	}
	res.Pipeline, res.Subject, res.DroppedHeaders = t.pipeline, t.subject, t.dropped
	res.MsgID = fmt.Sprintf("replay-%s-%d", i.topo.DLQStream(), e.Seq)
	if o.DryRun {
		res.Outcome = Replayed
		return res
	}
	var ack *jetstream.PubAck
	err := i.retry(ctx, func(ctx context.Context) (err error) {
		ack, err = i.js.PublishMsg(ctx, t.message(e, res.MsgID), jetstream.WithExpectStream(i.topo.RecordsStream()))
		return err
	})
	if err != nil {
		res.Outcome, res.Reason = Failed, fmt.Sprintf("publishing to %s: %v", t.subject, err)
		return res
	}
	res.Outcome, res.RecordsSeq, res.Duplicate = Replayed, ack.Sequence, ack.Duplicate
	err = i.retry(ctx, func(ctx context.Context) error {
		err := i.stream.DeleteMsg(ctx, e.Seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		res.Reason = fmt.Sprintf("published, but the dead letter could not be removed: %v", err)
		return res
	}
	res.Removed = true
	return res
}
