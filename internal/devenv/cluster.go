package devenv

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a JetStream cluster of embedded servers in this process, routed
// to each other as the nodes of deploy/docker-compose.yaml are, for R3
// streams in tests.
type Cluster struct {
	tb      testing.TB
	Servers []*server.Server
	opts    []*server.Options
}

// StartTestCluster starts n servers, each routed to all of them, storing in
// tb.TempDir(); tb.Cleanup shuts them down. It returns once every server
// accepts connections; JetStream's meta leader may still be being elected.
func StartTestCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c, err := startCluster(n, func(int) string { return tb.TempDir() })
	if c != nil {
		c.tb = tb
		tb.Cleanup(c.Shutdown)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// StartCluster is StartTestCluster outside tests (the benchmark harness;
// Kill and Restart need a test cluster):
// server k stores in storeDir/n<k>; the caller shuts the cluster down.
func StartCluster(n int, storeDir string) (*Cluster, error) {
	c, err := startCluster(n, func(k int) string { return filepath.Join(storeDir, fmt.Sprintf("n%d", k+1)) })
	if err != nil && c != nil {
		c.Shutdown()
		return nil, err
	}
	return c, err
}

func startCluster(n int, store func(k int) string) (*Cluster, error) {
	c := &Cluster{}
	// JetStream clustering needs configured routes: reserve the cluster ports.
	ports := make([]int, n)
	var routes []string
	for k := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return c, err
		}
		ports[k] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[k]))
	}
	for k := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", k+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: store(k), NoLog: true, NoSigs: true,
			MaxPayload: 8 << 20,
			Cluster:    server.ClusterOpts{Name: "kinetic-test", Host: "127.0.0.1", Port: ports[k]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(o)
		if err != nil {
			return c, err
		}
		go s.Start()
		c.Servers, c.opts = append(c.Servers, s), append(c.opts, o)
	}
	for _, s := range c.Servers {
		if !s.ReadyForConnections(20 * time.Second) {
			return c, fmt.Errorf("server %s not ready", s.Name())
		}
	}
	return c, nil
}

// URLs lists the client URLs of the running servers, comma-separated.
func (c *Cluster) URLs() string {
	var us []string
	for _, s := range c.Servers {
		if s.Running() {
			us = append(us, s.ClientURL())
		}
	}
	return strings.Join(us, ",")
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for _, s := range c.Servers {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Kill shuts down the named server (a crash, as far as the others see).
func (c *Cluster) Kill(name string) {
	for _, s := range c.Servers {
		if s.Name() == name {
			s.Shutdown()
			s.WaitForShutdown()
			return
		}
	}
	c.tb.Errorf("no server %q", name)
}

// Restart starts the named server again on its store and waits until it
// accepts connections.
func (c *Cluster) Restart(name string) {
	c.tb.Helper()
	for k, s := range c.Servers {
		if s.Name() != name {
			continue
		}
		s, err := server.NewServer(c.opts[k].Clone())
		if err != nil {
			c.tb.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(20 * time.Second) {
			c.tb.Fatalf("server %s not ready again", name)
		}
		c.Servers[k] = s
		return
	}
	c.tb.Errorf("no server %q", name)
}
