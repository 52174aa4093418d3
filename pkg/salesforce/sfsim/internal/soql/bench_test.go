package soql

import (
	"fmt"
	"testing"
)

const benchQuery = "SELECT Id, Name, Account.Name, Amount, StageName, CloseDate FROM Opportunity " +
	"WHERE (StageName IN ('Prospecting', 'Qualification', 'Closed Won') OR Amount > 10000) " +
	"AND CloseDate = LAST_N_DAYS:30 AND Name LIKE 'acme%' AND Account.Name != null " +
	"ORDER BY CloseDate DESC, Name LIMIT 200 OFFSET 10"

// benchResolver resolves a field by its last path element without allocating,
// as a map-backed simulator record would.
func benchResolver(fields map[string]any) Resolver {
	return func(path []string) (any, bool) {
		v, ok := fields[path[len(path)-1]]
		return v, ok
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAt(benchQuery, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	q, err := ParseAt(benchQuery, testNow)
	if err != nil {
		b.Fatal(err)
	}
	r := benchResolver(map[string]any{
		"Name":      "ACME Corporation",
		"Amount":    25000.0,
		"StageName": "Negotiation",
		"CloseDate": "2024-03-01",
	})
	b.ReportAllocs()
	for b.Loop() {
		ok, err := q.Where.Eval(r)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkSortRecords(b *testing.B) {
	q, err := ParseAt(benchQuery, testNow)
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]map[string]any, 1000)
	for i := range recs {
		recs[i] = map[string]any{
			"CloseDate": fmt.Sprintf("2024-%02d-%02d", i%12+1, i%28+1),
			"Name":      fmt.Sprintf("Opportunity %d", (i*7919)%1000),
		}
	}
	work := make([]map[string]any, len(recs))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, recs)
		if err := SortRecords(work, q.OrderBy, benchResolver); err != nil {
			b.Fatal(err)
		}
	}
}
