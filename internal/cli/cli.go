// Package cli holds what Kinetic's commands share: flags whose defaults come
// from environment variables, usage text, and logger set-up.
package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/kinetic-sync/kinetic/internal/redact"
)

// Env reads flags' defaults from the environment. Each helper registers a
// flag whose default is the variable's value when set, and whose help ends
// with the variable's name, so --help documents both.
type Env struct {
	FS     *flag.FlagSet
	Lookup func(string) (string, bool) // default os.LookupEnv
	errs   []string
}

// lookup reads a variable; an empty value counts as unset, as for the
// NATS_* and SF_* variables.
func (e *Env) lookup(k string) (string, bool) {
	get := os.LookupEnv
	if e.Lookup != nil {
		get = e.Lookup
	}
	v, ok := get(k)
	return v, ok && v != ""
}

func help(usage, env string) string { return usage + " (env " + env + ")" }

// String registers a string flag.
func (e *Env) String(p *string, name, env, def, usage string) {
	if v, ok := e.lookup(env); ok {
		def = v
	}
	e.FS.StringVar(p, name, def, help(usage, env))
}

// URL registers a flag holding one or more comma-separated URLs. The
// value is used as given, but --help shows the default (the variable's value
// when set) with its credentials hidden (redact.URLs): a NATS_URL such as
// nats://user:password@host must not print its password.
func (e *Env) URL(p *string, name, env, def, usage string) {
	if v, ok := e.lookup(env); ok {
		def = v
	}
	*p = def
	e.FS.Var(urlValue{p}, name, help(usage, env))
}

// urlValue is a string flag whose String, which flag uses for the default
// shown in --help, hides credentials.
type urlValue struct{ p *string }

func (v urlValue) String() string {
	if v.p == nil {
		return ""
	}
	return redact.URLs(*v.p)
}

func (v urlValue) Set(s string) error {
	*v.p = s
	return nil
}

// Secret registers a flag for a secret (password, token): its default comes
// from the variable, and --help shows neither value, only the variable's
// name. Prefer the variable: a flag's value is visible to other users of
// the machine in the process list.
func (e *Env) Secret(p *string, name, env, usage string) {
	if v, ok := e.lookup(env); ok {
		*p = v
	}
	e.FS.Var(secretValue{p}, name, help(usage, env))
}

// secretValue is a string flag that never shows its value.
type secretValue struct{ p *string }

func (secretValue) String() string { return "" }

func (v secretValue) Set(s string) error {
	*v.p = s
	return nil
}

// Int registers an int flag.
func (e *Env) Int(p *int, name, env string, def int, usage string) {
	if v, ok := e.lookup(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s=%q: not a whole number", env, v))
		} else {
			def = n
		}
	}
	e.FS.IntVar(p, name, def, help(usage, env))
}

// Bool registers a bool flag.
func (e *Env) Bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := e.lookup(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s=%q: not true or false", env, v))
		} else {
			def = b
		}
	}
	e.FS.BoolVar(p, name, def, help(usage, env))
}

// Duration registers a duration flag.
func (e *Env) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := e.lookup(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s=%q: not a duration such as 30s", env, v))
		} else {
			def = d
		}
	}
	e.FS.DurationVar(p, name, def, help(usage, env))
}

// List registers a repeatable flag that also accepts comma-separated values.
func (e *Env) List(p *[]string, name, env, usage string) {
	if v, ok := e.lookup(env); ok && v != "" {
		*p = splitList(v)
	}
	fromEnv := true
	e.FS.Func(name, help(usage+"; repeatable or comma-separated", env), func(v string) error {
		if fromEnv {
			*p, fromEnv = nil, false
		}
		*p = append(*p, splitList(v)...)
		return nil
	})
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Err reports malformed environment variables.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("bad environment: %s", strings.Join(e.errs, "; "))
}

// Logger builds the zerolog logger: format "json" (default) or "console";
// level debug, info (default), warn or error.
func Logger(w io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		if level != "" {
			return zerolog.Nop(), fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
		lvl = zerolog.InfoLevel
	}
	switch format {
	case "", "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
