package deadletter

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Purge deletes the matching dead letters and returns how many.
func (i *Inspector) Purge(ctx context.Context, f Filter) (int, error) {
	entries, err := i.List(ctx, f)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if err := i.stream.DeleteMsg(ctx, e.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("deleting dead letter %d: %w", e.Seq, err)
		}
		n++
	}
	return n, nil
}
