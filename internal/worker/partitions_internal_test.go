package worker

import (
	"fmt"
	"testing"
)

// Partitions are shared out evenly, the same way by every replica, and a
// replica joining or leaving moves few of them.
func TestAssignIsBalancedAndStable(t *testing.T) {
	t.Parallel()
	const n = 16
	var members []string
	var prev []string
	for k := 1; k <= 8; k++ {
		members = append(members, fmt.Sprintf("worker-%d", k))
		owners := assign(members, "accounts", n)
		load := map[string]int{}
		for p, m := range owners {
			if m == "" {
				t.Fatalf("%d members: partition %d has no owner", k, p)
			}
			load[m]++
		}
		lo, hi := n, 0
		for _, m := range members {
			lo, hi = min(lo, load[m]), max(hi, load[m])
		}
		if hi-lo > 1 && k <= n {
			t.Errorf("%d members: shares from %d to %d partitions: %v", k, lo, hi, load)
		}
		// The same answer whatever order the members are listed in.
		rev := make([]string, len(members))
		for i, m := range members {
			rev[len(members)-1-i] = m
		}
		for p, m := range assign(rev, "accounts", n) {
			if m != owners[p] {
				t.Fatalf("%d members: partition %d goes to %s or %s depending on the list's order", k, p, m, owners[p])
			}
		}
		if prev != nil {
			moved := 0
			for p := range owners {
				if owners[p] != prev[p] {
					moved++
				}
			}
			// Ideally n/k move to the newcomer; bounded loads move a few more.
			if moved > 2*(n/k+1) {
				t.Errorf("member %d joining moved %d of %d partitions", k, moved, n)
			}
			t.Logf("%d members: %v; %d partitions moved", k, load, moved)
		}
		prev = owners
	}
	if owners := assign(nil, "accounts", n); owners[0] != "" {
		t.Errorf("no members: partition 0 owned by %q", owners[0])
	}
}
