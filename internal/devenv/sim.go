package devenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// SimOptions configures an in-process Salesforce simulator on a port.
type SimOptions struct {
	// Addr to listen on. Default 127.0.0.1:0 (a free port).
	Addr string
	// SchemaFile adds custom objects and fields (examples/schema.yaml).
	SchemaFile string
	Faults     sfsim.Faults
	// BulkBatchSize is the simulator's Bulk API internal batch size.
	// Default sfsim's (10,000).
	BulkBatchSize int
	Logger        zerolog.Logger
}

// Sim is a running simulator with a key pair it trusts, so that clients use
// the production JWT bearer flow against it.
type Sim struct {
	*sfsim.Server
	URL    string
	keyPEM []byte
	srv    *http.Server
	done   chan struct{}
}

// StartSim starts the simulator and generates an RSA key pair for it.
func StartSim(o SimOptions) (*Sim, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	cfg := sfsim.Config{Faults: o.Faults, Logger: o.Logger, BulkBatchSize: o.BulkBatchSize}
	if o.SchemaFile != "" {
		s, err := sfsim.LoadSchemaFile(o.SchemaFile)
		if err != nil {
			return nil, fmt.Errorf("simulator schema: %w", err)
		}
		cfg.Schema = s
	}
	priv, pub, err := sfsim.GenerateKeyPair(2048)
	if err != nil {
		return nil, fmt.Errorf("simulator key pair: %w", err)
	}
	pk, err := sfsim.ParsePublicKeyPEM(pub)
	if err != nil {
		return nil, err
	}
	cfg.PublicKeys = append(cfg.PublicKeys, pk)
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: listening on %s: %w", o.Addr, err)
	}
	// The simulator takes its instance URL (and JWT audience) from its
	// configuration, never from a request's Host header.
	cfg.InstanceURL = "http://" + ln.Addr().String()
	sim, err := sfsim.New(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Sim{Server: sim, URL: "http://" + ln.Addr().String(), keyPEM: priv, done: make(chan struct{})}
	s.srv = &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error().Err(err).Msg("simulator stopped")
		}
	}()
	return s, nil
}

// SalesforceConfig is a client configuration for the simulator, using the
// JWT bearer flow with the generated key.
func (s *Sim) SalesforceConfig() salesforce.Config {
	return salesforce.Config{
		LoginURL:   s.URL,
		ClientID:   sfsim.DefaultConsumerKey,
		Username:   sfsim.DefaultUsername,
		PrivateKey: string(s.keyPEM),
		AllowHTTP:  true, // the simulator serves plain http
	}
}

// Close stops serving and the simulator's background work.
func (s *Sim) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
	s.Server.Close()
}
