package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinetic-sync/kinetic/internal/devenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUsageAndBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb, nil); code != 0 {
		t.Fatalf("--help = %d", code)
	}
	help := errb.String()
	for _, want := range []string{"-addr", "KINETIC_CONSOLE_ADDR", "-write-token", "KINETIC_CONSOLE_WRITE_TOKEN", "-nats-url", "-pipelines", "read-only"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--write-user", "ops"}, "go together"},
		{[]string{"--write-token", "short"}, "at least 16"},
		{[]string{"--prefix", "a.b"}, "--prefix"},
		{[]string{"--history", "0s"}, "--history"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		errb.Reset()
		if code := run(context.Background(), tc.args, io.Discard, &errb, nil); code != 2 {
			t.Errorf("%v = %d, want 2", tc.args, code)
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: %q lacks %q", tc.args, errb.String(), tc.want)
		}
	}
}

// The console serves while NATS is unreachable, says so, and stops cleanly.
func TestServesWhileNATSIsUnreachable(t *testing.T) {
	ns := devenv.StartTestNATS(t)
	url := ns.ClientURL()
	ns.Shutdown() // nothing listens there now
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--nats-url", url, "--log-level", "error",
			"--write-token", "0123456789abcdef0123"}, io.Discard, io.Discard, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not start serving")
	}
	get := func(path string) string {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for body := get("/"); !strings.Contains(body, "NATS unreachable"); body = get("/") {
		if time.Now().After(deadline) {
			t.Fatalf("the overview does not say that NATS is unreachable:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if body := get("/"); strings.Contains(body, "0123456789abcdef0123") {
		t.Error("the write token is rendered")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the console did not stop")
	}
}
