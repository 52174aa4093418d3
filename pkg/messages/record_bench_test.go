package messages_test

import (
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// BenchmarkDecodeRecord decodes one record as a worker does for every
// message it fetches. The hand-written parser it replaced is compared with
// encoding/json at commit 5de1528 (docs/performance.md, "Hand-written
// codecs").
//
//	go test ./pkg/messages -run '^$' -bench DecodeRecord -benchmem -count 3
func BenchmarkDecodeRecord(b *testing.B) {
	data := []byte(`{"ext_id":"K-00012345","company":"Company 12345 Holdings","email":"Contact12345@Example.COM","revenue":"13345","employees":"2346","industry":"Technology"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := messages.DecodeRecord(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}
