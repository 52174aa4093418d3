package pipeline

import (
	"strings"
	"testing"
)

// The value grammars, by table: what each type lets through and refuses.
func TestValueGrammars(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		parses func(string) bool
		ok     []string
		bad    []string
	}{
		{"number", numericString,
			[]string{"0", "-1", "+1", "1.5", ".5", "5.", "1e5", "1E-05", "-1.25e+3", " 42 ", "\t7\n", "1d", "2.5F",
				"0x1p3", "0X1.8P1", "0xff", "NaN", "Infinity", "-Infinity", "", "   ", "007", "1e400", "١٢", "1.5e٢"},
			[]string{"abc", "1,000", "$5", "5%", "1.2.3", "e5", "1e", "1e+", "--1", "+-1", ".", "1 000", "12abc",
				"not disclosed", "pointChange76-00Q58000007EWMDEA4", "0x", "0x1p", "1_000", "1.5e", "٫5"}},
		{"boolean", booleanString,
			[]string{"true", "false", "TRUE", "False", " true ", "1", "0", ""},
			[]string{"yes", "no", "y", "t", "2", "truee", "on", "-1"}},
		{"date", dateString,
			[]string{"2024-07-30", " 2024-07-30 ", "2024-7-3", "12024-01-01", "2024-07-30T00:00:00Z", "2024-07-30Z",
				"2024-07-30+05:00", "2015-08-25T11:49:53.0113029-07:00", "", " "},
			[]string{"30/07/2024", "2024/07/30", "July 30, 2024", "24-07-30", "2024-07", "2024-07-30 00:00:00",
				"2024-007-30", "2024-07-30X", "20240730", "2024-07-30 UTC"}},
		{"datetime", datetimeString,
			[]string{"2024-07-30T20:54:16Z", "2024-07-30T20:54:16.123Z", "2024-07-30T20:54:16.123+02:00",
				"2024-07-30T20:54:16+0200", "2024-07-30T20:54:16-07", "2024-07-30T20:54:16", "2024-07-30T20:54",
				"2024-07-30T20:54:16,5Z", "2024-07-30T8:05:00Z", "2024-07-30", " 2024-07-30T20:54:16Z ", ""},
			[]string{"2024-07-30 20:54:16 UTC", "2017-10-17 00:00:00", "2024-07-30T20:54:16 UTC", "2024-07-30T",
				"2024-07-30T20", "2024-07-30T20:5", "2024-07-30T20:54:16ZZ", "2024-07-30T20:54:16+2:00", "now", "1722372856"}},
		{"time", timeString,
			[]string{"20:54:16.123Z", "20:54:16", "20:54", "8:05", "20:54:16.5+02:00", "20:54:16,5", ""},
			[]string{"20", "20:5", "8pm", "20:54:16 PST", "20-54-16", "2024-07-30T20:54:16Z"}},
		{"email", plausibleEmail,
			[]string{"a@b.c", "john.doe@(comment)example.com", "\"a@b\"@c.com", "a..@test.jp", "用户@例子.广告", "a@b", ""},
			[]string{"plainaddress", "@example.com", "user@", " @ ", "a.b.c"}},
	}
	for _, c := range cases {
		for _, s := range c.ok {
			if !c.parses(s) {
				t.Errorf("%s: %q refused, want accepted", c.name, s)
			}
		}
		for _, s := range c.bad {
			if c.parses(s) {
				t.Errorf("%s: %q accepted, want refused", c.name, s)
			}
		}
	}
}

func TestShownCutsLongValuesOnRuneBoundaries(t *testing.T) {
	t.Parallel()
	if got := shown("short"); got != "short" {
		t.Errorf("shown(short) = %q", got)
	}
	long := strings.Repeat("é", 80) // 160 bytes
	got := shown(long)
	if !strings.HasSuffix(got, "...") || len(got) > maxShown+3 || !strings.HasPrefix(long, strings.TrimSuffix(got, "...")) {
		t.Errorf("shown(long) = %q", got)
	}
}
