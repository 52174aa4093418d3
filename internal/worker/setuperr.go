package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Set-up errors: what the JetStream API answers while a worker creates its
// streams, buckets and consumers, and what the worker does about it.
//
// A worker never exits on a condition that clears by itself. A cluster that
// is still forming, a node that restarts or a meta-leader election answer
// with 4xx and 5xx codes alike for a while (HTTP class says nothing), so
// the worker classifies by JetStream error code: transient ones are retried
// with backoff while /readyz says why the worker is not ready; permanent
// ones — a configuration the operator must change — stop the worker with
// a message that says what to change.
//
// Every code is nats-server's (server/errors.json, v2.15.2; the constant
// names below are its own, generated into server/jetstream_errors_generated.go).
// An error without a JetStream code (timeouts, no responders, a lost
// connection) is transient unless the connection reports a permissions
// violation on the JetStream API, which no retry can cure.

// setupClass says whether a set-up error is worth waiting out.
type setupClass int

const (
	setupTransient setupClass = iota + 1
	setupPermanent
)

// setupRule is one row of the table: a JetStream error code, its
// nats-server constant, and what it means for a worker setting up.
type setupRule struct {
	code     jetstream.ErrorCode
	constant string // nats-server server/errors.json constant
	class    setupClass
	// what the worker says: for a transient error why it waits, for a
	// permanent one what the operator must change.
	say string
}

// setupRules is the table. Codes not in it: transient if the server says
// 5xx, permanent if it says 4xx (a request it refuses), as before.
var setupRules = []setupRule{
	// The cluster is forming or has lost members.
	{10005, "JSClusterNoPeersErrF", setupTransient, "not enough JetStream servers online to place the replicas (a cluster still forming, or nodes down); waiting for them"},
	{10023, "JSInsufficientResourcesErr", setupTransient, "the cluster reports insufficient resources, usually while peers are missing; waiting"},
	{10008, "JSClusterNotAvailErr", setupTransient, "JetStream is temporarily unavailable (no meta leader yet, or an election); waiting"},
	{10009, "JSClusterNotLeaderErr", setupTransient, "the JetStream cluster cannot handle the request now (leadership is moving); waiting"},
	{10007, "JSClusterNotAssignedErr", setupTransient, "the JetStream cluster has not assigned the asset to a server yet; waiting"},
	{10004, "JSClusterIncompleteErr", setupTransient, "the JetStream cluster gave incomplete results (a node is not answering); waiting"},
	{10075, "JSPeerRemapErr", setupTransient, "the JetStream cluster failed to remap peers (a node is missing); waiting"},
	{10076, "JSNotEnabledErr", setupTransient, "JetStream is not enabled on the server yet (starting up); waiting — if it persists, start nats-server with JetStream (-js)"},
	{10039, "JSNotEnabledForAccountErr", setupTransient, "JetStream is not enabled for this account yet (a server still loading its accounts); waiting — if it persists, enable JetStream for the worker's account"},
	{10047, "JSStorageResourcesExceededErr", setupTransient, "the servers lack storage for the streams; waiting — free disk space or raise max_file_store"},
	{10028, "JSMemoryResourcesExceededErr", setupTransient, "the servers lack memory for the buckets; waiting — raise max_memory_store"},

	// A configuration the operator must change.
	{10058, "JSStreamNameExistErr", setupPermanent, "a stream of that name exists with a configuration the worker cannot update to its own; delete or fix it (nats stream info), or use another --prefix"},
	{10065, "JSStreamSubjectOverlapErr", setupPermanent, "another stream already takes these subjects; remove its subjects or use another --prefix"},
	{10061, "JSStreamReplicasNotUpdatableErr", setupPermanent, "the stream exists with another replica count, which this server cannot change; set --stream-replicas to the stream's count"},
	{10074, "JSStreamReplicasNotSupportedErr", setupPermanent, "--stream-replicas above 1 needs a NATS cluster; use --stream-replicas 1 on a single server"},
	{10052, "JSStreamInvalidConfigF", setupPermanent, "the server refuses the stream configuration; check --prefix and the server version (nats-server 2.11 or later)"},
	{10100, "JSConsumerWQConsumerNotUniqueErr", setupPermanent, "another consumer already reads these subjects of the work-queue stream; delete it (nats consumer ls) or run that pipeline under another --prefix"},
	{10013, "JSConsumerNameExistErr", setupPermanent, "a consumer of that name exists with another configuration; delete it (nats consumer rm) or set the pipeline's worker.durable"},
	{10148, "JSConsumerAlreadyExists", setupPermanent, "a consumer of that name exists with another configuration; delete it (nats consumer rm)"},
	{10026, "JSMaximumConsumersLimitErr", setupPermanent, "the account's or stream's consumer limit is reached; raise it or run fewer pipelines"},
	{10027, "JSMaximumStreamsLimitErr", setupPermanent, "the account's stream limit is reached; raise it"},
	{10002, "JSAccountResourcesExceededErr", setupPermanent, "the account's JetStream limits are exceeded; raise them"},
	{10120, "JSNoLimitsErr", setupPermanent, "the account has no JetStream limits for this storage or replica count; configure its tiered limits"},
	{10113, "JSStreamMaxBytesRequired", setupPermanent, "the account requires streams to set max bytes; not supported by this worker version"},
	{10121, "JSConsumerMaxPendingAckExcessErrF", setupPermanent, "the pipeline's worker.max_ack_pending exceeds the server's limit; lower it"},
	{10125, "JSConsumerMaxRequestBatchExceededF", setupPermanent, "the pipeline's batch_size exceeds the server's max request batch; lower it"},
}

// SetupError is a set-up failure the worker will not wait out.
type SetupError struct {
	Err error
	Fix string // what the operator must change
}

func (e *SetupError) Error() string { return fmt.Sprintf("%v: %s", e.Err, e.Fix) }
func (e *SetupError) Unwrap() error { return e.Err }

// classifySetup sorts a set-up error by what it means. say is a short
// reason for logs and /readyz (transient) or the fix (permanent).
func classifySetup(err error, nc *nats.Conn) (class setupClass, say string) {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		for _, r := range setupRules {
			if apiErr.ErrorCode == r.code {
				return r.class, r.say
			}
		}
		if apiErr.Code >= 500 {
			return setupTransient, "the JetStream API answered " + apiErr.Error() + "; waiting"
		}
		if apiErr.Code == 408 {
			return setupTransient, "the JetStream API timed out; waiting"
		}
		return setupPermanent, "the JetStream API refused the request (" + apiErr.Error() + "); check the worker's configuration and the existing streams"
	}
	// A JetStream API request dropped for lack of permission only shows as a
	// timeout (the server reports the violation asynchronously).
	if nc != nil {
		if last := nc.LastError(); errors.Is(last, nats.ErrPermissionViolation) && strings.Contains(last.Error(), "$JS.") {
			return setupPermanent, "the NATS user may not use the JetStream API (" + last.Error() + "); grant the worker's user the worker permissions (README, Securing NATS)"
		}
	}
	switch {
	case errors.Is(err, nats.ErrConnectionClosed):
		return setupPermanent, "the NATS connection is closed"
	case errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting), !connected(nc):
		return setupTransient, "not connected to NATS; waiting for a server"
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders):
		return setupTransient, "no JetStream server answers yet (no responders); waiting"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return setupTransient, "the JetStream API did not answer in time (a cluster forming or electing a leader); waiting"
	}
	return setupTransient, "set-up failed (" + err.Error() + "); waiting"
}

func connected(nc *nats.Conn) bool { return nc == nil || nc.IsConnected() }
