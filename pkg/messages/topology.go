package messages

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Topology names and configures Kinetic's streams and buckets. Workers
// create them at start-up (Ensure is idempotent: create or update); the
// producer and the dead-letter tools only look them up.
//
//	<PREFIX>_RECORDS     work queue of records; a message is deleted once acked
//	<PREFIX>_RESULTS     batch results, kept ResultsMaxAge
//	<PREFIX>_DLQ         dead letters, kept until replayed or purged
//	<PREFIX>_ADVISORIES  JetStream MAX_DELIVERIES advisories of the records stream, captured durably
//	<PREFIX>_STATE       key-value: job stop flags, first-failure times
//	<PREFIX>_WORKERS     key-value: live worker replicas (WorkerStatus), entries expire
type Topology struct {
	// Prefix of subjects and (upper-cased) of stream names. Default "kinetic".
	Prefix string
	// Replicas of every stream: 1 for a single server, 3 in a cluster. Default 1.
	Replicas int
	// DuplicateWindow is the records stream's Nats-Msg-Id dedup window. Default 2m.
	DuplicateWindow time.Duration
	// ResultsMaxAge is how long batch results are kept. Default 72h.
	ResultsMaxAge time.Duration
	// MaxRecordBytes caps a record message (server side). Default 1 MiB less
	// 64 KiB, so that a dead letter (the record plus its envelope header)
	// still fits the server's default 1 MiB max_payload.
	MaxRecordBytes int32
	// Partitions is how many partitions keyed records are spread over
	// (the records stream's subject transform, {{partition(Partitions,1,3)}}).
	// It bounds how many worker replicas share one pipeline's keyed records.
	// Change it only on a drained records stream: a key may move to another
	// partition, and its order is kept only within one. Default 16.
	Partitions int
}

// DefaultPartitions is the default Topology.Partitions.
const DefaultPartitions = 16

// WithDefaults fills unset fields.
func (t Topology) WithDefaults() Topology {
	if t.Prefix == "" {
		t.Prefix = DefaultPrefix
	}
	if t.Replicas == 0 {
		t.Replicas = 1
	}
	if t.DuplicateWindow == 0 {
		t.DuplicateWindow = 2 * time.Minute
	}
	if t.ResultsMaxAge == 0 {
		t.ResultsMaxAge = 72 * time.Hour
	}
	if t.MaxRecordBytes == 0 {
		t.MaxRecordBytes = 1<<20 - 64<<10
	}
	if t.Partitions == 0 {
		t.Partitions = DefaultPartitions
	}
	return t
}

// Subjects returns the subject builder for the topology's prefix.
func (t Topology) Subjects() Subjects { return Subjects{Prefix: t.Prefix} }

func (t Topology) name(suffix string) string {
	p := t.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(p)) + "_" + suffix
}

// Stream names.
func (t Topology) RecordsStream() string    { return t.name("RECORDS") }
func (t Topology) ResultsStream() string    { return t.name("RESULTS") }
func (t Topology) DLQStream() string        { return t.name("DLQ") }
func (t Topology) AdvisoriesStream() string { return t.name("ADVISORIES") }
func (t Topology) StateBucket() string      { return t.name("STATE") }

// MaxDeliveriesAdvisories is the subject of the records stream's
// MAX_DELIVERIES advisories, for every consumer.
func (t Topology) MaxDeliveriesAdvisories() string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + t.RecordsStream() + ".*"
}

// StreamConfigs returns the configuration of every stream.
func (t Topology) StreamConfigs() []jetstream.StreamConfig {
	t = t.WithDefaults()
	s := t.Subjects()
	return []jetstream.StreamConfig{
		{
			Name:        t.RecordsStream(),
			Description: "Kinetic records to load into Salesforce (work queue)",
			// Unkeyed (<SObject>.<mode>) and keyed (<SObject>.<mode>.<key>)
			// only: a subject of any other shape is refused at publish.
			Subjects: []string{s.Records("*", "*"), s.Records("*", "*") + ".*"},
			// A keyed record is stored as <SObject>.<mode>.<partition>.<key>.
			SubjectTransform: &jetstream.SubjectTransformConfig{
				Source:      s.Records("*", "*") + ".*",
				Destination: s.Records("{{wildcard(1)}}", "{{wildcard(2)}}") + fmt.Sprintf(".{{partition(%d,1,3)}}.{{wildcard(3)}}", t.Partitions),
			},
			Retention:  jetstream.WorkQueuePolicy,
			Storage:    jetstream.FileStorage,
			Replicas:   t.Replicas,
			Duplicates: t.DuplicateWindow,
			MaxMsgSize: t.MaxRecordBytes,
			// Never drop a record to make room: publishers get an error instead.
			Discard: jetstream.DiscardNew,
		},
		{
			Name:        t.ResultsStream(),
			Description: "Kinetic batch results",
			Subjects:    []string{s.AllResults()},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			MaxAge:      t.ResultsMaxAge,
			Duplicates:  2 * time.Minute,
		},
		{
			Name:        t.DLQStream(),
			Description: "Kinetic dead letters: records that cannot be loaded",
			Subjects:    []string{s.AllDeadLetters()},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			Duplicates:  10 * time.Minute,
			Discard:     jetstream.DiscardNew,
		},
		{
			Name:        t.AdvisoriesStream(),
			Description: "JetStream MAX_DELIVERIES advisories of the records stream",
			Subjects:    []string{t.MaxDeliveriesAdvisories()},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			MaxAge:      7 * 24 * time.Hour,
		},
	}
}

// StateConfig returns the configuration of the state bucket.
func (t Topology) StateConfig() jetstream.KeyValueConfig {
	t = t.WithDefaults()
	return jetstream.KeyValueConfig{
		Bucket:      t.StateBucket(),
		Description: "Kinetic job stop flags and first-failure times",
		TTL:         7 * 24 * time.Hour,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
	}
}

// Ensure creates or updates every stream and the state bucket. It is safe
// to run from every worker at once.
func (t Topology) Ensure(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range t.StreamConfigs() {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	for _, kv := range []jetstream.KeyValueConfig{t.StateConfig(), t.WorkersConfig()} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
			return fmt.Errorf("bucket %s: %w", kv.Bucket, err)
		}
	}
	return nil
}
