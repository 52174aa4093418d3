package soql

import (
	"cmp"
	"slices"
)

// SortRecords sorts recs in place by order (a Query's OrderBy), stably, so
// records that tie keep their relative order. resolve returns the Resolver for
// a record. Each record's sort keys are resolved once. If resolve reports an
// unknown field, SortRecords returns an *UnknownFieldError and leaves recs
// unchanged. Values of types a Resolver may not return sort after all others.
func SortRecords[T any](recs []T, order []OrderItem, resolve func(T) Resolver) error {
	if len(order) == 0 || len(recs) == 0 {
		return nil
	}
	k := len(order)
	keys := make([]key, len(recs)*k)
	for i, rec := range recs {
		r := resolve(rec)
		for j, o := range order {
			v, ok := r(o.Field.Path)
			if !ok {
				return &UnknownFieldError{Field: o.Field}
			}
			keys[i*k+j], _ = keyOf(v)
		}
	}
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	// Ties fall back to the original position, which makes the (faster)
	// unstable sort stable.
	slices.SortFunc(idx, func(a, b int) int {
		for j, o := range order {
			if c := compareOrder(&keys[a*k+j], &keys[b*k+j], o); c != 0 {
				return c
			}
		}
		return cmp.Compare(a, b)
	})
	sorted := make([]T, len(recs))
	for i, j := range idx {
		sorted[i] = recs[j]
	}
	copy(recs, sorted)
	return nil
}

// compareOrder compares two values of one ORDER BY key.
func compareOrder(a, b *key, o OrderItem) int {
	an, bn := a.kind == kNull, b.kind == kNull
	switch {
	case an && bn:
		return 0
	case an != bn:
		if an == o.NullsLast {
			return 1
		}
		return -1
	}
	c := compareTotal(a, b)
	if o.Desc {
		return -c
	}
	return c
}
