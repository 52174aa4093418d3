// Package pipeline is Kinetic's map-and-load core: the original Python
// SyncPipeline (kinetic-core) as a Go library, with its vocabulary — modes,
// statuses, result fields, callbacks, batch size, stop-on-error,
// config-driven field mapping — and without its defects.
//
//	p, err := pipeline.New(pipeline.Options{
//		Client: client, SObject: "Account", Mode: pipeline.Upsert,
//		ExternalIDField: "External_Key__c", Mapper: mapper,
//	})
//	res, err := p.Sync(ctx, records)
//
// # What changed from the original
//
//   - Records go out 200 to a Collections call, several calls at once, not
//     one REST call per record.
//   - Transient failures (timeouts, 5xx) are retried with exponential backoff
//     and jitter; REQUEST_LIMIT_EXCEEDED pauses instead of failing; expired
//     sessions re-authenticate. Records failing with UNABLE_TO_LOCK_ROW are
//     retried alone; a record Salesforce accepted is never sent again.
//   - stop_on_error returns the partial SyncResult together with the error
//     (the original raised and lost it); records not attempted are counted
//     as skipped.
//   - A failing or panicking callback is reported in SyncResult.CallbackErrors
//     and never changes the counts (the original counted the record twice).
//   - A record whose mapping fails is a record error with code
//     KINETIC_MAPPING_FAILED (the original dropped it silently).
//   - An explicit null is not a missing key: missing takes the default or is
//     omitted; null is omitted unless insert_nulls sends it as null.
//   - The bool transform reads "false", "0", "no" as false (the original's
//     bool("false") was true); unknown transform names and bad expressions
//     fail when the config loads (the original ignored unknown names).
//   - An upsert that updates returns the existing record's id (the original
//     returned None).
//
// # Pieces
//
// FieldMapper applies mapping rules (rename, named transforms, expr-lang
// expressions, defaults, nested sources and relationship targets).
// LoadConfig reads a YAML pipelines file and FromConfig builds a Pipeline
// from one entry, as the original's from_config. Loader is the one loading
// path, shared with the JetStream worker (cmd/worker): it never touches
// messages and reports one Outcome per record.
//
// # Schema checks
//
// A pipeline built with a client is checked against its object's describe
// first (check.go): an unknown object or field, a field the mode cannot
// write, an upsert or relationship key that is not an external id fail New
// and FromConfig with a *SchemaError listing every problem. CheckPipeline is
// the worker's per-pipeline entry point, CheckConfig checks a whole file.
// Then Prepare checks each mapped record's values (values.go): a value
// Salesforce would refuse fails that record alone, before sending, with
// Salesforce's code (JSON_PARSER_ERROR, STRING_TOO_LONG, …) and
// RecordError.PreCheck set, instead of failing a 200-record request.
// docs/configuration.md ("Schema checks") has the rules and their sources.
//
// # Delivery
//
// Sync is at-least-once for INSERT in one respect: when a call times out
// after Salesforce applied it, the retry inserts again. UPDATE, UPSERT and
// DELETE are idempotent.
package pipeline
