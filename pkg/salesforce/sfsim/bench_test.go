package sfsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
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
