package deadletter

import (
	"fmt"
	"net/textproto"
	"regexp"
	"slices"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// target is where and how a dead letter is republished: always a record
// subject of one of the deployment's pipelines, rebuilt from that pipeline's
// configuration, never the subject the dead letter names.
type target struct {
	pipeline string
	// subject is the published form: <prefix>.records.<SObject>.<mode>, or
	// that plus the key token for a keyed record (the records stream inserts
	// the partition again).
	subject string
	// header holds only Kinetic's record headers (job, seq, key); Replay
	// adds Kinetic-Replay-Of and Nats-Msg-Id.
	header nats.Header
	// dropped names the original record's headers left out, other than the
	// ones every replay replaces or drops (Nats-Msg-Id, Kinetic-Replay-Of,
	// Kinetic-Stop-On-Error).
	dropped []string
}

// keptHeaders are the record headers a replay carries over.
var keptHeaders = []string{messages.HeaderJob, messages.HeaderSeq, messages.HeaderKey}

// replacedHeaders are the record headers every replay replaces or drops.
var replacedHeaders = []string{messages.HeaderMsgID, messages.HeaderReplayOf, messages.HeaderStopOnError}

// keyTokenRE is what a key token may hold: KeyToken's letters, digits, '-',
// '_' and %XX escapes.
var keyTokenRE = regexp.MustCompile(`^[A-Za-z0-9_%-]+$`)

// refusal is why a dead letter is not replayed.
type refusal string

// plan decides where a dead letter goes, or why it does not go anywhere.
// to is the pipeline to replay into (nil: the dead letter's own).
//
// Replaying into the dead letter's own pipeline keeps the record's form:
// an unkeyed record stays unkeyed, a keyed one keeps its key token (taken
// from the stored subject and checked). Replaying into another pipeline
// computes the record's key for that pipeline from the payload
// ((*pipeline.PipelineConfig).Key), as a publisher to that pipeline would:
// the record is then keyed by what that pipeline orders its changes by.
func (i *Inspector) plan(e Entry, to *pipeline.PipelineConfig) (target, refusal) {
	d := e.DeadLetter
	subj := i.topo.Subjects()
	stored, err := subj.ParseRecords(d.Subject)
	if err != nil {
		return target{}, refusal(fmt.Sprintf("its subject %q is not a record subject of this deployment (%s)", d.Subject, subj.AllRecords()))
	}
	if stored.Keyed() && !keyTokenRE.MatchString(stored.Key) {
		return target{}, refusal(fmt.Sprintf("the key token %q of its subject holds characters no key token has (only letters, digits, '-', '_' and %%XX)", stored.Key))
	}
	pc := to
	if pc == nil {
		if d.Pipeline == "" {
			return target{}, refusal("it names no pipeline; replay it into one with --to-pipeline")
		}
		var ok bool
		if pc, ok = i.opts.pipelines.Pipeline(d.Pipeline); !ok {
			return target{}, refusal(fmt.Sprintf("its pipeline %q is not in %s; replay it into one with --to-pipeline", d.Pipeline, i.opts.pipelines.Path))
		}
		takes := string(pc.Mode) == d.Mode || (pc.Deletes && d.Mode == string(pipeline.Delete))
		if pc.SObject != d.SObject || !takes {
			return target{}, refusal(fmt.Sprintf("pipeline %q loads %s %s now, the dead letter is %s %s; replay it with --to-pipeline", pc.Name, pc.SObject, pc.Mode, d.SObject, d.Mode))
		}
	}
	mode := string(pc.Mode)
	if to == nil {
		mode = d.Mode // a delete, in a pipeline that takes deletes
	}
	base := subj.Records(pc.SObject, mode)
	if b, err := subj.ParseRecords(base); err != nil || b.Keyed() {
		return target{}, refusal(fmt.Sprintf("pipeline %q reads %q, which is not a record subject without a key", pc.Name, base))
	} else if to == nil && (b.SObject != stored.SObject || b.Mode != stored.Mode) {
		return target{}, refusal(fmt.Sprintf("its subject %q is not pipeline %q's (%s)", d.Subject, pc.Name, base))
	}

	t := target{pipeline: pc.Name, subject: base, header: nats.Header{}}
	for k, vs := range d.Headers {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		switch {
		case slices.Contains(keptHeaders, ck):
			if len(vs) != 1 {
				return target{}, refusal(fmt.Sprintf("its header %s has %d values, a record's has one", ck, len(vs)))
			}
			t.header.Set(ck, vs[0])
		case slices.Contains(replacedHeaders, ck):
		default:
			t.dropped = append(t.dropped, k)
		}
	}
	slices.Sort(t.dropped)
	switch {
	case to == nil:
		if stored.Keyed() {
			t.subject += "." + stored.Key
		}
	case pipeline.Keyed(pc.Mode):
		rec, err := messages.DecodeRecord(d.Data, 0)
		if err != nil {
			return target{}, refusal(fmt.Sprintf("pipeline %q orders records by key, and this one's key cannot be read: %v", pc.Name, err))
		}
		key, rerr := pc.Key(rec)
		if rerr != nil {
			return target{}, refusal(fmt.Sprintf("pipeline %q orders records by key, and this one has none: %s: %s", pc.Name, rerr.Code, rerr.Message))
		}
		if key == "" {
			return target{}, refusal(fmt.Sprintf("pipeline %q orders records by key, and this one has none", pc.Name))
		}
		t.subject += "." + messages.KeyToken(key)
		t.header.Set(messages.HeaderKey, key)
	}
	if _, err := messages.ParseRecordMeta(t.header); err != nil {
		return target{}, refusal(fmt.Sprintf("its headers would be refused: %v", err))
	}
	return t, ""
}

// message builds the record message a replay publishes.
func (t target) message(e Entry, msgID string) *nats.Msg {
	m := nats.NewMsg(t.subject)
	m.Data = e.DeadLetter.Data
	for k, vs := range t.header {
		m.Header[k] = slices.Clone(vs)
	}
	m.Header.Set(messages.HeaderReplayOf, fmt.Sprint(e.Seq))
	m.Header.Set(messages.HeaderMsgID, msgID)
	return m
}
