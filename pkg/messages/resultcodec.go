package messages

import (
	"strconv"
	"strings"
	"time"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// Batch results are the busiest envelope: one per batch, an outcome per
// record, encoded by every worker and decoded by everyone following a job.
// appendBatchResult and fastDecodeBatchResult handle them without
// reflection. The decoder takes only the exact shape the encoder writes
// (canonical key spellings, well-typed values) and reports anything else as
// not handled, for encoding/json to judge; TestBatchResultCodec and
// FuzzDecodeBatchResult check both against encoding/json.

func appendBatchResult(b []byte, r *BatchResult) []byte {
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
	b = append(b, `,"started_at":`...)
	b = appendTime(b, r.StartedAt)
	b = append(b, `,"finished_at":`...)
	b = appendTime(b, r.FinishedAt)
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
	return append(b, '}')
}

// appendOutcome writes a RecordOutcome with its omitempty fields as
// encoding/json would.
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

func appendTime(b []byte, t time.Time) []byte {
	tb, err := t.MarshalJSON()
	if err != nil {
		// A year outside 0–9999: encoding/json would fail too; keep the
		// envelope valid rather than drop the result.
		return append(b, `"0001-01-01T00:00:00Z"`...)
	}
	return append(b, tb...)
}

// fastDecodeBatchResult decodes the shape appendBatchResult writes. ok is
// false for anything else (other key spellings, nulls, unexpected types,
// unknown keys, bad times): encoding/json then decides, strictly.
//
// Keys are compared as substrings of one copy of data, without allocating;
// stored values are cloned out of it (results are kept, sometimes by the
// million, by jobs.Watch, and must not pin whole messages) and statuses are
// the package's constants.
func fastDecodeBatchResult(data []byte) (r BatchResult, ok bool) {
	p := objParser{data: string(data)}
	seen := map[string]bool{}
	ok = p.eachKey(func(key string) bool {
		if seen[key] {
			return false // a repeated key: encoding/json's merging rules decide
		}
		seen[key] = true
		switch key {
		case "v":
			return p.intTo(&r.V)
		case "batch_id":
			return p.strTo(&r.BatchID)
		case "pipeline":
			return p.strTo(&r.Pipeline)
		case "sobject":
			return p.strTo(&r.SObject)
		case "mode":
			return p.strTo(&r.Mode)
		case "job":
			return p.strTo(&r.Job)
		case "worker":
			return p.strTo(&r.Worker)
		case "loaded":
			return p.intTo(&r.Loaded)
		case "failed":
			return p.intTo(&r.Failed)
		case "skipped":
			return p.intTo(&r.Skipped)
		case "retrying":
			return p.intTo(&r.Retrying)
		case "api_calls":
			return p.intTo(&r.APICalls)
		case "started_at":
			return p.timeTo(&r.StartedAt)
		case "finished_at":
			return p.timeTo(&r.FinishedAt)
		case "records":
			r.Records = nil
			if p.literalIs("null") {
				return true
			}
			r.Records = []RecordOutcome{}
			return p.eachElem(func() bool {
				var o RecordOutcome
				if !p.outcome(&o) {
					return false
				}
				r.Records = append(r.Records, o)
				return true
			})
		}
		return false
	})
	if !ok {
		return BatchResult{}, false
	}
	p.ws()
	return r, p.pos == len(p.data)
}

// outcomeKeys numbers RecordOutcome's keys, to spot repeats.
var outcomeKeys = map[string]uint16{"seq": 1, "stream_seq": 2, "key": 4, "status": 8, "id": 16, "created": 32,
	"code": 64, "message": 128, "fields": 256, "delivery": 512, "attempts": 1024}

func (p *objParser) outcome(o *RecordOutcome) bool {
	var seen uint16
	return p.eachKey(func(key string) bool {
		b := outcomeKeys[key]
		if b == 0 || seen&b != 0 {
			return false // unknown or repeated: encoding/json decides
		}
		seen |= b
		switch key {
		case "seq":
			return p.int64To(&o.Seq)
		case "stream_seq":
			return p.uint64To(&o.StreamSeq)
		case "key":
			return p.strTo(&o.Key)
		case "status":
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return false
			}
			st, err := p.str()
			o.Status = internStatus(st)
			return err == nil
		case "id":
			return p.strTo(&o.ID)
		case "created":
			if p.literalIs("true") {
				o.Created = true
				return true
			}
			if p.literalIs("false") {
				o.Created = false
				return true
			}
			return false
		case "code":
			return p.strTo(&o.Code)
		case "message":
			return p.strTo(&o.Message)
		case "fields":
			o.Fields = []string{}
			return p.eachElem(func() bool {
				var f string
				if !p.strTo(&f) {
					return false
				}
				o.Fields = append(o.Fields, f)
				return true
			})
		case "delivery":
			return p.intTo(&o.Delivery)
		case "attempts":
			return p.intTo(&o.Attempts)
		}
		return false
	})
}

// eachKey walks an object, calling fn with each key once the parser is at
// its value; fn consumes the value.
func (p *objParser) eachKey(fn func(key string) bool) bool {
	p.ws()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return false
	}
	p.pos++
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return true
	}
	for {
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return false
		}
		k, err := p.str()
		if err != nil {
			return false
		}
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return false
		}
		p.pos++
		p.ws()
		if !fn(k) {
			return false
		}
		p.ws()
		if p.pos >= len(p.data) {
			return false
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return true
		default:
			return false
		}
	}
}

// eachElem walks an array, calling fn at each element.
func (p *objParser) eachElem(fn func() bool) bool {
	p.ws()
	if p.pos >= len(p.data) || p.data[p.pos] != '[' {
		return false
	}
	p.pos++
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return true
	}
	for {
		p.ws()
		if !fn() {
			return false
		}
		p.ws()
		if p.pos >= len(p.data) {
			return false
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return true
		default:
			return false
		}
	}
}

func (p *objParser) literalIs(word string) bool {
	if len(p.data)-p.pos >= len(word) && p.data[p.pos:p.pos+len(word)] == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *objParser) strTo(dst *string) bool {
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return false
	}
	s, err := p.str()
	*dst = strings.Clone(s)
	return err == nil
}

// internStatus returns the package's constant for a known status, so that
// outcomes share it, and a copy of anything else.
func internStatus(s string) string {
	switch s {
	case StatusLoaded:
		return StatusLoaded
	case StatusDeadLettered:
		return StatusDeadLettered
	case StatusRetrying:
		return StatusRetrying
	case StatusSkipped:
		return StatusSkipped
	}
	return strings.Clone(s)
}

// digits scans an unsigned decimal integer without leading zeros (the only
// form the encoder writes; anything else goes to encoding/json).
func (p *objParser) digits() (string, bool) {
	start := p.pos
	if p.pos < len(p.data) && p.data[p.pos] == '-' {
		p.pos++
	}
	d0 := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	n := p.pos - d0
	if n == 0 || n > 20 || (n > 1 && p.data[d0] == '0') {
		return "", false
	}
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '.', 'e', 'E':
			return "", false
		}
	}
	return p.data[start:p.pos], true
}

func (p *objParser) intTo(dst *int) bool {
	s, ok := p.digits()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || int64(int(v)) != v {
		return false
	}
	*dst = int(v)
	return true
}

func (p *objParser) int64To(dst *int64) bool {
	s, ok := p.digits()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	*dst = v
	return err == nil
}

func (p *objParser) uint64To(dst *uint64) bool {
	s, ok := p.digits()
	if !ok || s[0] == '-' {
		return false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	*dst = v
	return err == nil
}

func (p *objParser) timeTo(dst *time.Time) bool {
	start := p.pos
	var s string
	if !p.strTo(&s) {
		return false
	}
	return dst.UnmarshalJSON([]byte(p.data[start:p.pos])) == nil
}
