package soql_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim/internal/soql"
)

// record is a stored record; fields resolve case-insensitively, as Salesforce
// field names do.
type record map[string]any

func (r record) resolve(path []string) (any, bool) {
	v, ok := r[strings.ToLower(strings.Join(path, "."))]
	return v, ok
}

func ExampleParseAt() {
	now := time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)
	q, err := soql.ParseAt("SELECT Id, Name FROM Account WHERE Industry IN ('Energy', 'Banking') AND CreatedDate = LAST_N_DAYS:7", now)
	if err != nil {
		panic(err)
	}
	fmt.Println(q.Object, q.Fields, q.Limit)

	for _, r := range []record{
		{"id": "001A", "name": "Acme", "industry": "energy", "createddate": "2024-03-10T09:30:00.000+0000"},
		{"id": "001B", "name": "Globex", "industry": "Energy", "createddate": "2024-01-02T09:30:00.000+0000"},
		{"id": "001C", "name": "Initech", "industry": nil, "createddate": "2024-03-14T17:00:00.000+0000"},
	} {
		ok, err := q.Match(r.resolve)
		fmt.Println(r["name"], ok, err)
	}
	// Output:
	// Account [Id Name] -1
	// Acme true <nil>
	// Globex false <nil>
	// Initech false <nil>
}

func ExampleSortRecords() {
	q, err := soql.Parse("SELECT Name FROM Contact ORDER BY LastName DESC, FirstName")
	if err != nil {
		panic(err)
	}
	recs := []record{
		{"firstname": "Ada", "lastname": "lovelace"},
		{"firstname": "Alan", "lastname": nil},
		{"firstname": "Grace", "lastname": "Hopper"},
		{"firstname": "Augusta", "lastname": "Lovelace"},
	}
	if err := soql.SortRecords(recs, q.OrderBy, func(r record) soql.Resolver { return r.resolve }); err != nil {
		panic(err)
	}
	for _, r := range recs {
		fmt.Println(r["firstname"], r["lastname"])
	}
	// Output:
	// Ada lovelace
	// Augusta Lovelace
	// Grace Hopper
	// Alan <nil>
}

func ExampleParseError_Detail() {
	query := "SELECT Id FROM Account WHERE Name = 'Acme' AND Type = 'Customer' OR Rating = 'Hot'"
	_, err := soql.Parse(query)
	var pe *soql.ParseError
	if errors.As(err, &pe) {
		fmt.Println(pe.Detail(query))
	}
	// Output:
	// SELECT Id FROM Account WHERE Name = 'Acme' AND Type = 'Customer' OR Rating = 'Hot'
	//                                                                  ^
	// ERROR at Row:1:Column:66
	// unexpected token: 'OR' (parentheses are required when mixing AND and OR)
}
