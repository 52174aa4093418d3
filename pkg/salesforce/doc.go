// Package salesforce is a client for the Salesforce REST API as Kinetic uses
// it: OAuth 2.0 JWT bearer (and, for development, username-password)
// authentication, sObject Collections, single-record calls, SOQL queries and
// Bulk API 2.0 ingest. It is written against Salesforce's documented wire
// format (docs/simulator.md and shared/reference/salesforce-api.md) and runs
// unchanged against a real org or against the simulator in package sfsim.
//
// # Authentication
//
// New builds a Client from a Config (flags and SF_* environment variables map
// onto it; see RegisterFlags). The first call signs a JWT assertion (RS256;
// iss = consumer key, sub = username, aud = login URL, exp = now + 3 min),
// exchanges it for an access token and caches the token for every goroutine.
// When a call answers 401 INVALID_SESSION_ID the client requests one new token
// — single flight: one request however many goroutines saw the 401 — and
// retries the call once. A refused assertion is an *AuthError naming the
// cause (invalid_grant: "audience is invalid", …). Tokens and keys are never
// logged; Token.String redacts the access token.
//
// # Calls
//
// Insert, Update, Upsert and Delete use sObject Collections: up to 200
// records a call, larger inputs split into 200-record calls of which up to
// Config.MaxConcurrency run at once. Each call is one attempt: retrying with
// backoff is the caller's policy (package pipeline does it), so that retries
// are counted and never re-send records Salesforce already accepted. Results
// come back in input order as SaveResult{ID, Success, Created, Errors}.
//
// Query returns a QueryIterator that fetches pages lazily through
// nextRecordsUrl. BulkIngest runs a whole Bulk API 2.0 job and correlates
// every result row back to its input index.
//
// # Describe
//
// Describe reads an object's describe (fields, types, lengths, createable
// and updateable, external ids, picklist values, relationships) and caches
// it per object for Config.DescribeTTL (SF_DESCRIBE_TTL, default 15m);
// goroutines asking for the same object at once share one request, and
// RefreshDescribe reads it again at once. DescribeGlobal lists the org's
// objects. An unknown object is an *APIError with Code NOT_FOUND.
//
// # Errors
//
// Failed calls return *APIError (HTTP status, errorCode, message, fields);
// failed records carry SaveError; the token endpoint returns *AuthError.
// Classify sorts any error into a Class (transient, session expired, rate
// limited, retryable record, permanent record, permanent request, auth) with
// errors.As, never by matching text. Limits reports the org's API usage from
// the last Sforce-Limit-Info header.
//
// # HTTP
//
// One http.Client with keep-alive connections sized for the concurrency is
// shared by every call; each call runs under the caller's context plus
// Config.Timeout. net/http asks for gzip and decodes it transparently.
package salesforce
