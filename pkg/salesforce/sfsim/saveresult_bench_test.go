package sfsim

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkSaveResults writes the simulator's answer to a 200-record
// sObject Collections upsert, by hand (the simulator's response writers) and
// with encoding/json on an equivalent struct.
//
//	go test ./pkg/salesforce/sfsim -run '^$' -bench SaveResults -benchmem -count 3
func BenchmarkSaveResults(b *testing.B) {
	ops := make([]*dmlOp, 200)
	for i := range ops {
		ops[i] = &dmlOp{resID: fmt.Sprintf("001Kn%010dIAA", i), created: i%2 == 0}
	}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64<<10)
		for b.Loop() {
			buf = append(buf[:0], '[')
			for i, op := range ops {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = appendSaveResult(buf, op, true)
			}
			buf = append(buf, ']')
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		type saveError struct {
			StatusCode string   `json:"statusCode"`
			Message    string   `json:"message"`
			Fields     []string `json:"fields"`
		}
		type saveResult struct {
			ID      string      `json:"id,omitempty"`
			Success bool        `json:"success"`
			Errors  []saveError `json:"errors"`
			Created bool        `json:"created"`
		}
		b.ReportAllocs()
		for b.Loop() {
			res := make([]saveResult, len(ops))
			for i, op := range ops {
				res[i] = saveResult{ID: op.resID, Success: true, Errors: []saveError{}, Created: op.created}
			}
			if _, err := json.Marshal(res); err != nil {
				b.Fatal(err)
			}
		}
	})
}
