package soql

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of every test: Friday 15 March 2024, 12:30 UTC.
var testNow = time.Date(2024, 3, 15, 12, 30, 0, 0, time.UTC)

// rec is a record whose fields are keyed by their lower-case path, resolved
// case-insensitively as the simulator does.
type rec map[string]any

func (r rec) resolve(path []string) (any, bool) {
	v, ok := r[strings.ToLower(strings.Join(path, "."))]
	return v, ok
}

func mustParse(t *testing.T, s string) *Query {
	t.Helper()
	q, err := ParseAt(s, testNow)
	if err != nil {
		t.Fatalf("ParseAt(%q): %v", s, err)
	}
	return q
}

// validQueries maps queries to the canonical form Query.String gives them.
var validQueries = []struct {
	name, in, want string
}{
	{"one field", "SELECT Id FROM Account", "SELECT Id FROM Account"},
	{"several fields", "SELECT Id, Name, Custom__c FROM Account", "SELECT Id, Name, Custom__c FROM Account"},
	{"relationship paths", "SELECT Id, Account.Name, Account.Owner.Name FROM Contact",
		"SELECT Id, Account.Name, Account.Owner.Name FROM Contact"},
	{"keywords in any case, identifiers keep theirs", "select ID, nAmE from aCCount where NAME = 'x' order by NAME desc nulls first limit 1 offset 2",
		"SELECT ID, nAmE FROM aCCount WHERE NAME = 'x' ORDER BY NAME DESC NULLS FIRST LIMIT 1 OFFSET 2"},
	{"whitespace and newlines anywhere", "\n\tSELECT\r\n Id ,\n\tAccount . Name\nFROM\n  Contact\nWHERE\n(\n Name\n=\n'x'\n)\nORDER\nBY\nName\n LIMIT\n5\n",
		"SELECT Id, Account.Name FROM Contact WHERE Name = 'x' ORDER BY Name ASC NULLS FIRST LIMIT 5"},
	{"no whitespace where none is needed", "SELECT Id,Name FROM Account WHERE(Amount>=5)AND(Name!='x')",
		"SELECT Id, Name FROM Account WHERE Amount >= 5 AND Name != 'x'"},
	{"COUNT()", "SELECT COUNT() FROM Lead", "SELECT COUNT() FROM Lead"},
	{"count ( ) with clauses", "select count ( ) from Lead where IsConverted = false limit 10 offset 5",
		"SELECT COUNT() FROM Lead WHERE IsConverted = false LIMIT 10 OFFSET 5"},
	{"object and relationship named like keywords", "SELECT Id, Order.Name, Group__c FROM Order WHERE Order.Status = 'Draft' ORDER BY Order.Name",
		"SELECT Id, Order.Name, Group__c FROM Order WHERE Order.Status = 'Draft' ORDER BY Order.Name ASC NULLS FIRST"},
	{"reserved words in paths", "SELECT Id, Owner.Last, Group.Name FROM GroupMember WHERE Group.Type = 'Queue' ORDER BY Group.Name",
		"SELECT Id, Owner.Last, Group.Name FROM GroupMember WHERE Group.Type = 'Queue' ORDER BY Group.Name ASC NULLS FIRST"},
	{"the Group object", "SELECT Id FROM Group WHERE Type = 'Queue'", "SELECT Id FROM Group WHERE Type = 'Queue'"},

	{"=", "SELECT Id FROM A WHERE Name = 'x'", "SELECT Id FROM A WHERE Name = 'x'"},
	{"!=", "SELECT Id FROM A WHERE Name != 'x'", "SELECT Id FROM A WHERE Name != 'x'"},
	{"<> is !=", "SELECT Id FROM A WHERE Name <> 'x'", "SELECT Id FROM A WHERE Name != 'x'"},
	{"<", "SELECT Id FROM A WHERE Amount < 5", "SELECT Id FROM A WHERE Amount < 5"},
	{"<=", "SELECT Id FROM A WHERE Amount <= 5", "SELECT Id FROM A WHERE Amount <= 5"},
	{">", "SELECT Id FROM A WHERE Amount > 5", "SELECT Id FROM A WHERE Amount > 5"},
	{">=", "SELECT Id FROM A WHERE Amount >= 5", "SELECT Id FROM A WHERE Amount >= 5"},
	{"LIKE", "SELECT Id FROM A WHERE Name like 'ac_me%'", "SELECT Id FROM A WHERE Name LIKE 'ac_me%'"},
	{"IN", "SELECT Id FROM A WHERE Name in ('a', 'b')", "SELECT Id FROM A WHERE Name IN ('a', 'b')"},
	{"NOT IN", "SELECT Id FROM A WHERE Name not in ('a')", "SELECT Id FROM A WHERE Name NOT IN ('a')"},
	{"IN with every kind of literal", "SELECT Id FROM A WHERE F IN ('a', 1, -2.5, TRUE, null, 2024-01-31, 2024-01-31T10:00:00Z, TODAY)",
		"SELECT Id FROM A WHERE F IN ('a', 1, -2.5, TRUE, null, 2024-01-31, 2024-01-31T10:00:00Z, TODAY)"},

	{"string escapes", `SELECT Id FROM A WHERE Name = 'O\'Brien \\ \n\t\r\b\f\"\N\T\R\B\F \% \_'`,
		`SELECT Id FROM A WHERE Name = 'O\'Brien \\ \n\t\r\b\f\"\N\T\R\B\F \% \_'`},
	{"empty string", "SELECT Id FROM A WHERE Name = ''", "SELECT Id FROM A WHERE Name = ''"},
	{"non-ASCII string", "SELECT Id FROM A WHERE Name = 'Zürich 東京'", "SELECT Id FROM A WHERE Name = 'Zürich 東京'"},
	{"integer", "SELECT Id FROM A WHERE N = 42", "SELECT Id FROM A WHERE N = 42"},
	{"negative decimal", "SELECT Id FROM A WHERE N = -42.50", "SELECT Id FROM A WHERE N = -42.50"},
	{"explicit plus", "SELECT Id FROM A WHERE N = +7", "SELECT Id FROM A WHERE N = +7"},
	{"booleans", "SELECT Id FROM A WHERE B = true AND C = FALSE", "SELECT Id FROM A WHERE B = true AND C = FALSE"},
	{"null", "SELECT Id FROM A WHERE B = null AND C != NULL", "SELECT Id FROM A WHERE B = null AND C != NULL"},
	{"date", "SELECT Id FROM A WHERE D = 2024-02-29", "SELECT Id FROM A WHERE D = 2024-02-29"},
	{"datetime Z", "SELECT Id FROM A WHERE D > 2024-01-31T10:00:00Z", "SELECT Id FROM A WHERE D > 2024-01-31T10:00:00Z"},
	{"datetime millis +0000", "SELECT Id FROM A WHERE D > 2024-01-31T10:00:00.000+0000", "SELECT Id FROM A WHERE D > 2024-01-31T10:00:00.000+0000"},
	{"datetime +hh:mm", "SELECT Id FROM A WHERE D > 2024-01-31T10:00:00+01:00", "SELECT Id FROM A WHERE D > 2024-01-31T10:00:00+01:00"},
	{"datetime -hhmm", "SELECT Id FROM A WHERE D > 2024-01-31T10:00:00-0800", "SELECT Id FROM A WHERE D > 2024-01-31T10:00:00-0800"},
	{"relative dates", "SELECT Id FROM A WHERE D = today OR D = Yesterday OR D = TOMORROW OR D = last_n_days : 7 OR D = NEXT_N_DAYS:0 OR D = N_DAYS_AGO:3",
		"SELECT Id FROM A WHERE D = TODAY OR D = YESTERDAY OR D = TOMORROW OR D = LAST_N_DAYS:7 OR D = NEXT_N_DAYS:0 OR D = N_DAYS_AGO:3"},
	{"relative ranges", "SELECT Id FROM A WHERE D = LAST_90_DAYS OR D = NEXT_90_DAYS OR D = THIS_MONTH OR D = LAST_MONTH OR D = NEXT_MONTH OR D = THIS_YEAR OR D = LAST_YEAR OR D = NEXT_YEAR",
		"SELECT Id FROM A WHERE D = LAST_90_DAYS OR D = NEXT_90_DAYS OR D = THIS_MONTH OR D = LAST_MONTH OR D = NEXT_MONTH OR D = THIS_YEAR OR D = LAST_YEAR OR D = NEXT_YEAR"},

	{"AND chain", "SELECT Id FROM A WHERE a = 1 AND b = 2 and c = 3", "SELECT Id FROM A WHERE a = 1 AND b = 2 AND c = 3"},
	{"OR chain", "SELECT Id FROM A WHERE a = 1 OR b = 2 or c = 3", "SELECT Id FROM A WHERE a = 1 OR b = 2 OR c = 3"},
	{"AND of ORs", "SELECT Id FROM A WHERE (a = 1 OR b = 2) AND c = 3", "SELECT Id FROM A WHERE (a = 1 OR b = 2) AND c = 3"},
	{"OR of ANDs", "SELECT Id FROM A WHERE a = 1 OR (b = 2 AND c = 3)", "SELECT Id FROM A WHERE a = 1 OR (b = 2 AND c = 3)"},
	{"NOT", "SELECT Id FROM A WHERE NOT a = 1", "SELECT Id FROM A WHERE NOT a = 1"},
	{"NOT of a group", "SELECT Id FROM A WHERE NOT (a = 1 OR b = 2)", "SELECT Id FROM A WHERE NOT (a = 1 OR b = 2)"},
	{"NOT inside AND", "SELECT Id FROM A WHERE (NOT a = 1) AND b = 2", "SELECT Id FROM A WHERE (NOT a = 1) AND b = 2"},
	{"NOT of NOT", "SELECT Id FROM A WHERE NOT (NOT a = 1)", "SELECT Id FROM A WHERE NOT (NOT a = 1)"},
	{"redundant parentheses", "SELECT Id FROM A WHERE ((a = 1))", "SELECT Id FROM A WHERE a = 1"},
	{"nested groups", "SELECT Id FROM A WHERE ((a = 1 AND b = 2) OR (c = 3 AND (d = 4 OR e = 5)))",
		"SELECT Id FROM A WHERE (a = 1 AND b = 2) OR (c = 3 AND (d = 4 OR e = 5))"},

	{"ORDER BY", "SELECT Id FROM A ORDER BY Name", "SELECT Id FROM A ORDER BY Name ASC NULLS FIRST"},
	{"ORDER BY every form", "SELECT Id FROM A ORDER BY a ASC, b DESC, c NULLS LAST, d DESC NULLS FIRST, e ASC NULLS FIRST, Rel.f DESC NULLS LAST",
		"SELECT Id FROM A ORDER BY a ASC NULLS FIRST, b DESC NULLS LAST, c ASC NULLS LAST, d DESC NULLS FIRST, e ASC NULLS FIRST, Rel.f DESC NULLS LAST"},
	{"LIMIT", "SELECT Id FROM A LIMIT 200", "SELECT Id FROM A LIMIT 200"},
	{"LIMIT 0", "SELECT Id FROM A LIMIT 0", "SELECT Id FROM A LIMIT 0"},
	{"OFFSET", "SELECT Id FROM A OFFSET 10", "SELECT Id FROM A OFFSET 10"},
	{"every clause", "SELECT Id FROM A WHERE a = 1 ORDER BY a LIMIT 5 OFFSET 10",
		"SELECT Id FROM A WHERE a = 1 ORDER BY a ASC NULLS FIRST LIMIT 5 OFFSET 10"},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validQueries {
		t.Run(tc.name, func(t *testing.T) {
			q := mustParse(t, tc.in)
			if got := q.String(); got != tc.want {
				t.Errorf("String()\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestParseRoundTrip checks that the canonical form parses back to an equal Query.
func TestParseRoundTrip(t *testing.T) {
	for _, tc := range validQueries {
		t.Run(tc.name, func(t *testing.T) {
			q := mustParse(t, tc.in)
			q2 := mustParse(t, q.String())
			if !reflect.DeepEqual(q, q2) {
				t.Errorf("parsing %q again gave a different query:\n%#v\n%#v", q.String(), q, q2)
			}
		})
	}
}

func TestParseStructure(t *testing.T) {
	q := mustParse(t, "SELECT Id, Account.Owner.Name FROM Contact WHERE Name = 'x' ORDER BY Account.Name DESC, Id LIMIT 7 OFFSET 3")
	want := &Query{
		Object: "Contact",
		Fields: []Field{{Path: []string{"Id"}}, {Path: []string{"Account", "Owner", "Name"}}},
		OrderBy: []OrderItem{
			{Field: Field{Path: []string{"Account", "Name"}}, Desc: true, NullsLast: true},
			{Field: Field{Path: []string{"Id"}}},
		},
		Limit:  7,
		Offset: 3,
	}
	where := q.Where
	q.Where = nil
	if !reflect.DeepEqual(q, want) {
		t.Errorf("got %#v\nwant %#v", q, want)
	}
	c, ok := where.(*CompareExpr)
	if !ok || c.Field.String() != "Name" || c.Op != OpEq || c.Value.Kind != KindString || c.Value.Str != "x" {
		t.Errorf("Where = %#v", where)
	}

	q = mustParse(t, "SELECT COUNT() FROM Lead")
	if !q.Count || len(q.Fields) != 0 || q.Where != nil || q.OrderBy != nil || q.Limit != -1 || q.Offset != 0 || q.Object != "Lead" {
		t.Errorf("COUNT() query = %#v", q)
	}
}

func TestOrderByNulls(t *testing.T) {
	for _, tc := range []struct {
		in              string
		desc, nullsLast bool
	}{
		{"Name", false, false},
		{"Name ASC", false, false},
		{"Name DESC", true, true},
		{"Name NULLS LAST", false, true},
		{"Name ASC NULLS LAST", false, true},
		{"Name DESC NULLS FIRST", true, false},
		{"Name DESC NULLS LAST", true, true},
		{"Name asc nulls first", false, false},
	} {
		q := mustParse(t, "SELECT Id FROM A ORDER BY "+tc.in)
		if o := q.OrderBy[0]; o.Desc != tc.desc || o.NullsLast != tc.nullsLast {
			t.Errorf("ORDER BY %s: Desc=%v NullsLast=%v, want %v %v", tc.in, o.Desc, o.NullsLast, tc.desc, tc.nullsLast)
		}
	}
}

// TestGrouping checks the tree that AND, OR, NOT and parentheses build.
func TestGrouping(t *testing.T) {
	for _, tc := range []struct {
		where string
		tree  string // node types, depth first
	}{
		{"a = 1 AND b = 2 AND c = 3", "And(Cmp Cmp Cmp)"},
		{"a = 1 OR b = 2 OR c = 3", "Or(Cmp Cmp Cmp)"},
		{"(a = 1 AND b = 2) OR c = 3", "Or(And(Cmp Cmp) Cmp)"},
		{"a = 1 AND (b = 2 OR c = 3)", "And(Cmp Or(Cmp Cmp))"},
		{"NOT a = 1", "Not(Cmp)"},
		{"NOT (a = 1 AND b = 2)", "Not(And(Cmp Cmp))"},
		{"(NOT a = 1) OR b LIKE 'x'", "Or(Not(Cmp) Like)"},
		{"a IN (1) AND (b NOT IN (2) OR (NOT (c = 3)))", "And(In Or(In Not(Cmp)))"},
		{"((((a = 1))))", "Cmp"},
	} {
		q := mustParse(t, "SELECT Id FROM A WHERE "+tc.where)
		if got := shape(q.Where); got != tc.tree {
			t.Errorf("%s: tree %s, want %s", tc.where, got, tc.tree)
		}
	}
}

func shape(e Expr) string {
	terms := func(name string, ts []Expr) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			parts[i] = shape(t)
		}
		return name + "(" + strings.Join(parts, " ") + ")"
	}
	switch e := e.(type) {
	case *AndExpr:
		return terms("And", e.Terms)
	case *OrExpr:
		return terms("Or", e.Terms)
	case *NotExpr:
		return "Not(" + shape(e.X) + ")"
	case *CompareExpr:
		return "Cmp"
	case *LikeExpr:
		return "Like"
	case *InExpr:
		return "In"
	}
	return "?"
}

// invalidQueries are malformed or unsupported queries, the byte offset of the
// error and a part of its message.
var invalidQueries = []struct {
	name, in string
	pos      int
	msg      string
}{
	{"empty", "", 0, "SOQL statements cannot be empty or null"},
	{"blank", " \n\t ", 0, "SOQL statements cannot be empty or null"},
	{"not a SELECT", "UPDATE Account", 0, "unexpected token: 'UPDATE'"},
	{"SELECT alone", "SELECT", 6, "unexpected token: '<EOF>'"},
	{"no fields", "SELECT FROM Account", 7, "unexpected token: 'FROM'"},
	{"misspelt FROM", "SELECT Id FORM Account", 10, "unexpected token: 'FORM'"},
	{"trailing comma in SELECT", "SELECT Id, FROM Account", 11, "unexpected token: 'FROM'"},
	{"field alias", "SELECT Id i FROM Account", 10, "unexpected token: 'i'"},
	{"no object", "SELECT Id FROM", 14, "unexpected token: '<EOF>'"},
	{"reserved word as object", "SELECT Id FROM Where", 15, "unexpected token: 'Where'"},
	{"reserved word as field", "SELECT Id, Last FROM A", 11, "unexpected token: 'Last'"},
	{"reserved word in WHERE", "SELECT Id FROM A WHERE Like = 1", 23, "unexpected token: 'Like'"},
	{"quoted object", "SELECT Id FROM 'Account'", 15, "unexpected token: ''Account''"},
	{"object alias", "SELECT Id FROM Account a", 23, "unexpected token: 'a'"},
	{"two objects", "SELECT Id FROM Account, Contact", 22, "unexpected token: ','"},
	{"trailing semicolon", "SELECT Id FROM Account;", 22, "unexpected token: ';'"},
	{"semicolon after WHERE", "SELECT Id FROM Account WHERE Name != null;", 41, "unexpected token: ';'"},
	{"dot without name", "SELECT Id., Name FROM A", 10, "unexpected token: ','"},
	{"WHERE without condition", "SELECT Id FROM A WHERE", 22, "unexpected token: '<EOF>'"},
	{"field without operator", "SELECT Id FROM A WHERE Name", 27, "unexpected token: '<EOF>'"},
	{"operator without value", "SELECT Id FROM A WHERE Name =", 29, "unexpected token: '<EOF>'"},
	{"field on the right", "SELECT Id FROM A WHERE Name = Other", 30, "unexpected token: 'Other'"},
	{"literal on the left", "SELECT Id FROM A WHERE 'a' = Name", 23, "unexpected token: ''a''"},
	{"==", "SELECT Id FROM A WHERE Name == 'a'", 29, "unexpected token: '='"},
	{"lone !", "SELECT Id FROM A WHERE Name ! 'a'", 28, "line 1:28 no viable alternative at character '!'"},
	{"dangling AND", "SELECT Id FROM A WHERE a = 1 AND", 32, "unexpected token: '<EOF>'"},
	{"AND then OR", "SELECT Id FROM A WHERE a = 1 AND b = 2 OR c = 3", 39, "unexpected token: 'OR' (parentheses are required when mixing AND and OR)"},
	{"OR then AND", "SELECT Id FROM A WHERE a = 1 OR b = 2 AND c = 3", 38, "unexpected token: 'AND' (parentheses are required"},
	{"AND NOT", "SELECT Id FROM A WHERE a = 1 AND NOT b = 2", 33, "unexpected token: 'NOT' (put NOT and its condition in parentheses"},
	{"NOT then AND", "SELECT Id FROM A WHERE NOT a = 1 AND b = 2", 33, "unexpected token: 'AND' (put NOT and its condition in parentheses"},
	{"NOT NOT", "SELECT Id FROM A WHERE NOT NOT a = 1", 27, "unexpected token: 'NOT'"},
	{"unclosed parenthesis", "SELECT Id FROM A WHERE (a = 1", 29, "expecting a right parentheses, found '<EOF>'"},
	{"unclosed before LIMIT", "SELECT Id FROM A WHERE (a = 1 LIMIT 5", 30, "expecting a right parentheses, found 'LIMIT'"},
	{"extra parenthesis", "SELECT Id FROM A WHERE a = 1)", 28, "unexpected token: ')'"},
	{"two groups", "SELECT Id FROM A WHERE (a = 1) (b = 2)", 31, "unexpected token: '('"},
	{"too deep", "SELECT Id FROM A WHERE " + strings.Repeat("(", MaxDepth+1) + "a = 1" + strings.Repeat(")", MaxDepth+1),
		23 + MaxDepth, "nested too deeply"},
	{"IN without parentheses", "SELECT Id FROM A WHERE Name IN 'a'", 31, "expecting a left parentheses, found ''a''"},
	{"empty IN", "SELECT Id FROM A WHERE Name IN ()", 32, "unexpected token: ')'"},
	{"IN trailing comma", "SELECT Id FROM A WHERE Name IN ('a',)", 36, "unexpected token: ')'"},
	{"IN missing comma", "SELECT Id FROM A WHERE Name IN ('a' 'b')", 36, "expecting a right parentheses, found ''b''"},
	{"unclosed IN", "SELECT Id FROM A WHERE Name IN ('a'", 35, "expecting a right parentheses, found '<EOF>'"},
	{"NOT without IN", "SELECT Id FROM A WHERE Name NOT 'a'", 32, "unexpected token: ''a''"},
	{"NOT LIKE", "SELECT Id FROM A WHERE Name NOT LIKE 'a'", 32, "unexpected token: 'LIKE'"},
	{"LIKE a number", "SELECT Id FROM A WHERE Name LIKE 5", 33, "LIKE needs a quoted string pattern, found '5'"},
	{"unterminated string", "SELECT Id FROM A WHERE Name = 'abc", 34, "line 1:34 mismatched character '<EOF>' expecting '''"},
	{"escaped closing quote", `SELECT Id FROM A WHERE Name = 'abc\'`, 36, "mismatched character '<EOF>'"},
	{"bad escape", `SELECT Id FROM A WHERE Name = 'a\qb'`, 32, `illegal escape sequence '\q' in string literal`},
	{"unicode escape", `SELECT Id FROM A WHERE Name = 'a\u0041'`, 32, `illegal escape sequence '\u'`},
	{"double quotes", `SELECT Id FROM A WHERE Name = "a"`, 30, `line 1:30 no viable alternative at character '"'`},
	{"bad character", "SELECT Id FROM Account WHERE Name = #", 36, "line 1:36 no viable alternative at character '#'"},
	{"bad character on line 3", "SELECT Id\nFROM Account\nWHERE Name = @x", 36, "line 3:13 no viable alternative at character '@'"},
	{"non-ASCII identifier", "SELECT Név FROM A", 8, "line 1:8 no viable alternative at character 'é'"},
	{"control character", "SELECT Id\x00 FROM A", 9, `no viable alternative at character '\x00'`},
	{"invalid UTF-8", "SELECT Id FROM A WHERE \xff", 23, `no viable alternative at character '\xff'`},
	{"exponent", "SELECT Id FROM A WHERE N = 1e5", 28, "unexpected token: 'e5'"},
	{"huge number", "SELECT Id FROM A WHERE N = " + strings.Repeat("9", 400), 27, "number out of range"},
	{"bad month", "SELECT Id FROM A WHERE D = 2024-13-01", 27, "invalid date literal: 2024-13-01"},
	{"bad day", "SELECT Id FROM A WHERE D = 2023-02-29", 27, "invalid date literal: 2023-02-29"},
	{"short date", "SELECT Id FROM A WHERE D = 2024-1-1", 27, "invalid date literal: 2024-1-1"},
	{"datetime without zone", "SELECT Id FROM A WHERE D = 2024-01-01T10:00:00", 27, "invalid datetime literal: 2024-01-01T10:00:00"},
	{"datetime bad hour", "SELECT Id FROM A WHERE D = 2024-01-01T24:00:00Z", 27, "invalid datetime literal"},
	{"datetime bad zone", "SELECT Id FROM A WHERE D = 2024-01-01T10:00:00+1", 27, "invalid datetime literal"},
	{"datetime without time", "SELECT Id FROM A WHERE D = 2024-01-01T", 27, "invalid datetime literal"},
	{"LIMIT missing", "SELECT Id FROM A LIMIT", 22, "expecting a non-negative integer after LIMIT, found '<EOF>'"},
	{"LIMIT negative", "SELECT Id FROM A LIMIT -1", 23, "expecting a non-negative integer after LIMIT, found '-1'"},
	{"LIMIT decimal", "SELECT Id FROM A LIMIT 1.5", 23, "found '1.5'"},
	{"LIMIT word", "SELECT Id FROM A LIMIT ten", 23, "found 'ten'"},
	{"LIMIT too large", "SELECT Id FROM A LIMIT 99999999999", 23, "LIMIT 99999999999 is too large"},
	{"OFFSET negative", "SELECT Id FROM A OFFSET -5", 24, "expecting a non-negative integer after OFFSET"},
	{"OFFSET before LIMIT", "SELECT Id FROM A OFFSET 5 LIMIT 10", 26, "unexpected token: 'LIMIT'"},
	{"LIMIT before ORDER BY", "SELECT Id FROM A LIMIT 5 ORDER BY Id", 25, "unexpected token: 'ORDER'"},
	{"WHERE after ORDER BY", "SELECT Id FROM A ORDER BY Id WHERE a = 1", 29, "unexpected token: 'WHERE'"},
	{"ORDER without BY", "SELECT Id FROM A ORDER Name", 23, "unexpected token: 'Name'"},
	{"ORDER BY nothing", "SELECT Id FROM A ORDER BY", 25, "unexpected token: '<EOF>'"},
	{"ORDER BY trailing comma", "SELECT Id FROM A ORDER BY Name,", 31, "unexpected token: '<EOF>'"},
	{"NULLS alone", "SELECT Id FROM A ORDER BY Name NULLS", 36, "unexpected token: '<EOF>'"},
	{"NULLS MIDDLE", "SELECT Id FROM A ORDER BY Name NULLS MIDDLE", 37, "unexpected token: 'MIDDLE'"},
	{"trailing word", "SELECT Id FROM A WHERE a = 1 LIMIT 5 extra", 37, "unexpected token: 'extra'"},
	{"duplicate field", "SELECT Id, Name, id FROM A", 17, "duplicate field selected: id"},
	{"duplicate relationship field", "SELECT Account.Name, account.NAME FROM Contact", 21, "duplicate field selected: account.NAME"},

	{"GROUP BY", "SELECT Name FROM A GROUP BY Name", 19, "GROUP BY is not supported"},
	{"GROUP BY after WHERE", "SELECT Name FROM A WHERE a = 1 GROUP BY Name", 31, "GROUP BY is not supported"},
	{"HAVING", "SELECT Name FROM A HAVING a = 1", 19, "HAVING is not supported"},
	{"WITH", "SELECT Id FROM A WITH SECURITY_ENFORCED", 17, "WITH is not supported"},
	{"USING SCOPE", "SELECT Id FROM A USING SCOPE mine", 17, "USING SCOPE is not supported"},
	{"FOR UPDATE", "SELECT Id FROM A LIMIT 1 FOR UPDATE", 25, "FOR VIEW, FOR REFERENCE and FOR UPDATE are not supported"},
	{"ALL ROWS", "SELECT Id FROM A ALL ROWS", 17, "ALL ROWS is not supported"},
	{"UPDATE TRACKING", "SELECT Id FROM A UPDATE TRACKING", 17, "UPDATE TRACKING and UPDATE VIEWSTAT are not supported"},
	{"TYPEOF", "SELECT TYPEOF What WHEN Account THEN Name END FROM Event", 7, "TYPEOF is not supported"},
	{"subquery", "SELECT Id, (SELECT Id FROM Contacts) FROM Account", 11, "subqueries are not supported"},
	{"parenthesis in SELECT", "SELECT (Id) FROM Account", 7, "unexpected token: '('"},
	{"semi-join", "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", 36, "semi-join and anti-join subqueries are not supported"},
	{"subquery as value", "SELECT Id FROM Account WHERE Id = (SELECT AccountId FROM Contact)", 34, "subqueries are not supported"},
	{"COUNT(field)", "SELECT COUNT(Id) FROM Account", 7, "aggregate functions other than COUNT() are not supported: COUNT()"},
	{"SUM", "SELECT sum(Amount) FROM Opportunity", 7, "aggregate functions other than COUNT() are not supported: SUM()"},
	{"FIELDS(ALL)", "SELECT FIELDS(ALL) FROM Account LIMIT 200", 7, "FIELDS() is not supported"},
	{"toLabel", "SELECT toLabel(Status) FROM Lead", 7, "functions are not supported: toLabel()"},
	{"COUNT() with a field", "SELECT Id, COUNT() FROM Account", 11, "COUNT() must be the only element in the SELECT list"},
	{"field after COUNT()", "SELECT COUNT(), Id FROM Account", 7, "COUNT() must be the only element in the SELECT list"},
	{"COUNT() with ORDER BY", "SELECT COUNT() FROM Account ORDER BY Name", 28, "ORDER BY is not allowed in a COUNT() query"},
	{"function in WHERE", "SELECT Id FROM A WHERE CALENDAR_YEAR(CreatedDate) = 2024", 23, "functions are not supported: CALENDAR_YEAR()"},
	{"function in ORDER BY", "SELECT Id FROM A ORDER BY MAX(Amount)", 26, "aggregate functions other than COUNT() are not supported: MAX()"},
	{"INCLUDES", "SELECT Id FROM A WHERE Colors__c INCLUDES ('red')", 33, "INCLUDES and EXCLUDES are not supported"},
	{"EXCLUDES", "SELECT Id FROM A WHERE Colors__c EXCLUDES ('red')", 33, "INCLUDES and EXCLUDES are not supported"},
	{"bind variable", "SELECT Id FROM A WHERE Name = :name", 30, "Bind variables only allowed in Apex code"},
	{"week literal", "SELECT Id FROM A WHERE D = THIS_WEEK", 27, "date literal THIS_WEEK is not supported"},
	{"fiscal literal", "SELECT Id FROM A WHERE D = last_fiscal_year", 27, "date literal LAST_FISCAL_YEAR is not supported"},
	{"N literal without colon", "SELECT Id FROM A WHERE D = LAST_N_DAYS", 38, "expecting a colon, found '<EOF>'"},
	{"N literal without number", "SELECT Id FROM A WHERE D = LAST_N_DAYS:x", 39, "expecting a number of days from 0 to 10000000 after LAST_N_DAYS:, found 'x'"},
	{"N literal negative", "SELECT Id FROM A WHERE D = NEXT_N_DAYS:-1", 39, "found '-1'"},
	{"N literal decimal", "SELECT Id FROM A WHERE D = N_DAYS_AGO:1.5", 38, "found '1.5'"},
	{"N literal too large", "SELECT Id FROM A WHERE D = LAST_N_DAYS:10000001", 39, "found '10000001'"},
	{"unknown word", "SELECT Id FROM A WHERE D = SOMEDAY", 27, "unexpected token: 'SOMEDAY'"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range invalidQueries {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseAt(tc.in, testNow)
			if q != nil {
				t.Errorf("got a query %v as well as an error", q)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want a *ParseError", err, err)
			}
			if pe.Pos != tc.pos || !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("ParseError{Pos: %d, Msg: %q}, want Pos %d and Msg containing %q", pe.Pos, pe.Msg, tc.pos, tc.msg)
			}
			if pe.Error() != pe.Msg {
				t.Errorf("Error() = %q, want Msg %q", pe.Error(), pe.Msg)
			}
		})
	}
}

func TestDepthLimit(t *testing.T) {
	nested := func(n int) string {
		return "SELECT Id FROM A WHERE " + strings.Repeat("(", n) + "a = 1" + strings.Repeat(")", n)
	}
	if _, err := ParseAt(nested(MaxDepth), testNow); err != nil {
		t.Errorf("%d levels: %v", MaxDepth, err)
	}
	if _, err := ParseAt(nested(MaxDepth+1), testNow); err == nil {
		t.Errorf("%d levels: no error", MaxDepth+1)
	}
	notted := "SELECT Id FROM A WHERE " + strings.Repeat("NOT (", MaxDepth) + "a = 1" + strings.Repeat(")", MaxDepth)
	if _, err := ParseAt(notted, testNow); err != nil {
		t.Errorf("%d nested NOTs: %v", MaxDepth, err)
	}

	// Long flat chains are not nesting.
	terms := make([]string, 10000)
	for i := range terms {
		terms[i] = "a = 1"
	}
	q := mustParse(t, "SELECT Id FROM A WHERE "+strings.Join(terms, " AND "))
	if n := len(q.Where.(*AndExpr).Terms); n != len(terms) {
		t.Errorf("AND chain has %d terms, want %d", n, len(terms))
	}
	if ok, err := q.Match(rec{"a": 1.0}.resolve); !ok || err != nil {
		t.Errorf("Match = %v, %v", ok, err)
	}
}

func TestLongSelectList(t *testing.T) {
	fields := make([]string, 20000)
	for i := range fields {
		fields[i] = fmt.Sprintf("F%d__c", i)
	}
	q := mustParse(t, "SELECT "+strings.Join(fields, ", ")+" FROM A")
	if len(q.Fields) != len(fields) {
		t.Errorf("%d fields, want %d", len(q.Fields), len(fields))
	}
	for _, dup := range []string{"f3__C", "F19999__C"} {
		query := "SELECT " + strings.Join(fields, ", ") + ", " + dup + " FROM A"
		_, err := ParseAt(query, testNow)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Msg != "duplicate field selected: "+dup || pe.Pos != strings.LastIndex(query, dup) {
			t.Errorf("repeating %s: %v", dup, err)
		}
	}
}

func TestParseErrorDetail(t *testing.T) {
	query := "SELECT Id\nFROM Account\nWHERE Name = 'x' AND Amount > 1 OR Id = null"
	_, err := ParseAt(query, testNow)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	want := "\nWHERE Name = 'x' AND Amount > 1 OR Id = null\n" +
		"                                ^\n" +
		"ERROR at Row:3:Column:33\n" +
		"unexpected token: 'OR' (parentheses are required when mixing AND and OR)"
	if got := pe.Detail(query); got != want {
		t.Errorf("Detail:\n%s\nwant:\n%s", got, want)
	}

	// Columns count characters, not bytes.
	query = "SELECT Id FROM A WHERE Name = 'é' ORDER"
	_, err = ParseAt(query, testNow)
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	if got := pe.Detail(query); !strings.Contains(got, "ERROR at Row:1:Column:40\n") {
		t.Errorf("Detail = %q", got)
	}
	// A position outside the query is clamped.
	if got := (&ParseError{Pos: 99, Msg: "m"}).Detail("abc"); got != "\nabc\n   ^\nERROR at Row:1:Column:4\nm" {
		t.Errorf("clamped Detail = %q", got)
	}
}

func TestStringLiterals(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`''`, ""},
		{`'plain'`, "plain"},
		{`'O\'Brien'`, "O'Brien"},
		{`'say \"hi\"'`, `say "hi"`},
		{`'back\\slash'`, `back\slash`},
		{`'a\nb\Nc'`, "a\nb\nc"},
		{`'a\tb\Tc'`, "a\tb\tc"},
		{`'a\rb\Rc'`, "a\rb\rc"},
		{`'a\bb\Bc'`, "a\bb\bc"},
		{`'a\fb\Fc'`, "a\fb\fc"},
		{`'100\%'`, `100\%`}, // \% and \_ mean something only in LIKE
		{`'a\_b'`, `a\_b`},
		{`'\\\''`, `\'`},
		{`'Zürich'`, "Zürich"},
		{"'line\nbreak'", "line\nbreak"},
	} {
		q := mustParse(t, "SELECT Id FROM A WHERE Name = "+tc.in)
		v := q.Where.(*CompareExpr).Value
		if v.Kind != KindString || v.Str != tc.want || v.Text != tc.in {
			t.Errorf("%s: Kind %v Str %q Text %q, want string %q", tc.in, v.Kind, v.Str, v.Text, tc.want)
		}
	}
}

func TestLiteralValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Literal
	}{
		{"null", Literal{Kind: KindNull, Text: "null"}},
		{"TRUE", Literal{Kind: KindBool, Text: "TRUE", Bool: true}},
		{"false", Literal{Kind: KindBool, Text: "false"}},
		{"42", Literal{Kind: KindNumber, Text: "42", Num: 42}},
		{"-0.5", Literal{Kind: KindNumber, Text: "-0.5", Num: -0.5}},
		{"2024-02-29", Literal{Kind: KindDate, Text: "2024-02-29",
			From: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), To: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)}},
		{"2024-01-31T10:00:00.5+01:30", Literal{Kind: KindDateTime, Text: "2024-01-31T10:00:00.5+01:30",
			Time: time.Date(2024, 1, 31, 8, 30, 0, 500_000_000, time.UTC)}},
		{"2024-01-31T10:00:00Z", Literal{Kind: KindDateTime, Text: "2024-01-31T10:00:00Z", Time: time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC)}},
		{"2024-01-31T10:00:00-0800", Literal{Kind: KindDateTime, Text: "2024-01-31T10:00:00-0800", Time: time.Date(2024, 1, 31, 18, 0, 0, 0, time.UTC)}},
	} {
		got := mustParse(t, "SELECT Id FROM A WHERE F = "+tc.in).Where.(*CompareExpr).Value
		if got.Kind != tc.want.Kind || got.Text != tc.want.Text || got.Bool != tc.want.Bool || got.Num != tc.want.Num ||
			!got.From.Equal(tc.want.From) || !got.To.Equal(tc.want.To) || !got.Time.Equal(tc.want.Time) {
			t.Errorf("%s: got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestRelativeDateLiterals(t *testing.T) {
	day := func(m time.Month, d int) time.Time { return time.Date(2024, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		in       string
		from, to time.Time
	}{
		{"TODAY", day(3, 15), day(3, 15)},
		{"YESTERDAY", day(3, 14), day(3, 14)},
		{"TOMORROW", day(3, 16), day(3, 16)},
		{"LAST_N_DAYS:0", day(3, 15), day(3, 15)},
		{"LAST_N_DAYS:1", day(3, 14), day(3, 15)},
		{"LAST_N_DAYS:15", day(2, 29), day(3, 15)},
		{"NEXT_N_DAYS:1", day(3, 16), day(3, 16)},
		{"NEXT_N_DAYS:17", day(3, 16), day(4, 1)},
		{"NEXT_N_DAYS:0", day(3, 16), day(3, 15)}, // empty
		{"N_DAYS_AGO:3", day(3, 12), day(3, 12)},
		{"LAST_90_DAYS", time.Date(2023, 12, 16, 0, 0, 0, 0, time.UTC), day(3, 15)},
		{"NEXT_90_DAYS", day(3, 16), day(6, 13)},
		{"THIS_MONTH", day(3, 1), day(3, 31)},
		{"LAST_MONTH", day(2, 1), day(2, 29)},
		{"NEXT_MONTH", day(4, 1), day(4, 30)},
		{"THIS_YEAR", day(1, 1), day(12, 31)},
		{"LAST_YEAR", time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"NEXT_YEAR", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)},
	} {
		v := mustParse(t, "SELECT Id FROM A WHERE D = "+tc.in).Where.(*CompareExpr).Value
		if v.Kind != KindDate || !v.From.Equal(tc.from) || !v.To.Equal(tc.to) {
			t.Errorf("%s: %v from %v to %v, want %v to %v", tc.in, v.Kind, v.From, v.To, tc.from, tc.to)
		}
	}

	// The clock is read in UTC: 23:30 in New York on 15 March is 16 March UTC.
	ny := time.FixedZone("EDT", -4*3600)
	q, err := ParseAt("SELECT Id FROM A WHERE D = TODAY", time.Date(2024, 3, 15, 23, 30, 0, 0, ny))
	if err != nil {
		t.Fatal(err)
	}
	if from := q.Where.(*CompareExpr).Value.From; !from.Equal(day(3, 16)) {
		t.Errorf("TODAY at 23:30 EDT = %v, want 2024-03-16", from)
	}

	// Parse uses the real clock.
	before := time.Now().UTC()
	q, err = Parse("SELECT Id FROM A WHERE D = TODAY")
	after := time.Now().UTC()
	if err != nil {
		t.Fatal(err)
	}
	from := q.Where.(*CompareExpr).Value.From
	if from.Format(time.DateOnly) != before.Format(time.DateOnly) && from.Format(time.DateOnly) != after.Format(time.DateOnly) {
		t.Errorf("Parse: TODAY = %v, now is %v", from, before)
	}
}

// evalCase is a WHERE condition, a record and the expected outcome.
type evalCase struct {
	name  string
	where string
	rec   rec
	want  bool
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := mustParse(t, "SELECT Id FROM A WHERE "+tc.where)
			got, err := q.Where.Eval(tc.rec.resolve)
			if err != nil {
				t.Fatalf("%s on %v: %v", tc.where, tc.rec, err)
			}
			if got != tc.want {
				t.Errorf("%s on %v = %v, want %v", tc.where, tc.rec, got, tc.want)
			}
		})
	}
}

func TestEvalText(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"= ignores case", "Name = 'ACME'", rec{"name": "acme"}, true},
		{"= other text", "Name = 'ACME'", rec{"name": "acme corp"}, false},
		{"!= ignores case", "Name != 'ACME'", rec{"name": "Acme"}, false},
		{"!= other text", "Name <> 'ACME'", rec{"name": "Other"}, true},
		{"= non-ASCII case", "Name = 'ÉCOLE ZÜRICH'", rec{"name": "école zürich"}, true},
		{"< ignores case", "Name < 'b'", rec{"name": "A"}, true},
		{"> ignores case", "Name > 'B'", rec{"name": "a"}, false},
		{"<= equal in other case", "Name <= 'abc'", rec{"name": "ABC"}, true},
		{">= equal in other case", "Name >= 'ABC'", rec{"name": "abc"}, true},
		{"prefix sorts first", "Name < 'abc'", rec{"name": "ab"}, true},
		{"relationship path", "Account.Owner.Name = 'Ann'", rec{"account.owner.name": "ann"}, true},
		{"escaped quote", `Name = 'O\'Brien'`, rec{"name": "o'brien"}, true},
		{"text that looks like a date", "Name = '2024-01-01'", rec{"name": "2024-01-01"}, true},
	})
}

func TestEvalNumbers(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"=", "Amount = 5", rec{"amount": 5.0}, true},
		{"= decimal", "Amount = 5.00", rec{"amount": 5.0}, true},
		{"= other", "Amount = 5", rec{"amount": 6.0}, false},
		{"!=", "Amount != 5", rec{"amount": 6.0}, true},
		{"<", "Amount < 4.5", rec{"amount": 4.49}, true},
		{"< equal", "Amount < 4.5", rec{"amount": 4.5}, false},
		{"<=", "Amount <= 4.5", rec{"amount": 4.5}, true},
		{">", "Amount > -1", rec{"amount": 0.0}, true},
		{">=", "Amount >= -1.5", rec{"amount": -1.5}, true},
		{">= below", "Amount >= -1.5", rec{"amount": -2.0}, false},
		{"Go int value", "Amount = 5", rec{"amount": 5}, true},
		{"Go int64 value", "Amount > 4", rec{"amount": int64(5)}, true},
		{"Go float32 value", "Amount = 0.5", rec{"amount": float32(0.5)}, true},
		{"numeric text = number", "Code__c = 42", rec{"code__c": "42"}, true},
		{"numeric text with leading zero", "Code__c = 42", rec{"code__c": "042"}, true},
		{"numeric text compares numerically", "Code__c > 10", rec{"code__c": "9"}, false},
		{"decimal text", "Code__c < 0", rec{"code__c": "-0.5"}, true},
		{"non-numeric text = number", "Code__c = 42", rec{"code__c": "forty-two"}, false},
		{"non-numeric text != number", "Code__c != 42", rec{"code__c": "forty-two"}, true},
		{"non-numeric text > number", "Code__c > 0", rec{"code__c": "abc"}, false},
		{"non-numeric text < number", "Code__c < 0", rec{"code__c": "abc"}, false},
		{"number = numeric quoted literal", "Amount = '5'", rec{"amount": 5.0}, true},
		{"number = non-numeric quoted literal", "Amount = 'five'", rec{"amount": 5.0}, false},
		{"number vs bool", "Amount = true", rec{"amount": 1.0}, false},
	})
}

func TestEvalBooleans(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"= true", "IsActive = true", rec{"isactive": true}, true},
		{"= TRUE on false", "IsActive = TRUE", rec{"isactive": false}, false},
		{"= false", "IsActive = false", rec{"isactive": false}, true},
		{"!= true", "IsActive != true", rec{"isactive": false}, true},
		{"false < true", "IsActive < true", rec{"isactive": false}, true},
		{"bool vs quoted text", "IsActive = 'true'", rec{"isactive": true}, false},
		{"bool vs number", "IsActive = 1", rec{"isactive": true}, false},
		{"text vs bool", "Name = true", rec{"name": "true"}, false},
	})
}

func TestEvalNull(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"= null on nil", "Name = null", rec{"name": nil}, true},
		{"= null on value", "Name = null", rec{"name": "x"}, false},
		{"= null on zero", "Amount = null", rec{"amount": 0.0}, false},
		{"= null on false", "IsActive = null", rec{"isactive": false}, false},
		{"!= null on nil", "Name != null", rec{"name": nil}, false},
		{"!= null on value", "Name != null", rec{"name": "x"}, true},
		{"= null on empty text", "Name = null", rec{"name": ""}, true},
		{"= '' on nil", "Name = ''", rec{"name": nil}, true},
		{"= '' on value", "Name = ''", rec{"name": "x"}, false},
		{"!= '' on nil", "Name != ''", rec{"name": nil}, false},
		{"!= '' on value", "Name != ''", rec{"name": "x"}, true},
		{"> '' on value", "Name > ''", rec{"name": "x"}, true},
		{">= '' on value", "Name >= ''", rec{"name": "x"}, true},
		{"> '' on nil", "Name > ''", rec{"name": nil}, false},
		{"< '' on value", "Name < ''", rec{"name": "x"}, false},
		{"> '' on number", "Amount > ''", rec{"amount": 1.0}, false},
		{"nil = value", "Name = 'x'", rec{"name": nil}, false},
		{"nil != value (two-valued logic)", "Name != 'x'", rec{"name": nil}, true},
		{"nil < value", "Amount < 5", rec{"amount": nil}, false},
		{"nil <= value", "Amount <= 5", rec{"amount": nil}, false},
		{"nil > value", "Amount > 5", rec{"amount": nil}, false},
		{"nil >= value", "Amount >= 5", rec{"amount": nil}, false},
		{"value < null", "Amount < null", rec{"amount": 1.0}, false},
		{"nil < null", "Amount < null", rec{"amount": nil}, false},
		{"NOT of a comparison with nil", "NOT Name = 'x'", rec{"name": nil}, true},
		{"nil LIKE", "Name LIKE '%'", rec{"name": nil}, false},
		{"nil IN", "Name IN ('x', 'y')", rec{"name": nil}, false},
		{"nil NOT IN", "Name NOT IN ('x', 'y')", rec{"name": nil}, true},
		{"nil IN (null)", "Name IN ('x', null)", rec{"name": nil}, true},
		{"nil NOT IN (null)", "Name NOT IN ('x', null)", rec{"name": nil}, false},
		{"nil = date", "D = 2024-01-01", rec{"d": nil}, false},
		{"nil != date", "D != TODAY", rec{"d": nil}, true},
		{"nil < date", "D < TODAY", rec{"d": nil}, false},
	})
}

func TestEvalLike(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"prefix", "Name LIKE 'acme%'", rec{"name": "ACME Corp"}, true},
		{"prefix miss", "Name LIKE 'acme%'", rec{"name": "The Acme"}, false},
		{"suffix", "Name LIKE '%corp'", rec{"name": "Acme CORP"}, true},
		{"contains", "Name LIKE '%me c%'", rec{"name": "Acme Corp"}, true},
		{"exact", "Name LIKE 'acme'", rec{"name": "Acme"}, true},
		{"exact miss", "Name LIKE 'acme'", rec{"name": "Acme Corp"}, false},
		{"one character", "Name LIKE 'a_me'", rec{"name": "acme"}, true},
		{"one character is one rune", "Name LIKE '_cole'", rec{"name": "école"}, true},
		{"one character needs one", "Name LIKE 'acme_'", rec{"name": "acme"}, false},
		{"% matches nothing", "Name LIKE 'acme%'", rec{"name": "acme"}, true},
		{"only %", "Name LIKE '%'", rec{"name": "anything"}, true},
		{"%%", "Name LIKE '%%'", rec{"name": "x"}, true},
		{"several %", "Name LIKE 'a%b%c'", rec{"name": "aXXbYYc"}, true},
		{"several % miss", "Name LIKE 'a%b%c'", rec{"name": "aXXcYYb"}, false},
		{"backtracking", "Name LIKE '%ab%abc'", rec{"name": "ababab abc"}, true},
		{"backtracking miss", "Name LIKE '%aab'", rec{"name": "aaaaaaaaaaaa"}, false},
		{"% then _", "Name LIKE '%_x'", rec{"name": "x"}, false},
		{"escaped %", `Name LIKE '100\%'`, rec{"name": "100%"}, true},
		{"escaped % is literal", `Name LIKE '100\%'`, rec{"name": "1000"}, false},
		{"escaped _", `Name LIKE 'a\_b'`, rec{"name": "a_b"}, true},
		{"escaped _ is literal", `Name LIKE 'a\_b'`, rec{"name": "axb"}, false},
		{"escaped backslash then %", `Name LIKE 'a\\%'`, rec{"name": `a\bc`}, true},
		{"escaped quote", `Name LIKE 'o\'b%'`, rec{"name": "O'Brien"}, true},
		{"newline escape", `Name LIKE 'a\nb'`, rec{"name": "a\nb"}, true},
		{"% spans lines", "Name LIKE 'a%b'", rec{"name": "a\n\nb"}, true},
		{"non-ASCII case", "Name LIKE 'ÉCOLE%'", rec{"name": "école maternelle"}, true},
		{"empty pattern", "Name LIKE ''", rec{"name": "x"}, false},
		{"number never matches", "Amount LIKE '1%'", rec{"amount": 10.0}, false},
		{"bool never matches", "B LIKE 'true'", rec{"b": true}, false},
		{"NOT LIKE via NOT", "NOT Name LIKE 'a%'", rec{"name": "bob"}, true},
	})
}

func TestEvalIn(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"in", "Name IN ('a', 'B')", rec{"name": "b"}, true},
		{"not in list", "Name IN ('a', 'B')", rec{"name": "c"}, false},
		{"NOT IN hit", "Name NOT IN ('a', 'B')", rec{"name": "b"}, false},
		{"NOT IN miss", "Name NOT IN ('a', 'B')", rec{"name": "c"}, true},
		{"numbers", "Amount IN (1, 2.5)", rec{"amount": 2.5}, true},
		{"numeric text", "Code__c IN (1, 2)", rec{"code__c": "2"}, true},
		{"mixed kinds", "F IN ('x', 2, true)", rec{"f": true}, true},
		{"dates", "D IN (2024-01-01, 2024-01-02)", rec{"d": "2024-01-02"}, true},
		{"datetime in dates", "D IN (2024-01-01, 2024-01-02)", rec{"d": "2024-01-02T23:00:00.000+0000"}, true},
		{"relative date", "D IN (YESTERDAY, TOMORROW)", rec{"d": "2024-03-16"}, true},
		{"relative date miss", "D IN (YESTERDAY, TOMORROW)", rec{"d": "2024-03-15"}, false},
		{"empty text in ('')", "Name IN ('')", rec{"name": nil}, true},
	})
}

func TestEvalDates(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"date =", "CloseDate = 2024-01-31", rec{"closedate": "2024-01-31"}, true},
		{"date = other", "CloseDate = 2024-01-31", rec{"closedate": "2024-02-01"}, false},
		{"date !=", "CloseDate != 2024-01-31", rec{"closedate": "2024-02-01"}, true},
		{"date <", "CloseDate < 2024-01-31", rec{"closedate": "2024-01-30"}, true},
		{"date < same", "CloseDate < 2024-01-31", rec{"closedate": "2024-01-31"}, false},
		{"date <=", "CloseDate <= 2024-01-31", rec{"closedate": "2024-01-31"}, true},
		{"date >", "CloseDate > 2024-01-31", rec{"closedate": "2025-01-01"}, true},
		{"date >=", "CloseDate >= 2024-01-31", rec{"closedate": "2024-01-30"}, false},
		{"not a date = date", "CloseDate = 2024-01-31", rec{"closedate": "soon"}, false},
		{"not a date != date", "CloseDate != 2024-01-31", rec{"closedate": "soon"}, true},
		{"not a date < date", "CloseDate < 2024-01-31", rec{"closedate": "soon"}, false},
		{"number vs date", "CloseDate = 2024-01-31", rec{"closedate": 20240131.0}, false},

		{"datetime = date: same UTC day", "CreatedDate = 2024-01-31", rec{"createddate": "2024-01-31T23:59:59.000+0000"}, true},
		{"datetime = date: start of day", "CreatedDate = 2024-01-31", rec{"createddate": "2024-01-31T00:00:00Z"}, true},
		{"datetime = date: next day", "CreatedDate = 2024-01-31", rec{"createddate": "2024-02-01T00:00:00Z"}, false},
		{"datetime = date: offset moves it to the next UTC day", "CreatedDate = 2024-01-31", rec{"createddate": "2024-01-31T23:30:00-01:00"}, false},
		{"datetime > date: later that day", "CreatedDate > 2024-01-31", rec{"createddate": "2024-01-31T23:59:59Z"}, false},
		{"datetime > date: next day", "CreatedDate > 2024-01-31", rec{"createddate": "2024-02-01T00:00:00.000+0000"}, true},
		{"datetime >= date: that day", "CreatedDate >= 2024-01-31", rec{"createddate": "2024-01-31T00:00:01Z"}, true},
		{"datetime < date: that day", "CreatedDate < 2024-01-31", rec{"createddate": "2024-01-31T00:00:01Z"}, false},
		{"datetime < date: day before", "CreatedDate < 2024-01-31", rec{"createddate": "2024-01-30T23:59:59Z"}, true},
		{"datetime <= date: that day", "CreatedDate <= 2024-01-31", rec{"createddate": "2024-01-31T23:59:59Z"}, true},

		{"datetime > datetime", "CreatedDate > 2024-01-31T10:00:00Z", rec{"createddate": "2024-01-31T10:00:01.000+0000"}, true},
		{"datetime > same instant", "CreatedDate > 2024-01-31T10:00:00Z", rec{"createddate": "2024-01-31T10:00:00.000+0000"}, false},
		{"datetime = same instant in other zone", "CreatedDate = 2024-01-31T10:00:00Z", rec{"createddate": "2024-01-31T11:00:00.000+0100"}, true},
		{"datetime = with +hh:mm value", "CreatedDate = 2024-01-31T10:00:00.000+0000", rec{"createddate": "2024-01-31T05:00:00-05:00"}, true},
		{"datetime < with fractions", "CreatedDate < 2024-01-31T10:00:00.5Z", rec{"createddate": "2024-01-31T10:00:00.499Z"}, true},
		{"datetime without zone is UTC", "CreatedDate = 2024-01-31T10:00:00Z", rec{"createddate": "2024-01-31T10:00:00"}, true},
		{"date = datetime literal: same UTC day", "CloseDate = 2024-01-31T10:00:00Z", rec{"closedate": "2024-01-31"}, true},
		{"date = datetime literal: offset", "CloseDate = 2024-01-31T23:30:00-01:00", rec{"closedate": "2024-01-31"}, false},
		{"date < datetime literal: same day", "CloseDate < 2024-02-01T00:30:00+01:00", rec{"closedate": "2024-01-31"}, false},
		{"date > datetime literal", "CloseDate > 2024-01-30T12:00:00Z", rec{"closedate": "2024-01-31"}, true},
		{"text vs datetime literal", "CloseDate = 2024-01-31T10:00:00Z", rec{"closedate": "later"}, false},

		{"quoted datetime compares chronologically", "LastModifiedDate >= '2024-01-01T00:00:00Z'", rec{"lastmodifieddate": "2024-01-01T01:00:00.000+0100"}, true},
		{"quoted datetime compares chronologically (miss)", "LastModifiedDate > '2024-01-01T00:00:00Z'", rec{"lastmodifieddate": "2024-01-01T01:00:00.000+0100"}, false},
	})
}

func TestEvalRelativeDates(t *testing.T) {
	// Today is 2024-03-15 (testNow).
	runEvalCases(t, []evalCase{
		{"TODAY date", "D = TODAY", rec{"d": "2024-03-15"}, true},
		{"TODAY datetime", "D = TODAY", rec{"d": "2024-03-15T23:59:59.000+0000"}, true},
		{"TODAY datetime in another zone", "D = TODAY", rec{"d": "2024-03-15T23:30:00-02:00"}, false},
		{"> TODAY", "D > TODAY", rec{"d": "2024-03-16T00:00:00Z"}, true},
		{"> TODAY later today", "D > TODAY", rec{"d": "2024-03-15T23:00:00Z"}, false},
		{"< TODAY", "D < TODAY", rec{"d": "2024-03-14T23:59:59Z"}, true},
		{"<= TODAY", "D <= TODAY", rec{"d": "2024-03-15T23:59:59Z"}, true},
		{">= TODAY", "D >= TODAY", rec{"d": "2024-03-15T00:00:00Z"}, true},
		{"YESTERDAY", "D = YESTERDAY", rec{"d": "2024-03-14"}, true},
		{"TOMORROW", "D = TOMORROW", rec{"d": "2024-03-16"}, true},
		{"LAST_N_DAYS includes today", "D = LAST_N_DAYS:2", rec{"d": "2024-03-15T18:00:00Z"}, true},
		{"LAST_N_DAYS first day", "D = LAST_N_DAYS:2", rec{"d": "2024-03-13T00:00:00Z"}, true},
		{"LAST_N_DAYS before", "D = LAST_N_DAYS:2", rec{"d": "2024-03-12T23:59:59Z"}, false},
		{"LAST_N_DAYS future", "D = LAST_N_DAYS:2", rec{"d": "2024-03-16"}, false},
		{"< LAST_N_DAYS", "D < LAST_N_DAYS:2", rec{"d": "2024-03-12"}, true},
		{"> LAST_N_DAYS", "D > LAST_N_DAYS:2", rec{"d": "2024-03-16"}, true},
		{"NEXT_N_DAYS excludes today", "D = NEXT_N_DAYS:2", rec{"d": "2024-03-15"}, false},
		{"NEXT_N_DAYS first day", "D = NEXT_N_DAYS:2", rec{"d": "2024-03-16"}, true},
		{"NEXT_N_DAYS last day", "D = NEXT_N_DAYS:2", rec{"d": "2024-03-17T23:59:59Z"}, true},
		{"NEXT_N_DAYS after", "D = NEXT_N_DAYS:2", rec{"d": "2024-03-18"}, false},
		{"NEXT_N_DAYS:0 is empty", "D = NEXT_N_DAYS:0", rec{"d": "2024-03-16"}, false},
		{"N_DAYS_AGO", "D = N_DAYS_AGO:1", rec{"d": "2024-03-14"}, true},
		{"THIS_MONTH", "D = THIS_MONTH", rec{"d": "2024-03-31T23:00:00Z"}, true},
		{"LAST_MONTH leap day", "D = LAST_MONTH", rec{"d": "2024-02-29"}, true},
		{"> THIS_YEAR", "D > THIS_YEAR", rec{"d": "2025-01-01"}, true},
		{"!= TODAY", "D != TODAY", rec{"d": "2024-03-14"}, true},
	})
}

func TestEvalLogic(t *testing.T) {
	r := rec{"a": 1.0, "b": 0.0, "c": 3.0}
	runEvalCases(t, []evalCase{
		{"AND true", "a = 1 AND c = 3", r, true},
		{"AND false", "a = 1 AND b = 2", r, false},
		{"OR true", "b = 2 OR c = 3", r, true},
		{"OR false", "b = 2 OR c = 4", r, false},
		{"NOT", "NOT b = 2", r, true},
		{"(a AND b) OR c", "(a = 1 AND b = 2) OR c = 3", r, true},
		{"a AND (b OR c)", "a = 1 AND (b = 2 OR c = 3)", r, true},
		{"(a OR c) AND b", "(a = 1 OR c = 3) AND b = 2", r, false},
		{"NOT (a OR b)", "NOT (a = 1 OR b = 2)", r, false},
		{"(NOT a) OR c", "(NOT a = 1) OR c = 3", r, true},
		{"NOT (NOT a)", "NOT (NOT a = 1)", r, true},
		{"deep", "((a = 1 AND (b = 0 AND (c = 3 OR a = 9))) AND (NOT (b = 1)))", r, true},
	})
}

func TestEvalErrors(t *testing.T) {
	r := rec{"a": 1.0, "bad": []int{1}}
	for _, tc := range []struct {
		where   string
		unknown string // the field of the *UnknownFieldError, or "" for a *ValueTypeError
	}{
		{"Missing = 1", "Missing"},
		{"Rel.Missing != null", "Rel.Missing"},
		{"Missing LIKE 'x'", "Missing"},
		{"Missing IN (1)", "Missing"},
		{"NOT Missing = 1", "Missing"},
		{"a = 1 AND Missing = 1", "Missing"},
		{"a = 2 OR Missing = 1", "Missing"},
		{"Missing = 1 OR a = 1", "Missing"},
		{"bad = 1", ""},
		{"bad LIKE 'x'", ""},
		{"bad NOT IN (1)", ""},
	} {
		q := mustParse(t, "SELECT Id FROM A WHERE "+tc.where)
		ok, err := q.Where.Eval(r.resolve)
		if ok {
			t.Errorf("%s: true despite error %v", tc.where, err)
		}
		if tc.unknown != "" {
			var ue *UnknownFieldError
			if !errors.As(err, &ue) || ue.Field.String() != tc.unknown {
				t.Errorf("%s: error %v, want unknown field %s", tc.where, err, tc.unknown)
			} else if want := "No such column '" + tc.unknown + "'"; err.Error() != want {
				t.Errorf("%s: Error() = %q, want %q", tc.where, err.Error(), want)
			}
			continue
		}
		var ve *ValueTypeError
		if !errors.As(err, &ve) || ve.Field.String() != "bad" {
			t.Errorf("%s: error %v, want a *ValueTypeError", tc.where, err)
		}
	}

	// Evaluation stops early, so unreachable terms are not resolved.
	for _, where := range []string{"a = 1 OR Missing = 1", "a = 2 AND Missing = 1"} {
		q := mustParse(t, "SELECT Id FROM A WHERE "+where)
		if _, err := q.Where.Eval(r.resolve); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
}

func TestFields(t *testing.T) {
	q := mustParse(t, "SELECT Id, Account.Name FROM Contact WHERE (Name = 'x' OR Account.Owner.Email LIKE '%@x') AND (NOT Id IN ('1')) AND Name != null ORDER BY LastName, Id")
	str := func(fs []Field) string {
		parts := make([]string, len(fs))
		for i, f := range fs {
			parts[i] = f.String()
		}
		return strings.Join(parts, " ")
	}
	if got, want := str(q.Where.Fields()), "Name Account.Owner.Email Id Name"; got != want {
		t.Errorf("Where.Fields() = %s, want %s", got, want)
	}
	if got, want := str(q.AllFields()), "Id Account.Name Name Account.Owner.Email Id Name LastName Id"; got != want {
		t.Errorf("AllFields() = %s, want %s", got, want)
	}
	if got := str(mustParse(t, "SELECT COUNT() FROM A").AllFields()); got != "" {
		t.Errorf("AllFields() of COUNT() = %q", got)
	}
}

func TestMatch(t *testing.T) {
	q := mustParse(t, "SELECT Id FROM A")
	if ok, err := q.Match(rec{}.resolve); !ok || err != nil {
		t.Errorf("Match without WHERE = %v, %v", ok, err)
	}
	q = mustParse(t, "SELECT Id FROM A WHERE Name = 'x'")
	if ok, err := q.Match(rec{"name": "X"}.resolve); !ok || err != nil {
		t.Errorf("Match = %v, %v", ok, err)
	}
	if ok, err := q.Match(rec{"name": "y"}.resolve); ok || err != nil {
		t.Errorf("Match = %v, %v", ok, err)
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b any
		want int
	}{
		{nil, nil, 0},
		{nil, "a", -1},
		{"a", nil, 1},
		{nil, false, -1},
		{nil, -math.MaxFloat64, -1},
		{"", nil, 0},
		{"", "a", -1},
		{1.0, 2.0, -1},
		{2, 1.5, 1},
		{int64(3), 3.0, 0},
		{-1.0, 0.0, -1},
		{false, true, -1},
		{true, true, 0},
		{"abc", "ABD", -1},
		{"ABC", "abc", 0},
		{"b", "A", 1},
		{"a", "ab", -1},
		{"é", "É", 0},
		{"ſ", "S", 0},
		{"Zürich", "zurich", 1},
		{"2024-01-01", "2023-12-31", 1},
		{"2024-01-01T10:00:00Z", "2024-01-01T11:00:00.000+0100", 0},
		{"2024-01-01T10:00:00.000+0000", "2024-01-01T09:00:00-05:00", -1},
		{"2024-01-02", "2024-01-01T23:00:00Z", 1},
		{"2024-01-01", "2024-01-01T00:00:00Z", 0},
		{"10", 9.0, 1},
		{9.0, "10", -1},
		{"10", "9", -1}, // both text: compared as text
		{"abc", 5.0, 1}, // number < text
		{5.0, "abc", -1},
		{true, 0.0, -1}, // bool < number
		{[]int{1}, "z", 1},
		{struct{}{}, struct{}{}, 0},
		{math.NaN(), 0.0, -1},
	} {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%#v, %#v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}

	// Compare is antisymmetric over a mixed bag of values.
	values := []any{nil, "", "a", "B", "10", "2024-01-01", "2024-01-01T00:00:00Z", 1.0, -2, 10.0, true, false, []int{}}
	for _, a := range values {
		for _, b := range values {
			if Compare(a, b) != -Compare(b, a) {
				t.Errorf("Compare(%#v, %#v) = %d but Compare(%#v, %#v) = %d", a, b, Compare(a, b), b, a, Compare(b, a))
			}
		}
	}
}

func TestSortRecords(t *testing.T) {
	type row struct {
		id  string
		rec rec
	}
	rows := []row{
		{"1", rec{"name": "beta", "amount": 2.0, "d": "2024-01-01T10:00:00.000+0000"}},
		{"2", rec{"name": nil, "amount": 1.0, "d": "2024-01-01T10:00:00+02:00"}},
		{"3", rec{"name": "Alpha", "amount": nil, "d": nil}},
		{"4", rec{"name": "alpha", "amount": 2.0, "d": "2023-12-31T23:00:00Z"}},
		{"5", rec{"name": "", "amount": 3.0, "d": "2024-01-02T00:00:00Z"}},
	}
	for _, tc := range []struct {
		orderBy string
		want    string
	}{
		{"Name", "2 5 3 4 1"},                  // nulls first, ties keep their order, case ignored
		{"Name DESC", "1 3 4 2 5"},             // nulls last
		{"Name NULLS LAST", "3 4 1 2 5"},       // ASC NULLS LAST
		{"Name DESC NULLS FIRST", "2 5 1 3 4"}, // DESC NULLS FIRST
		{"Amount", "3 2 1 4 5"},
		{"Amount DESC, Name", "5 4 1 2 3"},
		{"Amount DESC NULLS FIRST, Name DESC", "3 5 1 4 2"},
		{"D", "3 4 2 1 5"}, // chronological across offsets
		{"D DESC", "5 1 2 4 3"},
	} {
		q := mustParse(t, "SELECT Id FROM A ORDER BY "+tc.orderBy)
		got := append([]row(nil), rows...)
		if err := SortRecords(got, q.OrderBy, func(r row) Resolver { return r.rec.resolve }); err != nil {
			t.Fatalf("ORDER BY %s: %v", tc.orderBy, err)
		}
		ids := make([]string, len(got))
		for i, r := range got {
			ids[i] = r.id
		}
		if s := strings.Join(ids, " "); s != tc.want {
			t.Errorf("ORDER BY %s: %s, want %s", tc.orderBy, s, tc.want)
		}
	}

	// An unknown field is an error and leaves the records as they were.
	got := append([]row(nil), rows...)
	q := mustParse(t, "SELECT Id FROM A ORDER BY Name, Missing")
	err := SortRecords(got, q.OrderBy, func(r row) Resolver { return r.rec.resolve })
	var ue *UnknownFieldError
	if !errors.As(err, &ue) || ue.Field.String() != "Missing" {
		t.Errorf("error %v, want unknown field Missing", err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Errorf("records changed despite the error")
	}

	// No ORDER BY, or no records: nothing to do.
	if err := SortRecords(got, nil, func(r row) Resolver { return nil }); err != nil {
		t.Errorf("empty order: %v", err)
	}
	if err := SortRecords(nil, q.OrderBy, func(r row) Resolver { return nil }); err != nil {
		t.Errorf("no records: %v", err)
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{OpEq: "=", OpNe: "!=", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">=", Op(0): "Op(0)"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", uint8(op), got, want)
		}
	}
}
