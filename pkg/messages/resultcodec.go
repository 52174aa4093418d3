package messages

import (
	"strconv"
	"time"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// appendBatchResult writes r as encoding/json writes it with HTML escaping
// off, byte for byte, without reflection: every worker encodes a result per
// batch, an outcome per record, and at zero latency encoding/json's
// reflection was a measurable share of the worker's CPU (docs/performance.md,
// "Hand-written codecs"). Strings go through jsontext.AppendString, the one
// escaper; FuzzEncodeBatchResult holds the whole to encoding/json. A time
// encoding/json cannot write (a year outside 0–9999) is its error.
func appendBatchResult(b []byte, r *BatchResult) ([]byte, error) {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = appendStrField(b, "batch_id", r.BatchID)
	b = appendStrField(b, "pipeline", r.Pipeline)
	b = appendStrField(b, "sobject", r.SObject)
	b = appendStrField(b, "mode", r.Mode)
	b = appendStrField(b, "job", r.Job)
	b = appendStrField(b, "worker", r.Worker)
	b = appendIntField(b, "loaded", int64(r.Loaded))
	b = appendIntField(b, "failed", int64(r.Failed))
	b = appendIntField(b, "skipped", int64(r.Skipped))
	b = appendIntField(b, "retrying", int64(r.Retrying))
	b = appendIntField(b, "api_calls", int64(r.APICalls))
	var err error
	b = append(b, `,"started_at":`...)
	if b, err = appendTime(b, r.StartedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"finished_at":`...)
	if b, err = appendTime(b, r.FinishedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"records":`...)
	if r.Records == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Records {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOutcome(b, &r.Records[i])
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendOutcome writes a RecordOutcome with its omitempty fields as
// encoding/json does.
func appendOutcome(b []byte, o *RecordOutcome) []byte {
	b = append(b, '{')
	if o.Seq != 0 {
		b = append(b, `"seq":`...)
		b = strconv.AppendInt(b, o.Seq, 10)
		b = append(b, ',')
	}
	b = append(b, `"stream_seq":`...)
	b = strconv.AppendUint(b, o.StreamSeq, 10)
	if o.Key != "" {
		b = appendStrField(b, "key", o.Key)
	}
	b = appendStrField(b, "status", o.Status)
	if o.ID != "" {
		b = appendStrField(b, "id", o.ID)
	}
	if o.Created {
		b = append(b, `,"created":true`...)
	}
	if o.Code != "" {
		b = appendStrField(b, "code", o.Code)
	}
	if o.Message != "" {
		b = appendStrField(b, "message", o.Message)
	}
	if len(o.Fields) > 0 {
		b = append(b, `,"fields":[`...)
		for i, f := range o.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, f)
		}
		b = append(b, ']')
	}
	b = appendIntField(b, "delivery", int64(o.Delivery))
	if o.Attempts != 0 {
		b = appendIntField(b, "attempts", int64(o.Attempts))
	}
	return append(b, '}')
}

func appendStrField(b []byte, key, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return jsontext.AppendString(b, v)
}

func appendIntField(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

// appendTime writes t as time.Time's MarshalJSON does, which is what
// encoding/json calls.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	tb, err := t.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(b, tb...), nil
}
