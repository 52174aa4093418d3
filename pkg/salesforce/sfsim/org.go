package sfsim

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// record is one stored record. Its fields are guarded by its store's lock.
// Values are kept sparse (only the fields that are set), which keeps a
// million-record org small: most records set a handful of their fields.
type record struct {
	id       string
	deleted  bool
	purged   bool // hard-deleted or rolled-back insert: no longer in the store
	created  int64
	modified int64 // unix milliseconds
	vals     []fieldVal
}

// fieldVal is one set field of a record.
type fieldVal struct {
	idx int
	v   any
}

// get returns the value of f (any field, system ones included).
func (r *record) get(od *objectDef, f *fieldDef) any {
	switch f.sys {
	case sysID:
		return r.id
	case sysIsDeleted:
		return r.deleted
	case sysCreatedDate:
		return formatMillis(r.created)
	case sysLastModifiedDate, sysSystemModstamp:
		return formatMillis(r.modified)
	}
	if f.computed {
		var first, last string
		if od.firstName != nil && od.firstName.idx >= 0 {
			first, _ = r.val(od.firstName.idx).(string)
		}
		if od.lastName != nil && od.lastName.idx >= 0 {
			last, _ = r.val(od.lastName.idx).(string)
		}
		switch {
		case first == "" && last == "":
			return nil
		case first == "":
			return last
		case last == "":
			return first
		}
		return first + " " + last
	}
	return r.val(f.idx)
}

func (r *record) val(idx int) any {
	for i := range r.vals {
		if r.vals[i].idx == idx {
			return r.vals[i].v
		}
	}
	return nil
}

// set stores v (nil removes the field).
func (r *record) set(idx int, v any) {
	for i := range r.vals {
		if r.vals[i].idx == idx {
			if v == nil {
				r.vals = append(r.vals[:i], r.vals[i+1:]...)
			} else {
				r.vals[i].v = v
			}
			return
		}
	}
	if v != nil {
		r.vals = append(r.vals, fieldVal{idx: idx, v: v})
	}
}

func formatMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format(datetimeLayout) }

// store holds the records of one object. Its lock guards everything but def,
// which is swapped atomically under the lock by a schema change.
type store struct {
	mu      sync.RWMutex
	def     atomic.Pointer[objectDef]
	ids     map[string]*record // by 18-character id, deleted records included
	order   []*record          // insertion order, for stable query results
	idx     map[int]map[string][]*record
	live    int
	deleted int
	counter *atomic.Uint64
}

func newStore(od *objectDef, counter *atomic.Uint64) *store {
	st := &store{ids: make(map[string]*record), idx: make(map[int]map[string][]*record), counter: counter}
	st.def.Store(od)
	for _, f := range od.indexed {
		st.idx[f.idx] = make(map[string][]*record)
	}
	return st
}

// catalog is an immutable view of the org: the schema and one store per
// object. Reset and ApplySchema publish a new catalog.
type catalog struct {
	schema *compiledSchema
	stores map[string]*store // by lower-case object name
	byPfx  map[string]*store
	rank   map[*store]int // lock order
}

func (c *catalog) store(name string) *store { return c.stores[strings.ToLower(name)] }

// org is the in-memory Salesforce org.
type org struct {
	cat     atomic.Pointer[catalog]
	ids     *idGen
	clock   func() time.Time
	adminMu sync.Mutex // serialises Reset and ApplySchema
	initial *compiledSchema
}

func newOrg(schema *compiledSchema, ids *idGen, clock func() time.Time) *org {
	o := &org{ids: ids, clock: clock, initial: schema}
	o.cat.Store(o.buildCatalog(schema, nil))
	return o
}

// buildCatalog makes a catalog for schema, keeping the stores of old (with
// their records) for objects that still exist.
func (o *org) buildCatalog(schema *compiledSchema, old *catalog) *catalog {
	c := &catalog{schema: schema, stores: map[string]*store{}, byPfx: map[string]*store{}, rank: map[*store]int{}}
	for _, od := range schema.objects {
		var st *store
		if old != nil {
			st = old.stores[od.lower]
		}
		if st == nil {
			st = newStore(od, o.ids.counter(od.keyPrefix))
		} else {
			st.mu.Lock()
			st.setDef(od)
			st.mu.Unlock()
		}
		c.stores[od.lower] = st
		c.byPfx[od.keyPrefix] = st
	}
	names := make([]string, 0, len(c.stores))
	for n := range c.stores {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		c.rank[c.stores[n]] = i
	}
	return c
}

// setDef installs a new definition and rebuilds the indexes. Caller holds mu.
func (st *store) setDef(od *objectDef) {
	st.def.Store(od)
	st.idx = make(map[int]map[string][]*record, len(od.indexed))
	for _, f := range od.indexed {
		st.idx[f.idx] = make(map[string][]*record)
	}
	for _, r := range st.order {
		if !r.deleted && !r.purged {
			st.indexAdd(od, r)
		}
	}
}

func (st *store) indexAdd(od *objectDef, r *record) {
	for _, f := range od.indexed {
		v := r.val(f.idx)
		if v == nil {
			continue
		}
		m := st.idx[f.idx]
		k := indexKey(f, v)
		m[k] = append(m[k], r)
	}
}

func (st *store) indexRemove(od *objectDef, r *record) {
	for _, f := range od.indexed {
		v := r.val(f.idx)
		if v == nil {
			continue
		}
		st.indexRemoveKey(f.idx, indexKey(f, v), r)
	}
}

func (st *store) indexRemoveKey(idx int, k string, r *record) {
	m := st.idx[idx]
	rs := m[k]
	for i, x := range rs {
		if x == r {
			rs = append(rs[:i], rs[i+1:]...)
			break
		}
	}
	if len(rs) == 0 {
		delete(m, k)
	} else {
		m[k] = rs
	}
}

// lookup returns the live records whose indexed field f has key k. Caller holds mu.
func (st *store) lookup(f *fieldDef, k string) []*record {
	return st.idx[f.idx][k]
}

// duplicateErr checks the unique fields of vals against other live records.
func (st *store) duplicateErr(od *objectDef, cand *record, self *record, only []fieldSet) *recErr {
	check := func(f *fieldDef, v any) *recErr {
		if !f.unique || v == nil {
			return nil
		}
		for _, other := range st.idx[f.idx][indexKey(f, v)] {
			if other != self {
				return newRecErr(codeDuplicateValue,
					"duplicate value found: "+f.name+" duplicates value on record with id: "+other.id, f.name)
			}
		}
		return nil
	}
	if only != nil {
		for _, s := range only {
			if s.f.indexed() {
				if err := check(s.f, s.v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, f := range od.indexed {
		if err := check(f, cand.val(f.idx)); err != nil {
			return err
		}
	}
	return nil
}

// insert adds a record built from defaults and sets. Caller holds mu.
func (st *store) insert(od *objectDef, sets []fieldSet, now int64) (*record, *recErr) {
	r := &record{created: now, modified: now, vals: make([]fieldVal, 0, len(sets)+od.defaults)}
	if od.defaults > 0 {
		for _, f := range od.data {
			if f.def != nil {
				r.vals = append(r.vals, fieldVal{idx: f.idx, v: f.def})
			}
		}
	}
	for _, s := range sets {
		r.set(s.f.idx, s.v)
	}
	var missing []string
	for _, f := range od.required {
		if f.idx >= 0 && r.val(f.idx) == nil {
			missing = append(missing, f.name)
		}
	}
	if missing != nil {
		return nil, newRecErr(codeRequiredFieldMissing, "Required fields are missing: ["+strings.Join(missing, ", ")+"]", missing...)
	}
	if err := st.duplicateErr(od, r, nil, nil); err != nil {
		return nil, err
	}
	r.id = makeID(od.keyPrefix, st.counter.Add(1))
	st.ids[r.id] = r
	st.order = append(st.order, r)
	st.indexAdd(od, r)
	st.live++
	return r, nil
}

// update applies sets to r. Caller holds mu.
func (st *store) update(od *objectDef, r *record, sets []fieldSet, now int64) *recErr {
	if r.deleted {
		return newRecErr(codeEntityIsDeleted, "entity is deleted")
	}
	for _, s := range sets {
		if s.v == nil && s.f.required {
			return newRecErr(codeRequiredFieldMissing, "Required fields are missing: ["+s.f.name+"]", s.f.name)
		}
	}
	if err := st.duplicateErr(od, nil, r, sets); err != nil {
		return err
	}
	for _, s := range sets {
		old := r.val(s.f.idx)
		if s.f.indexed() && old != nil && s.v != nil && indexKey(s.f, old) == indexKey(s.f, s.v) {
			r.set(s.f.idx, s.v) // same index entry
			continue
		}
		if s.f.indexed() && old != nil {
			st.indexRemoveKey(s.f.idx, indexKey(s.f, old), r)
		}
		r.set(s.f.idx, s.v)
		if s.f.indexed() && s.v != nil {
			m := st.idx[s.f.idx]
			k := indexKey(s.f, s.v)
			m[k] = append(m[k], r)
		}
	}
	r.modified = now
	return nil
}

// remove moves r to the recycle bin, or purges it when hard. Caller holds mu.
func (st *store) remove(od *objectDef, r *record, hard bool, now int64) *recErr {
	if r.deleted && !hard {
		return newRecErr(codeEntityIsDeleted, "entity is deleted")
	}
	if !r.deleted {
		st.indexRemove(od, r)
		st.live--
		st.deleted++
		r.deleted = true
		r.modified = now
	}
	if hard {
		delete(st.ids, r.id)
		r.purged = true
		st.deleted--
	}
	return nil
}

// ObjectCount is the number of records of an object.
type ObjectCount struct {
	Live    int `json:"live"`
	Deleted int `json:"deleted"`
}

func (o *org) counts() map[string]ObjectCount {
	c := o.cat.Load()
	out := make(map[string]ObjectCount, len(c.stores))
	for _, od := range c.schema.objects {
		st := c.stores[od.lower]
		st.mu.RLock()
		out[od.name] = ObjectCount{Live: st.live, Deleted: st.deleted}
		st.mu.RUnlock()
	}
	return out
}

// UnknownObjectError is returned by the Go API for an object the schema lacks.
type UnknownObjectError struct{ Object string }

func (e *UnknownObjectError) Error() string {
	return fmt.Sprintf("sfsim: no object %q in the schema", e.Object)
}
