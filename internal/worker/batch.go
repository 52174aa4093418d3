package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// entry is one message this replica holds, and what became of it.
type entry struct {
	msg      jetstream.Msg
	md       *jetstream.MsgMetadata
	meta     messages.RecordMeta
	subj     messages.RecordSubject
	op       pipeline.SyncMode
	item     pipeline.Item
	size     int
	part     int // partition it was fetched from; -1: the unkeyed consumer
	received time.Time

	out pipeline.Outcome // the loader's outcome
	v   verdict          // decided
}

func (e *entry) delivered() uint64 {
	if e.md == nil {
		return 1
	}
	return e.md.NumDelivered
}

// key is the record's key for results and dead letters: the pipeline's
// key of the mapped record, else the publisher's Kinetic-Key header, else
// the key token of its subject (a plain publisher's keyed subject).
func (e *entry) key() string {
	switch {
	case e.item.Key != "":
		return e.item.Key
	case e.meta.Key != "":
		return e.meta.Key
	}
	return e.subj.Key
}

func (e *entry) streamSeq() uint64 {
	if e.md == nil {
		return 0
	}
	return e.md.Sequence.Stream
}

// decode reads a message's metadata, subject, headers and payload, and maps
// and checks the record. What is wrong is decided at once: a dead letter
// with a code.
func (r *runner) decode(msg jetstream.Msg, part int) *entry {
	e := &entry{msg: msg, part: part, size: len(msg.Data()), op: pipeline.SyncMode(r.mode)}
	fail := func(code, msg string, fields []string) *entry {
		e.v = decide(situation{final: true, preCode: code, preMsg: msg, preFields: fields}, r.schedules())
		return e
	}
	if md, err := msg.Metadata(); err == nil {
		e.md = md
		if md.NumDelivered > 1 {
			r.w.metrics.Redeliveries.WithLabelValues(r.name).Inc()
		}
	}
	meta, err := messages.ParseRecordMeta(msg.Headers())
	e.meta = meta
	if err != nil {
		var de *messages.DecodeError
		if errors.As(err, &de) {
			return fail(de.Code, de.Msg, nil)
		}
		return fail(messages.CodeBadHeader, err.Error(), nil)
	}
	subj, err := r.w.subj.ParseRecords(msg.Subject())
	if err != nil {
		return fail(messages.CodeBadSubject, err.Error(), nil)
	}
	e.subj = subj
	op, ok := r.opOf(subj.Mode)
	if !ok {
		return fail(messages.CodeBadSubject, fmt.Sprintf("pipeline %s does not take %s records (subject %s)", r.name, subj.Mode, msg.Subject()), nil)
	}
	e.op = op
	rec, err := messages.DecodeRecord(msg.Data(), r.set.MaxRecordBytes)
	if err != nil {
		var de *messages.DecodeError
		if errors.As(err, &de) {
			return fail(de.Code, de.Error(), nil)
		}
		return fail(messages.CodeUndecodable, err.Error(), nil)
	}
	seq := int(meta.Seq)
	if e.md != nil && seq == 0 {
		seq = int(e.md.Sequence.Stream)
	}
	item, rerr := r.p.PrepareOp(seq, rec, op)
	if rerr != nil {
		return fail(rerr.Code, rerr.Message, rerr.Fields)
	}
	e.item = item
	if why := r.keyMismatch(e); why != "" {
		return fail(messages.CodeBadKey, why, nil)
	}
	return e
}
