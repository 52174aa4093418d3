package console

import (
	"context"
	"github.com/nats-io/nats.go"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/devenv"
	"github.com/kinetic-sync/kinetic/internal/producer"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// browserTimeout bounds every wait of the browser test.
const browserTimeout = 20 * time.Second

// chromium finds Debian's chromium. The test fails (it never skips) when it
// is missing: .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser test needs Chromium: install Debian's package (apt-get install chromium); .ci/run does")
	return ""
}

// artifacts is the directory screenshots go to: $KINETIC_ARTIFACTS, or a
// fixed directory under the system's temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KINETIC_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "kinetic-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// TestBrowserOperatorRepairsDeadLetters drives the console in Chromium
// against embedded NATS, the simulator and a worker: a job loads with
// failures (a restricted picklist value the org does not know), the
// overview shows it, the operator opens the dead-letter group, fixes the
// org, replays the group (dry run, then confirm), and the org has the
// records; a purge without write credentials is refused.
func TestBrowserOperatorRepairsDeadLetters(t *testing.T) {
	chrome := chromium(t)
	shots := artifacts(t)
	log := zerolog.Nop()

	ns := devenv.StartTestNATS(t)
	sim, err := devenv.StartSim(devenv.SimOptions{SchemaFile: "../../examples/schema.yaml", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	pipes, err := pipeline.LoadConfig("../../examples/pipelines.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stopWorkers, err := devenv.StartWorkers(ns.ClientURL(), sim.SalesforceConfig(), pipes, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopWorkers)
	_, js := ns.ConnectTest(t)

	const user, password = "ops", "correct-horse-battery"
	srv, err := New(Options{Pipelines: pipes, WriteUser: user, WritePassword: password, Refresh: -1, NATSURL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	// The console's connection as cmd/console makes it (replay needs one
	// that does not buffer publishes while reconnecting).
	cnc, err := nats.Connect(ns.ClientURL(), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cnc.Close)
	if err := srv.Attach(cnc); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	// A job with failures: 40 accounts, 5 of them in tier Diamond, which
	// the org's restricted picklist does not know, and 2 whose revenue is
	// not a number (a mapping failure). And a clean job of contacts.
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("ext_id,company,revenue,tier\n")
	for i := 1; i <= 40; i++ {
		tier, revenue := "Gold", "1000"
		if i%8 == 0 {
			tier = "Diamond"
		}
		if i == 13 || i == 27 {
			revenue = "lots"
		}
		csv.WriteString("ACC-B" + itoa(i) + ",Company " + itoa(i) + "," + revenue + "," + tier + "\n")
	}
	writeFile(t, filepath.Join(dir, "accounts.csv"), csv.String())
	var contacts strings.Builder
	for i := 1; i <= 30; i++ {
		contacts.WriteString(`{"id":"CON-B` + itoa(i) + `","first_name":"Ada","last_name":"Lovelace ` + itoa(i) + `","email":"ADA` + itoa(i) + `@EXAMPLE.COM"}` + "\n")
	}
	writeFile(t, filepath.Join(dir, "contacts.jsonl"), contacts.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, j := range []struct{ pipeline, file string }{{"accounts", "accounts.csv"}, {"contacts", "contacts.jsonl"}} {
		pc, _ := pipes.Pipeline(j.pipeline)
		rep, err := producer.Publish(ctx, producer.Options{JS: js, Pipeline: pc, Files: []string{filepath.Join(dir, j.file)}, Wait: true, Timeout: time.Minute, Log: log})
		if err != nil {
			t.Fatalf("publishing %s: %v", j.file, err)
		}
		t.Logf("job %s: %s", rep.Job, rep.Result.SyncResult)
	}
	waitFor(t, "the console to index both jobs", func() bool { return len(srv.results.jobList()) == 2 })

	// The browser: one tab for the operator with write credentials, one for
	// someone without.
	var signIns sync.WaitGroup
	defer signIns.Wait() // runs last: after the tabs and the browser are closed
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1440, 900),
		chromedp.Flag("lang", "en-US"))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	run := func(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, browserTimeout)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// follow clicks a link or button and waits for the page it loads.
	follow := func(tab context.Context, sel string) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, browserTimeout)
		defer cancel()
		if _, err := chromedp.Run(c, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
			t.Fatalf("clicking %s: %v", sel, err)
		}
	}
	shot := func(tab context.Context, name string) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, browserTimeout)
		defer cancel()
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		writeFileBytes(t, filepath.Join(shots, name), png)
	}
	text := func(tab context.Context, sel string) string {
		t.Helper()
		c, cancel := context.WithTimeout(tab, browserTimeout)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	count := func(tab context.Context, sel string) int {
		t.Helper()
		c, cancel := context.WithTimeout(tab, browserTimeout)
		defer cancel()
		n, err := chromedp.Run(c, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatalf("counting %s: %v", sel, err)
		}
		return n
	}
	// The first action runs on the tab's own context: it starts the browser
	// and opens the tab, which live as long as that context. The operator
	// signs in with the write credentials when the console asks (HTTP basic
	// authentication, as a person would in the browser's prompt).
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	signIn(t, browser, &signIns, &fetch.AuthChallengeResponse{
		Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: password})

	// The overview: the accounts pipeline needs attention, and says why.
	run(browser, "opening the overview", chromedp.Navigate(hs.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-pipeline="accounts"]`)))
	accounts := text(browser, `tr[data-pipeline="accounts"]`)
	for _, want := range []string{"WARN", "Account · upsert", "7 dead letters waiting", "7 in the last 15 min"} {
		if !strings.Contains(accounts, want) {
			t.Errorf("overview row of accounts %q lacks %q", accounts, want)
		}
	}
	if c := text(browser, `tr[data-pipeline="contacts"]`); !strings.Contains(c, "OK") {
		t.Errorf("overview row of contacts: %q", c)
	}
	if n := text(browser, `#unhealthy`); n == "0" {
		t.Error("the overview counts no unhealthy pipeline")
	}
	shot(browser, "1-overview.png")

	// Open the pipeline's dead letters, then the picklist group.
	const code = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
	group := `tr[data-group="accounts/` + code + `"]`
	follow(browser, `tr[data-pipeline="accounts"] td.dl a`)
	run(browser, "opening the dead letters", chromedp.WaitVisible(chromedp.CSS(group)))
	if c := text(browser, group+" td.count"); c != "5" {
		t.Errorf("the picklist group counts %q, want 5", c)
	}
	if g := text(browser, group); !strings.Contains(g, "Diamond") {
		t.Errorf("the group's sample does not show the failing value: %q", g)
	}
	shot(browser, "2-dead-letter-groups.png")
	follow(browser, group+" a.open")
	run(browser, "opening the group", chromedp.WaitVisible(chromedp.CSS("#entries")))
	if n := text(browser, "#dl-total"); n != "5" {
		t.Errorf("the group lists %q dead letters, want 5", n)
	}
	shot(browser, "3-dead-letter-group.png")

	// Fix the cause in the org: add the picklist value.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, sim.URL+"/__admin/schema", strings.NewReader(
		`objects: [{name: Account, fields: [{name: Customer_Tier__c, type: picklist, values: [Platinum, Gold, Silver, Diamond], restricted: true}]}]`))
	req.Header.Set("Content-Type", "application/yaml") // admin writes name their type
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("the simulator's admin API refused the schema: %s", res.Status)
	}

	// Replay the group: the dry run first, which changes nothing.
	run(browser, "back to the groups", chromedp.Navigate(hs.URL+"/dlq?pipeline=accounts"), chromedp.WaitVisible(chromedp.CSS(group)))
	follow(browser, group+" a.replay")
	run(browser, "the dry run", chromedp.WaitVisible(chromedp.CSS("#dry-run")))
	if b := text(browser, "#confirm-button"); b != "Replay 5 dead letters" {
		t.Errorf("confirm button %q", b)
	}
	if n := dlq(t, ctx, srv, "accounts", code); n != 5 {
		t.Fatalf("after the dry run %d dead letters are left, want 5", n)
	}
	shot(browser, "4-replay-dry-run.png")
	follow(browser, "#confirm-button")
	run(browser, "the replay report", chromedp.WaitVisible(chromedp.CSS("#result")))
	if r := text(browser, "#result"); !strings.Contains(r, "Replayed 5 of 5") {
		t.Errorf("replay report: %q", r)
	}
	shot(browser, "5-replay-report.png")

	// The org has the records, and the group is gone.
	waitFor(t, "the replayed accounts in the org", func() bool {
		recs, err := sim.Records("Account")
		if err != nil {
			return false
		}
		n := 0
		for _, r := range recs {
			if r["Customer_Tier__c"] == "Diamond" && strings.HasPrefix(str(r["External_Key__c"]), "ACC-B") {
				n++
			}
		}
		return n == 5
	})
	run(browser, "the groups after the replay", chromedp.Navigate(hs.URL+"/dlq?pipeline=accounts"), chromedp.WaitVisible(chromedp.CSS("#groups")))
	if count(browser, group) != 0 {
		t.Error("the replayed group is still listed")
	}
	if n := text(browser, "#dl-total"); n != "2" {
		t.Errorf("%q dead letters left, want the 2 mapping failures", n)
	}

	// Someone without write credentials cannot purge.
	// A new browser context (like a private window): it does not share the
	// operator's sign-in.
	anon, cancelAnon := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelAnon()
	if err := chromedp.Do(anon, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	// This one has no credentials: it cancels the sign-in prompt.
	signIn(t, anon, &signIns, &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth})
	run(anon, "opening the purge confirmation", chromedp.Navigate(hs.URL+"/dlq/purge?pipeline=accounts&code=KINETIC_MAPPING_FAILED"),
		chromedp.WaitVisible(chromedp.CSS("#purge-warning")))
	if b := text(anon, "#confirm-button"); b != "Delete 2 dead letters" {
		t.Errorf("purge confirm button %q", b)
	}
	follow(anon, "#confirm-button")
	run(anon, "the refusal", chromedp.WaitVisible(chromedp.CSS("#message")))
	if m := text(anon, "#message"); !strings.Contains(m, "nothing was changed") {
		t.Errorf("purge without credentials: %q", m)
	}
	shot(anon, "6-purge-refused.png")
	if n := dlq(t, ctx, srv, "accounts", "KINETIC_MAPPING_FAILED"); n != 2 {
		t.Errorf("%d mapping failures left after a refused purge, want 2", n)
	}

	// The workers and jobs pages render with what the fleet reports.
	run(browser, "the jobs page", chromedp.Navigate(hs.URL+"/jobs"), chromedp.WaitVisible(chromedp.CSS("#jobs")))
	if j := text(browser, "#jobs"); !strings.Contains(j, "partial") || !strings.Contains(j, "success") {
		t.Errorf("jobs page: %q", j)
	}
	shot(browser, "7-jobs.png")
	run(browser, "the workers page", chromedp.Navigate(hs.URL+"/workers"), chromedp.WaitVisible(chromedp.CSS("main")))
	shot(browser, "8-workers.png")
}

// signIn answers the tab's HTTP authentication prompts with resp, as a
// person would in the browser's sign-in dialog (headless Chromium shows
// none). Every other request goes on untouched.
func signIn(t *testing.T, tab context.Context, wg *sync.WaitGroup, resp *fetch.AuthChallengeResponse) {
	t.Helper()
	paused := chromedp.Events(tab, fetch.RequestPaused)
	auth := chromedp.Events(tab, fetch.AuthRequired)
	yes := true
	if _, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &yes}); err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range auth {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tab, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: resp})
		}
	}()
}

// dlq counts a pipeline's dead letters with one code, through the console.
func dlq(t *testing.T, ctx context.Context, srv *Server, pipeline, code string) int {
	t.Helper()
	insp, err := srv.inspector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := srv.list(ctx, insp, dlqFilter{Pipeline: pipeline, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func itoa(i int) string { return strconv.Itoa(i) }

func str(v any) string {
	s, _ := v.(string)
	return s
}

func writeFile(t *testing.T, path, s string) { writeFileBytes(t, path, []byte(s)) }

func writeFileBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
