// Package soql parses and evaluates the subset of SOQL (Salesforce Object Query
// Language) that the simulator answers on /query and /queryAll.
//
// Parse (or ParseAt, with an explicit clock) turns one SELECT statement into a
// Query. Query.Where is an Expr that the simulator evaluates per record through
// a Resolver, which looks up field values; Compare and SortRecords implement
// ORDER BY. The package knows nothing about schemas: the caller checks that the
// object and every field in Query.AllFields exist before evaluating, and
// reports unknown ones as INVALID_TYPE / INVALID_FIELD itself.
//
// # Supported statements
//
//	SELECT field [, field …] FROM Object
//	    [WHERE condition]
//	    [ORDER BY field [ASC|DESC] [NULLS FIRST|NULLS LAST] [, …]]
//	    [LIMIT n]
//	    [OFFSET n]
//
//	SELECT COUNT() FROM Object [WHERE …] [LIMIT n] [OFFSET n]
//
// Keywords are case-insensitive; identifiers keep the case they were written
// in. Fields may be relationship paths (Account.Owner.Name). Salesforce's
// reserved words (AND, ASC, DESC, EXCLUDES, FIRST, FROM, GROUP, HAVING, IN,
// INCLUDES, LAST, LIKE, LIMIT, NOT, NULL, NULLS, OR, SELECT, WHERE, WITH)
// cannot name a field unless a dot follows (Group.Name), nor the object,
// except Group. Whitespace,
// including newlines, may appear between any two tokens. A trailing semicolon
// is not SOQL and is rejected. COUNT() must be the only element of the SELECT
// list and cannot be combined with ORDER BY, as in Salesforce. Selecting the
// same field twice (compared case-insensitively) is rejected with
// "duplicate field selected: X", as in Salesforce.
//
// A condition is a field expression, a parenthesised condition, NOT followed
// by one of those, or a chain of them joined by AND only or by OR only.
// Salesforce requires parentheses whenever AND, OR and NOT are mixed
// ("a AND b OR c" and "a AND NOT b" are errors; write "(a AND b) OR c" and
// "a AND (NOT b)"), and so does this package: accepting them would let a
// client pass its tests here and fail against a real org. Nesting deeper than
// MaxDepth parentheses is rejected.
//
// Field expressions are
//
//	field = value      field != value     field <> value
//	field < value      field <= value     field > value     field >= value
//	field LIKE 'pattern'
//	field IN (value, …)                   field NOT IN (value, …)
//
// and values are
//
//	'text'                single-quoted; escapes \' \" \\ \n \r \t \b \f (also
//	                      upper-case \N \R \T \B \F), and \% \_ which mean a
//	                      literal % or _ in a LIKE pattern (elsewhere they stay
//	                      as the two characters); any other escape is an error
//	42  -7  3.25          numbers, optionally signed
//	true  false  null     case-insensitive
//	2024-01-31            a date
//	2024-01-31T10:00:00Z  a datetime; the zone is required: Z, ±hh:mm or ±hhmm,
//	                      with optional fractional seconds (…:00.000+0000)
//	TODAY YESTERDAY TOMORROW LAST_N_DAYS:n NEXT_N_DAYS:n N_DAYS_AGO:n
//	LAST_90_DAYS NEXT_90_DAYS THIS_MONTH LAST_MONTH NEXT_MONTH
//	THIS_YEAR LAST_YEAR NEXT_YEAR
//	                      relative date literals, each a range of whole days
//	                      computed in UTC from the clock given to ParseAt
//	                      (Parse uses time.Now); LAST_N_DAYS:n covers today and
//	                      the n days before it, NEXT_N_DAYS:n the n days after
//	                      today, as Salesforce documents
//
// Everything else Salesforce accepts (GROUP BY, HAVING, aggregate functions
// other than COUNT(), date functions, FIELDS(), TYPEOF, subqueries and
// semi-joins, INCLUDES/EXCLUDES, WITH, USING SCOPE, FOR UPDATE, ALL ROWS,
// aliases, bind variables, week, quarter and fiscal date literals) is
// rejected with a ParseError naming the feature.
//
// # Errors
//
// Parse returns a *ParseError whose Msg reads like the message of a
// MALFORMED_QUERY error: "unexpected token: 'FORM'", "unexpected token:
// '<EOF>'", "expecting a right parentheses, found 'LIMIT'", or for a
// character that starts no token, "line 1:17 no viable alternative at
// character '#'" (line 1-based, column 0-based, as Salesforce prints them).
// ParseError.Detail renders the multi-line form Salesforce sends, with the
// query line, a caret and "ERROR at Row:1:Column:18".
//
// # Evaluation rules
//
// A Resolver yields nil, string, float64 or bool (other Go integer and float
// types are accepted and treated as numbers). Dates are "2006-01-02" strings
// and datetimes "2006-01-02T15:04:05.000+0000" strings; "Z" and "+hh:mm"
// offsets are understood too.
//
//   - Null: Salesforce stores an empty text value as null, so the empty string
//     and nil are the same value here, and the empty string literal means
//     null (see the examples after this list). Logic is two-valued, as in
//     SOQL and unlike SQL: a null field is unequal to every non-null value, so
//     != and NOT IN are true for it, while =, IN, <, <=, >, >= and LIKE are
//     false.
//   - Text compares case-insensitively (each rune folded to its lower-case
//     form), for =, !=, IN and for ordering; LIKE is case-insensitive too,
//     with % matching any run of characters (including none) and _ exactly
//     one. Text that parses as a date or datetime compares chronologically
//     with other such text.
//   - Numbers compare numerically. A text value compared with a number (or a
//     number with a quoted literal) compares numerically when the text is a
//     plain decimal number ("42", "-3.5"); otherwise the two are simply
//     unequal.
//   - Booleans compare only with booleans; false < true.
//   - Date literals (2024-01-31 and the relative ones) are ranges of whole
//     UTC days. A field value inside the range is "=" to it, "<" means before
//     the first day, ">" after the last, "<=" not after the last and ">=" not
//     before the first. A datetime value is reduced to its UTC date for this,
//     so "CreatedDate = 2024-01-31" matches any time that day and
//     "CreatedDate > 2024-01-31" starts on 1 February. (Salesforce itself
//     rejects a plain date literal on a datetime field; the simulator is
//     lenient here.)
//   - A datetime literal compares as an instant with a datetime value, and by
//     its UTC date with a date value.
//   - Values of different kinds that none of the rules above relate (a bool
//     and a number, text that is not a date and a date literal) are unequal:
//     "=" is false, "!=" true, and the ordering operators false.
//
// For example:
//
//	Name nil or "":  true:  Name = null, Name = '', Name != 'x', Name NOT IN ('x')
//	                 false: Name != null, Name = 'x', Name < 'x', Name LIKE '%'
//	Name "Acme":     true:  Name > '', Name = 'ACME', Name LIKE 'a%'
//
// Compare, used for ORDER BY, applies the same rules and, to stay a total
// order, ranks values of unrelated kinds as null < bool < number < text.
// SortRecords sorts stably; NULLS FIRST is the default for ASC and NULLS
// LAST for DESC, as in Salesforce.
package soql
