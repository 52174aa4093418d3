package messages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WorkerStatus is what a worker replica announces about itself in the
// workers bucket (<PREFIX>_WORKERS, key = the worker's id), every
// WorkersHeartbeat. The bucket's TTL removes the entry of a replica that
// stopped announcing, so a dead replica disappears by itself. Workers use
// the bucket to share out the partitions of keyed pipelines; the console
// and operators read it to see the fleet.
type WorkerStatus struct {
	V         int              `json:"v"`
	ID        string           `json:"id"`
	Version   string           `json:"version"`
	Host      string           `json:"host,omitempty"`
	Started   time.Time        `json:"started"`
	Updated   time.Time        `json:"updated"`
	Ready     bool             `json:"ready"`
	Reason    string           `json:"reason,omitempty"` // why it is not ready
	Stopping  bool             `json:"stopping,omitempty"`
	InFlight  int              `json:"in_flight"` // records held, all pipelines
	Pipelines []WorkerPipeline `json:"pipelines"`
}

// WorkerPipeline is one pipeline as a worker replica runs it.
type WorkerPipeline struct {
	Name    string `json:"name"`
	SObject string `json:"sobject"`
	Mode    string `json:"mode"`
	// State is "running", "paused" (Salesforce refuses calls for a reason
	// that is not the records': authentication, limits; it retries), or
	// "refused" (its configuration does not fit the org; it does not run).
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	InFlight int    `json:"in_flight"`
	// Partitions this replica owns, for a keyed pipeline.
	Partitions []int `json:"partitions,omitempty"`
}

// Pipeline states in WorkerPipeline.State.
const (
	PipelineRunning = "running"
	PipelinePaused  = "paused"
	PipelineRefused = "refused"
)

// WorkersBucket is the name of the workers bucket.
func (t Topology) WorkersBucket() string { return t.name("WORKERS") }

// WorkersTTL is how long a worker's announcement lives without renewal.
const WorkersTTL = 15 * time.Second

// WorkersHeartbeat is how often a worker renews its announcement.
const WorkersHeartbeat = WorkersTTL / 3

// WorkersConfig returns the configuration of the workers bucket.
func (t Topology) WorkersConfig() jetstream.KeyValueConfig {
	t = t.WithDefaults()
	return jetstream.KeyValueConfig{
		Bucket:      t.WorkersBucket(),
		Description: "Kinetic worker replicas: one entry per live replica",
		TTL:         WorkersTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    t.Replicas,
	}
}

// EncodeWorkerStatus encodes s with the current version.
func EncodeWorkerStatus(s WorkerStatus) ([]byte, error) {
	s.V = Version
	return json.Marshal(s)
}

// DecodeWorkerStatus decodes a workers-bucket value.
func DecodeWorkerStatus(b []byte) (WorkerStatus, error) {
	var s WorkerStatus
	if err := json.Unmarshal(b, &s); err != nil {
		return s, &DecodeError{Code: CodeUndecodable, Msg: "worker status: " + err.Error()}
	}
	if s.V != Version {
		return s, &VersionError{Kind: "worker status", Version: s.V}
	}
	return s, nil
}

// ListWorkers returns the live worker replicas, sorted by id. An entry that
// does not decode is skipped (a newer worker may write a newer version).
func ListWorkers(ctx context.Context, js jetstream.JetStream, t Topology) ([]WorkerStatus, error) {
	kv, err := js.KeyValue(ctx, t.WithDefaults().WorkersBucket())
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("workers bucket: %w", err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("workers bucket: %w", err)
	}
	var out []WorkerStatus
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // expired or deleted meanwhile
		}
		s, err := DecodeWorkerStatus(e.Value())
		if err != nil {
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b WorkerStatus) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// Consumer metadata keys. Every consumer a worker creates on the records
// stream carries them, so tools (the console, KEDA-style lag readers) can
// tell which pipelines a consumer serves without knowing its name:
//
//	kinetic_pipelines  the pipelines it serves, comma-separated (several
//	                   when pipelines of one sObject share a key, e.g. an
//	                   upsert and a delete by the same external id)
//	kinetic_partition  the partition of keyed records it reads; absent on
//	                   the consumer of unkeyed records
const (
	ConsumerMetaPipelines = "kinetic_pipelines"
	ConsumerMetaPartition = "kinetic_partition"
)
