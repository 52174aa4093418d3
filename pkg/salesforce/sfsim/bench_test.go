package sfsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCollectionsUpsert200 measures a 200-record sObject Collections
// upsert through HTTP (client and server in one process).
func BenchmarkCollectionsUpsert200(b *testing.B) {
	f := setup(b, Config{})
	const variants = 64
	bodies := make([][]byte, variants)
	for v := range bodies {
		var sb strings.Builder
		sb.WriteString(`{"allOrNone":false,"records":[`)
		for i := 0; i < 200; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"attributes":{"type":"Account"},"External_Key__c":"B-%d-%d","Name":"Bench %d","AnnualRevenue":%d,"Phone":"555-%04d"}`, v, i, i, i*1000, i)
		}
		sb.WriteString(`]}`)
		bodies[v] = []byte(sb.String())
	}
	url := f.env.DataURL("composite/sobjects/Account/External_Key__c")
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPatch, url, bytes.NewReader(bodies[n%variants]))
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		n++
	}
	b.ReportMetric(float64(200*n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBulkIngest10k measures a whole Bulk API 2.0 insert job of 10,000
// rows: create, upload, close, poll until JobComplete.
func BenchmarkBulkIngest10k(b *testing.B) {
	f := setup(b, Config{})
	var sb strings.Builder
	sb.WriteString("Name,Phone,AnnualRevenue,Score__c\n")
	for i := 0; i < 10_000; i++ {
		fmt.Fprintf(&sb, "Bulk %d,555-%04d,%d,%d.5\n", i, i%10000, i*100, i%100)
	}
	data := []byte(sb.String())
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		var j jobInfo
		r := f.do("POST", "jobs/ingest", map[string]any{"object": "Account", "operation": "insert"})
		if err := json.Unmarshal(r.body, &j); err != nil || j.ID == "" {
			b.Fatalf("create job: %s", r.body)
		}
		f.do("PUT", "jobs/ingest/"+j.ID+"/batches", data).expect(b, http.StatusCreated)
		f.closeJob(j.ID).expect(b, http.StatusOK)
		for {
			st := f.env.Server.bulk.get(j.ID)
			st.mu.Lock()
			state, failed := st.state, st.failed
			st.mu.Unlock()
			if state == stateJobComplete {
				if failed != 0 {
					b.Fatalf("%d rows failed", failed)
				}
				break
			}
			if state == stateFailed || state == stateAborted {
				b.Fatalf("job %s", state)
			}
			time.Sleep(time.Millisecond)
		}
		n++
	}
	b.ReportMetric(float64(10_000*n)/b.Elapsed().Seconds(), "records/s")
}

// upsertBodies returns n distinct 200-record Collections upsert bodies.
func upsertBodies(n int) [][]byte {
	bodies := make([][]byte, n)
	for v := range bodies {
		var sb strings.Builder
		sb.WriteString(`{"allOrNone":false,"records":[`)
		for i := 0; i < 200; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"attributes":{"type":"Account"},"External_Key__c":"D-%d-%d","Name":"Bench %d","AnnualRevenue":%d,"Phone":"555-%04d","BillingCity":"Milano","Score__c":%d.5}`, v, i, i, i*1000, i, i)
		}
		sb.WriteString(`]}`)
		bodies[v] = []byte(sb.String())
	}
	return bodies
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCollectionsUpsertDecoder serves 200-record Collections upserts
// over HTTP (client and simulator in one process) without latency and with
// 150 ms and 1 s of latency per call (the production case: a loader's calls
// wait on Salesforce), 32 calls in flight. It reports the process CPU per
// record (the client's included) and records/s. The comparison with the
// removed hand-written reader was run at commit 664e227, where this
// benchmark has a hand_written variant, and with the encoding/json (v1)
// reader at commit c775403 (docs/performance.md, "Simulator decoder").
//
//	go test -run '^$' -bench CollectionsUpsertDecoder -benchtime 320x ./pkg/salesforce/sfsim/
func BenchmarkCollectionsUpsertDecoder(b *testing.B) {
	for _, lat := range []time.Duration{0, 150 * time.Millisecond, time.Second} {
		b.Run(fmt.Sprintf("latency=%v/encoding_json_v2", lat), func(b *testing.B) {
			f := setup(b, Config{Faults: Faults{Latency: lat}})
			bodies := upsertBodies(64)
			url := f.env.DataURL("composite/sobjects/Account/External_Key__c")
			var next atomic.Int64
			b.SetParallelism(16)
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body := bodies[int(next.Add(1))%len(bodies)]
					req, _ := http.NewRequest(http.MethodPatch, url, bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+f.token)
					req.Header.Set("Content-Type", "application/json")
					resp, err := f.hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			records := float64(200 * b.N)
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/records, "cpu-µs/record")
			b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkDecodeCollectionBody measures the body reader alone on a
// 200-record upsert body.
func BenchmarkDecodeCollectionBody(b *testing.B) {
	body := upsertBodies(1)[0]
	for _, d := range []struct {
		name string
		fn   func([]byte) (bool, []jsonRecord, error)
	}{{"encoding_json_v2", decodeCollectionBody}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, recs, err := d.fn(body); err != nil || len(recs) != 200 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(200*b.N), "ns/record")
		})
	}
}
