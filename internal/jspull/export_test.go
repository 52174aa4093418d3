package jspull

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NewMsgForTest wraps m as Fetch does.
func NewMsgForTest(m *nats.Msg, nc *nats.Conn) jetstream.Msg { return &Msg{m: m, nc: nc} }
