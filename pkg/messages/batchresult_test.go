package messages

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func randomResult(rng *rand.Rand) *BatchResult {
	strs := []string{"", "a", "job-1", "é \"quoted\" \\ \n\t\x01 <&>", "bad\xffutf8", "\u2028"}
	pick := func() string { return strs[rng.IntN(len(strs))] }
	r := &BatchResult{V: Version, BatchID: pick(), Pipeline: pick(), SObject: pick(), Mode: pick(), Job: pick(), Worker: pick(),
		Loaded: rng.IntN(300), Failed: rng.IntN(3), Skipped: rng.IntN(2), Retrying: rng.IntN(2), APICalls: rng.IntN(5),
		StartedAt: time.Unix(rng.Int64N(2e9), rng.Int64N(1e9)).UTC(), FinishedAt: time.Unix(rng.Int64N(2e9), 0).In(time.FixedZone("x", 3600))}
	if rng.IntN(5) > 0 {
		r.Records = []RecordOutcome{}
	}
	statuses := []string{StatusLoaded, StatusDeadLettered, StatusSkipped, StatusRetrying}
	for i := rng.IntN(20); i > 0; i-- {
		o := RecordOutcome{Seq: rng.Int64N(1 << 40), StreamSeq: rng.Uint64(), Key: pick(), Status: statuses[rng.IntN(4)],
			ID: pick(), Created: rng.IntN(2) == 0, Code: pick(), Message: pick(), Delivery: rng.IntN(9)}
		if rng.IntN(3) == 0 {
			o.Fields = []string{pick(), pick()}
		}
		r.Records = append(r.Records, o)
	}
	return r
}

// htmlUnescaper undoes json.Marshal's HTML escaping (randomResult's strings
// hold no backslash followed by "u00").
var htmlUnescaper = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

// Batch results round-trip, and their encoding is json.Marshal's but for
// HTML escaping (the wire format of the hand-written codec this replaced).
func TestBatchResultRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		r := randomResult(rng)
		data, err := EncodeBatchResult(r)
		if err != nil {
			t.Fatal(err)
		}
		std, _ := json.Marshal(r)
		if unescaped := htmlUnescaper.Replace(string(std)); string(data) != unescaped {
			t.Fatalf("encoding differs from json.Marshal:\n%s\n%s", data, std)
		}
		got, err := DecodeBatchResult(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		var want BatchResult
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("round trip of %s:\n got %#v\nwant %#v", data, *got, want)
		}
	}
}

// BenchmarkBatchResult encodes and decodes a 200-record batch result, what a
// worker publishes per Salesforce call and a results follower reads. The
// hand-written codec it replaced is compared with encoding/json at commit
// 5226c89 (docs/performance.md, "Hand-written codecs").
//
//	go test ./pkg/messages -run '^$' -bench BatchResult -benchmem -count 3
func BenchmarkBatchResult(b *testing.B) {
	r := &BatchResult{V: 1, BatchID: "w-1", Pipeline: "accounts", SObject: "Account", Mode: "upsert", Job: "job-1", Worker: "w", Loaded: 200,
		StartedAt: time.Now(), FinishedAt: time.Now()}
	for i := 0; i < 200; i++ {
		r.Records = append(r.Records, RecordOutcome{Seq: int64(i + 1), StreamSeq: uint64(1000 + i), Status: StatusLoaded, ID: "001Kn0000000001IAA", Created: true, Delivery: 1})
	}
	data, _ := EncodeBatchResult(r)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = EncodeBatchResult(r)
		}
	})
	b.Run("encode_encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := stdEncode(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := DecodeBatchResult(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// stdEncode is what EncodeBatchResult wrote on encoding/json: an Encoder
// with HTML escaping off, without its trailing newline.
func stdEncode(r *BatchResult) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// FuzzEncodeBatchResult holds appendBatchResult to encoding/json: any
// strings (invalid UTF-8, control characters, U+2028, HTML), any numbers and
// times give the same bytes, and a time encoding/json cannot write is an
// error for both.
//
//	go test -run '^$' -fuzz FuzzEncodeBatchResult -fuzztime 60s ./pkg/messages/
func FuzzEncodeBatchResult(f *testing.F) {
	f.Add("job-1", "001Kn0000000001IAA", "<&> \"q\" \u2028 \xff", int64(1), uint64(7), int64(1_700_000_000), int64(0), 3, true)
	f.Add("", "", "", int64(0), uint64(0), int64(-62135596800), int64(-1), 0, false)
	f.Add("x", "y", "\x01\t\n", int64(-5), uint64(1<<63), int64(253402300800), int64(999_999_999), 200, true)
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, seq int64, streamSeq uint64, sec, nsec int64, n int, created bool) {
		r := &BatchResult{V: Version, BatchID: s1, Pipeline: s2, SObject: s3, Mode: s1 + s2, Job: s3, Worker: s2,
			Loaded: n, Failed: -n, Skipped: int(seq), Retrying: int(nsec), APICalls: int(sec),
			StartedAt: time.Unix(sec, nsec).UTC(), FinishedAt: time.Unix(sec/2, 0).In(time.FixedZone("z", int(nsec%50_000)))}
		if n%3 != 0 {
			r.Records = []RecordOutcome{}
		}
		for i := range min(max(n, 0)%5, 4) {
			o := RecordOutcome{Seq: seq * int64(i), StreamSeq: streamSeq, Key: s1, Status: s2, ID: s3, Created: created,
				Code: s2, Message: s3, Delivery: i - 1, Attempts: n - i}
			if i%2 == 1 {
				o.Fields = []string{s1, s3}
			}
			r.Records = append(r.Records, o)
		}
		got, err := appendBatchResult(nil, r)
		want, werr := stdEncode(r)
		if (err == nil) != (werr == nil) {
			t.Fatalf("appendBatchResult error %v, encoding/json error %v", err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("appendBatchResult wrote\n%s\nencoding/json\n%s", got, want)
		}
	})
}
