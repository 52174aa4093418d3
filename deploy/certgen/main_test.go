package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunGeneratesThenKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	var out, errs bytes.Buffer
	if code := run([]string{"-dir", dir, "-san", " nats.example.com, 10.0.0.7 "}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "generated a CA") {
		t.Errorf("first run: %q", out.String())
	}
	out.Reset()
	if code := run([]string{"-dir", dir, "-san", "nats.example.com,10.0.0.7"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "is complete") || !strings.Contains(out.String(), "kept") {
		t.Errorf("second run: %q", out.String())
	}
	t.Setenv("KINETIC_NATS_SANS", "other.example.com")
	out.Reset()
	if code := run([]string{"-dir", dir}, &out, &errs); code != 0 || !strings.Contains(out.String(), "no SAN other.example.com") {
		t.Errorf("a SAN from KINETIC_NATS_SANS: exit %d, %q", code, out.String())
	}
	if code := run([]string{"-dir", dir, "extra"}, &out, &errs); code != 2 {
		t.Errorf("an argument: exit %d, want 2", code)
	}
}
