package deadletter

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// Inspector reads and manages the dead-letter stream.
type Inspector struct {
	js     jetstream.JetStream
	topo   messages.Topology
	stream jetstream.Stream
}

// NewInspector looks up the dead-letter stream.
func NewInspector(ctx context.Context, js jetstream.JetStream, topo messages.Topology) (*Inspector, error) {
	topo = topo.WithDefaults()
	s, err := js.Stream(ctx, topo.DLQStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("dead-letter stream %s does not exist: start a worker once to create the streams", topo.DLQStream())
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", topo.DLQStream(), err)
	}
	return &Inspector{js: js, topo: topo, stream: s}, nil
}

// Get reads one dead letter by its stream sequence.
func (i *Inspector) Get(ctx context.Context, seq uint64) (*Entry, error) {
	raw, err := i.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("dead letter %d: not found (replayed or purged?)", seq)
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	dl, err := messages.DecodeDeadLetter(raw.Header, raw.Data)
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return &Entry{Seq: seq, Subject: raw.Subject, Time: raw.Time, DeadLetter: dl}, nil
}
