package messages_test

import (
	"strings"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

func TestSubjectsDefaultPrefix(t *testing.T) {
	t.Parallel()
	var s messages.Subjects // zero value: DefaultPrefix
	for _, c := range []struct{ got, want string }{
		{s.Records("Account", "upsert"), "kinetic.records.Account.upsert"},
		{s.AllRecords(), "kinetic.records.>"},
		{s.Results("accounts", "job-1"), "kinetic.results.accounts.job-1"},
		{s.Results("accounts", ""), "kinetic.results.accounts._"},
		{s.JobResults("job-1"), "kinetic.results.*.job-1"},
		{s.AllResults(), "kinetic.results.>"},
		{s.DeadLetters("accounts", "Account", "upsert"), "kinetic.dlq.accounts.Account.upsert"},
		{s.AllDeadLetters(), "kinetic.dlq.>"},
		{s.DeadLetterFilter("", "", ""), "kinetic.dlq.*.*.*"},
		{s.DeadLetterFilter("accounts", "", ""), "kinetic.dlq.accounts.*.*"},
		{s.DeadLetterFilter("", "Account", ""), "kinetic.dlq.*.Account.*"},
		{s.DeadLetterFilter("", "", "delete"), "kinetic.dlq.*.*.delete"},
		{s.DeadLetterFilter("accounts", "Account", "upsert"), "kinetic.dlq.accounts.Account.upsert"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if messages.NoJob != "_" || !messages.ValidToken(messages.NoJob) {
		t.Errorf("NoJob %q must be a valid token", messages.NoJob)
	}
}

func TestSubjectsCustomPrefix(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"acme", "acme.prod", "my-app.eu_1"} {
		s := messages.Subjects{Prefix: prefix}
		if got, want := s.Records("Contact", "insert"), prefix+".records.Contact.insert"; got != want {
			t.Errorf("Records: %q, want %q", got, want)
		}
		if got, want := s.Results("p", "j"), prefix+".results.p.j"; got != want {
			t.Errorf("Results: %q, want %q", got, want)
		}
		if got, want := s.JobResults("j"), prefix+".results.*.j"; got != want {
			t.Errorf("JobResults: %q, want %q", got, want)
		}
		if got, want := s.DeadLetters("p", "Contact", "insert"), prefix+".dlq.p.Contact.insert"; got != want {
			t.Errorf("DeadLetters: %q, want %q", got, want)
		}
		if got, want := s.DeadLetterFilter("p", "", "insert"), prefix+".dlq.p.*.insert"; got != want {
			t.Errorf("DeadLetterFilter: %q, want %q", got, want)
		}
		// What Records builds, ParseRecordSubject takes apart.
		obj, mode, err := s.ParseRecordSubject(s.Records("Contact", "insert"))
		if err != nil || obj != "Contact" || mode != "insert" {
			t.Errorf("prefix %q: ParseRecordSubject = %q, %q, %v", prefix, obj, mode, err)
		}
	}
}

func TestParseRecordSubject(t *testing.T) {
	t.Parallel()
	var s messages.Subjects
	obj, mode, err := s.ParseRecordSubject("kinetic.records.Invoice__c.delete")
	if err != nil || obj != "Invoice__c" || mode != "delete" {
		t.Fatalf("got %q, %q, %v", obj, mode, err)
	}
	for _, bad := range []string{
		"",
		"kinetic.records",
		"kinetic.records.",
		"kinetic.records.Account",
		"kinetic.records.Account.",
		"kinetic.records..upsert",
		"kinetic.records.Account.upsert.extra.more",
		"kinetic.results.Account.upsert",
		"other.records.Account.upsert",
		"kineticX.records.Account.upsert",
	} {
		obj, mode, err := s.ParseRecordSubject(bad)
		if err == nil {
			t.Errorf("%q: parsed as %q, %q; want an error", bad, obj, mode)
			continue
		}
		if obj != "" || mode != "" {
			t.Errorf("%q: error with values %q, %q", bad, obj, mode)
		}
		if !strings.Contains(err.Error(), "kinetic.records.<SObject>.<mode>") {
			t.Errorf("%q: error %q does not show the expected form", bad, err)
		}
	}
	// A subject under another prefix is not this prefix's record subject.
	if _, _, err := (messages.Subjects{Prefix: "acme"}).ParseRecordSubject("kinetic.records.Account.upsert"); err == nil {
		t.Error("prefix acme parsed a kinetic subject")
	}
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "Z", "0", "job-1", "job_1", "20261126T101500-ab12cd", "_", "-", "Invoice__c"} {
		if !messages.ValidToken(ok) {
			t.Errorf("ValidToken(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "*", ">", "a*", "job>", "tab\t", "new\nline", "é", "a/b", " a"} {
		if messages.ValidToken(bad) {
			t.Errorf("ValidToken(%q) = true", bad)
		}
	}
}

func TestKeyToken(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ACC-1":     "acc-1",
		"a.b c":     "a%2Eb%20c",
		"x*y>z":     "x%2Ay%3Ez",
		"Café":      "caf%C3%A9",
		"100%":      "100%25",
		"tab\there": "tab%09here",
		"under_sc":  "under_sc",
	} {
		got := messages.KeyToken(in)
		if got != want {
			t.Errorf("KeyToken(%q) = %q, want %q", in, got, want)
		}
		if !messages.ValidToken(strings.ReplaceAll(got, "%", "_")) {
			t.Errorf("KeyToken(%q) = %q is not one plain token", in, got)
		}
	}
	if messages.KeyToken("ABC") != messages.KeyToken("abc") {
		t.Error("keys differing only in case must share a token: Salesforce matches external ids case-insensitively")
	}
}

func TestParseRecords(t *testing.T) {
	t.Parallel()
	s := messages.Subjects{Prefix: "acme.prod"}
	for subj, want := range map[string]messages.RecordSubject{
		"acme.prod.records.Account.upsert":         {SObject: "Account", Mode: "upsert", Partition: -1},
		"acme.prod.records.Account.upsert.acc-1":   {SObject: "Account", Mode: "upsert", Key: "acc-1", Partition: -1},
		"acme.prod.records.Account.delete.7.acc-1": {SObject: "Account", Mode: "delete", Key: "acc-1", Partition: 7},
	} {
		got, err := s.ParseRecords(subj)
		if err != nil || got != want {
			t.Errorf("ParseRecords(%q) = %+v, %v; want %+v", subj, got, err, want)
		}
	}
	for _, bad := range []string{
		"acme.prod.records.Account", "acme.prod.records.Account.upsert.x.y", "acme.prod.records.Account.upsert.07.k",
		"acme.prod.records.Account.upsert.1.k.z", "kinetic.records.Account.upsert", "acme.prod.records..upsert",
		"$JS.API.STREAM.DELETE.KINETIC_RECORDS", "acme.prod.records.Acc*.upsert",
	} {
		if r, err := s.ParseRecords(bad); err == nil {
			t.Errorf("ParseRecords(%q) = %+v, want an error", bad, r)
		}
	}
}
