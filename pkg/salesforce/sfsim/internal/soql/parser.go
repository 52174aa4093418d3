package soql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxDepth is the deepest nesting of parentheses a WHERE clause may have.
const MaxDepth = 100

// ParseError reports a query that is not in the supported subset of SOQL.
type ParseError struct {
	Pos int    // byte offset in the input
	Msg string // e.g. "unexpected token: 'FORM'"
}

// Error returns Msg, which reads like the message of a Salesforce
// MALFORMED_QUERY error.
func (e *ParseError) Error() string { return e.Msg }

// Detail returns the error in the multi-line form Salesforce sends for
// MALFORMED_QUERY: the line of query holding the error, a caret under the
// error, its 1-based row and column, and Msg. query must be the string that
// was parsed.
func (e *ParseError) Detail(query string) string {
	pos := min(max(e.Pos, 0), len(query))
	start := strings.LastIndexByte(query[:pos], '\n') + 1
	end := strings.IndexByte(query[pos:], '\n')
	if end < 0 {
		end = len(query)
	} else {
		end += pos
	}
	line, col := lineCol(query, pos)
	return fmt.Sprintf("\n%s\n%s^\nERROR at Row:%d:Column:%d\n%s",
		query[start:end], strings.Repeat(" ", col), line, col+1, e.Msg)
}

// Query is a parsed SELECT statement.
type Query struct {
	Object  string      // as written in FROM
	Fields  []Field     // the SELECT list in order; empty when Count is true
	Count   bool        // SELECT COUNT()
	Where   Expr        // nil when there is no WHERE
	OrderBy []OrderItem // empty when there is no ORDER BY
	Limit   int         // -1 when absent
	Offset  int         // 0 when absent
}

// Field is a (possibly relationship) field path: "Name" is ["Name"],
// "Parent.Owner.Name" is ["Parent", "Owner", "Name"].
type Field struct{ Path []string }

// String returns the path joined with ".".
func (f Field) String() string { return strings.Join(f.Path, ".") }

// OrderItem is one key of ORDER BY.
type OrderItem struct {
	Field Field
	Desc  bool
	// NullsLast places nulls after other values. It is false (NULLS FIRST)
	// by default for ASC and true (NULLS LAST) for DESC, as in Salesforce;
	// an explicit NULLS FIRST or NULLS LAST overrides the default.
	NullsLast bool
}

func (o OrderItem) String() string {
	s := o.Field.String()
	if o.Desc {
		s += " DESC"
	} else {
		s += " ASC"
	}
	if o.NullsLast {
		return s + " NULLS LAST"
	}
	return s + " NULLS FIRST"
}

// Match reports whether the record r resolves fields for satisfies the WHERE
// clause; it is true when there is none.
func (q *Query) Match(r Resolver) (bool, error) {
	if q.Where == nil {
		return true, nil
	}
	return q.Where.Eval(r)
}

// AllFields returns every field the query reads, for up-front validation: the
// SELECT list, then the WHERE clause, then ORDER BY, repeats included.
func (q *Query) AllFields() []Field {
	out := append([]Field(nil), q.Fields...)
	if q.Where != nil {
		out = append(out, q.Where.Fields()...)
	}
	for _, o := range q.OrderBy {
		out = append(out, o.Field)
	}
	return out
}

// String returns the query as SOQL in a canonical form, which parses back to
// an equal Query (given the same clock, for relative date literals).
func (q *Query) String() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if q.Count {
		b.WriteString("COUNT()")
	}
	for i, f := range q.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.String())
	}
	b.WriteString(" FROM ")
	b.WriteString(q.Object)
	if q.Where != nil {
		b.WriteString(" WHERE ")
		b.WriteString(exprString(q.Where))
	}
	for i, o := range q.OrderBy {
		if i == 0 {
			b.WriteString(" ORDER BY ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(o.String())
	}
	if q.Limit >= 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.Limit)
	}
	if q.Offset > 0 {
		fmt.Fprintf(&b, " OFFSET %d", q.Offset)
	}
	return b.String()
}

// Parse parses one SOQL SELECT statement of the supported subset, evaluating
// relative date literals such as TODAY against time.Now. On failure it returns
// a *ParseError. Use ParseAt where the clock matters.
func Parse(s string) (*Query, error) {
	return ParseAt(s, time.Now())
}

// ParseAt is Parse with relative date literals (TODAY, LAST_N_DAYS:n, …)
// evaluated at now, in UTC.
func ParseAt(s string, now time.Time) (*Query, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if toks[0].kind == tEOF {
		return nil, &ParseError{Pos: 0, Msg: "SOQL statements cannot be empty or null"}
	}
	p := parser{toks: toks, today: dayOf(now)}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	return q, nil
}

type parser struct {
	toks  []token
	i     int
	today int64 // UTC day number of the clock
	depth int   // parentheses open in WHERE
}

func (p *parser) peek() *token { return &p.toks[p.i] }

// peekAt returns the token n places ahead, or the final tEOF.
func (p *parser) peekAt(n int) *token { return &p.toks[min(p.i+n, len(p.toks)-1)] }

func (p *parser) next() *token {
	t := &p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func isKeyword(t *token, kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func errAt(t *token, format string, args ...any) *ParseError {
	return &ParseError{Pos: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func unexpected(t *token) *ParseError {
	return errAt(t, "unexpected token: '%s'", t.display())
}

// reserved words cannot name a field unless a dot follows (Group.Name), nor
// the object, except Group. This is Salesforce's list of reserved keywords;
// ORDER and BY are absent because Order is an object.
var reserved = []string{
	"AND", "ASC", "DESC", "EXCLUDES", "FIRST", "FROM", "GROUP", "HAVING", "IN",
	"INCLUDES", "LAST", "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OR", "SELECT",
	"WHERE", "WITH",
}

func isReserved(t *token) bool {
	for _, kw := range reserved {
		if isKeyword(t, kw) {
			return true
		}
	}
	return false
}

// unsupportedClauses name the clauses of SOQL this package does not implement.
var unsupportedClauses = []struct{ keyword, msg string }{
	{"GROUP", "GROUP BY is not supported"},
	{"HAVING", "HAVING is not supported"},
	{"WITH", "WITH is not supported"},
	{"USING", "USING SCOPE is not supported"},
	{"FOR", "FOR VIEW, FOR REFERENCE and FOR UPDATE are not supported"},
	{"ALL", "ALL ROWS is not supported"},
	{"UPDATE", "UPDATE TRACKING and UPDATE VIEWSTAT are not supported"},
	{"TYPEOF", "TYPEOF is not supported"},
}

// unexpectedClause reports t where a clause or the end of the query belongs.
func unexpectedClause(t *token) *ParseError {
	for _, c := range unsupportedClauses {
		if isKeyword(t, c.keyword) {
			return errAt(t, "%s", c.msg)
		}
	}
	return unexpected(t)
}

func (p *parser) query() (*Query, *ParseError) {
	if t := p.next(); !isKeyword(t, "SELECT") {
		return nil, unexpected(t)
	}
	q := &Query{Limit: -1}
	if err := p.selectList(q); err != nil {
		return nil, err
	}
	if t := p.next(); !isKeyword(t, "FROM") {
		return nil, unexpected(t)
	}
	obj := p.next()
	if obj.kind != tIdent || isReserved(obj) && !isKeyword(obj, "GROUP") { // Group is an object
		return nil, unexpected(obj)
	}
	q.Object = obj.text

	if isKeyword(p.peek(), "WHERE") {
		p.next()
		where, err := p.logical()
		if err != nil {
			return nil, err
		}
		q.Where = where
	}
	if t := p.peek(); isKeyword(t, "ORDER") {
		if q.Count {
			return nil, errAt(t, "ORDER BY is not allowed in a COUNT() query")
		}
		p.next()
		if t := p.next(); !isKeyword(t, "BY") {
			return nil, unexpected(t)
		}
		if err := p.orderBy(q); err != nil {
			return nil, err
		}
	}
	if isKeyword(p.peek(), "LIMIT") {
		p.next()
		n, err := p.count("LIMIT")
		if err != nil {
			return nil, err
		}
		q.Limit = n
	}
	if isKeyword(p.peek(), "OFFSET") {
		p.next()
		n, err := p.count("OFFSET")
		if err != nil {
			return nil, err
		}
		q.Offset = n
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, unexpectedClause(t)
	}
	return q, nil
}

// count reads the non-negative integer after LIMIT or OFFSET.
func (p *parser) count(clause string) (int, *ParseError) {
	t := p.next()
	if t.kind == tNumber {
		if _, ok := digits(t.text); ok {
			if n, err := strconv.ParseInt(t.text, 10, 32); err == nil {
				return int(n), nil
			}
			return 0, errAt(t, "%s %s is too large", clause, t.text)
		}
	}
	return 0, errAt(t, "expecting a non-negative integer after %s, found '%s'", clause, t.display())
}

func (p *parser) selectList(q *Query) *ParseError {
	var countTok *token
	var dups fieldSet
	items := 0
	for {
		t := p.peek()
		switch {
		case t.kind == tLParen:
			if isKeyword(p.peekAt(1), "SELECT") {
				return errAt(t, "subqueries are not supported")
			}
			return unexpected(t)
		case isKeyword(t, "TYPEOF"):
			return errAt(t, "TYPEOF is not supported")
		case t.kind == tIdent && p.peekAt(1).kind == tLParen:
			if !isKeyword(t, "COUNT") || p.peekAt(2).kind != tRParen {
				return functionError(t)
			}
			countTok = t
			p.i += 3
			q.Count = true
		default:
			f, err := p.field()
			if err != nil {
				return err
			}
			if !dups.add(f) {
				return errAt(t, "duplicate field selected: %s", f)
			}
			q.Fields = append(q.Fields, f)
		}
		items++
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if countTok != nil && items > 1 {
		return errAt(countTok, "COUNT() must be the only element in the SELECT list")
	}
	return nil
}

// fieldSet is a set of fields compared case-insensitively (names are ASCII).
// It scans a short list and indexes a long one, so that a SELECT list of
// thousands of fields is not checked in quadratic time.
type fieldSet struct {
	list  []Field
	index map[string]struct{} // lower-case paths, once list is long
}

const fieldSetScan = 16 // the longest list scanned

// add adds f and reports whether it was new.
func (s *fieldSet) add(f Field) bool {
	if s.index == nil && len(s.list) < fieldSetScan {
		for _, g := range s.list {
			if sameField(f, g) {
				return false
			}
		}
		s.list = append(s.list, f)
		return true
	}
	if s.index == nil {
		s.index = make(map[string]struct{}, 2*fieldSetScan)
		for _, g := range s.list {
			s.index[strings.ToLower(g.String())] = struct{}{}
		}
	}
	k := strings.ToLower(f.String())
	if _, ok := s.index[k]; ok {
		return false
	}
	s.index[k] = struct{}{}
	return true
}

func sameField(f, g Field) bool {
	if len(f.Path) != len(g.Path) {
		return false
	}
	for i := range f.Path {
		if !strings.EqualFold(f.Path[i], g.Path[i]) {
			return false
		}
	}
	return true
}

// aggregates are SOQL's aggregate functions; COUNT() is the only one supported.
var aggregates = []string{"AVG", "COUNT", "COUNT_DISTINCT", "MAX", "MIN", "SUM"}

// functionError reports a function call, name(…), which t starts.
func functionError(t *token) *ParseError {
	if isKeyword(t, "FIELDS") {
		return errAt(t, "FIELDS() is not supported")
	}
	for _, a := range aggregates {
		if isKeyword(t, a) {
			return errAt(t, "aggregate functions other than COUNT() are not supported: %s()", strings.ToUpper(t.text))
		}
	}
	return errAt(t, "functions are not supported: %s()", t.text)
}

// field reads a field path: names separated by dots, the first of which is
// not a reserved word unless a dot follows it.
func (p *parser) field() (Field, *ParseError) {
	t := p.next()
	if t.kind != tIdent || isReserved(t) && p.peek().kind != tDot {
		return Field{}, unexpected(t)
	}
	n := 1 // the number of names, to size path
	for p.peekAt(2*n-2).kind == tDot {
		n++
	}
	path := make([]string, 1, n)
	path[0] = t.text
	for p.peek().kind == tDot {
		p.next()
		t := p.next()
		if t.kind != tIdent {
			return Field{}, unexpected(t)
		}
		path = append(path, t.text)
	}
	return Field{Path: path}, nil
}

func (p *parser) orderBy(q *Query) *ParseError {
	for {
		if t := p.peek(); t.kind == tIdent && p.peekAt(1).kind == tLParen {
			return functionError(t)
		}
		f, err := p.field()
		if err != nil {
			return err
		}
		item := OrderItem{Field: f}
		switch t := p.peek(); {
		case isKeyword(t, "ASC"):
			p.next()
		case isKeyword(t, "DESC"):
			p.next()
			item.Desc = true
		}
		item.NullsLast = item.Desc
		if isKeyword(p.peek(), "NULLS") {
			p.next()
			switch t := p.next(); {
			case isKeyword(t, "FIRST"):
				item.NullsLast = false
			case isKeyword(t, "LAST"):
				item.NullsLast = true
			default:
				return unexpected(t)
			}
		}
		q.OrderBy = append(q.OrderBy, item)
		if p.peek().kind != tComma {
			return nil
		}
		p.next()
	}
}

// logical reads a WHERE condition:
//
//	logical   = NOT condition
//	          | condition { AND condition }
//	          | condition { OR condition }
//	condition = "(" logical ")" | fieldExpr
//
// which is how Salesforce forces parentheses wherever AND, OR and NOT mix.
func (p *parser) logical() (Expr, *ParseError) {
	if isKeyword(p.peek(), "NOT") {
		p.next()
		x, err := p.condition()
		if err != nil {
			return nil, err
		}
		if t := p.peek(); isKeyword(t, "AND") || isKeyword(t, "OR") {
			return nil, errAt(t, "unexpected token: '%s' (put NOT and its condition in parentheses to combine them with %s)",
				t.text, strings.ToUpper(t.text))
		}
		return &NotExpr{X: x}, nil
	}
	first, err := p.condition()
	if err != nil {
		return nil, err
	}
	var op, other string
	switch t := p.peek(); {
	case isKeyword(t, "AND"):
		op, other = "AND", "OR"
	case isKeyword(t, "OR"):
		op, other = "OR", "AND"
	default:
		return first, nil
	}
	terms := []Expr{first}
	for isKeyword(p.peek(), op) {
		p.next()
		if t := p.peek(); isKeyword(t, "NOT") {
			return nil, errAt(t, "unexpected token: '%s' (put NOT and its condition in parentheses to combine them with %s)", t.text, op)
		}
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		terms = append(terms, c)
	}
	if t := p.peek(); isKeyword(t, other) {
		return nil, errAt(t, "unexpected token: '%s' (parentheses are required when mixing AND and OR)", t.text)
	}
	if op == "AND" {
		return &AndExpr{Terms: terms}, nil
	}
	return &OrExpr{Terms: terms}, nil
}

func (p *parser) condition() (Expr, *ParseError) {
	t := p.peek()
	if t.kind != tLParen {
		return p.fieldExpr()
	}
	if p.depth >= MaxDepth {
		return nil, errAt(t, "conditions are nested too deeply (more than %d levels of parentheses)", MaxDepth)
	}
	p.next()
	p.depth++
	x, err := p.logical()
	p.depth--
	if err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != tRParen {
		return nil, errAt(t, "expecting a right parentheses, found '%s'", t.display())
	}
	return x, nil
}

func (p *parser) fieldExpr() (Expr, *ParseError) {
	if t := p.peek(); t.kind == tIdent && p.peekAt(1).kind == tLParen {
		return nil, functionError(t)
	}
	f, err := p.field()
	if err != nil {
		return nil, err
	}
	t := p.next()
	var op Op
	switch t.kind {
	case tEq:
		op = OpEq
	case tNe:
		op = OpNe
	case tLt:
		op = OpLt
	case tLe:
		op = OpLe
	case tGt:
		op = OpGt
	case tGe:
		op = OpGe
	case tIdent:
		switch {
		case isKeyword(t, "LIKE"):
			v := p.next()
			if v.kind != tString {
				return nil, errAt(v, "LIKE needs a quoted string pattern, found '%s'", v.display())
			}
			return &LikeExpr{Field: f, Pattern: stringLiteral(v.text), elems: compileLike(v.text[1 : len(v.text)-1])}, nil
		case isKeyword(t, "IN"):
			return p.inList(f, false)
		case isKeyword(t, "NOT"):
			if in := p.next(); !isKeyword(in, "IN") {
				return nil, unexpected(in)
			}
			return p.inList(f, true)
		case isKeyword(t, "INCLUDES"), isKeyword(t, "EXCLUDES"):
			return nil, errAt(t, "INCLUDES and EXCLUDES are not supported")
		}
		return nil, unexpected(t)
	default:
		return nil, unexpected(t)
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	return &CompareExpr{Field: f, Op: op, Value: v}, nil
}

func (p *parser) inList(f Field, not bool) (Expr, *ParseError) {
	t := p.next()
	if t.kind != tLParen {
		return nil, errAt(t, "expecting a left parentheses, found '%s'", t.display())
	}
	if isKeyword(p.peek(), "SELECT") {
		return nil, errAt(p.peek(), "semi-join and anti-join subqueries are not supported")
	}
	e := &InExpr{Field: f, Not: not}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		e.Values = append(e.Values, v)
		switch t := p.next(); t.kind {
		case tComma:
		case tRParen:
			return e, nil
		default:
			return nil, errAt(t, "expecting a right parentheses, found '%s'", t.display())
		}
	}
}

// value reads a literal.
func (p *parser) value() (Literal, *ParseError) {
	t := p.next()
	switch t.kind {
	case tString:
		return stringLiteral(t.text), nil
	case tNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(f, 0) {
			return Literal{}, errAt(t, "number out of range: %s", t.text)
		}
		return numberLiteral(t.text, f), nil
	case tDate, tDateTime:
		tm, _ := parseTemporal(t.text, true) // checked by the lexer
		if tm.dateOnly {
			d := tm.day()
			return dateLiteral(t.text, d, d), nil
		}
		return dateTimeLiteral(t.text, tm.t), nil
	case tColon:
		return Literal{}, errAt(t, "Bind variables only allowed in Apex code")
	case tLParen:
		if isKeyword(p.peek(), "SELECT") {
			return Literal{}, errAt(t, "subqueries are not supported")
		}
	case tIdent:
		return p.wordValue(t)
	}
	return Literal{}, unexpected(t)
}

// relativeDates are the relative date literals without a parameter, as
// functions of today's day number returning the range of days.
var relativeDates = map[string]func(today int64) (from, to int64){
	"TODAY":        func(d int64) (int64, int64) { return d, d },
	"YESTERDAY":    func(d int64) (int64, int64) { return d - 1, d - 1 },
	"TOMORROW":     func(d int64) (int64, int64) { return d + 1, d + 1 },
	"LAST_90_DAYS": func(d int64) (int64, int64) { return d - 90, d },
	"NEXT_90_DAYS": func(d int64) (int64, int64) { return d + 1, d + 90 },
	"THIS_MONTH":   func(d int64) (int64, int64) { return monthRange(d, 0) },
	"LAST_MONTH":   func(d int64) (int64, int64) { return monthRange(d, -1) },
	"NEXT_MONTH":   func(d int64) (int64, int64) { return monthRange(d, 1) },
	"THIS_YEAR":    func(d int64) (int64, int64) { return yearRange(d, 0) },
	"LAST_YEAR":    func(d int64) (int64, int64) { return yearRange(d, -1) },
	"NEXT_YEAR":    func(d int64) (int64, int64) { return yearRange(d, 1) },
}

// relativeDatesN are the relative date literals that take ":n".
var relativeDatesN = map[string]func(today, n int64) (from, to int64){
	"LAST_N_DAYS": func(d, n int64) (int64, int64) { return d - n, d },
	"NEXT_N_DAYS": func(d, n int64) (int64, int64) { return d + 1, d + n },
	"N_DAYS_AGO":  func(d, n int64) (int64, int64) { return d - n, d - n },
}

// unsupportedDates are Salesforce's other date literals.
var unsupportedDates = []string{
	"LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "THIS_QUARTER", "LAST_QUARTER", "NEXT_QUARTER",
	"NEXT_N_WEEKS", "LAST_N_WEEKS", "N_WEEKS_AGO", "NEXT_N_MONTHS", "LAST_N_MONTHS", "N_MONTHS_AGO",
	"NEXT_N_QUARTERS", "LAST_N_QUARTERS", "N_QUARTERS_AGO", "NEXT_N_YEARS", "LAST_N_YEARS", "N_YEARS_AGO",
	"THIS_FISCAL_QUARTER", "LAST_FISCAL_QUARTER", "NEXT_FISCAL_QUARTER",
	"NEXT_N_FISCAL_QUARTERS", "LAST_N_FISCAL_QUARTERS", "N_FISCAL_QUARTERS_AGO",
	"THIS_FISCAL_YEAR", "LAST_FISCAL_YEAR", "NEXT_FISCAL_YEAR",
	"NEXT_N_FISCAL_YEARS", "LAST_N_FISCAL_YEARS", "N_FISCAL_YEARS_AGO",
}

// maxRelativeDays bounds n in LAST_N_DAYS:n and its kin (about 27,000 years).
const maxRelativeDays = 10_000_000

// wordValue reads a literal written as a word: true, false, null or a
// relative date literal.
func (p *parser) wordValue(t *token) (Literal, *ParseError) {
	switch {
	case isKeyword(t, "NULL"):
		return Literal{Kind: KindNull, Text: t.text}, nil
	case isKeyword(t, "TRUE"):
		return boolLiteral(t.text, true), nil
	case isKeyword(t, "FALSE"):
		return boolLiteral(t.text, false), nil
	}
	if len(t.text) > 32 {
		return Literal{}, unexpected(t)
	}
	name := strings.ToUpper(t.text)
	if f, ok := relativeDates[name]; ok {
		from, to := f(p.today)
		return dateLiteral(name, from, to), nil
	}
	if f, ok := relativeDatesN[name]; ok {
		if c := p.next(); c.kind != tColon {
			return Literal{}, errAt(c, "expecting a colon, found '%s'", c.display())
		}
		nt := p.next()
		n, ok := digits(nt.text)
		if nt.kind != tNumber || !ok || len(nt.text) > 9 || n > maxRelativeDays {
			return Literal{}, errAt(nt, "expecting a number of days from 0 to %d after %s:, found '%s'", maxRelativeDays, name, nt.display())
		}
		from, to := f(p.today, int64(n))
		return dateLiteral(name+":"+nt.text, from, to), nil
	}
	for _, u := range unsupportedDates {
		if name == u {
			return Literal{}, errAt(t, "date literal %s is not supported", name)
		}
	}
	return Literal{}, unexpected(t)
}

// monthRange returns the first and last day of the month delta months from
// the one holding day.
func monthRange(day int64, delta int) (int64, int64) {
	y, m, _ := dayTime(day).Date()
	first := time.Date(y, m+time.Month(delta), 1, 0, 0, 0, 0, time.UTC)
	return dayOf(first), dayOf(first.AddDate(0, 1, 0)) - 1
}

// yearRange returns the first and last day of the year delta years from the
// one holding day.
func yearRange(day int64, delta int) (int64, int64) {
	y := dayTime(day).Year() + delta
	first := time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC)
	return dayOf(first), dayOf(first.AddDate(1, 0, 0)) - 1
}
