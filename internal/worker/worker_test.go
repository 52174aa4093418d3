package worker_test

import (
	"fmt"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// publish → load → results, for all four modes; the counts add up.
func TestEveryModeEndToEnd(t *testing.T) {
	t.Parallel()
	e := setup(t, sfsim.Config{})
	e.start(nil)

	e.publish("accounts", "up1", accounts(500, "A"), false)
	res := e.wait("up1", 500)
	if res.SuccessCount != 500 || res.ErrorCount != 0 || res.SkippedCount != 0 {
		t.Fatalf("upsert job: %v", res.SyncResult)
	}
	for i, o := range res.Outcomes {
		if o.Status != messages.StatusLoaded || !salesforce.ValidID(o.ID) || !o.Created {
			t.Fatalf("record %d: %+v", i+1, o)
		}
	}
	if e.live("Account") != 500 {
		t.Fatalf("accounts = %d", e.live("Account"))
	}

	// The same records again: updates, no duplicates.
	e.publish("accounts", "up2", accounts(500, "A"), false)
	res2 := e.wait("up2", 500)
	if res2.SuccessCount != 500 || res2.Outcomes[7].Created || res2.Outcomes[7].ID != res.Outcomes[7].ID {
		t.Fatalf("second upsert: %v %+v", res2.SyncResult, res2.Outcomes[7])
	}

	ins := accounts(30, "I")
	e.publish("account-inserts", "ins", ins, false)
	if r := e.wait("ins", 30); r.SuccessCount != 30 {
		t.Fatalf("insert job: %v", r.SyncResult)
	}
	if e.live("Account") != 530 {
		t.Fatalf("accounts = %d, want 530", e.live("Account"))
	}

	upd := make([]map[string]any, 100)
	for i := range upd {
		upd[i] = map[string]any{"Id": res.Outcomes[i].ID, "Score__c": float64(i)}
	}
	e.publish("account-updates", "upd", upd, false)
	if r := e.wait("upd", 100); r.SuccessCount != 100 {
		t.Fatalf("update job: %v", r.SyncResult)
	}
	got, err := e.client.GetRecord(ctxT(t), "Account", res.Outcomes[42].ID, "Score__c")
	if err != nil || got["Score__c"] != 42.0 {
		t.Fatalf("updated record: %v %v", got, err)
	}

	del := make([]map[string]any, 50)
	for i := range del {
		del[i] = map[string]any{"Id": res.Outcomes[i].ID}
	}
	e.publish("account-deletes", "del", del, false)
	if r := e.wait("del", 50); r.SuccessCount != 50 {
		t.Fatalf("delete job: %v", r.SyncResult)
	}
	if e.live("Account") != 480 {
		t.Fatalf("accounts = %d, want 480", e.live("Account"))
	}
	// The records stream is a work queue: everything settled is gone.
	e.waitFor("records stream empty", func() bool {
		s, _ := e.js.Stream(ctxT(t), e.topo.RecordsStream())
		info, err := s.Info(ctxT(t))
		return err == nil && info.State.Msgs == 0
	})
	if st := e.sim.Server.Stats(); st.RecordsPerCall < 20 {
		t.Errorf("records per call = %.1f: batching is not working", st.RecordsPerCall)
	}
	_ = fmt.Sprint
}
