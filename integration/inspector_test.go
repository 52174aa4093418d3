//go:build integration

package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
)

// The dead-letter tools (pkg/deadletter, behind `producer dlq list, show,
// replay, purge`) answer reliably against the 3-node cluster: every List
// of a job's dead letters returns all of them, and a replay dry run finds
// them too.
func TestDeadLetterInspectorInCluster(t *testing.T) {
	const n, calls = 200, 50
	c := NewCluster(t, Options{Workers: 1})
	j := c.UpsertJob("inspect", n)
	for i := range j.Payloads {
		if i%10 == 0 {
			j.Payloads[i] = []byte(`not json`)
		}
	}
	c.Publish(j, 1, n)
	res := c.Watch(j, 2*time.Minute)
	if res.ErrorCount != n/10 {
		t.Fatalf("job inspect: %d dead-lettered, want %d", res.ErrorCount, n/10)
	}
	insp, err := deadletter.NewInspector(c.ctx, c.JS, c.Topo, deadletter.WithPipelines(c.Pipes))
	if err != nil {
		t.Fatal(err)
	}
	failures := map[string]int{}
	for range calls {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		list, err := insp.List(ctx, deadletter.Filter{Job: j.ID})
		cancel()
		switch {
		case err != nil:
			failures[err.Error()]++
		case len(list) != n/10:
			failures[fmt.Sprintf("%d dead letters listed, want %d", len(list), n/10)]++
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	rep, err := insp.Replay(ctx, deadletter.Filter{Job: j.ID}, deadletter.ReplayOptions{DryRun: true})
	switch {
	case err != nil:
		failures["replay dry run: "+err.Error()]++
	case rep.Count(deadletter.Replayed) != n/10:
		failures[fmt.Sprintf("replay dry run found %d, want %d", rep.Count(deadletter.Replayed), n/10)]++
	}
	if len(failures) > 0 {
		t.Errorf("%d List calls and a replay dry run against the cluster; failures: %v", calls, failures)
	}
}
