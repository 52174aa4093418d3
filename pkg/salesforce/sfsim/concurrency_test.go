package sfsim

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestConcurrentMixedLoad runs writers of two objects (children referencing
// parents by external id), parent updates and relationship queries at once:
// with -race it checks the locking, and the final counts check that nothing
// was lost.
func TestConcurrentMixedLoad(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	var parents []any
	for i := 0; i < 20; i++ {
		parents = append(parents, acct(map[string]any{"Name": fmt.Sprint("P", i), "External_Key__c": fmt.Sprint("P", i)}))
	}
	f.results(f.do("POST", "composite/sobjects", map[string]any{"records": parents}))
	const workers, rounds = 4, 5
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for w := range workers {
		wg.Add(3)
		go func() { // contacts referencing accounts
			defer wg.Done()
			for r := range rounds {
				var recs []any
				for i := 0; i < 50; i++ {
					recs = append(recs, map[string]any{"attributes": map[string]any{"type": "Contact"},
						"LastName": fmt.Sprint(w, "-", r, "-", i), "Account": map[string]any{"External_Key__c": fmt.Sprint("P", i%20)}})
				}
				for _, res := range f.results(f.do("POST", "composite/sobjects", map[string]any{"records": recs})) {
					if !res.Success {
						errs <- fmt.Sprint(res.Errors)
						return
					}
				}
			}
		}()
		go func() { // parent upserts
			defer wg.Done()
			for r := range rounds {
				res := f.results(f.do("PATCH", "composite/sobjects/Account/External_Key__c", map[string]any{"records": []any{
					acct(map[string]any{"Name": fmt.Sprint("P renamed ", w, r), "External_Key__c": fmt.Sprint("P", (w+r)%20)})}}))
				if !res[0].Success {
					errs <- fmt.Sprint(res[0].Errors)
				}
			}
		}()
		go func() { // relationship queries
			defer wg.Done()
			for range rounds {
				if r := f.query("query", "SELECT Name, Account.Name FROM Contact WHERE Account.External_Key__c != null"); r.status != http.StatusOK {
					errs <- string(r.body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n, _ := f.env.Server.Count("Contact"); n.Live != workers*rounds*50 {
		t.Errorf("%d contacts, want %d", n.Live, workers*rounds*50)
	}
	if n, _ := f.env.Server.Count("Account"); n.Live != 20 {
		t.Errorf("%d accounts, want 20", n.Live)
	}
}
