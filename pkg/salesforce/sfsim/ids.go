package sfsim

import (
	"sync"
	"sync/atomic"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// base62 is the alphabet of record id characters, in counter order.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Key prefixes of the non-record ids the simulator hands out.
const (
	prefixOrg     = "00D"
	prefixUser    = "005"
	prefixJob     = "750"
	prefixLocator = "01g"
)

// idInstance is the two "pod" characters after the key prefix, as in real ids
// ("001" + "5f" + ...). It keeps simulator ids recognisable.
const idInstance = "Kn"

// idGen hands out 18-character ids: key prefix, two instance characters and a
// ten-digit base-62 counter per prefix, plus the case-safe suffix. Counters are
// never reset (not even by Reset), so an id is never reused within a process.
type idGen struct {
	mu       sync.Mutex
	counters map[string]*atomic.Uint64
}

func newIDGen() *idGen { return &idGen{counters: make(map[string]*atomic.Uint64)} }

func (g *idGen) counter(prefix string) *atomic.Uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.counters[prefix]
	if !ok {
		c = new(atomic.Uint64)
		g.counters[prefix] = c
	}
	return c
}

// next returns a new id for prefix. Callers on hot paths keep the counter from
// counter(prefix) and call makeID directly.
func (g *idGen) next(prefix string) string {
	return makeID(prefix, g.counter(prefix).Add(1))
}

// makeID builds the 18-character id number n under prefix.
func makeID(prefix string, n uint64) string {
	var b [15]byte
	copy(b[:3], prefix)
	copy(b[3:5], idInstance)
	for i := 14; i >= 5; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	id, err := salesforce.ID18(string(b[:]))
	if err != nil {
		// Unreachable: every character above is base 62 and the length is 15.
		panic("sfsim: bad generated id " + string(b[:]))
	}
	return id
}

// normID returns the 18-character form of a 15- or 18-character id, or false.
func normID(id string) (string, bool) {
	id18, err := salesforce.ID18(id)
	if err != nil {
		return "", false
	}
	return id18, true
}
