package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// plan is what a publish will do with each row, decided the same way by the
// check (pass 1) and the publish (pass 2).
type plan struct {
	o       Options
	base    string // the unkeyed subject
	keyed   bool   // the pipeline's records have a key
	limit   int    // the largest message the server and the stream take
	limitBy string // which limit that is, for messages
}

// record is one row ready to publish.
type record struct {
	in   *input
	line int
	rec  map[string]any
	seq  int64
	data []byte // the JSON published
	// subject is keyed (base + "." + KeyToken(key)) when the key is known,
	// else base: a keyed pipeline's record whose key cannot be computed is
	// published unkeyed and dead-lettered by the worker with keyErr's code.
	subject string
	key     string
	keyErr  *pipeline.RecordError
	meta    messages.RecordMeta
}

// prepare turns a row into the record to publish, or a row error.
func (pl *plan) prepare(in *input, r row, seq int64) (*record, *InputError) {
	bad := func(column, msg string) *InputError {
		return &InputError{File: in.name, Line: r.line, Column: column, Msg: msg}
	}
	rec := &record{in: in, line: r.line, rec: r.rec, seq: seq, subject: pl.base}
	o := pl.o
	rec.meta = messages.RecordMeta{Job: o.Job, Seq: seq, MsgID: fmt.Sprintf("%s-%d", o.Job, seq), StopOnError: o.StopOnError}
	if o.KeyColumn != "" {
		v, ok := r.rec[o.KeyColumn]
		k := fmt.Sprint(v)
		if !ok || v == nil || k == "" {
			return nil, bad(o.KeyColumn, "the key column is missing or empty")
		}
		rec.meta.Key = k
		rec.meta.MsgID = fmt.Sprintf("%s-%s-%s", o.Pipeline.SObject, o.Pipeline.Mode, k)
	}
	data, err := messages.EncodeRecord(r.rec)
	if err != nil {
		return nil, bad("", err.Error())
	}
	rec.data = data
	if pl.keyed {
		// The key as the worker will see it: from the published bytes.
		seen, err := messages.DecodeRecord(data, 0)
		if err != nil {
			return nil, bad("", "the record does not read back: "+err.Error())
		}
		key, kerr := o.Pipeline.Key(seen)
		switch {
		case kerr != nil:
			rec.keyErr = kerr
		case key == "":
			rec.keyErr = &pipeline.RecordError{Code: pipeline.CodeMissingExternalID, Message: "the record has no key"}
		default:
			rec.key = key
			rec.subject = messages.KeyedSubject(pl.base, key)
			if len(rec.subject) > messages.MaxSubjectLen {
				return nil, bad("", fmt.Sprintf("the key is %d bytes long: no Salesforce key is (a subject of %d bytes; the limit is %d)", len(key), len(rec.subject), messages.MaxSubjectLen))
			}
		}
	}
	if size := messages.MsgSize(messages.RecordMsg(rec.subject, data, rec.meta)); size > pl.limit {
		return nil, bad("", fmt.Sprintf("the record is %d bytes as a message (JSON and headers); the limit is %d bytes (%s)", size, pl.limit, pl.limitBy))
	}
	return rec, nil
}

// newPlan looks up the limits the records must fit: the server's
// max_payload and the max_msg_size of the stream that takes the subject.
// A subject no stream takes is refused here, before anything is read.
func newPlan(ctx context.Context, o Options, base string) (*plan, error) {
	pl := &plan{o: o, base: base, keyed: pipeline.Keyed(o.Pipeline.Mode)}
	nc := o.JS.Conn()
	pl.limit, pl.limitBy = int(nc.MaxPayload()), "the NATS server's max_payload"
	probe := base
	if pl.keyed {
		probe = messages.KeyedSubject(base, "probe")
	}
	// The records stream by name first: a producer's NATS user may read
	// that stream's info ($JS.API.STREAM.INFO.<stream>) without being
	// allowed to list streams (deploy/nats/nats-server.conf). Only a
	// subject the records stream does not take is looked up by subject.
	name := o.Topology.WithDefaults().RecordsStream()
	s, err := o.JS.Stream(ctx, name)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	if err != nil || !takes(s.CachedInfo().Config.Subjects, probe) {
		name, err = o.JS.StreamNameBySubject(ctx, probe)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("no stream takes %s: the workers create the streams at start-up (is one running, with the same --prefix?)", probe)
		}
		if err != nil {
			return nil, fmt.Errorf("looking up the stream of %s: %w", probe, err)
		}
		if s, err = o.JS.Stream(ctx, name); err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
	}
	info := s.CachedInfo()
	if max := int(info.Config.MaxMsgSize); max > 0 && max < pl.limit {
		pl.limit, pl.limitBy = max, fmt.Sprintf("the max_msg_size of stream %s", name)
	}
	return pl, nil
}

// fileStamp identifies a file's content cheaply, to notice it changing
// between the check and the publish.
type fileStamp struct {
	size int64
	mod  time.Time
}

func stamp(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{st.Size(), st.ModTime()}
}

// checkResult is what the check learned.
type checkResult struct {
	total   int
	columns []string // CSV header, or JSON keys in order of appearance, for the output files
	// unkeyed are the records of a keyed pipeline whose key cannot be
	// computed: they are published unkeyed and will be dead-lettered.
	unkeyed      []*InputError
	unkeyedCount int
	stamps       []fileStamp
}

// check reads every input once and publishes nothing: it counts records,
// collects the columns, and finds every bad row (the first 20 by position
// are reported, the rest counted). A row is bad when it does not parse,
// holds bytes that are not characters of the encoding, lacks its key
// column or repeats a key (with --key-column), or is too large a message.
func (pl *plan) check(inputs []*input) (*checkResult, error) {
	res := &checkResult{}
	errs := &errorList{fileOrder: map[string]int{}}
	seenColumn := map[string]bool{}
	firstSeen := map[string]string{} // business key → file:line where it first appeared
	seq := int64(0)
	for i, in := range inputs {
		errs.fileOrder[in.name] = i
		res.stamps = append(res.stamps, stamp(in.path))
		rr, err := openRows(in)
		if err != nil {
			return nil, err
		}
		for {
			r, err := rr.Next()
			for _, e := range rr.encodingErrors() {
				errs.add(e)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			var ie *InputError
			if errors.As(err, &ie) {
				errs.add(ie)
				continue
			}
			if err != nil {
				rr.Close()
				return nil, err
			}
			seq++
			res.total++
			rec, bad := pl.prepare(in, r, seq)
			if bad != nil {
				errs.add(bad)
				continue
			}
			if k := rec.meta.Key; pl.o.KeyColumn != "" {
				if first, dup := firstSeen[k]; dup {
					errs.add(&InputError{File: in.name, Line: r.line, Column: pl.o.KeyColumn, Msg: fmt.Sprintf("key %q repeats %s: the second would be dropped as a duplicate", k, first)})
				} else {
					firstSeen[k] = fmt.Sprintf("%s:%d", in.name, r.line)
				}
			}
			if rec.keyErr != nil {
				res.unkeyedCount++
				if len(res.unkeyed) < maxErrors {
					res.unkeyed = append(res.unkeyed, &InputError{File: in.name, Line: r.line, Msg: rec.keyErr.Code + ": " + rec.keyErr.Message})
				}
			}
			cols := rr.Header()
			if cols == nil {
				cols = sortedKeys(r.rec)
			}
			for _, c := range cols {
				if !seenColumn[c] {
					seenColumn[c] = true
					res.columns = append(res.columns, c)
				}
			}
		}
		rr.Close()
	}
	if errs.total > 0 {
		errs.compact()
		resolveColumns(inputs, errs.errs)
		return nil, &CheckError{Errors: errs.errs, More: errs.total - len(errs.errs)}
	}
	return res, nil
}

// eachRecord reads the inputs again (pass 2, and the output files) and
// calls fn with each record. A row that is bad now (the file changed since
// the check) stops it with that error, before fn sees the row.
func (pl *plan) eachRecord(inputs []*input, fn func(*record) error) error {
	seq := int64(0)
	for _, in := range inputs {
		rr, err := openRows(in)
		if err != nil {
			return err
		}
		for {
			r, err := rr.Next()
			if !rr.clean() {
				err = errors.New("the input changed since it was checked: it holds bytes that are not characters")
				if ee := rr.encodingErrors(); len(ee) > 0 {
					err = ee[0]
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rr.Close()
				return err
			}
			seq++
			rec, bad := pl.prepare(in, r, seq)
			if bad != nil {
				rr.Close()
				return bad
			}
			if err := fn(rec); err != nil {
				rr.Close()
				return err
			}
		}
		rr.Close()
	}
	return nil
}

// takes reports whether one of a stream's subject filters matches subject
// (NATS wildcards: * one token, > the rest).
func takes(filters []string, subject string) bool {
	for _, f := range filters {
		if subjectMatches(f, subject) {
			return true
		}
	}
	return false
}

func subjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, t := range ft {
		switch {
		case t == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case t != "*" && t != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}
