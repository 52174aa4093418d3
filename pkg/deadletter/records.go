package deadletter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// Replay records: one per dead letter that a replay has claimed, in the
// replays bucket, keyed by the dead letter's stream sequence, kept forever
// (no TTL, one revision per key). A record moves
//
//	claimed ─▶ published (records-stream sequence from the PubAck) ─▶ removed (dead letter deleted)
//
// and every move is a compare-and-set on the key's revision (Create for the
// claim, Update for the rest), so two replays never both claim a dead letter,
// and a replay that finds a record never publishes that dead letter again
// unless the record is a claim whose publish may not have happened (see
// Replay).
const (
	stateClaimed   = "claimed"
	statePublished = "published"
	stateRemoved   = "removed"
)

// replayRecord is a replays-bucket value.
type replayRecord struct {
	V     int    `json:"v"`
	State string `json:"state"`
	// The dead letter it is about: its sequence, when it was stored, the
	// record it holds (stream and sequence) and a digest of its payload. A
	// record whose dead letter does not match (the dead-letter stream was
	// re-created and its sequences start again) is never acted on.
	Seq       uint64    `json:"seq"`
	Stored    time.Time `json:"stored"`
	Stream    string    `json:"stream,omitempty"`
	StreamSeq uint64    `json:"stream_seq,omitempty"`
	Digest    string    `json:"digest"`
	// Attempt counts the claims: 1, then one more each time an operator
	// republished an in-doubt claim. MsgID is the attempt's Nats-Msg-Id.
	Attempt  int    `json:"attempt"`
	MsgID    string `json:"msg_id"`
	Pipeline string `json:"pipeline"`
	Subject  string `json:"subject"`
	// Run and By: the replay that claimed it, and who ran it.
	Run       string    `json:"run"`
	By        string    `json:"by"`
	ClaimedAt time.Time `json:"claimed_at"`
	// ClaimRev is the bucket revision of the claim that led to the publish.
	ClaimRev    uint64    `json:"claim_rev,omitempty"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	RecordsSeq  uint64    `json:"records_seq,omitempty"`
	Duplicate   bool      `json:"duplicate,omitempty"`
	RemovedAt   time.Time `json:"removed_at,omitzero"`
}

// ReplaysBucket is the name of the replays bucket of a topology:
// <PREFIX>_REPLAYS.
func ReplaysBucket(topo messages.Topology) string {
	return strings.TrimSuffix(topo.WithDefaults().DLQStream(), "DLQ") + "REPLAYS"
}

// replaysConfig is the replays bucket's configuration: no TTL (a record
// that expired would let a later replay publish its dead letter again), one
// revision per key, file storage, as many replicas as the dead-letter
// stream.
func replaysConfig(topo messages.Topology, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      ReplaysBucket(topo),
		Description: "Kinetic replay records: one per replayed dead letter, by dead-letter stream sequence; never expire",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
}

// replays returns the replays bucket. A real replay creates it when it is
// missing (with the dead-letter stream's replica count); a dry run does not
// (nil: no replay records). A bucket whose entries expire is refused.
func (i *Inspector) replays(ctx context.Context, create bool) (jetstream.KeyValue, error) {
	name := ReplaysBucket(i.topo)
	var kv jetstream.KeyValue
	err := i.retry(ctx, func(ctx context.Context) (err error) {
		kv, err = i.js.KeyValue(ctx, name)
		if errors.Is(err, jetstream.ErrBucketNotFound) && create {
			replicas := 1
			if info := i.stream.CachedInfo(); info != nil {
				replicas = info.Config.Replicas
			}
			kv, err = i.js.CreateKeyValue(ctx, replaysConfig(i.topo, replicas))
			if errors.Is(err, jetstream.ErrBucketExists) {
				kv, err = i.js.KeyValue(ctx, name)
			}
		}
		return err
	})
	if errors.Is(err, jetstream.ErrBucketNotFound) && !create {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replays bucket %s: %w", name, err)
	}
	var st jetstream.KeyValueStatus
	if err := i.retry(ctx, func(ctx context.Context) (err error) {
		st, err = kv.Status(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("replays bucket %s: %w", name, err)
	}
	if st.TTL() != 0 {
		return nil, fmt.Errorf("replays bucket %s expires its entries after %v: replay records must be kept forever, or a later replay could publish a dead letter twice; re-create it without a TTL", name, st.TTL())
	}
	return kv, nil
}

// bucketRevision is the replays bucket's last revision.
func (i *Inspector) bucketRevision(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	if kv == nil {
		return 0, nil
	}
	var rev uint64
	err := i.retry(ctx, func(ctx context.Context) error {
		st, err := kv.Status(ctx)
		if err != nil {
			return err
		}
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
			rev = bs.StreamInfo().State.LastSeq
		}
		return nil
	})
	return rev, err
}

func recordKey(seq uint64) string { return strconv.FormatUint(seq, 10) }

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// newRecord is the claim of dead letter e.
func newRecord(e Entry) replayRecord {
	d := e.DeadLetter
	return replayRecord{V: 1, State: stateClaimed, Seq: e.Seq, Stored: e.Time.UTC(), Stream: d.Stream, StreamSeq: d.StreamSeq, Digest: digest(d.Data)}
}

// about reports whether the record is about dead letter e.
func (r *replayRecord) about(e Entry) bool {
	d := e.DeadLetter
	return r.Seq == e.Seq && r.Stored.Equal(e.Time) && r.Stream == d.Stream && r.StreamSeq == d.StreamSeq && r.Digest == digest(d.Data)
}

func encodeRecord(r replayRecord) []byte {
	b, _ := json.Marshal(r) // a struct of plain fields always encodes
	return b
}

func decodeRecord(b []byte) (replayRecord, error) {
	var r replayRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("replay record: %w", err)
	}
	if r.V != 1 {
		return r, fmt.Errorf("replay record: version %d, this build reads 1", r.V)
	}
	switch r.State {
	case stateClaimed, statePublished, stateRemoved:
	default:
		return r, fmt.Errorf("replay record: unknown state %q", r.State)
	}
	return r, nil
}

// revisionConflict reports a compare-and-set that lost: the key changed.
func revisionConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// ReplayStatus is what the replays bucket says about one dead letter.
type ReplayStatus struct {
	State       string    `json:"state"` // claimed, published or removed
	Run         string    `json:"run"`
	By          string    `json:"by"`
	Attempt     int       `json:"attempt"`
	MsgID       string    `json:"msg_id"`
	Pipeline    string    `json:"pipeline"`
	Subject     string    `json:"subject"`
	ClaimedAt   time.Time `json:"claimed_at"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	RecordsSeq  uint64    `json:"records_seq,omitempty"`
	RemovedAt   time.Time `json:"removed_at,omitzero"`
	// Matches is false when the record is about another dead letter that
	// had the same sequence (the dead-letter stream was re-created).
	Matches bool `json:"matches"`
}

// ReplayStatus reads dead letter e's replay record; nil when no replay
// claimed it.
func (i *Inspector) ReplayStatus(ctx context.Context, e Entry) (*ReplayStatus, error) {
	kv, err := i.replays(ctx, false)
	if err != nil || kv == nil {
		return nil, err
	}
	var ent jetstream.KeyValueEntry
	err = i.retry(ctx, func(ctx context.Context) (err error) {
		ent, err = kv.Get(ctx, recordKey(e.Seq))
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replay record of dead letter %d: %w", e.Seq, err)
	}
	rec, err := decodeRecord(ent.Value())
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", e.Seq, err)
	}
	return &ReplayStatus{State: rec.State, Run: rec.Run, By: rec.By, Attempt: rec.Attempt, MsgID: rec.MsgID, Pipeline: rec.Pipeline,
		Subject: rec.Subject, ClaimedAt: rec.ClaimedAt, PublishedAt: rec.PublishedAt, RecordsSeq: rec.RecordsSeq, RemovedAt: rec.RemovedAt,
		Matches: rec.about(e)}, nil
}
