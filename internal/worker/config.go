package worker

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// Config wires a Worker: everything it needs, with every default stated
// once, here and in withDefaults. cmd/worker maps its flags and environment
// onto it; tests build it directly.
type Config struct {
	// NC is the NATS connection. Required. The worker does not close it.
	NC *nats.Conn
	// Client is the Salesforce client. Required.
	Client *salesforce.Client
	// Pipelines is the loaded pipelines file. Required.
	Pipelines *pipeline.Config
	// Only restricts the worker to these pipelines. Default: all.
	Only []string
	// Topology names the streams. Its zero value is the default topology.
	Topology messages.Topology
	// Concurrency overrides every pipeline's concurrency (Collections calls
	// in flight, per replica). 0 keeps each pipeline's own (default 4).
	Concurrency int
	// ID names this replica in results, dead letters and the workers bucket.
	// Default hostname-random. Letters, digits, '-', '_' and '.'.
	ID string
	// Version is announced in the workers bucket. Default "dev".
	Version string
	// ShutdownTimeout is how long in-flight work may run after shutdown
	// starts before it is interrupted and its records naked. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// HoldBackOff spaces the in-place retries of a write whose failure is
	// not its records' (an outage, a rate limit, a refused login) and of a
	// keyed record's retryable error (UNABLE_TO_LOCK_ROW). Default
	// DefaultHoldBackOff.
	HoldBackOff func() backoff.BackOff
	// NakBackOff gives the redelivery delay of an unkeyed record that failed
	// with a retryable error, from its delivery count. Default
	// DefaultNakBackOff.
	NakBackOff func() backoff.BackOff
	// SetupBackOff spaces set-up attempts while the cluster is not ready.
	// Default DefaultSetupBackOff.
	SetupBackOff func() backoff.BackOff
	// StoreBackOff spaces attempts to store a batch result or dead letter.
	// Default DefaultStoreBackOff.
	StoreBackOff func() backoff.BackOff
	// FetchBackOff spaces fetches after a failed one. Default
	// DefaultFetchBackOff.
	FetchBackOff func() backoff.BackOff
	// Metrics; default NewMetrics().
	Metrics *Metrics
	// Logger; default disabled.
	Logger zerolog.Logger
	// DisableAdvisories turns off the MAX_DELIVERIES advisory handler (one
	// per replica by default).
	DisableAdvisories bool
	// OnRunning, if set, is called once the streams and consumers exist and
	// the pipelines run: from then on a publish finds its stream. worker
	// --dev prints its "publish from another terminal" banner from it.
	OnRunning func()
}

// DefaultShutdownTimeout is Config.ShutdownTimeout's default.
const DefaultShutdownTimeout = 30 * time.Second

func (c Config) withDefaults() Config {
	if c.ID == "" {
		c.ID = defaultID()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.HoldBackOff == nil {
		c.HoldBackOff = DefaultHoldBackOff
	}
	if c.NakBackOff == nil {
		c.NakBackOff = DefaultNakBackOff
	}
	if c.SetupBackOff == nil {
		c.SetupBackOff = DefaultSetupBackOff
	}
	if c.StoreBackOff == nil {
		c.StoreBackOff = DefaultStoreBackOff
	}
	if c.FetchBackOff == nil {
		c.FetchBackOff = DefaultFetchBackOff
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	c.Topology = c.Topology.WithDefaults()
	return c
}

func (c Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("worker: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.NC == nil {
		bad("NC", "a NATS connection is required")
	}
	if c.Client == nil {
		bad("Client", "a Salesforce client is required")
	}
	if c.Pipelines == nil || len(c.Pipelines.Pipelines) == 0 {
		bad("Pipelines", "no pipelines configured")
	}
	if c.Concurrency < 0 || c.Concurrency > 64 {
		bad("Concurrency", "%d is out of range 0..64", c.Concurrency)
	}
	if !validWorkerID(c.ID) {
		bad("ID", "%q must be letters, digits, '-', '_' and '.' (it is a key of the workers bucket)", c.ID)
	}
	if c.ShutdownTimeout < 0 {
		bad("ShutdownTimeout", "must not be negative")
	}
	if c.Topology.Partitions < 1 || c.Topology.Partitions > 1024 {
		bad("Topology.Partitions", "%d is out of range 1..1024", c.Topology.Partitions)
	}
	return errors.Join(errs...)
}

func validWorkerID(id string) bool {
	if id == "" || id[0] == '.' || id[len(id)-1] == '.' {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Settings are a pipeline's worker settings: the `worker:` section of its
// entry in the pipelines file. Every field states its default, filled by
// withDefaults from the pipeline's batch size and concurrency.
//
//	worker:
//	  durable: kinetic_accounts   # consumer name prefix
//	  max_deliver: 8
//	  ack_wait: 30s
//	  max_ack_pending: 6400
//	  linger: 100ms
//	  max_record_bytes: 512KiB
//	  max_inflight: 1600
//	  max_inflight_bytes: 64MiB
type Settings struct {
	// Durable names the pipeline's consumers: <durable> reads unkeyed
	// records, <durable>_p<N> partition N of keyed ones. Default
	// kinetic_<pipeline name>.
	Durable string
	// MaxDeliver is how many times JetStream delivers a message, and how
	// many attempts a retryable record error gets in all, before the record
	// is dead-lettered. Default 8 (JetStream's own default is unlimited:
	// never used).
	MaxDeliver int
	// AckWait is how long JetStream waits for a held message's ack or
	// heartbeat before delivering it again. Default 30s; at least 3s.
	// Heartbeats go every AckWait/4, so AckWait bounds how long the records
	// of a crashed or cut-off replica wait, not how long a call may take.
	AckWait time.Duration
	// MaxAckPending caps the messages of one consumer held by every replica
	// together. Default batch_size × concurrency × 8 (room for eight
	// replicas to hold full batches), at least 1000.
	MaxAckPending int
	// Linger is the longest a record waits for company before a call goes
	// out with fewer than 200 records. Default 100ms.
	Linger time.Duration
	// MaxRecordBytes: a larger payload is dead-lettered
	// (KINETIC_PAYLOAD_TOO_LARGE). Default 512 KiB.
	MaxRecordBytes int
	// MaxInflight caps the records this replica holds for the pipeline:
	// fetched and not yet settled. Default batch_size × concurrency × 2.
	MaxInflight int
	// MaxInflightBytes caps their payload bytes. Default 64 MiB: with the
	// default 512 KiB records, 128 of them.
	MaxInflightBytes int
}

// Setting defaults.
const (
	DefaultMaxDeliver       = 8
	DefaultAckWait          = 30 * time.Second
	DefaultLinger           = 100 * time.Millisecond
	DefaultMaxRecordBytes   = 512 << 10
	DefaultMaxInflightBytes = 64 << 20
	// replicasSized is how many replicas the default MaxAckPending leaves
	// room for at full speed.
	replicasSized = 8
)

func (s Settings) withDefaults(name string, batchSize, concurrency int) Settings {
	if s.Durable == "" {
		s.Durable = "kinetic_" + name
	}
	if s.MaxDeliver == 0 {
		s.MaxDeliver = DefaultMaxDeliver
	}
	if s.AckWait == 0 {
		s.AckWait = DefaultAckWait
	}
	if s.MaxAckPending == 0 {
		s.MaxAckPending = max(1000, batchSize*concurrency*replicasSized)
	}
	if s.Linger == 0 {
		s.Linger = DefaultLinger
	}
	if s.MaxRecordBytes == 0 {
		s.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if s.MaxInflight == 0 {
		s.MaxInflight = batchSize * concurrency * 2
	}
	if s.MaxInflightBytes == 0 {
		s.MaxInflightBytes = DefaultMaxInflightBytes
	}
	return s
}

func (s Settings) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("worker.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !messages.ValidToken(s.Durable) {
		bad("durable", "%q must be letters, digits, - and _", s.Durable)
	}
	if s.MaxDeliver < 1 {
		bad("max_deliver", "%d: must be at least 1 (JetStream's unlimited default is never used)", s.MaxDeliver)
	}
	if s.AckWait < 3*time.Second {
		bad("ack_wait", "%v is too short (heartbeats go every ack_wait/4; use 3s or more)", s.AckWait)
	}
	if s.MaxAckPending < 1 {
		bad("max_ack_pending", "%d: must be positive", s.MaxAckPending)
	}
	if s.Linger < 0 {
		bad("linger", "must not be negative")
	}
	if s.MaxRecordBytes < 1 {
		bad("max_record_bytes", "must be positive")
	}
	if s.MaxInflight < 1 {
		bad("max_inflight", "must be positive")
	}
	if s.MaxInflightBytes < s.MaxRecordBytes {
		bad("max_inflight_bytes", "%d is below max_record_bytes %d: a largest record could never be fetched", s.MaxInflightBytes, s.MaxRecordBytes)
	}
	return errors.Join(errs...)
}

// decodeSettings reads a pipeline's `worker:` section, with file:line
// errors; a missing section is all defaults.
func decodeSettings(pc *pipeline.PipelineConfig) (Settings, error) {
	var s Settings
	n := pc.Worker
	if n == nil {
		return s, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "durable":
			s.Durable, err = scalar(v, func(x string) (string, error) { return x, nil })
		case "max_deliver":
			s.MaxDeliver, err = scalar(v, strconv.Atoi)
		case "ack_wait":
			s.AckWait, err = scalar(v, time.ParseDuration)
		case "max_ack_pending":
			s.MaxAckPending, err = scalar(v, strconv.Atoi)
		case "linger":
			s.Linger, err = scalar(v, time.ParseDuration)
		case "max_record_bytes":
			s.MaxRecordBytes, err = scalar(v, parseBytes)
		case "max_inflight":
			s.MaxInflight, err = scalar(v, strconv.Atoi)
		case "max_inflight_bytes":
			s.MaxInflightBytes, err = scalar(v, parseBytes)
		default:
			return s, pc.ErrAt(k, "worker: unknown key %q (durable, max_deliver, ack_wait, max_ack_pending, linger, max_record_bytes, max_inflight, max_inflight_bytes)", k.Value)
		}
		if err != nil {
			return s, pc.ErrAt(v, "worker.%s: %v", k.Value, err)
		}
	}
	return s, nil
}

func scalar[T any](n *yaml.Node, parse func(string) (T, error)) (T, error) {
	var zero T
	if n.Kind != yaml.ScalarNode {
		return zero, errors.New("want a single value")
	}
	return parse(n.Value)
}

// parseBytes reads 1048576, 512KiB, 64MiB or 1GiB.
func parseBytes(s string) (int, error) {
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if len(s) > len(u.suffix) && s[len(s)-len(u.suffix):] == u.suffix {
			s, mult = s[:len(s)-len(u.suffix)], u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a size such as 65536, 512KiB or 64MiB", s)
	}
	return n * mult, nil
}

// SettingsOf is a pipeline's worker settings as a worker runs them: its
// `worker:` section, defaults filled in. For tools and tests.
func SettingsOf(pc *pipeline.PipelineConfig) (Settings, error) {
	s, err := decodeSettings(pc)
	if err != nil {
		return s, err
	}
	o := pc.Options(nil)
	batch, conc := o.BatchSize, o.Concurrency
	if batch == 0 {
		batch = pipeline.DefaultBatchSize
	}
	if conc == 0 {
		conc = pipeline.DefaultConcurrent
	}
	s = s.withDefaults(pc.Name, batch, conc)
	return s, s.validate()
}
