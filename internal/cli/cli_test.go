package cli_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinetic-sync/kinetic/internal/cli"
)

// flags is a set of every kind of flag, read through one Env.
type flags struct {
	s   string
	i   int
	b   bool
	d   time.Duration
	l   []string
	env *cli.Env
	fs  *flag.FlagSet
}

func newFlags(env map[string]string) *flags {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flags{fs: fs}
	f.env = &cli.Env{FS: fs, Lookup: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}
	f.env.String(&f.s, "name", "T_NAME", "default-name", "a name")
	f.env.Int(&f.i, "count", "T_COUNT", 4, "a count")
	f.env.Bool(&f.b, "on", "T_ON", false, "a switch")
	f.env.Duration(&f.d, "wait", "T_WAIT", 30*time.Second, "a wait")
	f.env.List(&f.l, "item", "T_ITEMS", "an item")
	return f
}

func TestEnvDefaults(t *testing.T) {
	t.Parallel()
	f := newFlags(nil)
	if err := f.fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.s != "default-name" || f.i != 4 || f.b || f.d != 30*time.Second || f.l != nil {
		t.Errorf("defaults: %q %d %v %v %v", f.s, f.i, f.b, f.d, f.l)
	}
	if err := f.env.Err(); err != nil {
		t.Errorf("Err: %v", err)
	}
}

func TestEnvFromEnvironment(t *testing.T) {
	t.Parallel()
	f := newFlags(map[string]string{"T_NAME": "from-env", "T_COUNT": "9", "T_ON": "true", "T_WAIT": "90m", "T_ITEMS": " a, b,,c "})
	if err := f.fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.s != "from-env" || f.i != 9 || !f.b || f.d != 90*time.Minute || !slices.Equal(f.l, []string{"a", "b", "c"}) {
		t.Errorf("from env: %q %d %v %v %q", f.s, f.i, f.b, f.d, f.l)
	}
	if err := f.env.Err(); err != nil {
		t.Errorf("Err: %v", err)
	}
	// An empty variable counts as unset, as for NATS_* and SF_*.
	f = newFlags(map[string]string{"T_NAME": "", "T_ITEMS": ""})
	if err := f.fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.s != "default-name" || f.l != nil {
		t.Errorf("empty variables: %q %q", f.s, f.l)
	}
}

func TestEnvFlagOverridesEnvironment(t *testing.T) {
	t.Parallel()
	f := newFlags(map[string]string{"T_NAME": "from-env", "T_COUNT": "9", "T_ON": "true", "T_WAIT": "90m", "T_ITEMS": "a,b"})
	err := f.fs.Parse([]string{"--name", "from-flag", "--count=2", "--on=false", "--wait", "5s", "--item", "x", "--item", "y,z"})
	if err != nil {
		t.Fatal(err)
	}
	if f.s != "from-flag" || f.i != 2 || f.b || f.d != 5*time.Second {
		t.Errorf("flags: %q %d %v %v", f.s, f.i, f.b, f.d)
	}
	// A repeated list flag replaces the environment's list, then accumulates.
	if !slices.Equal(f.l, []string{"x", "y", "z"}) {
		t.Errorf("list %q, want x y z", f.l)
	}
}

func TestEnvListWithoutEnvironment(t *testing.T) {
	t.Parallel()
	f := newFlags(nil)
	if err := f.fs.Parse([]string{"--item", "one", "--item", " two , three"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.l, []string{"one", "two", "three"}) {
		t.Errorf("list %q", f.l)
	}
}

func TestEnvMalformedValues(t *testing.T) {
	t.Parallel()
	f := newFlags(map[string]string{"T_COUNT": "abc", "T_ON": "maybe", "T_WAIT": "10"})
	if err := f.fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := f.env.Err()
	if err == nil {
		t.Fatal("malformed variables not reported")
	}
	for _, want := range []string{`T_COUNT="abc"`, "whole number", `T_ON="maybe"`, "true or false", `T_WAIT="10"`, "duration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// A malformed variable leaves the built-in default.
	if f.i != 4 || f.b || f.d != 30*time.Second {
		t.Errorf("defaults after malformed values: %d %v %v", f.i, f.b, f.d)
	}
	// Good values give no error even when another flag is given on the command line.
	ok := newFlags(map[string]string{"T_COUNT": "12"})
	if err := ok.fs.Parse([]string{"--count", "1"}); err != nil || ok.env.Err() != nil || ok.i != 1 {
		t.Errorf("%v %v %d", err, ok.env.Err(), ok.i)
	}
}

func TestEnvHelpNamesVariables(t *testing.T) {
	t.Parallel()
	f := newFlags(nil)
	var buf bytes.Buffer
	f.fs.SetOutput(&buf)
	f.fs.PrintDefaults()
	for _, v := range []string{"(env T_NAME)", "(env T_COUNT)", "(env T_ON)", "(env T_WAIT)", "(env T_ITEMS)", "repeatable or comma-separated"} {
		if !strings.Contains(buf.String(), v) {
			t.Errorf("help does not mention %s:\n%s", v, buf.String())
		}
	}
	// The environment's value shows as the default.
	g := newFlags(map[string]string{"T_NAME": "shown"})
	buf.Reset()
	g.fs.SetOutput(&buf)
	g.fs.PrintDefaults()
	if !strings.Contains(buf.String(), `"shown"`) {
		t.Errorf("help does not show the environment's default:\n%s", buf.String())
	}
}

func TestEnvDefaultLookupIsProcessEnvironment(t *testing.T) {
	t.Setenv("KINETIC_CLI_TEST_VALUE", "from-process")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	e := &cli.Env{FS: fs}
	var s string
	e.String(&s, "v", "KINETIC_CLI_TEST_VALUE", "def", "")
	if err := fs.Parse(nil); err != nil || s != "from-process" {
		t.Errorf("%q %v", s, err)
	}
}

func TestLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := cli.Logger(&buf, "", "")
	if err != nil {
		t.Fatal(err)
	}
	log.Debug().Msg("hidden")
	log.Info().Str("job", "j1").Msg("shown")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("default level is info: got %q", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("default format is JSON: %q: %v", lines[0], err)
	}
	if rec["message"] != "shown" || rec["level"] != "info" || rec["job"] != "j1" || rec["time"] == nil {
		t.Errorf("record %v", rec)
	}

	for _, c := range []struct {
		level      string
		shown, not string
	}{
		{"debug", "debug", ""},
		{"DEBUG", "debug", ""},
		{"info", "info", "debug"},
		{"warn", "warn", "info"},
		{"error", "error", "warn"},
	} {
		buf.Reset()
		log, err := cli.Logger(&buf, "json", c.level)
		if err != nil {
			t.Errorf("level %q: %v", c.level, err)
			continue
		}
		log.Debug().Msg("debug")
		log.Info().Msg("info")
		log.Warn().Msg("warn")
		log.Error().Msg("error")
		out := buf.String()
		if !strings.Contains(out, `"message":"`+c.shown+`"`) {
			t.Errorf("level %q hides %s: %s", c.level, c.shown, out)
		}
		if c.not != "" && strings.Contains(out, `"message":"`+c.not+`"`) {
			t.Errorf("level %q shows %s: %s", c.level, c.not, out)
		}
	}

	buf.Reset()
	log, err = cli.Logger(&buf, "console", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Str("pipeline", "accounts").Msg("console line")
	if out := buf.String(); !strings.Contains(out, "console line") || !strings.Contains(out, "pipeline=") || strings.HasPrefix(out, "{") {
		t.Errorf("console output %q", out)
	}

	for _, bad := range [][2]string{{"xml", "info"}, {"json", "loud"}, {"console", "verbose"}} {
		if _, err := cli.Logger(io.Discard, bad[0], bad[1]); err == nil {
			t.Errorf("Logger(%q, %q): no error", bad[0], bad[1])
		} else if !strings.Contains(err.Error(), `"`+bad[0]+`"`) && !strings.Contains(err.Error(), `"`+bad[1]+`"`) {
			t.Errorf("Logger(%q, %q): %v does not name the bad value", bad[0], bad[1], err)
		}
	}
}

// URL flags take their value as given, but --help shows the default with
// its credentials hidden; Secret flags never show a value.
func TestEnvURLAndSecretHelpHidesCredentials(t *testing.T) {
	t.Parallel()
	env := map[string]string{"T_URL": "nats://u:url-pw-1@h1:4222,nats://tok-2@h2:4222", "T_SECRET": "secret-3"}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	e := &cli.Env{FS: fs, Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	var u, s, def string
	e.URL(&u, "url", "T_URL", "nats://127.0.0.1:4222", "server `URL`")
	e.URL(&def, "plain-url", "T_PLAIN_URL", "nats://127.0.0.1:4222", "server `URL`")
	e.Secret(&s, "secret", "T_SECRET", "a `password`")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if u != env["T_URL"] || s != "secret-3" || def != "nats://127.0.0.1:4222" {
		t.Errorf("values %q %q %q", u, s, def)
	}
	fs.PrintDefaults()
	for _, secret := range []string{"url-pw-1", "tok-2", "secret-3"} {
		if strings.Contains(help.String(), secret) {
			t.Errorf("--help shows %q:\n%s", secret, help.String())
		}
	}
	for _, want := range []string{"-url URL", "nats://u:REDACTED@h1:4222,nats://REDACTED@h2:4222", "(env T_URL)",
		"-plain-url URL", "nats://127.0.0.1:4222", "-secret password", "(env T_SECRET)"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, help.String())
		}
	}
	// Flags override the environment.
	if err := fs.Parse([]string{"--url", "nats://x:flag-pw@h", "--secret", "flag-secret"}); err != nil {
		t.Fatal(err)
	}
	if u != "nats://x:flag-pw@h" || s != "flag-secret" {
		t.Errorf("flags: %q %q", u, s)
	}
}
