package messages

import (
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
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := DecodeBatchResult(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
