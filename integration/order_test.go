//go:build integration

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// OldNewJob is the file of the per-key order issue: 2,000 upserts of the
// accounts pipeline, where keys 1–100 appear twice — rows 1–100 set
// Name=OLD, rows 1801–1900 set Name=NEW — and every other row has a key of
// its own. The org must end with all 100 keys on NEW.
func (c *Cluster) OldNewJob(id string) *Job {
	c.t.Helper()
	pc := c.Pipeline("accounts")
	j := &Job{ID: id, Pipeline: pc, Subject: c.Topo.Subjects().Records(pc.SObject, string(pc.Mode)), KeyField: pc.ExternalIDField}
	for row := 1; row <= 2000; row++ {
		key, name := fmt.Sprintf("%s-%07d", id, row), fmt.Sprintf("Company %d", row)
		switch {
		case row <= 100:
			key, name = fmt.Sprintf("%s-K%03d", id, row), "OLD"
		case row > 1800 && row <= 1900:
			key, name = fmt.Sprintf("%s-K%03d", id, row-1800), "NEW"
		}
		j.add(key, map[string]any{"key": key, "company": name, "score": float64(row%100) / 10})
	}
	return j
}

// A key's changes land in the order they were published, in the cluster:
// the OLD/NEW file under each of the fault mixes, loaded by three
// worker replicas; during the second, one worker is killed with kill -9 (and
// started again) and one NATS node is killed (and started again). Every
// time, all 100 keys end on NEW, every other key holds its row, no request
// carried a key twice, and every record has exactly one final outcome.
func TestKeyOrderInTheCluster(t *testing.T) {
	c := NewCluster(t, Options{Workers: 3})
	mixes := []struct {
		name   string
		faults sfsim.Faults
		chaos  bool
	}{
		{"30% 503s, 50±40 ms", sfsim.Faults{Rate503: 0.3, Latency: 50 * time.Millisecond, Jitter: 40 * time.Millisecond}, false},
		{"20% 503s, 10% row locks, 50±40 ms; a worker and a NATS node killed", sfsim.Faults{Rate503: 0.2, LockRowRate: 0.1, Latency: 50 * time.Millisecond, Jitter: 40 * time.Millisecond}, true},
		{"5% row locks, 50±40 ms", sfsim.Faults{LockRowRate: 0.05, Latency: 50 * time.Millisecond, Jitter: 40 * time.Millisecond}, false},
	}
	for i, mix := range mixes {
		c.SetFaults(mix.faults)
		j := c.OldNewJob(fmt.Sprintf("order%d", i+1))
		dupBefore := c.duplicateValueErrors()
		start := time.Now()
		c.Publish(j, 1, j.Len())
		if mix.chaos {
			c.WaitLive("Account", 500, 3*time.Minute)
			w := c.Workers[0]
			w.Kill()
			t.Logf("%s: kill -9 %s", mix.name, w.Name)
			node := c.NATS[0]
			node.Kill()
			t.Logf("%s: kill -9 %s", mix.name, node.Name)
			time.Sleep(5 * time.Second) // both stay down a while, the job running on
			w.Start()
			node.Start()
			t.Logf("%s: %s and %s back", mix.name, w.Name, node.Name)
		}
		res := c.Watch(j, 10*time.Minute)
		if res.SuccessCount != j.Len() || res.ErrorCount != 0 || res.SkippedCount != 0 {
			t.Errorf("%s: %v", mix.name, res.SyncResult)
		}
		for seq, o := range res.Outcomes {
			if !messages.Final(o.Status) {
				t.Errorf("%s: record %d has no final outcome", mix.name, seq+1)
			}
		}
		recs := c.SalesforceRecords(j)
		onNew, onOld := 0, 0
		for row := 1; row <= 2000; row++ {
			if row > 1800 && row <= 1900 {
				continue // the NEW rows: their keys are checked with the OLD ones
			}
			key := j.Keys[row-1]
			got := recs[key]
			if len(got) != 1 {
				t.Errorf("%s: key %s: %d records in the org, want 1", mix.name, key, len(got))
				continue
			}
			name := got[0]["Name"]
			switch {
			case row <= 100 && name == "NEW":
				onNew++
			case row <= 100:
				onOld++
				t.Errorf("%s: key %s ends on %v: an older change won", mix.name, key, name)
			case name != fmt.Sprintf("Company %d", row):
				t.Errorf("%s: key %s holds %v", mix.name, key, name)
			}
		}
		dups := c.duplicateValueErrors() - dupBefore
		if dups != 0 {
			t.Errorf("%s: the org answered DUPLICATE_VALUE %d times: a request carried a key twice", mix.name, dups)
		}
		t.Logf("%s: %d records in %v; the 100 repeated keys: %d on NEW, %d on OLD; %d DUPLICATE_VALUE; %d outcomes reported twice",
			mix.name, j.Len(), time.Since(start).Round(100*time.Millisecond), onNew, onOld, dups, res.Duplicates)
	}
}

// duplicateValueErrors is how many DUPLICATE_VALUE errors the simulator has
// answered.
func (c *Cluster) duplicateValueErrors() int64 {
	c.t.Helper()
	st, err := c.Admin.Stats(c.ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	return st.ErrorsByCode["DUPLICATE_VALUE"]
}
