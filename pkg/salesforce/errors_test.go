package salesforce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// Every row of the design's failure-class table, produced by the simulator
// over HTTP and classified by the client.
func TestFailureClassesOverHTTP(t *testing.T) {
	t.Parallel()

	t.Run("transient: HTTP 503", func(t *testing.T) {
		t.Parallel()
		c, env := setup(t, sfsim.Config{Faults: sfsim.Faults{Rate503: 1}})
		_, err := c.Insert(ctxT(t), "Account", accounts(3, "t"))
		var api *salesforce.APIError
		if !errors.As(err, &api) || api.HTTPStatus != 503 || api.Code != "SERVER_UNAVAILABLE" {
			t.Fatalf("err = %v, want 503 SERVER_UNAVAILABLE", err)
		}
		if got := salesforce.Classify(err); got != salesforce.ClassTransient {
			t.Errorf("Classify = %v, want transient", got)
		}
		if n := liveCount(t, env, "Account"); n != 0 {
			t.Errorf("a 503 before work applied %d records", n)
		}
	})

	t.Run("transient: timeout", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, sfsim.Config{Faults: sfsim.Faults{Latency: 2 * time.Second}}, func(c *salesforce.Config) { c.Timeout = 100 * time.Millisecond })
		// Authenticate first: the token endpoint has no injected latency.
		if _, err := c.InstanceURL(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		_, err := c.Insert(ctxT(t), "Account", accounts(1, "slow"))
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
		if got := salesforce.Classify(err); got != salesforce.ClassTransient {
			t.Errorf("Classify = %v, want transient", got)
		}
	})

	t.Run("transient: connection reset", func(t *testing.T) {
		t.Parallel()
		// A server that accepts and hangs up: the client sees a reset / EOF.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = io.ReadFull(conn, make([]byte, 16))
				conn.Close()
			}
		}()
		defer wg.Wait()
		c := salesforce.NewWithAuthenticator(salesforce.Config{AllowHTTP: true}, staticAuth{url: "http://" + ln.Addr().String()})
		_, err = c.Insert(ctxT(t), "Account", accounts(1, "r"))
		if err == nil {
			t.Fatal("want an error from a server that hangs up")
		}
		if got := salesforce.Classify(err); got != salesforce.ClassTransient {
			t.Errorf("Classify(%v) = %v, want transient", err, got)
		}
		ln.Close()
	})

	t.Run("session expired: 401 after the one re-authentication", func(t *testing.T) {
		t.Parallel()
		env := sfsim.StartTest(t, sfsim.Config{Schema: schema(t)})
		// An authenticator that keeps handing out a revoked token.
		tok := env.Token(t)
		c := salesforce.NewWithAuthenticator(salesforce.Config{HTTPClient: env.HTTP.Client(), AllowHTTP: true}, staticAuth{url: env.URL, token: tok})
		env.Server.ExpireSessions()
		_, err := c.Insert(ctxT(t), "Account", accounts(1, "s"))
		var api *salesforce.APIError
		if !errors.As(err, &api) || api.HTTPStatus != 401 || api.Code != "INVALID_SESSION_ID" {
			t.Fatalf("err = %v, want 401 INVALID_SESSION_ID", err)
		}
		if got := salesforce.Classify(err); got != salesforce.ClassSessionExpired {
			t.Errorf("Classify = %v, want session_expired", got)
		}
		if got := c.Reauthentications(); got != 2 {
			t.Errorf("token requests = %d, want 2 (first + exactly one retry)", got)
		}
	})

	t.Run("rate limited: daily limit", func(t *testing.T) {
		t.Parallel()
		c, env := setup(t, sfsim.Config{DailyAPILimit: 2})
		ctx := ctxT(t)
		for i := 0; i < 2; i++ {
			if _, err := c.Insert(ctx, "Account", accounts(1, fmt.Sprint("d", i))); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.Insert(ctx, "Account", accounts(1, "over"))
		var api *salesforce.APIError
		if !errors.As(err, &api) || api.HTTPStatus != 403 || api.Code != "REQUEST_LIMIT_EXCEEDED" {
			t.Fatalf("err = %v, want 403 REQUEST_LIMIT_EXCEEDED", err)
		}
		if got := salesforce.Classify(err); got != salesforce.ClassRateLimited {
			t.Errorf("Classify = %v, want rate_limited", got)
		}
		l, ok := c.Limits()
		if !ok || l.Limit != 2 || l.Used < 2 {
			t.Errorf("Limits = %+v, %v; want used ≥ 2 of 2", l, ok)
		}
		// Raising the limit at run time lets the next call through.
		lim := env.Server.Limits()
		lim.DailyAPILimit = 100
		if err := env.Server.SetLimits(lim); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Insert(ctx, "Account", accounts(1, "after")); err != nil {
			t.Fatalf("after raising the limit: %v", err)
		}
	})

	t.Run("rate limited: concurrent limit", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, sfsim.Config{ConcurrentLimit: 1, Faults: sfsim.Faults{Latency: 300 * time.Millisecond}})
		ctx := ctxT(t)
		if _, err := c.InstanceURL(ctx); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			go func() {
				_, err := c.Insert(ctx, "Account", accounts(1, fmt.Sprint("c", i)))
				errs <- err
			}()
		}
		limited := 0
		for i := 0; i < 4; i++ {
			if err := <-errs; err != nil {
				if salesforce.Classify(err) != salesforce.ClassRateLimited {
					t.Errorf("unexpected error: %v", err)
				}
				limited++
			}
		}
		if limited == 0 {
			t.Error("4 calls at once against a concurrent limit of 1: none was refused")
		}
	})

	t.Run("retryable record: UNABLE_TO_LOCK_ROW", func(t *testing.T) {
		t.Parallel()
		c, env := setup(t, sfsim.Config{Faults: sfsim.Faults{LockRowRate: 1}})
		res, err := c.Insert(ctxT(t), "Account", accounts(2, "l"))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			rerr := r.Err()
			var re *salesforce.SaveError
			if !errors.As(rerr, &re) || re.StatusCode != "UNABLE_TO_LOCK_ROW" {
				t.Fatalf("record %d: %v, want UNABLE_TO_LOCK_ROW", i, rerr)
			}
			if got := salesforce.Classify(rerr); got != salesforce.ClassRetryableRecord {
				t.Errorf("Classify = %v, want retryable_record", got)
			}
		}
		if n := liveCount(t, env, "Account"); n != 0 {
			t.Errorf("locked records were applied: %d", n)
		}
	})

	t.Run("permanent record errors", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, sfsim.Config{})
		ctx := ctxT(t)
		if _, err := c.Insert(ctx, "Account", []salesforce.Record{{"Name": "dup", "External_Key__c": "D-1"}}); err != nil {
			t.Fatal(err)
		}
		long := make([]byte, 300)
		for i := range long {
			long[i] = 'x'
		}
		recs := []salesforce.Record{
			{"External_Key__c": "no-name"},                                  // REQUIRED_FIELD_MISSING
			{"Name": "n", "External_Key__c": "D-1"},                         // DUPLICATE_VALUE
			{"Name": string(long)},                                          // STRING_TOO_LONG
			{"Name": "n", "Parent": map[string]any{"External_Key__c": "?"}}, // INVALID_CROSS_REFERENCE_KEY
		}
		want := []string{"REQUIRED_FIELD_MISSING", "DUPLICATE_VALUE", "STRING_TOO_LONG", "INVALID_CROSS_REFERENCE_KEY"}
		// An unknown field or an unconvertible value fails the whole request
		// (HTTP 400), as Salesforce's JSON reader does.
		for code, bad := range map[string]salesforce.Record{
			"INVALID_FIELD":     {"Name": "n", "Foo__c": 1},
			"JSON_PARSER_ERROR": {"Name": "n", "AnnualRevenue": "lots"},
		} {
			_, err := c.Insert(ctx, "Account", []salesforce.Record{{"Name": "ok"}, bad})
			var ae *salesforce.APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusBadRequest || ae.Code != code {
				t.Errorf("insert with %v: %v, want HTTP 400 %s", bad, err, code)
			}
		}
		res, err := c.Insert(ctx, "Account", recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			var re *salesforce.SaveError
			if !errors.As(r.Err(), &re) || re.StatusCode != want[i] {
				t.Errorf("record %d: %v, want %s", i, r.Err(), want[i])
				continue
			}
			if got := salesforce.Classify(r.Err()); got != salesforce.ClassPermanentRecord {
				t.Errorf("record %d: Classify = %v, want permanent_record", i, got)
			}
		}
		// Deleted and malformed ids.
		created, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": "gone"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteRecord(ctx, "Account", created.ID); err != nil {
			t.Fatal(err)
		}
		res, err = c.Update(ctx, "Account", []salesforce.Record{{"Id": created.ID, "Name": "x"}, {"Id": "001notAnId", "Name": "y"}})
		if err != nil {
			t.Fatal(err)
		}
		for i, code := range []string{"ENTITY_IS_DELETED", "MALFORMED_ID"} {
			var re *salesforce.SaveError
			if !errors.As(res[i].Err(), &re) || re.StatusCode != code {
				t.Errorf("update %d: %v, want %s", i, res[i].Err(), code)
			}
			if got := salesforce.Classify(res[i].Err()); got != salesforce.ClassPermanentRecord {
				t.Errorf("update %d: Classify = %v, want permanent_record", i, got)
			}
		}
	})

	t.Run("permanent request: malformed query", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, sfsim.Config{})
		it := c.Query(ctxT(t), "SELECT Id FORM Account")
		if it.Next() {
			t.Fatal("a malformed query returned records")
		}
		var api *salesforce.APIError
		if !errors.As(it.Err(), &api) || api.HTTPStatus != 400 || api.Code != "MALFORMED_QUERY" {
			t.Fatalf("err = %v, want 400 MALFORMED_QUERY", it.Err())
		}
		if got := salesforce.Classify(it.Err()); got != salesforce.ClassPermanentRequest {
			t.Errorf("Classify = %v, want permanent_request", got)
		}
	})
}

// staticAuth hands out a fixed token for a fixed instance.
type staticAuth struct{ url, token string }

func (s staticAuth) Authenticate(context.Context, *http.Client) (*salesforce.Token, error) {
	tok := s.token
	if tok == "" {
		tok = "static"
	}
	return &salesforce.Token{AccessToken: tok, InstanceURL: s.url}, nil
}

func TestClassifyTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want salesforce.Class
	}{
		{nil, salesforce.ClassNone},
		{&salesforce.APIError{HTTPStatus: 500}, salesforce.ClassTransient},
		{&salesforce.APIError{HTTPStatus: 502}, salesforce.ClassTransient},
		{&salesforce.APIError{HTTPStatus: 503, Code: "SERVER_UNAVAILABLE"}, salesforce.ClassTransient},
		{&salesforce.APIError{HTTPStatus: 408}, salesforce.ClassTransient},
		{&salesforce.APIError{HTTPStatus: 401, Code: "INVALID_SESSION_ID"}, salesforce.ClassSessionExpired},
		{&salesforce.APIError{HTTPStatus: 403, Code: "REQUEST_LIMIT_EXCEEDED"}, salesforce.ClassRateLimited},
		{&salesforce.APIError{HTTPStatus: 429}, salesforce.ClassRateLimited},
		{&salesforce.APIError{HTTPStatus: 400, Code: "MALFORMED_QUERY"}, salesforce.ClassPermanentRequest},
		{&salesforce.APIError{HTTPStatus: 404, Code: "NOT_FOUND"}, salesforce.ClassPermanentRequest},
		{&salesforce.APIError{HTTPStatus: 403, Code: "INSUFFICIENT_ACCESS"}, salesforce.ClassPermanentRequest},
		{&salesforce.SaveError{StatusCode: "UNABLE_TO_LOCK_ROW"}, salesforce.ClassRetryableRecord},
		{&salesforce.SaveError{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK"}, salesforce.ClassRetryableRecord},
		{&salesforce.SaveError{StatusCode: "REQUIRED_FIELD_MISSING"}, salesforce.ClassPermanentRecord},
		{&salesforce.SaveError{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}, salesforce.ClassPermanentRecord},
		{&salesforce.SaveError{StatusCode: "NOT_FOUND"}, salesforce.ClassPermanentRecord},
		{&salesforce.AuthError{HTTPStatus: 400, Code: "invalid_grant"}, salesforce.ClassAuth},
		{&salesforce.AuthError{HTTPStatus: 503, Code: "unexpected_response"}, salesforce.ClassTransient},
		{&salesforce.MultipleMatchesError{}, salesforce.ClassPermanentRecord},
		{fmt.Errorf("wrapped: %w", &salesforce.ChunkError{Err: &salesforce.APIError{HTTPStatus: 503}}), salesforce.ClassTransient},
		{context.DeadlineExceeded, salesforce.ClassTransient},
		{io.ErrUnexpectedEOF, salesforce.ClassTransient},
	}
	for _, tc := range cases {
		if got := salesforce.Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%#v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !salesforce.ClassTransient.Retryable() || salesforce.ClassPermanentRecord.Retryable() || salesforce.ClassAuth.Retryable() {
		t.Error("Retryable")
	}
}
