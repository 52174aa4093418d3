// Package devenv starts the parts of a development environment in-process:
// an embedded nats-server with JetStream and the Salesforce simulator. The
// worker's --dev mode, the demo and the tests use it.
package devenv

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSOptions configures an embedded server.
type NATSOptions struct {
	// Host and Port to listen on. Port -1 picks a free port. Default 127.0.0.1:-1.
	Host string
	Port int
	// StoreDir is JetStream's file store. Default: a new temporary directory,
	// removed by Shutdown.
	StoreDir string
	// Log enables the server's own log on stderr.
	Log bool
	// NoJetStream starts a core server only (tests that stand in for
	// JetStream's API themselves).
	NoJetStream bool
}

// NATS is an embedded nats-server, with JetStream unless NoJetStream.
type NATS struct {
	*server.Server
	tmpDir string
}

// StartNATS starts an embedded nats-server with JetStream (file storage)
// and waits until it accepts connections.
func StartNATS(o NATSOptions) (*NATS, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = -1
	}
	n := &NATS{}
	if o.StoreDir == "" && !o.NoJetStream {
		dir, err := os.MkdirTemp("", "kinetic-nats-*")
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		o.StoreDir, n.tmpDir = dir, dir
	}
	opts := &server.Options{
		ServerName: "kinetic-dev",
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  !o.NoJetStream,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      !o.Log,
		MaxPayload: 8 << 20,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		n.cleanup()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if o.Log {
		s.ConfigureLogger()
	}
	n.Server = s
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		n.cleanup()
		return nil, fmt.Errorf("embedded nats: not ready after 20s")
	}
	return n, nil
}

// Shutdown stops the server and removes its temporary store.
func (n *NATS) Shutdown() {
	n.Server.Shutdown()
	n.Server.WaitForShutdown()
	n.cleanup()
}

func (n *NATS) cleanup() {
	if n.tmpDir != "" {
		os.RemoveAll(n.tmpDir)
	}
}
