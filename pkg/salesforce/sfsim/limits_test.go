package sfsim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/testutil"
)

func TestLimitInfoOnEveryDataResponse(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{DailyAPILimit: 1000})
	calls := []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "limits", nil, 200},
		{"POST", "sobjects/Account", map[string]any{"Name": "x"}, 201},
		{"POST", "sobjects/Account", map[string]any{}, 400},
		{"GET", "sobjects/Account/" + makeID("001", 123456), nil, 404},
		{"GET", "query?q=SELECT+Id+FROM+Account", nil, 200},
		{"GET", "jobs/ingest", nil, 200},
	}
	for i, c := range calls {
		r := f.do(c.method, c.path, c.body).expect(t, c.status)
		if got, want := r.header.Get("Sforce-Limit-Info"), fmt.Sprintf("api-usage=%d/1000", i+1); got != want {
			t.Errorf("%s %s: Sforce-Limit-Info %q, want %q", c.method, c.path, got, want)
		}
	}
	if r := f.tokenForm(nil); r.header.Get("Sforce-Limit-Info") != "" {
		t.Error("token endpoint carries Sforce-Limit-Info")
	}
}

func TestDailyLimit(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{DailyAPILimit: 3})
	for i := 0; i < 3; i++ {
		f.do("GET", "limits", nil).expect(t, http.StatusOK)
	}
	r := f.do("POST", "sobjects/Account", map[string]any{"Name": "refused"}).expect(t, http.StatusForbidden)
	if code, msg, _ := r.errorArray(t); code != "REQUEST_LIMIT_EXCEEDED" || msg != "TotalRequests Limit exceeded." {
		t.Fatalf("%s", r.body)
	}
	if got := r.header.Get("Sforce-Limit-Info"); got != "api-usage=3/3" {
		t.Errorf("Sforce-Limit-Info %q", got)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 0 {
		t.Error("a refused call did work")
	}
	l, err := f.env.Admin.Limits(t.Context())
	if err != nil || l.APIUsage != 3 || l.DailyAPILimit != 3 {
		t.Fatalf("limits %+v %v", l, err)
	}
	l.DailyAPILimit = 10
	if err := f.env.Admin.SetLimits(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	r = f.do("POST", "sobjects/Account", map[string]any{"Name": "now ok"}).expect(t, http.StatusCreated)
	if got := r.header.Get("Sforce-Limit-Info"); got != "api-usage=4/10" {
		t.Errorf("Sforce-Limit-Info %q", got)
	}
}

func TestConcurrentLimit(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{ConcurrentLimit: 2})
	sim := f.env.Server
	// Deterministic: occupy both slots, then a call is refused.
	sim.limits.acquire()
	sim.limits.acquire()
	r := f.do("GET", "limits", nil).expect(t, http.StatusForbidden)
	if code, msg, _ := r.errorArray(t); code != "REQUEST_LIMIT_EXCEEDED" || msg != "ConcurrentRequests (Concurrent API Requests) Limit exceeded." {
		t.Fatalf("%s", r.body)
	}
	sim.limits.release()
	f.do("GET", "limits", nil).expect(t, http.StatusOK)
	sim.limits.release()

	// Under parallel requests held open by latency.
	if err := sim.SetFaults(Faults{Latency: 800 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = f.do("GET", "limits", nil).status
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 403:
			refused++
		default:
			t.Errorf("status %d", s)
		}
	}
	if ok < 1 || refused < 1 {
		t.Errorf("%d ok, %d refused; want both", ok, refused)
	}
	if got := sim.limits.inFlight.Load(); got != 0 {
		t.Errorf("%d calls still counted in flight", got)
	}
	if st := sim.Stats(); st.ErrorsByCode["REQUEST_LIMIT_EXCEEDED"] != int64(refused+1) {
		t.Errorf("stats %v", st.ErrorsByCode)
	}
}

func TestSessionExpiryFault(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{Faults: Faults{SessionExpiryEvery: 3}})
	other := f.env.Token(t)
	for round := 0; round < 2; round++ {
		for i := 0; i < 2; i++ {
			f.do("GET", "limits", nil).expect(t, http.StatusOK)
		}
		r := f.do("GET", "limits", nil).expect(t, http.StatusUnauthorized)
		if code, _, _ := r.errorArray(t); code != "INVALID_SESSION_ID" {
			t.Fatalf("%s", r.body)
		}
		// Every session expired, not only the caller's.
		f.doToken(other, "GET", "limits", nil).expect(t, http.StatusUnauthorized)
		f.token, other = f.env.Token(t), f.env.Token(t)
	}
	if st := f.env.Server.Stats(); st.ErrorsByCode["INVALID_SESSION_ID"] != 4 || st.APIUsage != 4 {
		t.Errorf("stats %+v", st)
	}
	if _, err := New(Config{Faults: Faults{SessionExpiryEvery: 1}}); err == nil {
		t.Error("SessionExpiryEvery 1 accepted")
	}
}

// statusSequence makes n create calls and returns their statuses.
func statusSequence(t *testing.T, faults Faults, seed int64, n int) ([]int, *fixture) {
	f := setup(t, Config{Faults: faults, Seed: seed})
	out := make([]int, n)
	for i := range out {
		r := f.do("POST", "sobjects/Account", map[string]any{"Name": fmt.Sprint(i)})
		out[i] = r.status
		if r.status == http.StatusServiceUnavailable {
			if code, msg, _ := r.errorArray(t); code != "SERVER_UNAVAILABLE" || msg == "" {
				t.Fatalf("%s", r.body)
			}
			if r.header.Get("Sforce-Limit-Info") == "" {
				t.Error("503 without Sforce-Limit-Info")
			}
		}
	}
	return out, f
}

func count(statuses []int, status int) int {
	n := 0
	for _, s := range statuses {
		if s == status {
			n++
		}
	}
	return n
}

func TestFault503(t *testing.T) {
	t.Parallel()
	const n = 80
	a, fa := statusSequence(t, Faults{Rate503: 0.3}, 42, n)
	b, _ := statusSequence(t, Faults{Rate503: 0.3}, 42, n)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different outcomes:\n%v\n%v", a, b)
	}
	c, _ := statusSequence(t, Faults{Rate503: 0.3}, 43, n)
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("different seeds, same outcomes")
	}
	failed := count(a, 503)
	if failed == 0 || failed == n || failed+count(a, 201) != n {
		t.Fatalf("%d of %d answered 503", failed, n)
	}
	// 503 before doing anything: no record for those calls.
	if cnt, _ := fa.env.Server.Count("Account"); cnt.Live != n-failed {
		t.Errorf("%d accounts, want %d", cnt.Live, n-failed)
	}
	if st := fa.env.Server.Stats(); st.ErrorsByCode["SERVER_UNAVAILABLE"] != int64(failed) || st.StatusCodes["503"] != int64(failed) {
		t.Errorf("stats %+v", st)
	}

	// After commit: the work is done although the answer is 503.
	all, f := statusSequence(t, Faults{Rate503AfterCommit: 1}, 1, 3)
	if count(all, 503) != 3 {
		t.Fatalf("%v", all)
	}
	if cnt, _ := f.env.Server.Count("Account"); cnt.Live != 3 {
		t.Errorf("after-commit 503 lost the work: %d", cnt.Live)
	}
}

func TestFaultLockRow(t *testing.T) {
	t.Parallel()
	run := func(seed int64) ([]string, *fixture) {
		f := setup(t, Config{Faults: Faults{LockRowRate: 0.25}, Seed: seed})
		var recs []any
		for i := 0; i < 100; i++ {
			recs = append(recs, acct(map[string]any{"Name": fmt.Sprint(i)}))
		}
		var out []string
		for _, r := range f.results(f.do("POST", "composite/sobjects", map[string]any{"records": recs})) {
			if r.Success {
				out = append(out, "ok")
			} else {
				if r.Errors[0].StatusCode != "UNABLE_TO_LOCK_ROW" || !strings.HasPrefix(r.Errors[0].Message, "unable to obtain exclusive access to this record") {
					t.Fatalf("%+v", r)
				}
				out = append(out, "lock")
			}
		}
		return out, f
	}
	a, f := run(7)
	b, _ := run(7)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different lock failures")
	}
	locked := 0
	for _, s := range a {
		if s == "lock" {
			locked++
		}
	}
	if locked == 0 || locked == 100 {
		t.Fatalf("%d of 100 locked", locked)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 100-locked {
		t.Errorf("%d accounts, want %d (locked records are not applied)", n.Live, 100-locked)
	}
	if st := f.env.Server.Stats(); st.ErrorsByCode["UNABLE_TO_LOCK_ROW"] != int64(locked) {
		t.Errorf("stats %v", st.ErrorsByCode)
	}
	// A single-record write gets a 400 with the code.
	if err := f.env.Server.SetFaults(Faults{LockRowRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := f.do("POST", "sobjects/Account", map[string]any{"Name": "x"}).expect(t, http.StatusBadRequest)
	if code, _, _ := r.errorArray(t); code != "UNABLE_TO_LOCK_ROW" {
		t.Errorf("%s", r.body)
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{Faults: Faults{Latency: 40 * time.Millisecond, LatencyPerRecord: time.Millisecond, Jitter: 10 * time.Millisecond}})
	var recs []any
	for i := 0; i < 100; i++ {
		recs = append(recs, acct(map[string]any{"Name": fmt.Sprint(i)}))
	}
	start := time.Now()
	f.results(f.do("POST", "composite/sobjects", map[string]any{"records": recs}))
	if d := time.Since(start); d < 130*time.Millisecond {
		t.Errorf("100-record call took %v, want at least 40ms + 100×1ms − 10ms jitter", d)
	}
	start = time.Now()
	f.do("GET", "limits", nil).expect(t, http.StatusOK)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("call took %v, want at least 30ms", d)
	}
	// The latency respects the client going away.
	if err := f.env.Server.SetFaults(Faults{Latency: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.env.DataURL("limits"), nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	if _, err := f.hc.Do(req); err == nil {
		t.Fatal("an hour of latency did not time out")
	}
	testutil.WaitFor(t, 5*time.Second, "the cancelled call to leave", func() bool { return f.env.Server.limits.inFlight.Load() == 0 })
}

func TestFaultsValidation(t *testing.T) {
	t.Parallel()
	for _, fl := range []Faults{{Rate503: 1.5}, {LockRowRate: -0.1}, {Latency: -time.Second}, {SessionExpiryEvery: -1}} {
		if _, err := New(Config{Faults: fl}); err == nil {
			t.Errorf("%+v accepted", fl)
		}
	}
	if _, err := New(Config{DailyAPILimit: -1}); err == nil || !strings.Contains(err.Error(), "DailyAPILimit") {
		t.Errorf("negative limit: %v", err)
	}
}
