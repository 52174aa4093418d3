package messages_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// jsEnv is one test's embedded JetStream server and a connection to it.
type jsEnv struct {
	ns *devenv.NATS
	nc *nats.Conn
	js jetstream.JetStream
}

// startJS starts an embedded nats-server with JetStream for one test.
func startJS(t *testing.T) *jsEnv {
	t.Helper()
	ns := devenv.StartTestNATS(t)
	nc, js := ns.ConnectTest(t)
	return &jsEnv{ns: ns, nc: nc, js: js}
}

// ensure creates topo's streams.
func (e *jsEnv) ensure(t *testing.T, topo messages.Topology) {
	t.Helper()
	if err := topo.Ensure(testCtx(t), e.js); err != nil {
		t.Fatal(err)
	}
}

// streamMsgs is the number of messages stored in a stream.
func (e *jsEnv) streamMsgs(t *testing.T, name string) uint64 {
	t.Helper()
	s, err := e.js.Stream(testCtx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after 10 s.
