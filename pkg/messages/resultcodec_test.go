package messages

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
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

// The hand-written codec agrees with encoding/json both ways.
func TestBatchResultCodec(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		r := randomResult(rng)
		fast := appendBatchResult(nil, r)
		var viaJSON BatchResult
		dec := json.NewDecoder(bytes.NewReader(fast))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&viaJSON); err != nil {
			t.Fatalf("encoding/json cannot read %s: %v", fast, err)
		}
		std, _ := json.Marshal(r)
		var want BatchResult
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(viaJSON, want) {
			t.Fatalf("appendBatchResult and json.Marshal disagree:\n%s\n%s", fast, std)
		}
		got, ok := fastDecodeBatchResult(std)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("fast decode of %s: ok=%v\n got %#v\nwant %#v", std, ok, got, want)
		}
	}
}

// FuzzBatchResultFastPath: whatever the fast decoder accepts, encoding/json
// accepts strictly, with the same value.
//
//	go test ./pkg/messages -run '^$' -fuzz FuzzBatchResultFastPath -fuzztime 60s
func FuzzBatchResultFastPath(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 10; i++ {
		f.Add(appendBatchResult(nil, randomResult(rng)))
	}
	f.Add([]byte(`{"v":1,"records":[{"seq":1,"seq":2,"status":"loaded"}]}`))
	f.Add([]byte(`{"V":1,"records":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := fastDecodeBatchResult(data)
		if !ok {
			return
		}
		var want BatchResult
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q:\n fast %#v\n json %#v", data, got, want)
		}
	})
}

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
	b.Run("encode/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal(r)
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
	b.Run("decode/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var out BatchResult
			if err := decodeEnvelope("batch result", data, &out, &out.V); err != nil {
				b.Fatal(err)
			}
		}
	})
}
