package testutil

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on, for a
// server the test starts later (or never, to test a refused connection).
//
// A port from a ":0" listener that is closed again is not safe for that: it
// comes from the kernel's ephemeral range, which every outbound connection
// and every other ":0" listener draws from, so another test running in
// parallel can take it before the server binds it. TestWaitsForNATS failed so
// in CI ("embedded nats: not ready after 20s": nats-server could not bind);
// a client retrying a refused connection to a port of that range can even
// connect to itself (TCP simultaneous open) and hold it. So FreePort takes
// ports below the ephemeral range, which the kernel never hands out, and
// locks each with flock(2) on a file under the temporary directory for the
// rest of the test, so that the test processes of other packages, which go
// test runs in parallel, skip it. The lock goes with the process.
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := portPool()
	if hi <= lo {
		t.Fatalf("FreePort: no ports below the ephemeral range (net.ipv4.ip_local_port_range starts at %d)", hi)
	}
	dir := lockDir()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatalf("FreePort: %v", err)
	}
	n := hi - lo
	first := rand.IntN(n)
	for i := range n {
		port := lo + (first+i)%n
		lock, err := lockPort(dir, port)
		if err != nil {
			continue // another test holds it
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			lock.Close() // something else listens on it
			continue
		}
		ln.Close()
		t.Cleanup(func() { lock.Close() })
		return port
	}
	t.Fatalf("FreePort: every port in [%d, %d) is taken", lo, hi)
	return 0
}

func lockDir() string { return filepath.Join(os.TempDir(), "kinetic-test-ports") }

// portPool is [20000, the first ephemeral port): the kernel's ephemeral range
// starts at 32768 by default.
func portPool() (lo, hi int) {
	lo, hi = 20000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				hi = v
			}
		}
	}
	return lo, hi
}

// lockPort takes an exclusive, non-blocking flock on dir/port.
func lockPort(dir string, port int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err // EWOULDBLOCK: another test holds it
	}
	return f, nil
}
