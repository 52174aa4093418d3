package pipeline

import "github.com/kinetic-sync/kinetic/pkg/salesforce"

// MergeChanges merges change b of a record into change a, the one before
// it, when writing the merged change once gives exactly what writing a and
// then b gives; ok is false when they must be written one after the other.
//
//	upsert, then upsert   merged: a's fields, then b's over them (later values
//	                      win, an explicit null included)
//	update, then update   merged the same way
//	delete, then delete   merged: one delete (the record is gone either way)
//	anything else         not merged: delete after upsert, upsert after
//	                      delete, update after delete, … are written in
//	                      order, one call after the other
//
// Inserts have no key and never meet. The records are not modified.
func MergeChanges(aOp SyncMode, a salesforce.Record, bOp SyncMode, b salesforce.Record) (salesforce.Record, bool) {
	if aOp != bOp {
		return nil, false
	}
	switch aOp {
	case Delete:
		return a, true
	case Upsert, Update:
		m := make(salesforce.Record, len(a)+len(b))
		for k, v := range a {
			m[k] = v
		}
		for k, v := range b {
			// Salesforce field names are case-insensitive: b's spelling of a
			// field replaces a's.
			for ak := range m {
				if ak != k && equalFoldASCII(ak, k) {
					delete(m, ak)
				}
			}
			m[k] = v
		}
		return m, true
	}
	return nil, false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
