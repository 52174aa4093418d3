package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestSyncEveryMode(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	src := sourceAccounts(450, "M")

	ins := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Mode: pipeline.Insert})
	res, err := ins.Sync(ctx, src)
	if err != nil || res.Status != pipeline.Success || res.SuccessCount != 450 {
		t.Fatalf("insert: %v %v", res, err)
	}
	for i, id := range res.SalesforceIDs {
		if !salesforce.ValidID(id) || !res.Created[i] {
			t.Fatalf("insert %d: id %q created %v", i, id, res.Created[i])
		}
	}
	if b.live(t, "Account") != 450 {
		t.Fatalf("accounts = %d", b.live(t, "Account"))
	}

	updates := make([]map[string]any, len(res.SalesforceIDs))
	for i, id := range res.SalesforceIDs {
		updates[i] = map[string]any{"Id": id, "Score__c": float64(i)}
	}
	upd := b.pipe(t, pipeline.Options{SObject: "Account", Mode: pipeline.Update})
	ures, err := upd.Sync(ctx, updates)
	if err != nil || ures.SuccessCount != 450 || ures.SalesforceIDs[17] != res.SalesforceIDs[17] {
		t.Fatalf("update: %v %v", ures, err)
	}
	got, _ := b.client.GetRecord(ctx, "Account", res.SalesforceIDs[17], "Score__c")
	if got["Score__c"] != 17.0 {
		t.Errorf("Score__c = %v", got["Score__c"])
	}

	ups := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Mode: pipeline.Upsert, ExternalIDField: "External_Key__c"})
	src = append(src, sourceAccounts(460, "M")[450:]...) // 10 new ones
	ures, err = ups.Sync(ctx, src)
	if err != nil || ures.SuccessCount != 460 {
		t.Fatalf("upsert: %v %v", ures, err)
	}
	for i := range src {
		if ures.Created[i] != (i >= 450) {
			t.Fatalf("upsert %d created = %v", i, ures.Created[i])
		}
		if i < 450 && ures.SalesforceIDs[i] != res.SalesforceIDs[i] {
			t.Fatalf("upsert %d updated %s, want the existing %s", i, ures.SalesforceIDs[i], res.SalesforceIDs[i])
		}
	}
	if b.live(t, "Account") != 460 {
		t.Fatalf("accounts after upsert = %d, want 460", b.live(t, "Account"))
	}

	del := b.pipe(t, pipeline.Options{SObject: "Account", Mode: pipeline.Delete})
	dres, err := del.Sync(ctx, updates[:100])
	if err != nil || dres.SuccessCount != 100 {
		t.Fatalf("delete: %v %v", dres, err)
	}
	if b.live(t, "Account") != 360 {
		t.Fatalf("accounts after delete = %d, want 360", b.live(t, "Account"))
	}
	if dres.Metadata.Mode != pipeline.Delete || dres.Metadata.SObject != "Account" || dres.Metadata.APICalls != 1 {
		t.Errorf("metadata = %+v", dres.Metadata)
	}
}

func TestSyncPartialAndFailedStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t)})
	src := sourceAccounts(10, "P")
	delete(src[3], "company")               // REQUIRED_FIELD_MISSING
	src[7]["key"] = strings.Repeat("k", 50) // STRING_TOO_LONG
	res, err := p.Sync(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != pipeline.Partial || res.SuccessCount != 8 || res.ErrorCount != 2 || res.SuccessRate() != 80 {
		t.Fatalf("result = %v", res)
	}
	e := res.Errors
	if e[0].Index != 3 || e[0].Code != "REQUIRED_FIELD_MISSING" || !slices.Equal(e[0].Fields, []string{"Name"}) || e[0].Attempts != 1 || e[0].Record["key"] != "P-3" {
		t.Errorf("error 0 = %+v", e[0])
	}
	if e[1].Index != 7 || e[1].Code != "STRING_TOO_LONG" {
		t.Errorf("error 1 = %+v", e[1])
	}
	if res.SalesforceIDs[3] != "" || res.SalesforceIDs[4] == "" {
		t.Errorf("ids = %v", res.SalesforceIDs)
	}

	bad := []map[string]any{{"company": "dup", "key": "P-0"}, {"company": "dup", "key": "P-1"}}
	res, err = p.Sync(ctx, bad)
	if err != nil || res.Status != pipeline.Failed || res.ErrorCount != 2 || res.Errors[0].Code != "DUPLICATE_VALUE" {
		t.Fatalf("all failing: %v %v", res, err)
	}
	res, err = p.Sync(ctx, nil)
	if err != nil || res.Status != pipeline.Success || res.TotalRecords != 0 || res.SuccessRate() != 0 {
		t.Fatalf("empty input: %v %v", res, err)
	}
}

func TestValidationBeforeSending(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	created, err := b.client.Insert(ctx, "Account", []salesforce.Record{{"Name": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	upd := b.pipe(t, pipeline.Options{SObject: "Account", Mode: pipeline.Update})
	src := []map[string]any{
		{"Name": "no id"},
		{"Id": "", "Name": "blank id"},
		{"Id": "001notvalid", "Name": "bad id"},
		{"Id": 42, "Name": "number id"},
		{"Id": created[0].ID, "Name": "fine"},
		nil,
	}
	res, err := upd.Sync(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	codes := []string{}
	for _, e := range res.Errors {
		codes = append(codes, e.Code)
		if e.Attempts != 0 {
			t.Errorf("record %d was sent (%d attempts) although invalid", e.Index, e.Attempts)
		}
	}
	want := []string{pipeline.CodeMissingID, pipeline.CodeMissingID, pipeline.CodeMalformedID, pipeline.CodeMalformedID, pipeline.CodeInvalidRecord}
	if !slices.Equal(codes, want) || res.SuccessCount != 1 {
		t.Errorf("codes = %v, want %v; result %v", codes, want, res)
	}
	if res.Metadata.APICalls != 1 {
		t.Errorf("api calls = %d, want 1 (only the valid record)", res.Metadata.APICalls)
	}

	ups := b.pipe(t, pipeline.Options{SObject: "Account", Mode: pipeline.Upsert, ExternalIDField: "External_Key__c"})
	res, err = ups.Sync(ctx, []map[string]any{{"Name": "no key"}, {"Name": "blank", "External_Key__c": " "}, {"Name": "ok", "external_key__c": "K-1"}})
	if err != nil || res.ErrorCount != 2 || res.Errors[0].Code != pipeline.CodeMissingExternalID || res.SuccessCount != 1 {
		t.Fatalf("upsert validation: %v %v", res, err)
	}
}

func TestMappingFailureIsARecordError(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	m, err := pipeline.NewFieldMapper([]pipeline.FieldSpec{
		{Source: "company", Target: "Name"},
		{Source: "employees", Target: "NumberOfEmployees", Transform: "int"},
	}, pipeline.MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: m})
	res, err := p.Sync(ctxT(t), []map[string]any{{"company": "a", "employees": "12"}, {"company": "b", "employees": "a dozen"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 1 || res.ErrorCount != 1 || res.Errors[0].Code != pipeline.CodeMappingFailed ||
		!slices.Equal(res.Errors[0].Fields, []string{"NumberOfEmployees"}) || !strings.Contains(res.Errors[0].Message, "a dozen") {
		t.Fatalf("result = %v, errors %+v", res, res.Errors)
	}
}

func TestSyncDoesNotModifyTheInput(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	src := sourceAccounts(5, "N")
	src[2]["nested"] = map[string]any{"x": 1.0}
	before, _ := json.Marshal(src)
	for _, mode := range []pipeline.SyncMode{pipeline.Insert, pipeline.Upsert} {
		p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Mode: mode, ExternalIDField: "External_Key__c"})
		if _, err := p.Sync(ctxT(t), src); err != nil {
			t.Fatal(err)
		}
	}
	noMapper := b.pipe(t, pipeline.Options{SObject: "Account", Mode: pipeline.Update})
	if _, err := noMapper.Sync(ctxT(t), []map[string]any{{"Id": "001000000000000AAA", "Name": "x"}}); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(src)
	if string(before) != string(after) {
		t.Errorf("input changed:\n%s\n%s", before, after)
	}
}

func TestStopOnErrorReturnsThePartialResult(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), BatchSize: 50, StopOnError: true})
	src := sourceAccounts(300, "X")
	delete(src[120], "company") // fails in Salesforce, batch 3
	res, err := p.Sync(ctxT(t), src)
	if !errors.Is(err, pipeline.ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	var stop *pipeline.StopError
	var rerr *pipeline.RecordError
	if !errors.As(err, &stop) || stop.First.Index != 120 || !errors.As(err, &rerr) || rerr.Code != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("err = %#v", err)
	}
	// Batches 1-3 were attempted (the rest of batch 3 loaded with it); 4-6 skipped.
	if res == nil || res.SuccessCount != 149 || res.ErrorCount != 1 || res.SkippedCount != 150 || res.Status != pipeline.Partial {
		t.Fatalf("result = %v", res)
	}
	if res.SuccessCount+res.ErrorCount+res.SkippedCount != res.TotalRecords {
		t.Error("counts do not add up")
	}
	if n := b.live(t, "Account"); n != 149 {
		t.Errorf("accounts = %d, want 149: nothing after the stop reaches Salesforce", n)
	}

	// A failure before sending (validation) stops at that record.
	src = sourceAccounts(100, "Y")
	p2 := b.pipe(t, pipeline.Options{SObject: "Account", Mode: pipeline.Update, StopOnError: true, BatchSize: 40})
	res, err = p2.Sync(ctxT(t), src) // no Id: the first record fails validation
	if !errors.Is(err, pipeline.ErrStopped) || res.ErrorCount != 1 || res.SkippedCount != 99 || res.Metadata.APICalls != 0 {
		t.Fatalf("stop on a validation failure: %v, %v", res, err)
	}
}

func TestCallbacks(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	var (
		mu      sync.Mutex
		log     []string
		batches []string
	)
	p := b.pipe(t, pipeline.Options{
		SObject: "Account", Mapper: accountMapper(t), BatchSize: 2,
		Callbacks: pipeline.Callbacks{
			OnRecordStart: func(r map[string]any) error {
				mu.Lock()
				defer mu.Unlock()
				log = append(log, "start "+r["key"].(string))
				return nil
			},
			OnRecordSuccess: func(r map[string]any, id string) error {
				mu.Lock()
				log = append(log, "ok "+r["key"].(string))
				mu.Unlock()
				if r["key"] == "C-1" {
					return errors.New("success handler failed")
				}
				if r["key"] == "C-2" {
					panic("success handler panicked")
				}
				return nil
			},
			OnRecordError: func(r map[string]any, err error) error {
				mu.Lock()
				defer mu.Unlock()
				var re *pipeline.RecordError
				if !errors.As(err, &re) {
					t.Errorf("OnRecordError got %T", err)
				}
				log = append(log, "error "+r["key"].(string)+" "+re.Code)
				return nil
			},
			OnBatchComplete: func(n, total int, snap pipeline.SyncResult) error {
				mu.Lock()
				defer mu.Unlock()
				batches = append(batches, fmt.Sprintf("%d/%d %s %d+%d", n, total, snap.Status, snap.SuccessCount, snap.ErrorCount))
				return nil
			},
		},
	})
	src := sourceAccounts(5, "C")
	delete(src[3], "company")
	res, err := p.Sync(ctxT(t), src)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 4 || res.ErrorCount != 1 || res.TotalRecords != 5 {
		t.Fatalf("failing callbacks changed the counts: %v", res)
	}
	if len(res.CallbackErrors) != 2 || res.Metadata.CallbackErrors != 2 {
		t.Fatalf("callback errors = %v", res.CallbackErrors)
	}
	var ce *pipeline.CallbackError
	var cp *pipeline.CallbackPanic
	if !errors.As(res.CallbackErrors[0], &ce) || ce.Callback != "OnRecordSuccess" || !errors.As(res.CallbackErrors[1], &cp) {
		t.Errorf("callback errors = %#v", res.CallbackErrors)
	}
	wantBatches := []string{"1/3 in_progress 2+0", "2/3 in_progress 3+1", "3/3 in_progress 4+1"}
	if !slices.Equal(batches, wantBatches) {
		t.Errorf("batches = %v, want %v", batches, wantBatches)
	}
	// Every record started before it finished, finishes are in input order.
	var finishes []string
	for _, l := range log {
		if !strings.HasPrefix(l, "start") {
			finishes = append(finishes, l)
		}
	}
	wantFinish := []string{"ok C-0", "ok C-1", "ok C-2", "error C-3 REQUIRED_FIELD_MISSING", "ok C-4"}
	if !slices.Equal(finishes, wantFinish) {
		t.Errorf("finishes = %v, want %v", finishes, wantFinish)
	}
}

func TestRetriesTransientFailuresAndLockedRecordsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{Seed: 7, Faults: sfsim.Faults{Rate503: 0.3, LockRowRate: 0.2}})
	// A record fails five tries in a row with probability 0.2^5: allow 12
	// (0.2^12 × 1000 records ≈ 4e-6) so the outcome is certain.
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Mode: pipeline.Insert, Concurrency: 4,
		Retry: pipeline.RetryPolicy{RecordAttempts: 12, CallAttempts: 12}})
	res, err := p.Sync(ctxT(t), sourceAccounts(1000, "R"))
	if err != nil || res.Status != pipeline.Success {
		t.Fatalf("%v %v (errors %v)", res, err, res.Errors)
	}
	// INSERT is not idempotent: any re-sent accepted record would show here.
	if n := b.live(t, "Account"); n != 1000 {
		t.Fatalf("accounts = %d, want exactly 1000", n)
	}
	st := b.env.Server.Stats()
	if st.ErrorsByCode["SERVER_UNAVAILABLE"] == 0 || st.ErrorsByCode["UNABLE_TO_LOCK_ROW"] == 0 {
		t.Fatalf("faults were not injected: %v", st.ErrorsByCode)
	}
	if res.Metadata.Retries == 0 || res.Metadata.APICalls <= 5 {
		t.Errorf("metadata = %+v", res.Metadata)
	}
}

func TestLockedRecordGivesUpAfterItsAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{Faults: sfsim.Faults{LockRowRate: 1}})
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Retry: pipeline.RetryPolicy{RecordAttempts: 3}})
	res, err := p.Sync(ctxT(t), sourceAccounts(4, "L"))
	if err != nil || res.Status != pipeline.Failed {
		t.Fatalf("%v %v", res, err)
	}
	for _, e := range res.Errors {
		if e.Code != "UNABLE_TO_LOCK_ROW" || e.Attempts != 3 {
			t.Errorf("error = %+v, want UNABLE_TO_LOCK_ROW after 3 attempts", e)
		}
	}
	// The four records failed together, so each retry round was one call.
	if res.Metadata.APICalls != 3 {
		t.Errorf("api calls = %d, want 3", res.Metadata.APICalls)
	}
}

func TestTransientFailureGivesUpAfterCallAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{Faults: sfsim.Faults{Rate503: 1}})
	// Every call fails, describe too: the pipeline is built without it.
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Retry: pipeline.RetryPolicy{CallAttempts: 4}, SkipSchema: true})
	res, err := p.Sync(ctxT(t), sourceAccounts(3, "T"))
	if err != nil || res.ErrorCount != 3 || res.Errors[0].Code != "SERVER_UNAVAILABLE" || res.Metadata.APICalls != 4 {
		t.Fatalf("%v %v %+v", res, err, res.Metadata)
	}
}

func TestRateLimitPausesInsteadOfFailing(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{DailyAPILimit: 3})
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), BatchSize: 100})
	go func() {
		// An admin raises the limit while the sync is paused.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if b.env.Server.Stats().ErrorsByCode["REQUEST_LIMIT_EXCEEDED"] >= 3 {
				l := b.env.Server.Limits()
				l.DailyAPILimit = 1000
				_ = b.env.Server.SetLimits(l)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	res, err := p.Sync(ctxT(t), sourceAccounts(1000, "Q"))
	if err != nil || res.Status != pipeline.Success || b.live(t, "Account") != 1000 {
		t.Fatalf("%v %v", res, err)
	}
}

func TestContextCancellation(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{Faults: sfsim.Faults{Latency: 50 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var batchesDone int
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Concurrency: 2, Callbacks: pipeline.Callbacks{
		OnBatchComplete: func(n, total int, _ pipeline.SyncResult) error {
			batchesDone = n
			if n == 3 {
				cancel()
			}
			return nil
		},
	}})
	res, err := p.Sync(ctx, sourceAccounts(4000, "Z"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res.SuccessCount+res.ErrorCount+res.SkippedCount != 4000 {
		t.Fatalf("counts do not add up: %v", res)
	}
	if res.SuccessCount < 600 || res.SkippedCount < 2000 || batchesDone < 3 {
		t.Errorf("result = %v after %d batches", res, batchesDone)
	}
	if n := b.live(t, "Account"); n < res.SuccessCount {
		t.Errorf("accounts = %d < success %d", n, res.SuccessCount)
	}
}

func TestBulkAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, sfsim.Config{})
	var batches int
	p := b.pipe(t, pipeline.Options{SObject: "Account", Mapper: accountMapper(t), Mode: pipeline.Upsert, ExternalIDField: "External_Key__c",
		API: pipeline.APIAuto, BulkThreshold: 500, BulkPoll: salesforce.PollPolicy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
		Callbacks: pipeline.Callbacks{OnBatchComplete: func(int, int, pipeline.SyncResult) error { batches++; return nil }}})
	src := sourceAccounts(2000, "B")
	delete(src[1500], "company")
	res, err := p.Sync(ctxT(t), src)
	if err != nil {
		t.Fatal(err)
	}
	if res.Metadata.API != pipeline.APIBulk || res.SuccessCount != 1999 || res.ErrorCount != 1 || res.Errors[0].Index != 1500 || batches != 10 {
		t.Fatalf("%v %+v batches=%d", res, res.Metadata, batches)
	}
	if res.Metadata.APICalls > 20 {
		t.Errorf("bulk used %d API calls for 2000 records", res.Metadata.APICalls)
	}
	small, err := p.Sync(ctxT(t), src[:100])
	if err != nil || small.Metadata.API != pipeline.APICollections {
		t.Errorf("100 records under a threshold of 500 should use collections: %+v %v", small.Metadata, err)
	}
}
