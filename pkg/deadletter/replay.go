package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// ReplayOptions adjusts Replay.
type ReplayOptions struct {
	// Subject, when set, republishes to it instead of each dead letter's
	// original subject (replaying into another pipeline).
	Subject string
	// DryRun lists what would be replayed and changes nothing.
	DryRun bool
}

// ReplayReport says what Replay did.
type ReplayReport struct {
	Replayed   []Entry // republished and deleted (or, in a dry run, would be)
	Duplicates int     // republishes the records stream recognised as already there
	Failed     []error // dead letters left in place, with why
}

// Replay republishes the matching dead letters' original bytes and headers
// and deletes each dead letter once the republish is acknowledged. The
// Kinetic-Stop-On-Error header is dropped (a replay is deliberate, and the
// job's stop flag would skip it) and Kinetic-Replay-Of is added.
func (i *Inspector) Replay(ctx context.Context, f Filter, o ReplayOptions) (*ReplayReport, error) {
	rep := &ReplayReport{}
	entries, err := i.List(ctx, f)
	if err != nil {
		return rep, err
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if o.DryRun {
			rep.Replayed = append(rep.Replayed, e)
			continue
		}
		dup, err := i.replayOne(ctx, e, o.Subject)
		if err != nil {
			rep.Failed = append(rep.Failed, fmt.Errorf("dead letter %d: %w", e.Seq, err))
			continue
		}
		if dup {
			rep.Duplicates++
		}
		rep.Replayed = append(rep.Replayed, e)
	}
	return rep, nil
}

func (i *Inspector) replayOne(ctx context.Context, e Entry, subject string) (duplicate bool, err error) {
	d := e.DeadLetter
	if subject == "" {
		subject = d.Subject
	}
	msg := nats.NewMsg(subject)
	msg.Data = d.Data
	for k, vs := range d.Headers {
		switch k {
		case messages.HeaderStopOnError, messages.HeaderMsgID, messages.HeaderReplayOf:
			continue
		}
		for _, v := range vs {
			msg.Header.Add(k, v)
		}
	}
	msg.Header.Set(messages.HeaderReplayOf, strconv.FormatUint(e.Seq, 10))
	msg.Header.Set(messages.HeaderMsgID, fmt.Sprintf("replay-%s-%d", i.topo.DLQStream(), e.Seq))
	ack, err := i.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(i.topo.RecordsStream()))
	if err != nil {
		return false, fmt.Errorf("republishing to %s: %w", subject, err)
	}
	if err := i.stream.DeleteMsg(ctx, e.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return ack.Duplicate, fmt.Errorf("republished, but deleting the dead letter failed (a second replay will not publish twice): %w", err)
	}
	return ack.Duplicate, nil
}
