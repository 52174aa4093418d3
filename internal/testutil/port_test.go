package testutil

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePort(t *testing.T) {
	_, ephemeral := portPool()
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if p < 20000 || p >= ephemeral {
			t.Fatalf("port %d outside [20000, %d)", p, ephemeral)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		ln.Close()
	}
	// Another process's FreePort skips them while this test runs: their
	// locks are held (flock conflicts between open files as between
	// processes).
	for p := range seen {
		if f, err := lockPort(lockDir(), p); err == nil {
			f.Close()
			t.Fatalf("port %d is not locked while the test runs", p)
		}
	}
}
