// Package deadletter lists, inspects, replays and purges Kinetic's dead
// letters: the records workers could not load, kept in the dead-letter
// stream with the original payload and the error.
//
// The CLI (producer dlq) and the operator console both call this package,
// so they behave the same; it never prints. An Inspector is made once per
// connection:
//
//	nc, _ := nats.Connect(url, nats.ReconnectBufSize(-1)) // Replay needs no reconnect buffer
//	js, _ := jetstream.New(nc)
//	insp, err := deadletter.NewInspector(ctx, js, topo, deadletter.WithPipelines(cfg))
//
//	entries, err := insp.List(ctx, deadletter.Filter{Pipeline: "accounts", Code: "STRING_TOO_LONG"})
//	entry, err := insp.Get(ctx, seq)                 // one dead letter
//	status, err := insp.ReplayStatus(ctx, *entry)    // what the replays bucket says of it
//	preview, err := insp.Replay(ctx, f, deadletter.ReplayOptions{DryRun: true, By: "console:alice"})
//	report, err := insp.Replay(ctx, f, deadletter.ReplayOptions{By: "console:alice"})
//	n, err := insp.Purge(ctx, deadletter.Filter{Seqs: []uint64{42}})
//
// # Replay
//
// Replay publishes a dead letter at most once, however many times it runs,
// however far apart, and whatever fails in the middle, and its report says
// what happened to each dead letter (see Outcome).
//
// Where: a dead letter's own subject field is never trusted. It is
// republished, as its original bytes, to a record subject of one of the
// deployment's pipelines, rebuilt from the pipeline's configuration
// (WithPipelines): <prefix>.records.<SObject>.<mode>, plus the key token for
// a keyed record (checked; without the partition the records stream stored,
// which the stream computes again). Into another pipeline (ToPipeline), a
// record gets that pipeline's key, computed from the payload. Only
// Kinetic's record headers go with it (Kinetic-Job, Kinetic-Seq,
// Kinetic-Key), plus Kinetic-Replay-Of and a Nats-Msg-Id of the replay's;
// Nats-* headers and headers Kinetic does not define are dropped and named in
// the report. A dead letter failing a check is refused, never published.
//
// At most once: before publishing, a replay claims the dead letter in the
// replays bucket (ReplaysBucket: <PREFIX>_REPLAYS, key = the dead letter's
// stream sequence, no TTL) with a compare-and-set, then publishes, records
// the records-stream sequence, deletes the dead letter and marks the record
// removed. A replay that finds a record publishes nothing, except to complete
// a claim young enough that the records stream's duplicate window still drops
// a second copy; an older bare claim is in doubt, reported with what to
// check, and republished only on request (RepublishInDoubt). See Replay.
package deadletter
