// Package sfsim is an in-memory Salesforce org that speaks the REST wire
// format: the OAuth token endpoint (JWT bearer and password flows),
// single-record sObject calls, sObject Collections, SOQL queries with paging,
// and Bulk API 2.0 ingest. Every test, demo and benchmark of Kinetic talks to
// it instead of a real org; a client written for real Salesforce works
// against it unchanged. The specification, with every choice made where
// Salesforce's documentation is silent, is docs/simulator.md.
//
// # Use in tests
//
//	env := sfsim.StartTest(t, sfsim.Config{Schema: schema})
//	// env.URL is the login and instance URL; sign JWT assertions with
//	// env.PrivateKey (iss env.ClientID, sub env.Username), or call env.Token(t).
//	env.Server.Count("Account")    // run-time controls, also on env.Admin
//
// A Server is an http.Handler; New builds one and Close stops its bulk
// workers. cmd/sfsim serves one on a port.
//
// # The org
//
// Objects come from DefaultSchema (Account, Contact, Lead, Opportunity) merged
// with Config.Schema (see ParseSchema for the YAML format). Records are kept
// per object under one lock each, with indexes on unique and external-id
// fields; deleted records go to a recycle bin (queryAll sees them). Object
// and field names are case-insensitive; answers use the schema's spelling.
//
// # Faults and limits
//
// Faults (latency, 503s before or after the work, UNABLE_TO_LOCK_ROW per
// record, periodic session expiry) draw from one RNG seeded by Config.Seed.
// The daily API limit and the concurrent-call limit answer 403
// REQUEST_LIMIT_EXCEEDED; every data answer carries Sforce-Limit-Info.
//
// # Admin API
//
// Under /__admin/ (unauthenticated JSON): reset, counts, records, stats,
// faults, limits, session expiry and schema changes. AdminClient calls it from
// another process.
package sfsim
