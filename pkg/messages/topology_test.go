package messages_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

func TestTopologyNames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		prefix, streamPrefix, subjectPrefix string
	}{
		{"", "KINETIC", "kinetic"},
		{"kinetic", "KINETIC", "kinetic"},
		{"acme", "ACME", "acme"},
		{"acme.prod", "ACME_PROD", "acme.prod"},
		{"my-app", "MY_APP", "my-app"},
		{"eu.my-app_2", "EU_MY_APP_2", "eu.my-app_2"},
	} {
		topo := messages.Topology{Prefix: c.prefix}
		for got, want := range map[string]string{
			topo.RecordsStream():                         c.streamPrefix + "_RECORDS",
			topo.ResultsStream():                         c.streamPrefix + "_RESULTS",
			topo.DLQStream():                             c.streamPrefix + "_DLQ",
			topo.AdvisoriesStream():                      c.streamPrefix + "_ADVISORIES",
			topo.StateBucket():                           c.streamPrefix + "_STATE",
			topo.MaxDeliveriesAdvisories():               "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + c.streamPrefix + "_RECORDS.*",
			topo.Subjects().Records("Account", "upsert"): c.subjectPrefix + ".records.Account.upsert",
		} {
			if got != want {
				t.Errorf("prefix %q: got %q, want %q", c.prefix, got, want)
			}
		}
		// Stream names never contain what a stream name must not.
		for _, n := range []string{topo.RecordsStream(), topo.ResultsStream(), topo.DLQStream(), topo.AdvisoriesStream(), topo.StateBucket()} {
			if !messages.ValidToken(n) {
				t.Errorf("prefix %q: stream name %q is not a plain token", c.prefix, n)
			}
		}
	}
}

func TestTopologyDefaults(t *testing.T) {
	t.Parallel()
	d := messages.Topology{}.WithDefaults()
	want := messages.Topology{
		Prefix: "kinetic", Replicas: 1, DuplicateWindow: 2 * time.Minute,
		ResultsMaxAge: 72 * time.Hour, MaxRecordBytes: 1<<20 - 64<<10, Partitions: 16,
	}
	if d != want {
		t.Errorf("defaults %+v, want %+v", d, want)
	}
	// Set fields are kept.
	set := messages.Topology{Prefix: "x", Replicas: 3, DuplicateWindow: time.Minute, ResultsMaxAge: time.Hour, MaxRecordBytes: 1000, Partitions: 4}
	if got := set.WithDefaults(); got != set {
		t.Errorf("WithDefaults changed set fields: %+v", got)
	}
}

func TestStreamConfigs(t *testing.T) {
	t.Parallel()
	topo := messages.Topology{Prefix: "acme.prod", Replicas: 3, DuplicateWindow: 5 * time.Minute}
	cfgs := topo.StreamConfigs()
	byName := map[string]jetstream.StreamConfig{}
	for _, c := range cfgs {
		byName[c.Name] = c
		if c.Replicas != 3 {
			t.Errorf("%s: replicas %d", c.Name, c.Replicas)
		}
		if c.Storage != jetstream.FileStorage {
			t.Errorf("%s: storage %v", c.Name, c.Storage)
		}
		if c.Description == "" {
			t.Errorf("%s: no description", c.Name)
		}
	}
	if len(cfgs) != 4 || len(byName) != 4 {
		t.Fatalf("%d configs: %+v", len(cfgs), cfgs)
	}
	rec, ok := byName["ACME_PROD_RECORDS"]
	if !ok {
		t.Fatalf("no records stream in %v", byName)
	}
	if rec.Retention != jetstream.WorkQueuePolicy || rec.Discard != jetstream.DiscardNew {
		t.Errorf("records stream: retention %v discard %v; want work queue, discard new", rec.Retention, rec.Discard)
	}
	if !slices.Equal(rec.Subjects, []string{"acme.prod.records.*.*", "acme.prod.records.*.*.*"}) {
		t.Errorf("records subjects %v", rec.Subjects)
	}
	if tr := rec.SubjectTransform; tr == nil || tr.Source != "acme.prod.records.*.*.*" ||
		tr.Destination != "acme.prod.records.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(16,1,3)}}.{{wildcard(3)}}" {
		t.Errorf("records subject transform %+v", tr)
	}
	if rec.Duplicates != 5*time.Minute || rec.MaxMsgSize != 1<<20-64<<10 {
		t.Errorf("records: duplicates %v, max msg size %d", rec.Duplicates, rec.MaxMsgSize)
	}
	res := byName["ACME_PROD_RESULTS"]
	if res.Retention != jetstream.LimitsPolicy || res.MaxAge != 72*time.Hour || len(res.Subjects) != 1 || res.Subjects[0] != "acme.prod.results.>" {
		t.Errorf("results stream %+v", res)
	}
	dlq := byName["ACME_PROD_DLQ"]
	if dlq.Retention != jetstream.LimitsPolicy || dlq.MaxAge != 0 || dlq.Discard != jetstream.DiscardNew || len(dlq.Subjects) != 1 || dlq.Subjects[0] != "acme.prod.dlq.>" {
		t.Errorf("dead-letter stream (kept until replayed or purged, never dropped) %+v", dlq)
	}
	adv := byName["ACME_PROD_ADVISORIES"]
	if len(adv.Subjects) != 1 || adv.Subjects[0] != topo.MaxDeliveriesAdvisories() {
		t.Errorf("advisories subjects %v, want %s", adv.Subjects, topo.MaxDeliveriesAdvisories())
	}
	kv := topo.StateConfig()
	if kv.Bucket != "ACME_PROD_STATE" || kv.Replicas != 3 || kv.TTL <= 0 {
		t.Errorf("state bucket %+v", kv)
	}
}

func TestEnsureIdempotent(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{}
	e.ensure(t, topo)
	e.ensure(t, topo) // again: nothing changes, no error
	for _, want := range topo.StreamConfigs() {
		s, err := e.js.Stream(testCtx(t), want.Name)
		if err != nil {
			t.Fatalf("%s: %v", want.Name, err)
		}
		got := s.CachedInfo().Config
		if got.Retention != want.Retention || got.Discard != want.Discard || (want.Duplicates != 0 && got.Duplicates != want.Duplicates) ||
			got.MaxAge != want.MaxAge || !slices.Equal(got.Subjects, want.Subjects) {
			t.Errorf("%s: config on the server %+v, want %+v", want.Name, got, want)
		}
	}
	kv, err := e.js.KeyValue(testCtx(t), topo.StateBucket())
	if err != nil {
		t.Fatalf("state bucket: %v", err)
	}
	if kv.Bucket() != "KINETIC_STATE" {
		t.Errorf("bucket %s", kv.Bucket())
	}

	// Ensure updates a changed setting in place.
	topo.DuplicateWindow = 5 * time.Minute
	e.ensure(t, topo)
	s, err := e.js.Stream(testCtx(t), topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	if d := s.CachedInfo().Config.Duplicates; d != 5*time.Minute {
		t.Errorf("duplicate window after update: %v", d)
	}
	// A record published meanwhile is still there: updating is not recreating.
	if _, err := e.js.Publish(testCtx(t), "kinetic.records.Account.upsert", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	e.ensure(t, topo)
	if n := e.streamMsgs(t, topo.RecordsStream()); n != 1 {
		t.Errorf("records after a second Ensure: %d, want 1", n)
	}
}

func TestEnsureConcurrent(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{Prefix: "conc"}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = topo.Ensure(testCtx(t), e.js)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Ensure: %v", err)
	}
	names := map[string]bool{}
	for name := range e.js.StreamNames(testCtx(t)).Name() {
		names[name] = true
	}
	for _, want := range []string{"CONC_RECORDS", "CONC_RESULTS", "CONC_DLQ", "CONC_ADVISORIES", "KV_CONC_STATE", "KV_CONC_WORKERS"} {
		if !names[want] {
			t.Errorf("stream %s missing; have %v", want, names)
		}
	}
	if len(names) != 6 {
		t.Errorf("streams %v, want exactly 6", names)
	}
}

func TestEnsureTwoPrefixesOnOneServer(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	a, b := messages.Topology{}, messages.Topology{Prefix: "acme.prod"}
	e.ensure(t, a)
	e.ensure(t, b)
	// Each prefix's records go to its own stream.
	if _, err := e.js.Publish(testCtx(t), b.Subjects().Records("Account", "insert"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if n := e.streamMsgs(t, b.RecordsStream()); n != 1 {
		t.Errorf("%s: %d messages", b.RecordsStream(), n)
	}
	if n := e.streamMsgs(t, a.RecordsStream()); n != 0 {
		t.Errorf("%s: %d messages", a.RecordsStream(), n)
	}
}

// TestKeyedRecordsArePartitionedByTheStream publishes keyed records and
// checks that the stream stores each under the partition Partition
// computes, the same for every mode of one key, and refuses subjects of
// any other shape.
func TestKeyedRecordsArePartitionedByTheStream(t *testing.T) {
	t.Parallel()
	e := startJS(t)
	topo := messages.Topology{Partitions: 7}.WithDefaults()
	e.ensure(t, topo)
	subj := topo.Subjects()
	ctx := testCtx(t)
	keys := []string{"ACC-1", "acc-2", "a.b c", "x*y>z", "Café", "100%"}
	type sent struct{ sobject, mode, key string }
	var order []sent
	for _, k := range keys {
		for _, mode := range []string{"upsert", "delete"} {
			order = append(order, sent{"Account", mode, k})
			if _, err := e.js.Publish(ctx, subj.RecordsKeyed("Account", mode, k), []byte("{}")); err != nil {
				t.Fatalf("publish %q: %v", k, err)
			}
		}
	}
	stream, err := e.js.Stream(ctx, topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range order {
		m, err := stream.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		r, err := subj.ParseRecords(m.Subject)
		if err != nil {
			t.Fatalf("stored subject %q: %v", m.Subject, err)
		}
		tok := messages.KeyToken(s.key)
		if want := messages.Partition("Account", tok, 7); r.Partition != want || r.Key != tok || r.Mode != s.mode || r.SObject != "Account" {
			t.Errorf("key %q mode %s stored as %q (%+v); want partition %d, key token %q", s.key, s.mode, m.Subject, r, want, tok)
		}
	}
	// Unkeyed records keep their subject.
	if _, err := e.js.Publish(ctx, subj.Records("Account", "insert"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	// A key that is not one token makes a subject the stream refuses:
	// nothing is stored where no consumer would ever read it.
	for _, bad := range []string{subj.Records("Account", "upsert") + ".a.b", subj.Records("Account", "upsert") + ".1.b.c"} {
		if _, err := e.js.Publish(ctx, bad, []byte("{}")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Errorf("publish to %q: %v, want no stream", bad, err)
		}
	}
}
