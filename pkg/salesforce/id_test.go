package salesforce

import "testing"

func TestID18(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		ok       bool
	}{
		// Examples from Salesforce documentation and knowledge articles.
		{"001D000000IqhSL", "001D000000IqhSLIAZ", true},
		{"001D000000IqhSLIAZ", "001D000000IqhSLIAZ", true},
		{"0018a00001rBqb8", "0018a00001rBqb8AAC", true},
		{"001D000000Kv3g5", "001D000000Kv3g5IAB", true},
		{"001D000000IqhSLAAA", "", false}, // wrong suffix
		{"001D000000IqhS", "", false},     // 14 chars
		{"001D000000Iqh-L", "", false},    // not base 62
		{"", "", false},
	}
	for _, c := range cases {
		got, err := ID18(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ID18(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
		if ValidID(c.in) != c.ok {
			t.Errorf("ValidID(%q) = %v, want %v", c.in, !c.ok, c.ok)
		}
	}
	if !SameID("001D000000IqhSL", "001D000000IqhSLIAZ") || SameID("001D000000IqhSL", "001D000000IqhSM") {
		t.Error("SameID compares the 15-character forms")
	}
	if IDPrefix("001D000000IqhSL") != "001" || IDPrefix("0") != "" {
		t.Error("IDPrefix")
	}
}
