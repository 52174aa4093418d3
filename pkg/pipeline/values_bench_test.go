package pipeline_test

import (
	"fmt"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// BenchmarkPrepareValueCheck measures what the value check adds to Prepare,
// the per-record step of Sync and the worker, for a ten-field record:
//
//	go test ./pkg/pipeline -run '^$' -bench PrepareValueCheck -benchmem
func BenchmarkPrepareValueCheck(b *testing.B) {
	env := checkSetup(b)
	rec := map[string]any{
		"ext": "K-1", "num": "1e3", "cur": 12.5, "int": "42", "flag": "TRUE", "day": "2024-07-30",
		"when": "2024-07-30T20:54:16.000+02:00", "text": "ten chars!", "mail": "a@b.example", "tier": "Gold",
	}
	for _, skip := range []bool{true, false} {
		p := env.pipe(b, pipeline.Options{SObject: "Check__c", Mapper: checkMapper(b), SkipValueCheck: skip})
		b.Run(fmt.Sprintf("check=%v", !skip), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, rerr := p.Prepare(0, rec); rerr != nil {
					b.Fatal(rerr)
				}
			}
		})
	}
}
