package worker

import "testing"

// Before any record is seen, a fetch's reservation holds its records at
// the largest size: the first fetches cannot bring more than the budget.
// Once records come, their size replaces the guess.
func TestCreditsStartFromTheLargestRecord(t *testing.T) {
	const budget, maxRecord = 64 << 20, 512 << 10
	c := newCredits(1600, budget, maxRecord)
	n, bytes, ok := c.tryAcquire(200, maxRecord+64<<10)
	if !ok || n*maxRecord > budget || bytes > budget {
		t.Fatalf("first reservation: %d records, %d bytes (ok %v): %d records of %d bytes exceed the budget", n, bytes, ok, n, maxRecord)
	}
	c.adjust(n, bytes, n, n*200) // small records came
	if c.avg != 200 {
		t.Fatalf("estimate %d after records of 200 bytes", c.avg)
	}
	n2, _, ok := c.tryAcquire(200, maxRecord+64<<10)
	if !ok || n2 != 200 {
		t.Fatalf("second reservation: %d records (ok %v), want a full batch", n2, ok)
	}
}
