package soql

import (
	"fmt"
	"strings"
	"time"
)

// Resolver returns the value of a field path for the record being evaluated.
// ok=false means the field does not exist on the object; Eval then fails with
// an *UnknownFieldError (callers normally validate fields up front with
// Expr.Fields). Values are nil, string, float64 or bool; dates are
// "2006-01-02" strings and datetimes "2006-01-02T15:04:05.000+0000" strings.
type Resolver func(path []string) (value any, ok bool)

// Expr is a parsed WHERE condition: one of *AndExpr, *OrExpr, *NotExpr,
// *CompareExpr, *LikeExpr and *InExpr. Each of them also has a String method
// that writes the condition back as SOQL.
type Expr interface {
	// Eval reports whether the record r resolves fields for satisfies the
	// condition.
	Eval(r Resolver) (bool, error)
	// Fields returns every field the condition reads, in query order,
	// repeats included.
	Fields() []Field
}

// UnknownFieldError is returned by Eval and SortRecords when the Resolver
// reports that a field does not exist.
type UnknownFieldError struct {
	Field Field
}

func (e *UnknownFieldError) Error() string {
	return fmt.Sprintf("No such column '%s'", e.Field)
}

// ValueTypeError is returned by Eval when the Resolver returns a value of a Go
// type it may not return.
type ValueTypeError struct {
	Field Field
	Value any
}

func (e *ValueTypeError) Error() string {
	return fmt.Sprintf("soql: field %s has a value of unsupported type %T", e.Field, e.Value)
}

func resolve(r Resolver, f Field) (key, error) {
	v, ok := r(f.Path)
	if !ok {
		return key{}, &UnknownFieldError{Field: f}
	}
	k, ok := keyOf(v)
	if !ok {
		return key{}, &ValueTypeError{Field: f, Value: v}
	}
	return k, nil
}

// Op is a comparison operator.
type Op uint8

// The comparison operators. "<>" parses as OpNe.
const (
	OpEq Op = iota + 1 // =
	OpNe               // != or <>
	OpLt               // <
	OpLe               // <=
	OpGt               // >
	OpGe               // >=
)

func (o Op) String() string {
	switch o {
	case OpEq:
		return "="
	case OpNe:
		return "!="
	case OpLt:
		return "<"
	case OpLe:
		return "<="
	case OpGt:
		return ">"
	case OpGe:
		return ">="
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// LiteralKind is the type of a Literal.
type LiteralKind uint8

// The kinds of literal.
const (
	KindNull     LiteralKind = iota // null
	KindString                      // 'text'
	KindNumber                      // 42, -7.5
	KindBool                        // true, false
	KindDate                        // 2024-01-31, TODAY, LAST_N_DAYS:7, …: a range of whole UTC days
	KindDateTime                    // 2024-01-31T10:00:00Z
)

// Literal is a value written in a query.
type Literal struct {
	Kind LiteralKind
	// Text is the literal as written (relative date literals in upper case),
	// used by String.
	Text string
	Str  string  // KindString: the decoded text
	Num  float64 // KindNumber
	Bool bool    // KindBool
	// KindDate: midnight UTC of the first and of the last day of the range.
	// A date such as 2024-01-31 has From == To; NEXT_N_DAYS:0 has To before From.
	From, To time.Time
	Time     time.Time // KindDateTime: the instant, in UTC

	k        key   // KindString, KindNumber, KindBool: the value prepared for compareKeys
	from, to int64 // KindDate: the range as day numbers
	day      int64 // KindDateTime: the UTC date as a day number
}

func (l Literal) String() string { return l.Text }

func stringLiteral(text string) Literal {
	s := decodeString(text[1 : len(text)-1])
	return Literal{Kind: KindString, Text: text, Str: s, k: textKey(s)}
}

func numberLiteral(text string, f float64) Literal {
	return Literal{Kind: KindNumber, Text: text, Num: f, k: key{kind: kNumber, num: f}}
}

func boolLiteral(text string, b bool) Literal {
	return Literal{Kind: KindBool, Text: text, Bool: b, k: key{kind: kBool, b: b}}
}

func dateLiteral(text string, from, to int64) Literal {
	return Literal{Kind: KindDate, Text: text, From: dayTime(from), To: dayTime(to), from: from, to: to}
}

func dateTimeLiteral(text string, t time.Time) Literal {
	return Literal{Kind: KindDateTime, Text: text, Time: t, day: dayOf(t)}
}

func dayTime(day int64) time.Time { return time.Unix(day*86400, 0).UTC() }

// nullish reports whether the literal stands for null: null itself, or the
// empty string (Salesforce stores empty text as null).
func (l *Literal) nullish() bool {
	return l.Kind == KindNull || l.Kind == KindString && l.Str == ""
}

// test reports whether "v op l" holds.
func (l *Literal) test(op Op, v *key) bool {
	if l.nullish() {
		switch op {
		case OpEq:
			return v.kind == kNull
		case OpNe:
			return v.kind != kNull
		}
		// "field > <empty string>" holds for all non-empty text; other
		// orderings against null are false.
		return l.Kind == KindString && v.kind == kString && (op == OpGt || op == OpGe)
	}
	if v.kind == kNull {
		return op == OpNe
	}
	c, ok := l.compare(v)
	if !ok {
		return op == OpNe
	}
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	}
	return false
}

// compare returns the sign of (v − l) for a non-null v and a non-null l. For a
// date range, 0 means v lies in it. It reports false when v and l do not
// compare.
func (l *Literal) compare(v *key) (int, bool) {
	switch l.Kind {
	case KindDate:
		if !v.tmOK {
			return 0, false
		}
		switch d := v.tm.day(); {
		case d < l.from:
			return -1, true
		case d > l.to:
			return 1, true
		}
		return 0, true
	case KindDateTime:
		if !v.tmOK {
			return 0, false
		}
		if v.tm.dateOnly {
			d := v.tm.day()
			switch {
			case d < l.day:
				return -1, true
			case d > l.day:
				return 1, true
			}
			return 0, true
		}
		return v.tm.t.Compare(l.Time), true
	}
	return compareKeys(v, &l.k)
}

// AndExpr holds when every term holds. It has at least two terms.
type AndExpr struct{ Terms []Expr }

// OrExpr holds when any term holds. It has at least two terms.
type OrExpr struct{ Terms []Expr }

// NotExpr holds when X does not.
type NotExpr struct{ X Expr }

// CompareExpr is "Field Op Value".
type CompareExpr struct {
	Field Field
	Op    Op
	Value Literal
}

// LikeExpr is "Field LIKE Pattern".
type LikeExpr struct {
	Field   Field
	Pattern Literal // a KindString literal; Pattern.Text is the pattern as written
	elems   []likeElem
}

// InExpr is "Field IN (Values…)", or "Field NOT IN (Values…)" when Not is set.
type InExpr struct {
	Field  Field
	Not    bool
	Values []Literal
}

// Eval implements Expr. Terms are evaluated in order and evaluation stops at
// the first false one.
func (e *AndExpr) Eval(r Resolver) (bool, error) {
	for _, t := range e.Terms {
		ok, err := t.Eval(r)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Eval implements Expr. Terms are evaluated in order and evaluation stops at
// the first true one.
func (e *OrExpr) Eval(r Resolver) (bool, error) {
	for _, t := range e.Terms {
		ok, err := t.Eval(r)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// Eval implements Expr.
func (e *NotExpr) Eval(r Resolver) (bool, error) {
	ok, err := e.X.Eval(r)
	if err != nil {
		return false, err
	}
	return !ok, nil
}

// Eval implements Expr.
func (e *CompareExpr) Eval(r Resolver) (bool, error) {
	v, err := resolve(r, e.Field)
	if err != nil {
		return false, err
	}
	return e.Value.test(e.Op, &v), nil
}

// Eval implements Expr. Only text values can match; null never does.
func (e *LikeExpr) Eval(r Resolver) (bool, error) {
	v, err := resolve(r, e.Field)
	if err != nil {
		return false, err
	}
	return v.kind == kString && likeMatch(e.elems, v.s), nil
}

// Eval implements Expr.
func (e *InExpr) Eval(r Resolver) (bool, error) {
	v, err := resolve(r, e.Field)
	if err != nil {
		return false, err
	}
	for i := range e.Values {
		if e.Values[i].test(OpEq, &v) {
			return !e.Not, nil
		}
	}
	return e.Not, nil
}

// Fields implements Expr.
func (e *AndExpr) Fields() []Field { return termFields(e.Terms) }

// Fields implements Expr.
func (e *OrExpr) Fields() []Field { return termFields(e.Terms) }

// Fields implements Expr.
func (e *NotExpr) Fields() []Field { return e.X.Fields() }

// Fields implements Expr.
func (e *CompareExpr) Fields() []Field { return []Field{e.Field} }

// Fields implements Expr.
func (e *LikeExpr) Fields() []Field { return []Field{e.Field} }

// Fields implements Expr.
func (e *InExpr) Fields() []Field { return []Field{e.Field} }

func termFields(terms []Expr) []Field {
	var out []Field
	for _, t := range terms {
		out = append(out, t.Fields()...)
	}
	return out
}

func (e *AndExpr) String() string { return joinTerms(e.Terms, " AND ") }

func (e *OrExpr) String() string { return joinTerms(e.Terms, " OR ") }

func (e *NotExpr) String() string { return "NOT " + group(e.X) }

func (e *CompareExpr) String() string {
	return e.Field.String() + " " + e.Op.String() + " " + e.Value.Text
}

func (e *LikeExpr) String() string { return e.Field.String() + " LIKE " + e.Pattern.Text }

func (e *InExpr) String() string {
	var b strings.Builder
	b.WriteString(e.Field.String())
	if e.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i := range e.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.Values[i].Text)
	}
	b.WriteByte(')')
	return b.String()
}

func joinTerms(terms []Expr, sep string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = group(t)
	}
	return strings.Join(parts, sep)
}

// group writes a term of AND, OR or NOT, in parentheses when it is a logical
// expression itself: SOQL requires them.
func group(e Expr) string {
	switch e.(type) {
	case *AndExpr, *OrExpr, *NotExpr:
		return "(" + exprString(e) + ")"
	}
	return exprString(e)
}

// exprString writes e as SOQL.
func exprString(e Expr) string {
	if s, ok := e.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%v", e)
}
