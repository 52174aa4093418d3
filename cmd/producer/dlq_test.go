package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// dlq list shortens long error messages on a character boundary: a cut in
// the middle of a multi-byte character printed invalid UTF-8.
func TestDLQListShortensOnRuneBoundaries(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		strings.Repeat("a", 69) + "é" + strings.Repeat("b", 10), // é straddles byte 70
		strings.Repeat("日本", 40),
		strings.Repeat("€", 70), // exactly 70 characters: kept whole
		"short",
	} {
		e := deadletter.Entry{Seq: 1, Time: time.Unix(0, 0), DeadLetter: &messages.DeadLetter{Code: "C", Message: msg}}
		var out bytes.Buffer
		if err := writeList(&out, []deadletter.Entry{e}, false); err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(out.Bytes()) {
			t.Errorf("message %q: the table is not valid UTF-8:\n%q", msg, out.String())
		}
		lines := strings.Split(out.String(), "\n")
		row := lines[1]
		switch n := utf8.RuneCountInString(msg); {
		case n <= 70:
			if !strings.HasSuffix(row, msg) {
				t.Errorf("message %q (%d characters) was shortened: %q", msg, n, row)
			}
		default:
			want := string([]rune(msg)[:70]) + "…"
			if !strings.HasSuffix(row, want) {
				t.Errorf("message %q: row %q does not end in its first 70 characters and …", msg, row)
			}
		}
	}
}

// A dead letter that fails replay's checks is refused and reported, with
// what to do; the command fails, and --json gives the same report.
func TestDLQReplayReportsRefusals(t *testing.T) {
	t.Parallel()
	w := setup(t)
	in := w.file("r.csv", "key,company,tier\nR-1,One,Bronze\n")
	w.run("", "publish", "--pipelines", pipelinesFile, "--pipeline", "accounts", "--wait", "--job", "r-job", "--out-dir", t.TempDir(), in).expect(t, 4)
	// A planted dead letter that names a JetStream API subject.
	planted := &messages.DeadLetter{Pipeline: "accounts", SObject: "Account", Mode: "upsert", Subject: "$JS.API.STREAM.DELETE." + topo.RecordsStream(),
		Code: "X", Message: "planted"}
	h, body, err := messages.EncodeDeadLetter(planted)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := w.js.PublishMsg(context.Background(), &nats.Msg{Subject: topo.Subjects().DeadLetters("accounts", "Account", "upsert"), Header: h, Data: body})
	if err != nil {
		t.Fatal(err)
	}
	w.fixSchema()
	r := w.run("", "dlq", "replay", "--pipelines", pipelinesFile).expect(t, 1)
	contains(t, "replay", r.stdout, fmt.Sprintf("dead letter %d: refused: its subject \"$JS.API.STREAM.DELETE.KINETIC_RECORDS\" is not a record subject", ack.Sequence),
		"what to do:", "2 dead letters: 1 replayed, 1 refused")
	contains(t, "replay", r.stderr, "1 dead letters were not replayed and are still in the dead-letter stream")
	if n := w.streamMsgs(topo.DLQStream()); n != 1 {
		t.Errorf("dead-letter stream holds %d, want the refused one", n)
	}
	waitFor(t, "the replayed record loaded", func() bool { return w.live() == 1 })

	r = w.run("", "dlq", "replay", "--pipelines", pipelinesFile, "--json", "--dry-run").expect(t, 1)
	var rep struct {
		DryRun  bool           `json:"dry_run"`
		Counts  map[string]int `json:"counts"`
		Results []struct {
			Seq        uint64         `json:"seq"`
			Outcome    string         `json:"outcome"`
			Reason     string         `json:"reason"`
			DeadLetter map[string]any `json:"dead_letter"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if !rep.DryRun || rep.Counts["refused"] != 1 || len(rep.Results) != 1 || rep.Results[0].Seq != ack.Sequence ||
		rep.Results[0].Outcome != "refused" || !strings.Contains(rep.Results[0].Reason, "not a record subject") || rep.Results[0].DeadLetter["code"] != "X" {
		t.Errorf("--json report: %+v", rep)
	}
}
