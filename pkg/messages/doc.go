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
// A change of a record with a key (the external id of an upsert, the Id of
// an update or delete) goes to the keyed subject, the unkeyed one plus
// KeyToken(key), so that the key's changes load in the order published:
//
//	nats pub kinetic.records.Account.upsert.acc-1 '{"ext_id":"ACC-1","company":"Acme"}'
//
// # Publishing from Go
//
// Publisher publishes with bounded pipelining, retries with the same
// Nats-Msg-Id, and typed failures:
//
//	pub := messages.NewPublisher(js, messages.PublisherOptions{})
//	base := messages.Subjects{}.Records("Account", "upsert")
//	key, kerr := pc.Key(record) // *pipeline.PipelineConfig: the key the worker will see
//	if kerr != nil {
//		// publish unkeyed (PublishAsync to base): the worker dead-letters it with kerr.Code
//	}
//	err := pub.PublishKeyedAsync(ctx, base, key, data, messages.RecordMeta{Job: job, Seq: seq})
//	…
//	err = pub.Flush(ctx) // the records that could not be published, each a *PublishError
//
// PublishKeyedAsync keeps each key's changes in order even across retries;
// inserts, which have no key, use PublishAsync. A failure that can pass (no
// ack in time, an election, a reconnection) is retried on a backoff/v4
// schedule (PublisherOptions.Retries or BackOff); a permanent one (the
// message is over max_payload or the stream's max_msg_size, no stream takes
// the subject, permission denied, the stream is full and discards new
// messages) is reported at once with PublishError.Permanent set.
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
