// Package messages holds Kinetic's wire contracts on NATS JetStream: the
// subjects and streams, the headers a record carries, the batch-result and
// dead-letter envelopes, and a small publishing API for upstream systems.
//
// # Records
//
// A record on the wire is the source record as a plain JSON object, so any
// NATS client can publish one:
//
//	nats pub kinetic.records.Account.upsert '{"ext_id":"A-1","company":"Acme"}'
//
// Metadata travels in headers (Kinetic-Job, Kinetic-Seq, Kinetic-Key,
// Nats-Msg-Id for deduplication). All are optional; a record without a job
// belongs to no job and is still loaded.
//
// # Envelopes
//
// BatchResult (one per worker batch and job, on <prefix>.results.<pipeline>.<job>)
// is a versioned JSON object ("v": 1). DeadLetter (one per failed record, on
// <prefix>.dlq.<pipeline>.<sobject>.<mode>) is the original payload as the
// message body with a versioned JSON envelope in the Kinetic-Dead-Letter
// header. Decoding is strict: malformed input is a *DecodeError, an unknown
// version a *VersionError, unknown fields an error; nothing is guessed.
package messages
