package producer

import "testing"

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		filter, subject string
		want            bool
	}{
		{"kinetic.records.*.*", "kinetic.records.Account.upsert", true},
		{"kinetic.records.*.*", "kinetic.records.Account.upsert.k", false},
		{"kinetic.records.*.*.*", "kinetic.records.Account.upsert.k", true},
		{"kinetic.records.>", "kinetic.records.Account.upsert.k", true},
		{"kinetic.records.>", "kinetic.records", false},
		{"kinetic.records.*", "kinetic.results.x", false},
		{"a.b", "a.b", true},
		{"a.b", "a", false},
	} {
		if got := subjectMatches(c.filter, c.subject); got != c.want {
			t.Errorf("subjectMatches(%q, %q) = %v, want %v", c.filter, c.subject, got, c.want)
		}
	}
}
