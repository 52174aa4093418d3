package pipeline_test

import (
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// 10,000 records against 10% HTTP 503s and 5% UNABLE_TO_LOCK_ROW: every
// record is loaded exactly once (INSERT, so a re-sent accepted record would
// be a duplicate in the simulator), and the API calls stay close to the
// minimum of 50 because retried records travel together.
func TestFaultsLoadEveryRecordExactlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{Seed: 42, Faults: sfsim.Faults{Rate503: 0.10, LockRowRate: 0.05}})
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Mode: pipeline.Insert, Concurrency: 8, API: pipeline.APICollections,
		Retry: pipeline.RetryPolicy{CallAttempts: 10, RecordAttempts: 10}})
	const n = 10_000
	res, err := p.Sync(ctxT(t), sourceAccounts(n, "F"))
	if err != nil || res.Status != pipeline.Success || res.SuccessCount != n {
		t.Fatalf("%v %v", res, err)
	}
	if got := b.live(t, "Account"); got != n {
		t.Fatalf("accounts in the simulator = %d, want exactly %d", got, n)
	}
	st := b.env.Server.Stats()
	const minimum = n / 200
	t.Logf("api_calls=%d (minimum %d, ratio %.2f), retries=%d, injected: %d×503, %d×UNABLE_TO_LOCK_ROW, simulator records/call %.1f",
		res.Metadata.APICalls, minimum, float64(res.Metadata.APICalls)/minimum, res.Metadata.Retries,
		st.ErrorsByCode["SERVER_UNAVAILABLE"], st.ErrorsByCode["UNABLE_TO_LOCK_ROW"], st.RecordsPerCall)
	if st.ErrorsByCode["SERVER_UNAVAILABLE"] == 0 || st.ErrorsByCode["UNABLE_TO_LOCK_ROW"] < 200 {
		t.Fatalf("the faults were not injected: %v", st.ErrorsByCode)
	}
	// About 5.6 calls are repeated for the 503s and ~500 locked records need
	// about 3 more calls: ~59. Per-call retries would have cost ~100.
	if res.Metadata.APICalls > minimum*14/10 {
		t.Errorf("api_calls = %d, more than 1.4× the minimum %d", res.Metadata.APICalls, minimum)
	}
}
