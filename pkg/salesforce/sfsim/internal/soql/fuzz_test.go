package soql

import (
	"errors"
	"hash/fnv"
	"math"
	"strings"
	"testing"
)

// fuzzValues are the field values the fuzz resolvers hand out: every kind a
// Resolver may return, awkward text, and a type it may not return.
var fuzzValues = []any{
	nil, "", "abc", "ABC", "42", "-3.5", "1e5", "%_\\", "é", "\xff\xfe",
	"2024-03-15", "2024-03-15T10:00:00.000+0000", "2024-03-15T10:00:00+05:30", "2024-02-30",
	0.0, 42.0, -1.5, math.NaN(), math.Inf(1), math.Inf(-1), true, false, 7, int64(-3),
}

// fuzzResolver resolves every path to one of fuzzValues, chosen by hashing
// the path and seed, so different fields get different kinds of value.
func fuzzResolver(seed uint32) Resolver {
	return func(path []string) (any, bool) {
		h := fnv.New32a()
		for _, p := range path {
			h.Write([]byte(strings.ToLower(p)))
			h.Write([]byte{'.'})
		}
		return fuzzValues[(h.Sum32()+seed)%uint32(len(fuzzValues))], true
	}
}

// FuzzParse checks that Parse never panics, returns either a query or a
// *ParseError, that a parsed query's canonical form parses back to the same
// form, and that evaluating and sorting by it never panics.
func FuzzParse(f *testing.F) {
	for _, tc := range validQueries {
		f.Add(tc.in)
	}
	for _, tc := range invalidQueries {
		f.Add(tc.in)
	}
	f.Add("SELECT Id FROM A WHERE Name LIKE '%a%b%c_%' AND (X IN (1, 'x', null) OR (NOT Y = TODAY))")
	f.Add("SELECT Id FROM A WHERE D > LAST_N_DAYS:30 ORDER BY D DESC NULLS FIRST, Name LIMIT 5 OFFSET 1")

	resolvers := []Resolver{
		fuzzResolver(0), fuzzResolver(1), fuzzResolver(2), fuzzResolver(3), fuzzResolver(5), fuzzResolver(11),
		func([]string) (any, bool) { return nil, true },
		func([]string) (any, bool) { return []int{1}, true }, // a type Resolvers may not return
		func([]string) (any, bool) { return nil, false },     // unknown field
	}

	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseAt(s, testNow)
		if err != nil {
			if q != nil {
				t.Fatalf("ParseAt(%q) returned a query and the error %v", s, err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseAt(%q) error %v is a %T, want *ParseError", s, err, err)
			}
			if pe.Pos < 0 || pe.Pos > len(s) || pe.Msg == "" {
				t.Fatalf("ParseAt(%q) = ParseError{Pos: %d, Msg: %q}", s, pe.Pos, pe.Msg)
			}
			_ = pe.Detail(s)
			return
		}
		if q == nil {
			t.Fatalf("ParseAt(%q) returned neither a query nor an error", s)
		}

		canonical := q.String()
		q2, err := ParseAt(canonical, testNow)
		if err != nil {
			t.Fatalf("the canonical form %q of %q does not parse: %v", canonical, s, err)
		}
		if again := q2.String(); again != canonical {
			t.Fatalf("the canonical form of %q is %q, which parses to %q", s, canonical, again)
		}

		_ = q.AllFields()
		for _, r := range resolvers {
			if q.Where != nil {
				if _, err := q.Where.Eval(r); err != nil {
					var ue *UnknownFieldError
					var ve *ValueTypeError
					if !errors.As(err, &ue) && !errors.As(err, &ve) {
						t.Fatalf("Eval of %q: unexpected error %v", s, err)
					}
				}
			}
		}
		if len(q.OrderBy) > 0 {
			recs := []uint32{0, 1, 2, 3, 4, 5, 6, 7}
			_ = SortRecords(recs, q.OrderBy, fuzzResolver)
			_ = SortRecords(recs, q.OrderBy, func(uint32) Resolver { return resolvers[len(resolvers)-1] })
		}
	})
}
