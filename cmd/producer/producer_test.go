package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// helpFlags splits PrintDefaults output into each flag's name and text.
func helpFlags(help string) map[string]string {
	flags := map[string]string{}
	name := ""
	for _, line := range strings.Split(help, "\n") {
		if m := regexp.MustCompile(`^  -([a-z0-9-]+)`).FindStringSubmatch(line); m != nil {
			name = m[1]
			flags[name] = line
			continue
		}
		if name != "" && strings.HasPrefix(line, "    ") {
			flags[name] += " " + strings.TrimSpace(line)
		}
	}
	return flags
}

func TestHelpNamesEveryEnvironmentVariable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args  []string
		flags []string // flags that must be there, besides the shared ones
	}{
		{[]string{"publish"}, []string{"pipelines", "pipeline", "job", "key-column", "format", "encoding", "subject", "stop-on-error", "wait", "timeout", "out-dir", "plain", "progress"}},
		{[]string{"wait"}, []string{"job", "total", "timeout"}},
		{[]string{"dlq", "list"}, []string{"pipeline", "sobject", "mode", "code", "job", "since", "until", "seq", "limit", "json"}},
		{[]string{"dlq", "show"}, []string{"seq", "json"}},
		{[]string{"dlq", "replay"}, []string{"to-pipeline", "pipelines", "dry-run", "seq", "code", "json", "by", "republish-in-doubt", "concurrency"}},
		{[]string{"dlq", "purge"}, []string{"yes", "seq", "job"}},
	} {
		name := strings.Join(c.args, " ")
		r := runCmd(t, "", append(c.args, "--help")...)
		if r.code != 0 {
			t.Errorf("%s --help: exit %d", name, r.code)
		}
		help := r.stdout + r.stderr
		flags := helpFlags(help)
		shared := []string{"prefix", "log-level", "log-format", "nats-url", "nats-user", "nats-password", "nats-token",
			"nats-nkey", "nats-creds", "nats-tls-cert", "nats-tls-key", "nats-tls-ca"}
		for _, f := range append(shared, c.flags...) {
			if _, ok := flags[f]; !ok {
				t.Errorf("%s --help does not list --%s", name, f)
			}
		}
		for f, text := range flags {
			if !regexp.MustCompile(`\(env [A-Z][A-Z0-9_]+\)`).MatchString(text) {
				t.Errorf("%s --help: --%s names no environment variable: %q", name, f, text)
			}
		}
	}
	// The top-level and dlq usages.
	r := runCmd(t, "", "--help").expect(t, 0)
	contains(t, "producer --help", r.stdout, "producer publish", "producer wait", "producer dlq list", "Exit codes")
	runCmd(t, "").expect(t, 2)
	r = runCmd(t, "", "dlq", "--help").expect(t, 0)
	contains(t, "dlq --help", r.stdout, "list", "show", "replay", "purge", "--since")
	runCmd(t, "", "dlq").expect(t, 2)
}

// --help shows every flag's default, the environment's when set: never a
// secret, whether it is a variable of its own or part of NATS_URL.
func TestHelpShowsNoSecret(t *testing.T) {
	t.Setenv("NATS_URL", "nats://kinetic:url-pw-41@nats-1:4222,nats://url-token-42@nats-2:4222")
	t.Setenv("NATS_PASSWORD", "env-pw-43")
	t.Setenv("NATS_TOKEN", "env-token-44")
	for _, args := range [][]string{{"publish"}, {"wait"}, {"dlq", "list"}, {"dlq", "replay"}} {
		r := runCmd(t, "", append(args, "--help")...).expect(t, 0)
		help := r.stdout + r.stderr
		for _, secret := range []string{"url-pw-41", "url-token-42", "env-pw-43", "env-token-44"} {
			if strings.Contains(help, secret) {
				t.Errorf("%s --help shows %q", strings.Join(args, " "), secret)
			}
		}
		contains(t, strings.Join(args, " ")+" --help", help, "nats://kinetic:REDACTED@nats-1:4222,nats://REDACTED@nats-2:4222")
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"dlq", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"publish", "file.csv"}, "--pipeline is required"},
		{[]string{"publish", "--pipeline", "accounts", "--pipelines", pipelinesFile}, "give one or more files"},
		{[]string{"publish", "--pipeline", "nope", "--pipelines", pipelinesFile, "x.csv"}, `no pipeline "nope"`},
		{[]string{"publish", "--pipeline", "accounts", "--pipelines", "testdata/missing.yaml", "x.csv"}, "missing.yaml"},
		{[]string{"publish", "--no-such-flag"}, "no-such-flag"},
		{[]string{"publish", "--pipeline", "accounts", "--pipelines", pipelinesFile, "--log-level", "loud", "x.csv"}, `"loud"`},
		{[]string{"wait", "--job", "j"}, "--job and --total are required"},
		{[]string{"wait", "--total", "3"}, "--job and --total are required"},
		{[]string{"dlq", "list", "--since", "garbage"}, `--since: "garbage" is neither`},
		{[]string{"dlq", "list", "--until", "yesterday"}, "--until"},
		{[]string{"dlq", "list", "--since", "-5m"}, "--since"},
		{[]string{"dlq", "list", "--seq", "0"}, `--seq "0"`},
		{[]string{"dlq", "replay", "--seq", "abc"}, `--seq "abc"`},
		{[]string{"dlq", "purge", "--seq", "1,x"}, `--seq "x"`},
		{[]string{"dlq", "show"}, "give one or more sequence numbers"},
		{[]string{"dlq", "show", "zero"}, `--seq "zero"`},
		{[]string{"dlq", "list", "extra"}, "unexpected arguments"},
		{[]string{"dlq", "replay", "--to-pipeline", "nope", "--pipelines", pipelinesFile}, `no pipeline "nope"`},
		{[]string{"dlq", "replay", "--republish-in-doubt", "--pipelines", pipelinesFile}, "--republish-in-doubt needs the dead letters named with --seq"},
	} {
		r := runCmd(t, "", c.args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", c.args, r.code, r.stdout, r.stderr)
			continue
		}
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: stderr %q does not contain %q", c.args, r.stderr, c.want)
		}
	}
}

func TestBadEnvironmentIsUsageError(t *testing.T) {
	t.Setenv("KINETIC_TIMEOUT", "soon")
	r := runCmd(t, "", "publish", "--pipeline", "accounts", "--pipelines", pipelinesFile, "x.csv").expect(t, 2)
	contains(t, "stderr", r.stderr, `KINETIC_TIMEOUT="soon"`)
	t.Setenv("KINETIC_TIMEOUT", "")
	t.Setenv("KINETIC_DLQ_LIMIT", "lots")
	r = runCmd(t, "", "dlq", "list").expect(t, 2)
	contains(t, "stderr", r.stderr, `KINETIC_DLQ_LIMIT="lots"`)
}

// Nothing listening: a connection error is exit 1, not a usage error.
func TestConnectionErrorIsExitOne(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(in, []byte("key,company\nA,B\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "", "publish", "--nats-url", "nats://127.0.0.1:1", "--pipelines", pipelinesFile, "--pipeline", "accounts", in).expect(t, 1)
	contains(t, "stderr", r.stderr, "connecting to NATS")
	runCmd(t, "", "dlq", "list", "--nats-url", "nats://127.0.0.1:1").expect(t, 1)
	runCmd(t, "", "wait", "--nats-url", "nats://127.0.0.1:1", "--job", "j", "--total", "1").expect(t, 1)
}

func TestPublishWaitExitCodes(t *testing.T) {
	t.Parallel()
	w := setup(t)
	out := t.TempDir()
	good := w.file("good.csv", "key,company,tier\nG-1,Good One,Gold\nG-2,Good Two,\nG-3,Good Three,Silver\n")
	r := w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--job", "good-job", "--out-dir", out, good).expect(t, 0)
	contains(t, "stdout", r.stdout,
		"job good-job: published 3 records to kinetic.records.Account.upsert",
		"status:            success", "total records:     3", "loaded:            3", "dead-lettered:     0",
		"success rate:      100.0%", filepath.Join(out, "success-good-job.csv"), filepath.Join(out, "error-good-job.csv"))
	contains(t, "progress (stderr)", r.stderr, "progress: 3/3 (100%)")
	if w.live() != 3 {
		t.Errorf("%d accounts", w.live())
	}
	if b, err := os.ReadFile(filepath.Join(out, "success-good-job.csv")); err != nil || strings.Count(string(b), "Item Created") != 3 {
		t.Errorf("success file %q %v", b, err)
	}

	partial := w.file("partial.jsonl", `{"key":"P-1","company":"Partial One","tier":"Gold"}
{"key":"P-2","company":"Partial Two","tier":"Bronze"}
{"key":"P-3","tier":"Gold"}
`)
	r = w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--job", "partial-job", "--out-dir", out, partial).expect(t, 3)
	contains(t, "stdout", r.stdout, "status:            partial", "loaded:            1", "dead-lettered:     2",
		"dead letters by code:", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "REQUIRED_FIELD_MISSING")

	failed := w.file("failed.csv", "key,company,tier\nF-1,Failed One,Bronze\nF-2,Failed Two,Copper\n")
	r = w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--job", "failed-job", "--out-dir", out, failed).expect(t, 4)
	contains(t, "stdout", r.stdout, "status:            failed", "loaded:            0", "dead-lettered:     2")
	rows, err := os.ReadFile(filepath.Join(out, "error-failed-job.csv"))
	if err != nil || strings.Count(string(rows), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: ") != 2 {
		t.Errorf("error file %q %v", rows, err)
	}

	// Without --wait: published, exit 0, no summary.
	r = w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--job", "nowait-job", "--out-dir", out, failed).expect(t, 0)
	if strings.Contains(r.stdout, "status:") {
		t.Errorf("summary without --wait:\n%s", r.stdout)
	}
	contains(t, "stdout", r.stdout, "job nowait-job: published 2 records")

	// A bad file: exit 1, nothing published, the error says where.
	bad := w.file("bad.csv", "key,company\nB-1,One\nB-2\n")
	before := w.published(topo.RecordsStream())
	r = w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--out-dir", out, bad).expect(t, 1)
	contains(t, "stderr", r.stderr, "bad.csv:3:", "wrong number of cells")
	if after := w.published(topo.RecordsStream()); after != before {
		t.Errorf("a bad file published %d records", after-before)
	}
}

func TestPublishTimeoutExitFive(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("t.csv", "key,company\nT-1,One\n")
	// Published to a subject no worker consumes: no result ever comes.
	r := w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--subject", "kinetic.records.Account.nobody",
		"--wait", "--timeout", "300ms", "--job", "timeout-job", "--out-dir", t.TempDir(), in).expect(t, 5)
	contains(t, "stderr", r.stderr, "timeout-job", "deadline exceeded")
	contains(t, "stdout", r.stdout, "published 1 records to kinetic.records.Account.nobody", "skipped:           1")
}

func TestWaitCommand(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("w.csv", "key,company,tier\nW-1,One,Gold\nW-2,Two,Bronze\n")
	w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--job", "wait-job", in).expect(t, 0)
	r := w.run("", "wait", "--job", "wait-job", "--total", "2").expect(t, 3)
	contains(t, "stdout", r.stdout, "job wait-job:", "status:            partial", "loaded:            1", "dead-lettered:     1")
	r = w.run("", "wait", "--job", "no-such-job", "--total", "2", "--timeout", "200ms").expect(t, 5)
	contains(t, "stderr", r.stderr, "deadline exceeded")
	contains(t, "stdout", r.stdout, "skipped:           2")
	r = w.run("", "wait", "--job", "bad.job", "--total", "1").expect(t, 1)
	contains(t, "stderr", r.stderr, "not a valid job id")
}

func TestDLQ(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("d.csv", "key,company,tier\nD-1,One,Gold\nD-2,Two,Bronze\nD-3,Three,Bronze\nD-4,,Gold\n")
	w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--job", "dlq-job", "--out-dir", t.TempDir(), in).expect(t, 3)

	// list: a table, oldest first, and a count.
	r := w.run("", "dlq", "list").expect(t, 0)
	contains(t, "dlq list", r.stdout, "SEQ", "STORED", "PIPELINE", "CODE", "3 dead letters", "dlq-job",
		"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "REQUIRED_FIELD_MISSING")
	r = w.run("", "dlq", "list", "--code", "REQUIRED_FIELD_MISSING").expect(t, 0)
	contains(t, "dlq list --code", r.stdout, "1 dead letters")
	r = w.run("", "dlq", "list", "--pipeline", "account-inserts").expect(t, 0)
	contains(t, "dlq list --pipeline", r.stdout, "0 dead letters")
	r = w.run("", "dlq", "list", "--since", "1h", "--limit", "2").expect(t, 0)
	contains(t, "dlq list --since --limit", r.stdout, "2 dead letters")

	// list --json: one object per line, the record parsed.
	r = w.run("", "dlq", "list", "--json").expect(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("--json printed %d lines:\n%s", len(lines), r.stdout)
	}
	byKey := map[string]map[string]any{}
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		rec, ok := e["record"].(map[string]any)
		if !ok {
			t.Fatalf("record not parsed: %v", e)
		}
		byKey[rec["key"].(string)] = e
		// The subject the record was stored under: its key's (with the
		// stream's partition).
		subj, _ := e["subject"].(string)
		r, err := topo.Subjects().ParseRecords(subj)
		if e["job"] != "dlq-job" || e["pipeline"] != "accounts" || err != nil || r.SObject != "Account" || r.Mode != "upsert" ||
			r.Key != messages.KeyToken(rec["key"].(string)) || e["seq"] == nil {
			t.Errorf("entry %v", e)
		}
	}
	if e := byKey["D-2"]; e == nil || e["code"] != "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" || e["job_seq"] != float64(2) {
		t.Errorf("D-2: %v", e)
	}
	if e := byKey["D-4"]; e == nil || e["code"] != "REQUIRED_FIELD_MISSING" || e["job_seq"] != float64(4) {
		t.Errorf("D-4: %v", e)
	}
	seqD2 := fmt.Sprint(byKey["D-2"]["seq"])

	// show: the original record and the error.
	r = w.run("", "dlq", "show", seqD2).expect(t, 0)
	contains(t, "dlq show", r.stdout, "dead letter "+seqD2, "pipeline:   accounts (Account upsert)",
		"job dlq-job seq 2", "error:      INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: ", "Bronze",
		`original:   {"company":"Two","key":"D-2","tier":"Bronze"}`, "header:     Kinetic-Job: dlq-job")
	r = w.run("", "dlq", "show", "999").expect(t, 1)
	contains(t, "dlq show 999", r.stderr, "999", "not found")

	// replay --dry-run: says what it would do, changes nothing.
	r = w.run("", "dlq", "replay", "--pipelines", pipelinesFile, "--code", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "--dry-run").expect(t, 0)
	contains(t, "dlq replay --dry-run", r.stdout, "dry run: nothing is published or removed", ": would be replayed to kinetic.records.Account.upsert",
		"2 dead letters: 2 would be replayed")
	if n := w.streamMsgs(topo.DLQStream()); n != 3 {
		t.Errorf("dry run left %d dead letters", n)
	}

	// Fix the cause, replay: the records load.
	liveBefore := w.live()
	w.fixSchema()
	r = w.run("", "dlq", "replay", "--pipelines", pipelinesFile, "--code", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST").expect(t, 0)
	contains(t, "dlq replay", r.stdout, ": replayed to kinetic.records.Account.upsert.d-", "(records stream seq ", "2 dead letters: 2 replayed")
	waitFor(t, "replayed records loaded", func() bool { return w.live() == liveBefore+2 })
	recs, err := w.sim.Server.Records("Account")
	if err != nil {
		t.Fatal(err)
	}
	tiers := map[string]any{}
	for _, rec := range recs {
		tiers[fmt.Sprint(rec["External_Key__c"])] = rec["Customer_Tier__c"]
	}
	if tiers["D-2"] != "Bronze" || tiers["D-3"] != "Bronze" {
		t.Errorf("replayed records: %v", tiers)
	}
	// The second replay replays nothing and publishes nothing.
	records := w.published(topo.RecordsStream())
	r = w.run("", "dlq", "replay", "--pipelines", pipelinesFile, "--code", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST").expect(t, 0)
	contains(t, "second dlq replay", r.stdout, "no dead letter matches: nothing to replay")
	if n := w.published(topo.RecordsStream()); n > records {
		t.Errorf("second replay published %d records", n-records)
	}
	r = w.run("", "dlq", "list").expect(t, 0)
	contains(t, "dlq list after replay", r.stdout, "1 dead letters", "REQUIRED_FIELD_MISSING")

	// purge: asks first; "no" keeps everything.
	r = w.run("no\n", "dlq", "purge").expect(t, 1)
	contains(t, "dlq purge (no)", r.stdout, "delete 1 dead letters? type yes")
	contains(t, "dlq purge (no)", r.stderr, "not confirmed; nothing deleted")
	if n := w.streamMsgs(topo.DLQStream()); n != 1 {
		t.Errorf("refused purge left %d dead letters", n)
	}
	r = w.run("", "dlq", "purge").expect(t, 1) // no answer at all is no
	r = w.run("yes\n", "dlq", "purge", "--job", "other-job").expect(t, 0)
	contains(t, "dlq purge of another job", r.stdout, "delete 0 dead letters?", "deleted 0 dead letters")
	r = w.run("", "dlq", "purge", "--yes").expect(t, 0)
	contains(t, "dlq purge --yes", r.stdout, "deleted 1 dead letters")
	if n := w.streamMsgs(topo.DLQStream()); n != 0 {
		t.Errorf("%d dead letters after purge", n)
	}
}

func TestDLQReplayToPipelineAndConfirmedPurge(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("x.csv", "key,company,tier\nX-1,One,Copper\nX-2,Two,Copper\n")
	w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--job", "x-job", "--out-dir", t.TempDir(), in).expect(t, 4)
	r := w.run("", "dlq", "list", "--json", "--limit", "1").expect(t, 0)
	var first map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &first); err != nil {
		t.Fatalf("%q: %v", r.stdout, err)
	}
	seq := fmt.Sprint(first["seq"])
	// Replayed into the insert pipeline, with the tier fixed by the schema.
	w.fixSchemaWith("{name: Customer_Tier__c, type: picklist, values: [Platinum, Gold, Silver, Bronze, Copper], restricted: true}")
	r = w.run("", "dlq", "replay", "--seq", seq, "--to-pipeline", "account-inserts", "--pipelines", pipelinesFile).expect(t, 0)
	contains(t, "replay --to-pipeline", r.stdout, "dead letter "+seq+": replayed to kinetic.records.Account.insert", "1 dead letters: 1 replayed")
	waitFor(t, "the replayed record inserted", func() bool { return w.live() == 1 })
	// "yes" on standard input confirms.
	r = w.run("yes\n", "dlq", "purge").expect(t, 0)
	contains(t, "purge", r.stdout, "delete 1 dead letters? type yes", "deleted 1 dead letters")
}

// A server where no worker ever ran has no streams: the dlq commands say so.
func TestDLQWithoutStreams(t *testing.T) {
	t.Parallel()
	ns := devenv.StartTestNATS(t)
	r := runCmd(t, "", "dlq", "list", "--nats-url", ns.ClientURL()).expect(t, 1)
	contains(t, "stderr", r.stderr, "KINETIC_DLQ does not exist", "start a worker")
}

// Re-running a job id publishes nothing twice, and says so.
func TestPublishDuplicatesReported(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("r.csv", "key,company\nR-1,One\nR-2,Two\n")
	w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--job", "rerun", in).expect(t, 0)
	r := w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--job", "rerun", in).expect(t, 0)
	contains(t, "stdout", r.stdout, "job rerun: published 2 records", "(2 were already there)")
}

// Bytes that are not UTF-8 are refused (exit 1, nothing published) unless
// --encoding names the file's encoding; then they are converted exactly.
func TestPublishEncoding(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("latin1.csv", "key,company,tier\nE-1,Caf\xe9,Gold\n")
	before := w.published(topo.RecordsStream())
	r := w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--out-dir", "", in).expect(t, 1)
	contains(t, "stderr", r.stderr, "latin1.csv:2:8: byte 0xE9 is not UTF-8", "--encoding")
	if after := w.published(topo.RecordsStream()); after != before {
		t.Errorf("%d records published", after-before)
	}
	w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--encoding", "latin1", "--wait", "--out-dir", "", in).expect(t, 0)
	recs, err := w.sim.Server.Records("Account")
	if err != nil || len(recs) != 1 || recs[0]["Name"] != "Café" {
		t.Errorf("in Salesforce: %v %v", recs, err)
	}
}

// A job whose results report a record loaded twice as different Salesforce
// records (an INSERT redelivered after a worker died between Salesforce
// applying it and the ack) says so plainly, with the ids.
func TestWaitReportsDuplicateInserts(t *testing.T) {
	t.Parallel()
	w := setup(t)
	now := time.Now()
	for i, outcomes := range [][]messages.RecordOutcome{
		{{Seq: 1, Status: messages.StatusLoaded, ID: "001000000000001AAA", Created: true}, {Seq: 2, Status: messages.StatusLoaded, ID: "001000000000002AAA", Created: true}},
		{{Seq: 1, Status: messages.StatusLoaded, ID: "001000000000003AAA", Created: true}},
	} {
		data, err := messages.EncodeBatchResult(&messages.BatchResult{BatchID: fmt.Sprint("b", i), Pipeline: "account-inserts", SObject: "Account",
			Mode: "insert", Job: "dup-job", Worker: "w", Loaded: len(outcomes), StartedAt: now, FinishedAt: now, Records: outcomes})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.js.Publish(context.Background(), topo.Subjects().Results("account-inserts", "dup-job"), data); err != nil {
			t.Fatal(err)
		}
	}
	r := w.run("", "wait", "--job", "dup-job", "--total", "2").expect(t, 0)
	contains(t, "stdout", r.stdout, "loaded:            2",
		"INSERTED TWICE:    1 records were inserted more than once (a worker died after Salesforce applied them); Salesforce holds 1 extra records:",
		"record 1: 001000000000001AAA (kept in the success file), extra: 001000000000003AAA")
}

// A record whose key cannot be computed is published unkeyed, named by the
// command before the wait, and dead-lettered by the worker.
func TestPublishListsRecordsWithoutAKey(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("nokey.csv", "key,company,tier\nK-1,One,Gold\n,No key,Gold\n")
	r := w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--out-dir", "", in).expect(t, 3)
	contains(t, "stdout", r.stdout,
		"without a key:     1 records, published unkeyed; the workers dead-letter them:",
		"nokey.csv:3: KINETIC_MISSING_EXTERNAL_ID", "loaded:            1", "dead-lettered:     1", "KINETIC_MISSING_EXTERNAL_ID")
}
