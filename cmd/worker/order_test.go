package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/producer"
	"github.com/kinetic-sync/kinetic/internal/testutil"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// The per-key order issue's file, as a new user loads it: `worker --dev`
// and a publish with --wait, while the simulator injects each of the
// issue's fault mixes. 2,000 upserts of the example accounts pipeline;
// keys K001–K100 appear twice — rows 1–100 set Name=OLD, rows 1801–1900
// Name=NEW — and every other row has a key of its own. Every time all 100
// keys end on NEW, every record is loaded, and no request carried a key
// twice (no DUPLICATE_VALUE).
func TestDevModeKeepsKeyOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 6,000 records under faults")
	}
	t.Parallel()
	port := testutil.FreePort(t)
	r := start(t, "--dev", "--dev-nats-port", fmt.Sprint(port), "--dev-sf-addr", "127.0.0.1:0",
		"--metrics-addr", "", "--dev-schema", "../../examples/schema.yaml",
		"--pipelines", "../../examples/pipelines.yaml", "--dev-store", t.TempDir(), "--log-format", "json", "--log-level", "error")
	waitFor(t, "the dev environment banner", func() bool {
		r.exited(t)
		return strings.Contains(r.stdout.String(), "Publish from another terminal")
	})
	simURL := regexp.MustCompile(`Salesforce simulator:\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(r.stdout.String())
	if simURL == nil {
		t.Fatalf("no simulator URL in the banner:\n%s", r.stdout.String())
	}
	admin := sfsim.NewAdminClient(simURL[1], nil)
	_, js := devenv.ConnectTest(t, fmt.Sprintf("nats://127.0.0.1:%d", port))
	cfg, err := pipeline.LoadConfig("../../examples/pipelines.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := cfg.Pipeline("accounts")
	ctx := context.Background()

	mixes := []struct {
		name   string
		faults sfsim.Faults
	}{
		{"30% 503s", sfsim.Faults{Rate503: 0.3, Latency: 50 * time.Millisecond, Jitter: 40 * time.Millisecond}},
		{"20% 503s and 10% row locks", sfsim.Faults{Rate503: 0.2, LockRowRate: 0.1, Latency: 50 * time.Millisecond, Jitter: 40 * time.Millisecond}},
		{"5% row locks", sfsim.Faults{LockRowRate: 0.05, Latency: 50 * time.Millisecond, Jitter: 40 * time.Millisecond}},
	}
	for i, mix := range mixes {
		if err := admin.SetFaults(ctx, mix.faults); err != nil {
			t.Fatal(err)
		}
		prefix := fmt.Sprintf("ON%d", i+1)
		file := filepath.Join(t.TempDir(), "old-new.csv")
		var b strings.Builder
		b.WriteString("ext_id,company\n")
		for row := 1; row <= 2000; row++ {
			key, name := fmt.Sprintf("%s-%04d", prefix, row), fmt.Sprintf("Company %d", row)
			switch {
			case row <= 100:
				key, name = fmt.Sprintf("%s-K%03d", prefix, row), "OLD"
			case row > 1800 && row <= 1900:
				key, name = fmt.Sprintf("%s-K%03d", prefix, row-1800), "NEW"
			}
			fmt.Fprintf(&b, "%s,%s\n", key, name)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		before, err := admin.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := producer.Publish(ctx, producer.Options{JS: js, Pipeline: pc, Files: []string{file}, Job: fmt.Sprintf("oldnew-%d", i+1),
			Wait: true, Timeout: 5 * time.Minute})
		if err != nil {
			t.Fatalf("%s: publish: %v", mix.name, err)
		}
		if res := rep.Result; res == nil || res.SuccessCount != 2000 || res.ErrorCount != 0 {
			t.Errorf("%s: %+v", mix.name, rep.Result)
		}
		recs, err := admin.Records(ctx, "Account", false)
		if err != nil {
			t.Fatal(err)
		}
		onNew := 0
		for _, rec := range recs {
			if k, _ := rec["External_Key__c"].(string); strings.HasPrefix(k, prefix+"-K") {
				if rec["Name"] == "NEW" {
					onNew++
				} else {
					t.Errorf("%s: key %s ends on %v", mix.name, k, rec["Name"])
				}
			}
		}
		after, err := admin.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if onNew != 100 || after.ErrorsByCode["DUPLICATE_VALUE"] != before.ErrorsByCode["DUPLICATE_VALUE"] {
			t.Errorf("%s: %d of 100 keys on NEW; DUPLICATE_VALUE %d", mix.name, onNew, after.ErrorsByCode["DUPLICATE_VALUE"]-before.ErrorsByCode["DUPLICATE_VALUE"])
		}
		t.Logf("%s: 100 of 100 keys on NEW; simulator errors %v", mix.name, after.ErrorsByCode)
	}
	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d\n%s", code, r.stderr.String())
	}
}
