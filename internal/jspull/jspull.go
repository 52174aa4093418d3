// Package jspull sends one JetStream pull request and reads its replies
// until the server ends the request, not until a client-side timer does.
//
// Why not jetstream.Consumer.Fetch. A fetch's subscription ends when the
// client stops waiting: Expires plus one second (nats.go v1.55, pull.go; v1.56
// counts the second from the start of the fetch). On a replicated consumer
// (R3, as deployed) nats-server 2.15 holds each delivery until the consumer's
// raft group has stored it (consumer.go, addReplicatedQueuedMsg), and it
// sends the request's 408 only after the deliveries it still holds
// (processWaiting). When the cluster is slow — a busy machine, a disk
// flushing — the deliveries come more than a second after the request
// expired; the client has unsubscribed by then, and the messages are lost in
// flight: counted as delivered, seen by nobody, redelivered only when their
// AckWait runs out. Measured on the 3-node cluster of the integration tests
// with the two cores kept busy: 28-432 records of a 50,000-record job
// redelivered (TestBaseline, 5 runs); in the run traced, none of the 420 had
// been seen by a worker at its first delivery.
// A keyed record lost like that is redelivered after its key's later changes
// were loaded, and is then skipped as superseded.
//
// Here the subscription lives until the server's end-of-request status
// (404, 408, 409, 423), the full batch, a reconnect of the connection (the
// request died with the old one), or Expires plus a grace period, the bound
// for a server that never answers (a consumer leader killed with the
// request). Messages delivered after that are lost as before; the grace is
// meant to be far beyond any replication delay.
//
// The messages are jetstream.Msg values (acks, naks, progress and metadata
// as the jetstream package does them), so the rest of the worker does not
// know which client fetched them.
package jspull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoAnswer is returned (with the messages received) when the server sent
// no end-of-request status within Expires plus the grace period.
var ErrNoAnswer = errors.New("jspull: the server did not end the pull request")

// ErrBadRequest is a 400 status: the request itself was refused (an unknown
// priority group, say).
var ErrBadRequest = errors.New("jspull: pull request refused")

// Consumer pulls from one consumer of one stream. It remembers the pin of
// a pinned-client priority group, as jetstream's consumer does: a pull
// carries the pin it was last given, and a 423 (the pin moved) forgets it.
type Consumer struct {
	nc      *nats.Conn
	subject string

	mu  sync.Mutex
	pin string
}

// New pulls from consumer on stream, through js's connection and API
// prefix (jetstream.NewWithAPIPrefix's, NewWithDomain's, or the default).
func New(js jetstream.JetStream, stream, consumer string) *Consumer {
	o := js.Options()
	prefix := jetstream.DefaultAPIPrefix
	switch {
	case o.APIPrefix != "":
		prefix = strings.TrimSuffix(o.APIPrefix, ".") + "."
	case o.Domain != "":
		prefix = "$JS." + o.Domain + ".API."
	}
	return &Consumer{nc: js.Conn(), subject: prefix + "CONSUMER.MSG.NEXT." + stream + "." + consumer}
}

// Request is one pull.
type Request struct {
	Batch   int           // at most this many messages
	Expires time.Duration // how long the server waits for them
	Group   string        // priority group, "" for none
	// Grace is how long past Expires the client waits for the server to end
	// the request before giving up on it (ErrNoAnswer). Zero means 10s.
	Grace time.Duration
}

// DefaultGrace bounds the wait for a server that never ends a request.
const DefaultGrace = 10 * time.Second

type wireRequest struct {
	Expires time.Duration `json:"expires,omitempty"`
	Batch   int           `json:"batch"`
	Group   string        `json:"group,omitempty"`
	PinID   string        `json:"id,omitempty"`
}

// Fetch sends req and returns what the server delivered for it. The error
// is nil when the server ended the request normally (a full batch, 404,
// 408, 409); jetstream.ErrPinIDMismatch when another client holds the
// group's pin; ErrBadRequest for a 400; nats.ErrNoResponders for a 503 (no
// consumer leader); ErrNoAnswer after the grace period.
// Messages received before an error are returned with it: they are the
// caller's to settle.
func (c *Consumer) Fetch(req Request) ([]jetstream.Msg, error) {
	if req.Batch < 1 {
		return nil, fmt.Errorf("jspull: batch %d: must be at least 1", req.Batch)
	}
	if req.Expires <= 0 {
		return nil, fmt.Errorf("jspull: expires %v: must be positive", req.Expires)
	}
	grace := req.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	c.mu.Lock()
	pin := c.pin
	c.mu.Unlock()
	body, err := json.Marshal(wireRequest{Expires: req.Expires, Batch: req.Batch, Group: req.Group, PinID: pin})
	if err != nil {
		return nil, err
	}

	// The server sends at most Batch messages and one status for a request
	// without heartbeats; a channel subscriber drops what does not fit.
	ch := make(chan *nats.Msg, req.Batch+8)
	inbox := c.nc.NewInbox()
	sub, err := c.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	// A reconnect ends the request: the server forgot it with the old
	// connection, and nothing more will come for it.
	status := c.nc.StatusChanged(nats.RECONNECTING, nats.CLOSED)
	defer c.nc.RemoveStatusListener(status)
	if err := c.nc.PublishRequest(c.subject, inbox, body); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(req.Expires + grace)
	defer deadline.Stop()

	var msgs []jetstream.Msg
	for {
		select {
		case m := <-ch:
			done, err := c.take(m, &msgs)
			if done || err != nil {
				return msgs, err
			}
			if len(msgs) >= req.Batch {
				return msgs, nil
			}
		case <-status:
			return msgs, nil
		case <-deadline.C:
			return msgs, fmt.Errorf("%w within %v of its expiry (%d messages received)", ErrNoAnswer, grace, len(msgs))
		}
	}
}

// take handles one reply: a message is appended, a status ends the request.
func (c *Consumer) take(m *nats.Msg, msgs *[]jetstream.Msg) (done bool, err error) {
	code := ""
	if len(m.Data) == 0 && len(m.Header) > 0 {
		code = m.Header.Get("Status")
	}
	if code == "" {
		if pin := m.Header.Get("Nats-Pin-Id"); pin != "" {
			c.mu.Lock()
			c.pin = pin
			c.mu.Unlock()
		}
		*msgs = append(*msgs, &Msg{m: m, nc: c.nc})
		return false, nil
	}
	switch code {
	case "100": // idle heartbeat or flow control
		return false, nil
	case "404", "408", "409":
		// No messages, the request expired, or it ended for a reason of the
		// server's (batch completed, leadership change, consumer deleted):
		// the next request asks again.
		return true, nil
	case "423":
		c.mu.Lock()
		c.pin = ""
		c.mu.Unlock()
		return true, jetstream.ErrPinIDMismatch
	case "400":
		return true, fmt.Errorf("%w: %s", ErrBadRequest, m.Header.Get("Description"))
	case "503":
		// Nobody took the request: the consumer has no leader yet, or
		// JetStream is down on the cluster's side.
		return true, fmt.Errorf("%w: the consumer has no leader to take the pull (JetStream starting, down, or electing one)", nats.ErrNoResponders)
	default:
		return true, fmt.Errorf("jspull: status %s: %s", code, m.Header.Get("Description"))
	}
}

// Msg is a message delivered to a pull request: jetstream.Msg over the
// core message, with its acks sent as the jetstream package sends them.
type Msg struct {
	m  *nats.Msg
	nc *nats.Conn

	mu   sync.Mutex
	ackd bool
}

var _ jetstream.Msg = (*Msg)(nil)

// Metadata parses the ack subject ($JS.ACK.<domain>.<account hash>.<stream>.
// <consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>[.<token>],
// or the 9-token form of older servers).
func (m *Msg) Metadata() (*jetstream.MsgMetadata, error) {
	if m.m.Reply == "" {
		return nil, jetstream.ErrMsgNoReply
	}
	tokens := strings.Split(m.m.Reply, ".")
	if len(tokens) < 2 || tokens[0] != "$JS" || tokens[1] != "ACK" {
		return nil, fmt.Errorf("%w: %q", jetstream.ErrNotJSMessage, m.m.Reply)
	}
	var domain string
	switch {
	case len(tokens) == 9:
		tokens = tokens[2:]
	case len(tokens) >= 11:
		domain = tokens[2]
		if domain == "_" {
			domain = ""
		}
		tokens = tokens[4:]
	default:
		return nil, fmt.Errorf("%w: %q has %d tokens", jetstream.ErrNotJSMessage, m.m.Reply, len(tokens))
	}
	// tokens: stream, consumer, delivered, stream seq, consumer seq, time, pending
	meta := &jetstream.MsgMetadata{
		Domain:       domain,
		Stream:       tokens[0],
		Consumer:     tokens[1],
		NumDelivered: parseNum(tokens[2]),
		Timestamp:    time.Unix(0, int64(parseNum(tokens[5]))),
		NumPending:   parseNum(tokens[6]),
	}
	meta.Sequence.Stream = parseNum(tokens[3])
	meta.Sequence.Consumer = parseNum(tokens[4])
	return meta, nil
}

// parseNum reads a decimal token; anything else is 0, as in nats.go.
func parseNum(s string) uint64 {
	var n uint64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

func (m *Msg) Data() []byte         { return m.m.Data }
func (m *Msg) Headers() nats.Header { return m.m.Header }
func (m *Msg) Subject() string      { return m.m.Subject }
func (m *Msg) Reply() string        { return m.m.Reply }
func (m *Msg) Ack() error           { return m.reply(context.Background(), "+ACK", false, true) }
func (m *Msg) Nak() error           { return m.reply(context.Background(), "-NAK", false, true) }
func (m *Msg) InProgress() error    { return m.reply(context.Background(), "+WPI", false, false) }
func (m *Msg) Term() error          { return m.reply(context.Background(), "+TERM", false, true) }
func (m *Msg) TermWithReason(reason string) error {
	return m.reply(context.Background(), "+TERM "+reason, false, true)
}

// NakWithDelay asks for redelivery after delay.
func (m *Msg) NakWithDelay(delay time.Duration) error {
	if delay <= 0 {
		return m.Nak()
	}
	return m.reply(context.Background(), fmt.Sprintf(`-NAK {"delay": %d}`, delay.Nanoseconds()), false, true)
}

// DoubleAck acks and waits for the server to confirm it (5s when ctx has
// no deadline, as the jetstream package does).
func (m *Msg) DoubleAck(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	return m.reply(ctx, "+ACK", true, true)
}

// reply sends an ack of some kind. Every kind but progress settles the
// message; a settled message takes no further ack.
func (m *Msg) reply(ctx context.Context, body string, sync, settles bool) error {
	if m.m.Reply == "" {
		return jetstream.ErrMsgNoReply
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ackd {
		return jetstream.ErrMsgAlreadyAckd
	}
	var err error
	if sync {
		_, err = m.nc.RequestWithContext(ctx, m.m.Reply, []byte(body))
	} else {
		err = m.nc.Publish(m.m.Reply, []byte(body))
	}
	if err == nil && settles {
		m.ackd = true
	}
	return err
}
