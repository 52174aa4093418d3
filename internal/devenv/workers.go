package devenv

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/worker"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// StartWorkers runs n worker replicas in this process, each with its own
// NATS connection and Salesforce client, as separate deployments would. The
// streams and consumers exist when it returns. stop shuts them down
// gracefully and waits.
func StartWorkers(natsURL string, sf salesforce.Config, pipes *pipeline.Config, n int, log zerolog.Logger) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var conns []*nats.Conn
	stop = func() {
		cancel()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("worker-%d", i+1)
		nc, err := nats.Connect(natsURL, nats.Name("kinetic-"+id))
		if err != nil {
			stop()
			return nil, err
		}
		conns = append(conns, nc)
		client, err := salesforce.New(sf)
		if err != nil {
			stop()
			return nil, err
		}
		w, err := worker.New(worker.Config{NC: nc, Client: client, Pipelines: pipes, ID: id, Logger: log.With().Str("worker", id).Logger()})
		if err != nil {
			stop()
			return nil, err
		}
		if err := w.Setup(ctx); err != nil {
			stop()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				log.Error().Err(err).Str("worker", id).Msg("worker stopped with an error")
			}
		}()
	}
	return stop, nil
}
