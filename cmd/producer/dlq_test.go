package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kinetic-sync/kinetic/pkg/deadletter"
	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// dlq list shortens long error messages on a character boundary: a cut in
// the middle of a multi-byte character printed invalid UTF-8.
func TestDLQListShortensOnRuneBoundaries(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		strings.Repeat("a", 69) + "é" + strings.Repeat("b", 10), // é straddles byte 70
		strings.Repeat("日本", 40),
		strings.Repeat("€", 70), // exactly 70 characters: kept whole
		"short",
	} {
		e := deadletter.Entry{Seq: 1, Time: time.Unix(0, 0), DeadLetter: &messages.DeadLetter{Code: "C", Message: msg}}
		var out bytes.Buffer
		if err := writeList(&out, []deadletter.Entry{e}, false); err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(out.Bytes()) {
			t.Errorf("message %q: the table is not valid UTF-8:\n%q", msg, out.String())
		}
		lines := strings.Split(out.String(), "\n")
		row := lines[1]
		switch n := utf8.RuneCountInString(msg); {
		case n <= 70:
			if !strings.HasSuffix(row, msg) {
				t.Errorf("message %q (%d characters) was shortened: %q", msg, n, row)
			}
		default:
			want := string([]rune(msg)[:70]) + "…"
			if !strings.HasSuffix(row, want) {
				t.Errorf("message %q: row %q does not end in its first 70 characters and …", msg, row)
			}
		}
	}
}
