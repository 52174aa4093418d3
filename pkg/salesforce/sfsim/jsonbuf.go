package sfsim

import (
	"strconv"
	"sync"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// buffer is a pooled byte slice that responses are encoded into.
type buffer struct{ b []byte }

// maxPooledBuffer keeps very large buffers (big query pages, result CSVs) out
// of the pool.
const maxPooledBuffer = 1 << 20

// bufferPool recycles response buffers; each Server has one.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) get() *buffer {
	if b, ok := bp.p.Get().(*buffer); ok {
		return b
	}
	return &buffer{b: make([]byte, 0, 4096)}
}

func (bp *bufferPool) put(b *buffer) {
	if b == nil || cap(b.b) > maxPooledBuffer {
		return
	}
	b.b = b.b[:0]
	bp.p.Put(b)
}

// appendJSONValue appends a stored value.
func appendJSONValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return jsontext.AppendStringHTML(b, x)
	case float64:
		return appendNumber(b, x)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	}
	return append(b, "null"...)
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendStringHTML(b, s)
	}
	return append(b, ']')
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }
