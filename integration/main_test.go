//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"go.uber.org/goleak"
)

// The images deploy/build-images.sh builds. KINETIC_IMAGE_TAG selects
// another tag (build-images.sh's TAG).
var (
	imageTag      = envOr("KINETIC_IMAGE_TAG", "dev")
	imageNATS     = "kinetic/nats:" + imageTag
	imageSim      = "kinetic/sfsim:" + imageTag
	imageWorker   = "kinetic/worker:" + imageTag
	imageProducer = "kinetic/producer:" + imageTag
)

// Labels on every container and network this package creates: the pid
// tells a later run whether their owner is gone (see sweepOrphans).
const (
	labelOwner = "io.kinetic.integration"
	labelPID   = "io.kinetic.integration.pid"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	// Ryuk (the reaper container) cannot be pulled here; every test removes
	// its own containers instead. Make `go test` work without the variable.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// The harness logs what it does to containers itself; testcontainers'
	// own lifecycle lines would drown the accounting tables.
	tclog.SetDefault(tclog.NewNoopLogger())
	if err := preflight(); err != nil {
		// Never skip: CI must fail loudly when Docker or an image is missing.
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		fmt.Println("FAIL: the integration tests could not start")
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// preflight checks that the Docker engine answers and that every image
// exists, and removes what an earlier, killed run of this package left.
func preflight() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("the Docker engine is not reachable (%w): these tests run the real binaries in containers; start Docker (and check DOCKER_HOST)", err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("the Docker engine does not answer a ping (%w): start Docker", err)
	}
	var missing []error
	for _, img := range []string{imageNATS, imageSim, imageWorker, imageProducer} {
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			missing = append(missing, fmt.Errorf("image %s is missing (%w)", img, err))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w\nbuild them first with `make images` (deploy/build-images.sh); nothing can be pulled", errors.Join(missing...))
	}
	// Where published ports are reached. testcontainers guesses the default
	// gateway when the tests run inside a container (/.dockerenv), which is
	// wrong when the engine runs in the same network namespace as the tests
	// (this machine, CI): its ports are then published on our loopback.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" && engineIsLocal(ctx, cli) {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	sweepOrphans(ctx, cli)
	return nil
}

// engineIsLocal reports whether the Docker engine shares this process's
// network namespace: one of our interfaces is on its default bridge.
func engineIsLocal(ctx context.Context, cli *testcontainers.DockerClient) bool {
	res, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, cfg := range res.Network.IPAM.Config {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && cfg.Subnet.IsValid() && cfg.Subnet.Contains(ip.Unmap()) {
				return true
			}
		}
	}
	return false
}

// sweepOrphans removes containers and networks of this package whose test
// process is gone: a run stopped by `go test -timeout` (whose panic skips
// every t.Cleanup) or killed. Resources of a live run (another engineer's
// concurrent `make integration`) are left alone.
func sweepOrphans(ctx context.Context, cli *testcontainers.DockerClient) {
	orphan := func(labels map[string]string) bool {
		if _, ours := labels[labelOwner]; !ours {
			return false
		}
		pid, err := strconv.Atoi(labels[labelPID])
		if err != nil || pid <= 0 {
			return false
		}
		err = syscall.Kill(pid, 0)
		return errors.Is(err, syscall.ESRCH)
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labelOwner)})
	if err == nil {
		for _, c := range cs.Items {
			if orphan(c.Labels) {
				fmt.Fprintf(os.Stderr, "integration: removing container %.12s left by a killed run (pid %s)\n", c.ID, c.Labels[labelPID])
				_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", labelOwner)})
	if err == nil {
		for _, n := range ns.Items {
			if orphan(n.Labels) {
				fmt.Fprintf(os.Stderr, "integration: removing network %s left by a killed run\n", n.Name)
				_, _ = cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			}
		}
	}
}
