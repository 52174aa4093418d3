package messages_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

func TestRecordMetaRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range []messages.RecordMeta{
		{},
		{Job: "job-1", Seq: 1},
		{Job: "20261126T101500-ab12cd", Seq: 1 << 40, Key: "ACC-00001 / ünïcode", MsgID: "job-1-7", StopOnError: true, ReplayOf: 42},
		{Key: "only-a-key"},
		{MsgID: "custom-id", ReplayOf: 1},
	} {
		h := nats.Header{}
		m.Header(h)
		got, err := messages.ParseRecordMeta(h)
		if err != nil {
			t.Errorf("%+v: %v", m, err)
			continue
		}
		if got != m {
			t.Errorf("round trip: got %+v, want %+v (header %v)", got, m, h)
		}
	}
}

func TestRecordMetaHeaderNames(t *testing.T) {
	t.Parallel()
	h := nats.Header{}
	messages.RecordMeta{Job: "j", Seq: 12, Key: "k", MsgID: "id", StopOnError: true, ReplayOf: 9}.Header(h)
	want := map[string]string{
		"Kinetic-Job": "j", "Kinetic-Seq": "12", "Kinetic-Key": "k", "Nats-Msg-Id": "id",
		"Kinetic-Stop-On-Error": "true", "Kinetic-Replay-Of": "9",
	}
	if len(h) != len(want) {
		t.Errorf("header %v, want %v", h, want)
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Zero fields are left out.
	empty := nats.Header{}
	messages.RecordMeta{}.Header(empty)
	if len(empty) != 0 {
		t.Errorf("zero meta wrote %v", empty)
	}
}

func TestParseRecordMetaLenient(t *testing.T) {
	t.Parallel()
	// No headers at all: a record that belongs to no job.
	m, err := messages.ParseRecordMeta(nats.Header{})
	if err != nil || m != (messages.RecordMeta{}) {
		t.Fatalf("empty header: %+v, %v", m, err)
	}
	m, err = messages.ParseRecordMeta(nil)
	if err != nil || m != (messages.RecordMeta{}) {
		t.Fatalf("nil header: %+v, %v", m, err)
	}
	// Only the exact "true" stops on error.
	for v, want := range map[string]bool{"true": true, "false": false, "": false, "yes": false} {
		h := nats.Header{}
		h.Set(messages.HeaderStopOnError, v)
		if m, err := messages.ParseRecordMeta(h); err != nil || m.StopOnError != want {
			t.Errorf("Kinetic-Stop-On-Error %q: %v, %v", v, m.StopOnError, err)
		}
	}
}

func TestParseRecordMetaMalformed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ header, value string }{
		{messages.HeaderSeq, "abc"},
		{messages.HeaderSeq, "0"},
		{messages.HeaderSeq, "-3"},
		{messages.HeaderSeq, "1.5"},
		{messages.HeaderSeq, " 7"},
		{messages.HeaderSeq, "99999999999999999999"},
		{messages.HeaderJob, "job.1"},
		{messages.HeaderJob, "job 1"},
		{messages.HeaderJob, "job*"},
		{messages.HeaderJob, "job>"},
		{messages.HeaderReplayOf, "x"},
		{messages.HeaderReplayOf, "-1"},
		{messages.HeaderReplayOf, "1e3"},
	} {
		h := nats.Header{}
		h.Set(c.header, c.value)
		_, err := messages.ParseRecordMeta(h)
		var de *messages.DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: %q: error %v, want a *DecodeError", c.header, c.value, err)
			continue
		}
		if de.Code != messages.CodeBadHeader {
			t.Errorf("%s: %q: code %s, want %s", c.header, c.value, de.Code, messages.CodeBadHeader)
		}
		if !strings.Contains(err.Error(), c.header) || !strings.Contains(err.Error(), messages.CodeBadHeader) {
			t.Errorf("%s: %q: message %q should name the header and the code", c.header, c.value, err)
		}
	}
}
