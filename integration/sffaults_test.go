//go:build integration

package integration

import (
	"fmt"
	"github.com/kinetic-sync/kinetic/internal/worker"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Salesforce faults: 10% of calls answer 503, 5% of records fail with
// UNABLE_TO_LOCK_ROW, every 150th call finds the session expired, and the
// daily API limit is reached mid-run (then raised). Every record ends loaded
// or dead-lettered; only UNABLE_TO_LOCK_ROW after max_deliver deliveries may
// be dead-lettered, never a transient failure.
func TestSalesforceFaults(t *testing.T) {
	const n = 20_000
	c := NewCluster(t, Options{Workers: 3})
	// The members pipeline fetches 20 records a batch; the loader fills
	// calls across batches (and merges nothing here: every key is new), so
	// the job takes about 400–600 calls, and the session expires a few times.
	j := c.UpsertJobFor("members", "sffaults", n)
	set, err := worker.SettingsOf(j.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	maxDeliver := set.MaxDeliver
	c.SetFaults(sfsim.Faults{Rate503: 0.10, LockRowRate: 0.05, SessionExpiryEvery: 150})

	start := time.Now()
	c.Publish(j, 1, n)
	c.WaitLive(j.Pipeline.SObject, n/4, 5*time.Minute)

	// The daily limit: just above the usage, so that calls are refused
	// within a few calls; then hold, then raise it.
	lim, err := c.Admin.Limits(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDailyLimit(int(lim.APIUsage) + 20)
	c.Eventually("Salesforce to refuse calls over the daily limit", 2*time.Minute, func() error {
		st, err := c.Admin.Stats(c.ctx)
		if err != nil {
			return err
		}
		if st.ErrorsByCode["REQUEST_LIMIT_EXCEEDED"] == 0 {
			return fmt.Errorf("usage %d of %d, no call refused yet", st.APIUsage, st.APILimit)
		}
		return nil
	})
	limitedAt := time.Now()
	// Calls admitted just before the limit finish within milliseconds:
	// take the count once it holds still for a second.
	var before int
	c.Eventually("the count to settle", time.Minute, func() error {
		a, err := c.Live(j.Pipeline.SObject)
		if err != nil {
			return err
		}
		time.Sleep(time.Second)
		if before, err = c.Live(j.Pipeline.SObject); err != nil {
			return err
		}
		if a != before {
			return fmt.Errorf("%d then %d", a, before)
		}
		return nil
	})
	time.Sleep(10 * time.Second) // pacing: the pipeline stays over the limit for a while
	after, err := c.Live(j.Pipeline.SObject)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("%d records loaded while every call is refused: the limit did not bite", after-before)
	}
	if dl := CountCodes(c.DeadLetters(j.ID)); dl["REQUEST_LIMIT_EXCEEDED"] != 0 {
		t.Errorf("dead-lettered while rate limited: %v", dl)
	}
	c.SetDailyLimit(5_000_000)
	t.Logf("over the daily limit for %v with %d of %d loaded; limit raised", time.Since(limitedAt).Round(time.Second), before, n)

	res := c.Watch(j, 10*time.Minute)
	a := c.Audit(j, res, time.Since(start), AuditOptions{})
	Report(t, "Salesforce faults: 10% 503, 5% UNABLE_TO_LOCK_ROW, session expiry every 150 calls, daily limit reached and raised", a)

	// Only a record locked on every one of its deliveries may be
	// dead-lettered; transient causes never.
	for _, e := range a.DeadLetters {
		d := e.DeadLetter
		if d.Code != "UNABLE_TO_LOCK_ROW" || d.Attempts != maxDeliver {
			t.Errorf("record %d dead-lettered with %s after %d deliveries: only UNABLE_TO_LOCK_ROW after %d may be", d.Seq, d.Code, d.Attempts, maxDeliver)
		}
	}
	for i, o := range res.Outcomes {
		if o.Status == messages.StatusDeadLettered && o.Code != "UNABLE_TO_LOCK_ROW" {
			t.Errorf("record %d: outcome %s %s", i+1, o.Status, o.Code)
		}
	}
	// Every fault did reach the workers.
	st, err := c.Admin.Stats(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Salesforce errors by code: %v; %d calls", st.ErrorsByCode, st.Calls)
	for _, code := range []string{"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "INVALID_SESSION_ID", "REQUEST_LIMIT_EXCEEDED"} {
		if st.ErrorsByCode[code] == 0 {
			t.Errorf("no %s was injected: the scenario did not test it", code)
		}
	}
	// A keyed record that fails UNABLE_TO_LOCK_ROW is retried in place (its
	// key's later changes wait); an unkeyed one is redelivered. Either way
	// some record must have needed more than one attempt.
	retried := 0
	for _, o := range res.Outcomes {
		if o.Attempts > 1 || o.Delivery > 1 {
			retried++
		}
	}
	t.Logf("%d records loaded after more than one attempt (%d redelivered)", retried, a.Redelivered)
	if retried == 0 {
		t.Error("no record needed a second attempt, although 5% of records fail UNABLE_TO_LOCK_ROW")
	}
}
