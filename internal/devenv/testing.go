package devenv

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StartTestNATS starts an embedded nats-server with JetStream for one test
// or benchmark, storing in tb.TempDir(); tb.Cleanup shuts it down. It is
// the NATS counterpart of sfsim.StartTest.
func StartTestNATS(tb testing.TB) *NATS {
	tb.Helper()
	n, err := StartNATS(NATSOptions{StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Shutdown)
	return n
}

// ConnectTest connects to the server for one test; tb.Cleanup closes the
// connection.
func (n *NATS) ConnectTest(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	return ConnectTest(tb, n.ClientURL())
}

// ConnectTest connects to the NATS server at url for one test (one run in
// another process, say); tb.Cleanup closes the connection.
func ConnectTest(tb testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}
