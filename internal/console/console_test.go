package console

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

const picklistCode = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestOverviewShowsEachPipelineAndWhyItIsUnhealthy(t *testing.T) {
	t.Parallel()
	pipes, err := pipeline.ParseConfig("pipelines.yaml", []byte(`
pipelines:
  - {name: accounts, sobject: Account, mode: upsert, external_id_field: Ext__c}
  - {name: contacts, sobject: Contact, mode: upsert, external_id_field: Ext__c}
  - {name: leads, sobject: Lead, mode: insert}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, Options{Pipelines: pipes})
	e.consumer("kinetic_accounts", "Account", "upsert", map[string]string{messages.ConsumerMetaPipelines: "accounts"}, 5)
	e.consumer("kinetic_accounts_p3", "Account", "upsert", map[string]string{messages.ConsumerMetaPipelines: "accounts", messages.ConsumerMetaPartition: "3"}, 2)
	e.consumer("kinetic_contacts", "Contact", "upsert", nil, 0) // an older worker: no metadata, found by name
	e.result("accounts", "Account", "upsert", "job-1", 1, 90, 6, picklistCode)
	e.result("contacts", "Contact", "upsert", "job-2", 1, 120, 0, "")
	for i := range 6 {
		e.deadLetter("accounts", "Account", "upsert", "job-1", int64(91+i), picklistCode, "bad value for restricted picklist field: Diamond", `{"ext_id":"A-1","tier":"Diamond"}`)
	}
	e.worker(messages.WorkerStatus{ID: "worker-1", Version: "v1.2.3", Ready: true, Pipelines: []messages.WorkerPipeline{
		{Name: "accounts", SObject: "Account", Mode: "upsert", State: messages.PipelinePaused, Reason: "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded"},
		{Name: "contacts", SObject: "Contact", Mode: "upsert", State: messages.PipelineRunning},
	}})
	e.worker(messages.WorkerStatus{ID: "worker-2", Version: "v1.2.3", Ready: true, Pipelines: []messages.WorkerPipeline{
		{Name: "accounts", SObject: "Account", Mode: "upsert", State: messages.PipelineRunning},
		{Name: "contacts", SObject: "Contact", Mode: "upsert", State: messages.PipelineRunning},
	}})
	e.indexed(2)

	status, body := e.get("/")
	if status != http.StatusOK {
		t.Fatalf("GET / = %d", status)
	}
	row := func(name string) string {
		m := regexp.MustCompile(`(?s)<tr class="[a-z]+" data-pipeline="` + name + `">.*?</tr>`).FindString(body)
		if m == "" {
			t.Fatalf("no row for %s in:\n%s", name, body)
		}
		return m
	}
	acc := row("accounts")
	mustContain(t, acc, `class="crit"`, "PAUSED", "REQUEST_LIMIT_EXCEEDED", "worker-1",
		">7", // lag: 5 unkeyed + 2 in partition 3
		"(2 consumers)", `href="/dlq?pipeline=accounts"`, ">6</a>", "6 dead letters waiting", "<svg")
	con := row("contacts")
	mustContain(t, con, `class="ok"`, ">OK<", ">2<") // two replicas
	leads := row("leads")
	mustContain(t, leads, "no replica runs it")
	// The consumers with records waiting come first; one that nobody pulls
	// is marked (no replica owns it, or its owner's room is full).
	waiting := regexp.MustCompile(`(?s)<table class="grid compact" id="consumers-waiting">.*?</table>`).FindString(body)
	mustContain(t, waiting, "kinetic_accounts_p3", `<tr class="warn"`)
	mustNotContain(t, waiting, "kinetic_contacts")
	// Unhealthy pipelines first.
	if strings.Index(body, `data-pipeline="accounts"`) > strings.Index(body, `data-pipeline="contacts"`) {
		t.Error("the paused pipeline is not listed before the healthy one")
	}
	mustContain(t, body, `id="unhealthy">2<`, "kinetic_accounts_p3", "kinetic_contacts", "2/2")
	// The throughput of the last minute: 96 and 120 final outcomes.
	mustContain(t, acc, ">1.60<") // 96/60
	mustContain(t, con, ">2.00<") // 120/60
}

func TestWorkersPageListsReplicasAndWhyNotReady(t *testing.T) {
	t.Parallel()
	e := setup(t, Options{})
	e.worker(messages.WorkerStatus{ID: "worker-a", Version: "v9", Host: "node-1", Ready: true, InFlight: 400,
		Pipelines: []messages.WorkerPipeline{{Name: "accounts", State: messages.PipelineRunning, InFlight: 400, Partitions: []int{0, 1, 2}}}})
	e.worker(messages.WorkerStatus{ID: "worker-b", Version: "v9", Ready: false, Reason: "pipeline accounts: invalid_grant: user hasn't approved this consumer",
		Pipelines: []messages.WorkerPipeline{{Name: "accounts", State: messages.PipelineRefused, Reason: "invalid_grant"}}})
	status, body := e.get("/workers")
	if status != http.StatusOK {
		t.Fatalf("GET /workers = %d", status)
	}
	mustContain(t, body, `data-worker="worker-a"`, "READY", "node-1", "partitions 0, 1, 2", ">400<",
		`data-worker="worker-b"`, "NOT READY", "user hasn&#39;t approved this consumer", "1 of 2")
}

func TestJobPageFoldsResultsIntoASyncResultAndServesCSVs(t *testing.T) {
	t.Parallel()
	e := setup(t, Options{})
	e.result("accounts", "Account", "upsert", "job-7", 1, 3, 1, picklistCode)
	// A redelivered batch reports records 1 and 2 again: counted once.
	e.result("accounts", "Account", "upsert", "job-7", 1, 2, 0, "")
	e.deadLetter("accounts", "Account", "upsert", "job-7", 4, picklistCode, "bad value for restricted picklist field: Diamond",
		`{"ext_id":"ACC-4","company":"Acme, Inc.","tier":"Diamond","revenue":12.5}`)
	e.indexed(2)

	_, body := e.get("/jobs")
	mustContain(t, body, `data-job="job-7"`, "partial", "4/4", `href="/jobs/job-7/success.csv"`)

	_, body = e.get("/jobs/job-7")
	mustContain(t, body, "<th>status</th><td>partial</td>", "<th>total_records</th><td>4</td>",
		"<th>success_count</th><td>3</td>", "<th>error_count</th><td>1</td>", "<th>skipped_count</th><td>0</td>",
		"<th>success_rate</th><td>75.0%</td>", picklistCode, "duplicate reports")

	res, err := http.Get(e.http.URL + "/jobs/job-7/success.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if got := res.Header.Get("Content-Disposition"); got != `attachment; filename="success-job-7.csv"` {
		t.Errorf("Content-Disposition = %q", got)
	}
	_, csvBody := e.get("/jobs/job-7/success.csv")
	want := "ID,SEQ,KEY,STATUS\n001000000000000001AAA,1,K-1,Item Updated\n001000000000000002AAA,2,K-2,Item Created\n001000000000000003AAA,3,K-3,Item Updated\n"
	if csvBody != want {
		t.Errorf("success.csv =\n%s\nwant\n%s", csvBody, want)
	}
	_, csvBody = e.get("/jobs/job-7/errors.csv")
	want = "SEQ,ext_id,company,tier,revenue,ERROR\n4,ACC-4,\"Acme, Inc.\",Diamond,12.5,INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: bad value for restricted picklist field: Diamond\n"
	if csvBody != want {
		t.Errorf("errors.csv =\n%s\nwant\n%s", csvBody, want)
	}
	if status, _ := e.get("/jobs/nope"); status != http.StatusNotFound {
		t.Errorf("unknown job: %d", status)
	}
	if status, _ := e.get("/jobs/bad.id"); status != http.StatusBadRequest {
		t.Errorf("bad job id: %d", status)
	}
}

func TestDeadLettersGroupedFilteredAndShown(t *testing.T) {
	t.Parallel()
	e := setup(t, Options{})
	first := e.deadLetter("accounts", "Account", "upsert", "job-1", 1, picklistCode, "bad value for restricted picklist field: Diamond", `{"ext_id":"A-1","tier":"Diamond"}`)
	e.deadLetter("accounts", "Account", "upsert", "job-1", 2, picklistCode, "bad value for restricted picklist field: Diamond", `{"ext_id":"A-2","tier":"Diamond"}`)
	e.deadLetter("accounts", "Account", "upsert", "job-2", 3, "STRING_TOO_LONG", "Name: data value too large", `{"ext_id":"A-3","company":"xxxxxxxx"}`)
	e.deadLetter("contacts", "Contact", "upsert", "job-3", 1, "KINETIC_MAPPING_FAILED", "birthday: not a date", `{"id":"C-1"}`)

	_, body := e.get("/dlq")
	mustContain(t, body, `id="dl-total">4<`, `data-group="accounts/`+picklistCode+`"`, `data-group="accounts/STRING_TOO_LONG"`,
		`data-group="contacts/KINETIC_MAPPING_FAILED"`, "Diamond")
	// The biggest group first.
	if strings.Index(body, `data-group="accounts/`+picklistCode) > strings.Index(body, `data-group="accounts/STRING_TOO_LONG"`) {
		t.Error("groups are not sorted by count")
	}
	_, body = e.get("/dlq?code=STRING_TOO_LONG")
	mustContain(t, body, `id="dl-total">1<`, "STRING_TOO_LONG")
	mustNotContain(t, body, `data-group="accounts/`+picklistCode)
	_, body = e.get("/dlq?q=not+a+date")
	mustContain(t, body, `id="dl-total">1<`, "KINETIC_MAPPING_FAILED")
	_, body = e.get("/dlq?job=job-1&pipeline=accounts")
	mustContain(t, body, `id="dl-total">2<`)
	_, body = e.get("/dlq/list?pipeline=accounts&code=" + picklistCode)
	mustContain(t, body, `data-seq="1"`, `data-seq="2"`, `name="seq" value="1"`)
	mustNotContain(t, body, `data-seq="3"`)

	_, body = e.get(fmt.Sprintf("/dlq/%d", first))
	mustContain(t, body, "accounts (Account upsert)", "kinetic.records.Account.upsert stream seq 1", `href="/jobs/job-1"`,
		"K-1", picklistCode, "Customer_Tier__c", "worker-1", "Kinetic-Job: job-1", "&#34;tier&#34;: &#34;Diamond&#34;")
	_, body = e.get("/dlq/999")
	mustContain(t, body, "not found")
}

func TestReplayIsADryRunFirstThenReplaysWhatWasConfirmed(t *testing.T) {
	t.Parallel()
	e := setup(t, Options{WriteUser: "ops", WritePassword: "s3cret-password"})
	a := e.deadLetter("accounts", "Account", "upsert", "job-1", 1, picklistCode, "m", `{"ext_id":"A-1"}`)
	b := e.deadLetter("accounts", "Account", "upsert", "job-1", 2, picklistCode, "m", `{"ext_id":"A-2"}`)
	c := e.deadLetter("accounts", "Account", "upsert", "job-1", 3, "STRING_TOO_LONG", "m", `{"ext_id":"A-3"}`)

	_, body := e.get("/dlq/replay?pipeline=accounts&code=" + picklistCode)
	mustContain(t, body, "Dry run: nothing has been replayed yet", "<b>2</b>", `name="seq" value="1"`, `name="seq" value="2"`,
		"Replay 2 dead letters", "kinetic.records.Account.upsert")
	mustNotContain(t, body, `name="seq" value="3"`, "disabled")
	if n := e.dlqCount(); n != 3 {
		t.Fatalf("the dry run changed the dead-letter stream: %d left", n)
	}
	// Confirm: a and b; b was purged meanwhile by someone else.
	if _, body := e.post("/dlq/purge", url.Values{"seq": {fmt.Sprint(b)}}, basic("ops", "s3cret-password")); !strings.Contains(body, "Deleted <b>1</b>") {
		t.Fatalf("purge: %s", body)
	}
	res, body := e.post("/dlq/replay", url.Values{"seq": {fmt.Sprint(a), fmt.Sprint(b)}, "pipeline": {"accounts"}}, basic("ops", "s3cret-password"))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("replay = %d: %s", res.StatusCode, body)
	}
	mustContain(t, body, "Replayed <b>1</b> of 2", "1 were no longer there", fmt.Sprint(b))
	if n := e.dlqCount(); n != 1 {
		t.Errorf("%d dead letters left, want 1 (%d)", n, c)
	}
	s, err := e.js.Stream(e.ctx(), e.topo.RecordsStream())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(e.ctx(), "kinetic.records.Account.upsert")
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != `{"ext_id":"A-1"}` || msg.Header.Get(messages.HeaderReplayOf) != fmt.Sprint(a) {
		t.Errorf("republished %s %v", msg.Data, msg.Header)
	}
}

func TestWriteActionsNeedCredentials(t *testing.T) {
	t.Parallel()
	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		seq := e.deadLetter("accounts", "Account", "upsert", "job-1", 1, picklistCode, "m", `{}`)
		_, body := e.get("/dlq/purge?pipeline=accounts")
		mustContain(t, body, "Delete 1 dead letters", "disabled", "read-only")
		for _, path := range []string{"/dlq/purge", "/dlq/replay"} {
			res, body := e.post(path, url.Values{"seq": {fmt.Sprint(seq)}}, basic("any", "thing"))
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s on a read-only console = %d", path, res.StatusCode)
			}
			mustContain(t, body, "read-only: nothing was changed")
		}
		if n := e.dlqCount(); n != 1 {
			t.Errorf("%d dead letters left, want 1", n)
		}
	})
	t.Run("token", func(t *testing.T) {
		t.Parallel()
		const token = "0123456789abcdef-token"
		e := setup(t, Options{WriteToken: token})
		seq := e.deadLetter("accounts", "Account", "upsert", "job-1", 1, picklistCode, "m", `{}`)
		form := url.Values{"seq": {fmt.Sprint(seq)}}
		for _, auth := range []string{"", "Bearer wrong", basic("ops", "wrong"), "Bearer " + token + "x"} {
			res, body := e.post("/dlq/purge", form, auth)
			if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("auth %q: %d %q", auth, res.StatusCode, res.Header.Get("WWW-Authenticate"))
			}
			mustContain(t, body, "nothing was changed")
		}
		if n := e.dlqCount(); n != 1 {
			t.Fatalf("%d dead letters left, want 1", n)
		}
		if res, body := e.post("/dlq/purge", form, "Bearer "+token); res.StatusCode != http.StatusOK {
			t.Fatalf("bearer token: %d %s", res.StatusCode, body)
		}
		seq = e.deadLetter("accounts", "Account", "upsert", "job-1", 2, picklistCode, "m", `{}`)
		if res, body := e.post("/dlq/purge", url.Values{"seq": {fmt.Sprint(seq)}}, basic("anyone", token)); res.StatusCode != http.StatusOK {
			t.Fatalf("token as basic password: %d %s", res.StatusCode, body)
		}
		if n := e.dlqCount(); n != 0 {
			t.Errorf("%d dead letters left, want 0", n)
		}
	})
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, Options{WriteUser: "ops", WritePassword: "pw-0123456789"})
	seq := e.deadLetter("accounts", "Account", "upsert", "job-1", 1, picklistCode, "m", `{}`)
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/dlq/purge", strings.NewReader("seq="+fmt.Sprint(seq)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Authorization", basic("ops", "pw-0123456789"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST = %d", res.StatusCode)
	}
	if n := e.dlqCount(); n != 1 {
		t.Errorf("%d dead letters left, want 1", n)
	}
}

func TestPagesSayWhenNATSIsUnreachableAndKeepServing(t *testing.T) {
	t.Parallel()
	t.Run("never connected", func(t *testing.T) {
		t.Parallel()
		srv, err := New(Options{NATSURL: "nats://alice:hunter2@nats.internal:4222"})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		srv.SetConnectError(fmt.Errorf("connecting to NATS at nats://s3cr3t-token@nats.internal:4222: dial tcp nats.internal:4222: connection refused"))
		e := &env{t: t, srv: srv}
		e.http = httptestServer(t, srv)
		for _, path := range []string{"/", "/workers", "/jobs", "/dlq", "/dlq/list", "/dlq/replay", "/dlq/1"} {
			status, body := e.get(path)
			if status != http.StatusOK {
				t.Errorf("GET %s = %d", path, status)
			}
			mustContain(t, body, "connection refused", `class="conn down"`)
			mustNotContain(t, body, "hunter2", "alice", "s3cr3t-token")
		}
	})
	t.Run("connection lost", func(t *testing.T) {
		t.Parallel()
		e := setup(t, Options{})
		e.nats.Shutdown()
		waitFor(t, "the client to notice", func() bool { return !e.nc.IsConnected() })
		start := time.Now()
		status, body := e.get("/")
		if status != http.StatusOK || time.Since(start) > 5*time.Second {
			t.Errorf("GET / = %d after %v", status, time.Since(start))
		}
		mustContain(t, body, "reconnecting", `class="conn down"`)
	})
}

func TestNoSecretIsRendered(t *testing.T) {
	t.Parallel()
	const token, pw = "tok-0123456789abcdef", "pw-fedcba9876543210"
	e := setup(t, Options{WriteToken: token, WriteUser: "ops", WritePassword: pw})
	e.deadLetter("accounts", "Account", "upsert", "job-1", 1, picklistCode, "m", `{}`)
	for _, path := range []string{"/", "/workers", "/jobs", "/dlq", "/dlq/list", "/dlq/replay", "/dlq/purge", "/dlq/1", "/nope"} {
		_, body := e.get(path)
		mustNotContain(t, body, token, pw)
		mustContain(t, body, "write actions enabled")
	}
	for in, want := range map[string]string{
		"nats://alice:hunter2@h:4222":             "nats://***@h:4222",
		"nats://s3cr3t-token@h:4222,nats://h2:1":  "nats://***@h:4222,nats://h2:1",
		"tls://h:4222":                            "tls://h:4222",
		"user:pass@h:4222":                        "***@h:4222",
		"nats://u:p@h1:4222, nats://u:p@h2:4222 ": "nats://***@h1:4222,nats://***@h2:4222", //nolint:gocritic // mapKey: the spaces are the case under test
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := setup(t, Options{})
	res, err := http.Get(e.http.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	status, body := e.get("/static/console.css")
	if status != http.StatusOK || !strings.Contains(body, "table.grid") {
		t.Errorf("stylesheet: %d", status)
	}
}
