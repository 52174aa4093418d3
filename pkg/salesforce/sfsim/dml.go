package sfsim

import (
	"slices"
	"strings"
)

// Writes run in two phases. Phase 1 (prepare*) turns input into dmlOps without
// holding any write lock: it checks field names, coerces values and resolves
// relationship references (briefly read-locking the parent object). Phase 2
// (execute) write-locks every store involved, in catalog rank order so that
// no two calls can deadlock, and applies the ops, undoing them all when
// allOrNone is set and one failed.

type opKind uint8

const (
	opInsert opKind = iota + 1
	opUpdate
	opUpsert
	opDelete
	opHardDelete
)

type fieldSet struct {
	f *fieldDef
	v any
}

// dmlOp is one record's write and, after execute, its outcome.
type dmlOp struct {
	kind       opKind
	st         *store
	od         *objectDef
	id         string    // update/delete target, or the matched id of an Id upsert
	ext        *fieldDef // upsert matching field
	extKey     string
	extShown   string // the external id value as given, for messages
	idShown    string // the id as given (update, delete, Id upsert), for messages
	updateOnly bool
	sets       []fieldSet
	err        *recErr

	resID   string
	created bool
	matches []string // several upsert matches
}

func errNoSuchColumn(field, object string) *recErr {
	return newRecErr(codeInvalidField, "No such column '"+field+"' on sobject of type "+object, field)
}

func errReadOnly(f *fieldDef) *recErr {
	return newRecErr(codeInvalidFieldForInsUpd, "Unable to create/update fields: "+f.name+
		". Please check the security settings of this field and verify that it is read/write for your profile or permission set.", f.name)
}

func errIDInBody() *recErr {
	return newRecErr(codeInvalidField, "The Id field should not be specified in the sobject data.", "Id")
}

func errCrossRef(fields ...string) *recErr {
	return newRecErr(codeInvalidCrossReference, msgInvalidCrossRef, fields...)
}

// preparer resolves references against one catalog.
type preparer struct {
	cat *catalog
}

// checkParentID verifies that id names a live record of rf's parent object.
func (p *preparer) checkParentID(rf *fieldDef, id string) *recErr {
	pst := p.cat.store(rf.refTo)
	if pst == nil || !strings.HasPrefix(id, pst.def.Load().keyPrefix) {
		return errCrossRef(rf.name)
	}
	pst.mu.RLock()
	r := pst.ids[id]
	ok := r != nil && !r.deleted
	pst.mu.RUnlock()
	if !ok {
		return errCrossRef(rf.name)
	}
	return nil
}

// parentByExternal finds the parent of reference field rf whose field extName
// has value raw (a JSON value, or CSV text when csv is set).
func (p *preparer) parentByExternal(rf *fieldDef, extName string, raw any, csv bool) (string, *recErr) {
	pst := p.cat.store(rf.refTo)
	if pst == nil {
		return "", errCrossRef(rf.name)
	}
	pod := pst.def.Load()
	ef := pod.field(extName)
	if ef == nil {
		return "", newRecErr(codeInvalidField, "No such column '"+extName+"' on entity '"+pod.name+"'", rf.relName+"."+extName)
	}
	var v any
	var err *recErr
	if csv {
		v, err = coerceCSV(ef, raw.(string))
	} else {
		v, err = coerceJSON(ef, raw)
	}
	if err != nil {
		return "", err
	}
	if ef.sys == sysID {
		id, ok := normID(jsonShown(raw))
		if !ok {
			return "", newRecErr(codeMalformedID, rf.label+": id value of incorrect type: "+shown(jsonShown(raw)), rf.name)
		}
		return id, p.checkParentID(rf, id)
	}
	if !ef.externalID || v == nil {
		return "", newRecErr(codeInvalidField, "Field name provided, "+ef.name+" is not an External ID or indexed field for "+pod.name, rf.relName+"."+ef.name)
	}
	key := indexKey(ef, v)
	pst.mu.RLock()
	var id string
	n := 0
	if m := pst.idx[ef.idx]; m != nil {
		rs := m[key]
		n = len(rs)
		if n == 1 {
			id = rs[0].id
		}
	}
	pst.mu.RUnlock()
	switch {
	case n == 0:
		return "", newRecErr(codeInvalidCrossReference, "Foreign key external ID: "+shown(jsonShown(v))+
			" not found for field "+ef.name+" in entity "+pod.name, rf.name)
	case n > 1:
		return "", newRecErr(codeDuplicateExternalID, "Foreign key external ID: "+shown(jsonShown(v))+
			" matched more than one record for field "+ef.name+" in entity "+pod.name, rf.name)
	}
	return id, nil
}

// prepareJSON fills op.sets (and op.extKey for upserts) from a JSON record.
// Fields are handled in document order; the first error wins.
func (p *preparer) prepareJSON(op *dmlOp, rec []jsonField) {
	od := op.od
	op.sets = make([]fieldSet, 0, len(rec))
	for _, kv := range rec {
		k, v := kv.key, kv.val
		if strings.EqualFold(k, "attributes") {
			continue
		}
		f := od.field(k)
		if f != nil && f.sys == sysID {
			switch op.kind {
			case opInsert:
				op.err = errIDInBody()
				return
			case opUpsert:
				if op.ext.sys != sysID {
					continue
				}
			}
			// Update and Id upserts: the caller took the target id.
			continue
		}
		if nested, isMap := v.(map[string]any); isMap {
			if rf := od.byRel[strings.ToLower(k)]; rf != nil {
				if !rf.createable && !rf.updateable {
					op.err = errReadOnly(rf)
					return
				}
				id, err := p.nestedReference(rf, nested)
				if err != nil {
					op.err = err
					return
				}
				op.sets = append(op.sets, fieldSet{f: rf, v: id})
				continue
			}
		}
		if f == nil {
			op.err = errNoSuchColumn(k, od.name)
			return
		}
		if !f.createable && !f.updateable {
			op.err = errReadOnly(f)
			return
		}
		val, err := coerceJSON(f, v)
		if err != nil {
			op.err = err
			return
		}
		if val != nil && f.typ == TypeReference {
			if err := p.checkParentID(f, val.(string)); err != nil {
				op.err = err
				return
			}
		}
		if op.kind == opUpsert && op.ext == f {
			if val == nil {
				continue // reported below as a missing external id
			}
			op.extKey, op.extShown = indexKey(f, val), jsonShown(val)
		}
		op.sets = append(op.sets, fieldSet{f: f, v: val})
	}
}

// nestedReference resolves {"attributes":{"type":"Account"},"External_Key__c":"X"}.
func (p *preparer) nestedReference(rf *fieldDef, nested map[string]any) (string, *recErr) {
	var name string
	var val any
	n := 0
	for k, v := range nested {
		if strings.EqualFold(k, "attributes") {
			if attrs, ok := v.(map[string]any); ok {
				if t, ok := attrs["type"].(string); ok && !strings.EqualFold(t, rf.refTo) {
					return "", newRecErr(codeInvalidType, "Cannot reference "+t+" through "+rf.relName, rf.name)
				}
			}
			continue
		}
		name, val = k, v
		n++
	}
	if n != 1 {
		return "", newRecErr(codeInvalidField, "A relationship reference ("+rf.relName+
			") must name exactly one external id field", rf.relName)
	}
	if val == nil {
		return "", errCrossRef(rf.name)
	}
	return p.parentByExternal(rf, name, val, false)
}

// markDuplicates fails every op whose key occurs more than once among ops:
// the external id of an upsert (compared as the field's index compares it),
// or the record id of an update, delete or Id upsert. Salesforce checks the
// records it processes together (one Collections call, one Bulk API batch)
// before it writes any, and fails every copy with DUPLICATE_VALUE: none of
// them is written, whether or not the key exists in the org
// (docs/simulator.md, "Same key twice in one request"). Ops without a key
// (inserts, records whose key could not be read) are left alone; a
// duplicate's error replaces any other error of the record.
func markDuplicates(ops []*dmlOp) {
	if len(ops) < 2 {
		return
	}
	keys := make([]string, len(ops))
	count := make(map[string]int, len(ops))
	for i, op := range ops {
		k := dupKey(op)
		if k == "" {
			continue
		}
		keys[i] = k
		count[k]++
	}
	if len(count) == len(ops) {
		return
	}
	for i, op := range ops {
		if keys[i] == "" || count[keys[i]] < 2 {
			continue
		}
		if op.kind == opUpsert && op.ext.sys != sysID {
			op.err = newRecErr(codeDuplicateValue, "Duplicate external id specified: "+shown(op.extShown), op.ext.name)
		} else {
			op.err = newRecErr(codeDuplicateValue, "Duplicate id specified: "+shown(op.idShown))
		}
	}
}

// dupKey is the key markDuplicates compares, "" when op has none.
func dupKey(op *dmlOp) string {
	switch op.kind {
	case opUpsert:
		if op.ext.sys != sysID {
			if op.extKey == "" {
				return ""
			}
			return "x" + op.extKey
		}
	case opUpdate, opDelete, opHardDelete:
	default:
		return ""
	}
	if op.id == "" {
		return ""
	}
	return "i" + op.id
}

// lockedStores returns the distinct stores of ops in lock order.
func lockedStores(cat *catalog, ops []*dmlOp) []*store {
	var sts []*store
	for _, op := range ops {
		if op.st != nil && !slices.Contains(sts, op.st) {
			sts = append(sts, op.st)
		}
	}
	slices.SortFunc(sts, func(a, b *store) int { return cat.rank[a] - cat.rank[b] })
	return sts
}

type undoEntry struct {
	st     *store
	r      *record
	kind   opKind
	old    []fieldVal
	oldMod int64
	hard   bool
}

// execute applies ops (phase 2). lockFault is called once per record that
// would otherwise be written and reports whether it fails UNABLE_TO_LOCK_ROW.
func (o *org) execute(cat *catalog, ops []*dmlOp, allOrNone bool, lockFault func() bool) {
	now := o.clock().UnixMilli()
	sts := lockedStores(cat, ops)
	for _, st := range sts {
		st.mu.Lock()
	}
	defer func() {
		for _, st := range sts {
			st.mu.Unlock()
		}
	}()
	var undo []undoEntry
	failed := false
	for _, op := range ops {
		if op.err != nil {
			failed = true
			continue
		}
		if lockFault != nil && lockFault() {
			msg := "unable to obtain exclusive access to this record"
			if op.id != "" {
				msg += " or 1 records: " + op.id
			}
			op.err = newRecErr(codeUnableToLockRow, msg)
			failed = true
			continue
		}
		od := op.st.def.Load() // the definition that matches the store's indexes
		sets := currentSets(od, op.sets)
		switch op.kind {
		case opInsert:
			o.doInsert(op, od, sets, now, allOrNone, &undo)
		case opUpdate:
			o.doUpdate(op, od, sets, now, allOrNone, &undo)
		case opUpsert:
			o.doUpsert(op, od, sets, now, allOrNone, &undo)
		case opDelete, opHardDelete:
			r := op.st.ids[op.id]
			if r == nil || r.purged {
				op.err = errCrossRef()
				break
			}
			wasDeleted := r.deleted
			oldMod := r.modified
			if err := op.st.remove(od, r, op.kind == opHardDelete, now); err != nil {
				op.err = err
				break
			}
			op.resID = r.id
			if allOrNone {
				undo = append(undo, undoEntry{st: op.st, r: r, kind: opDelete, oldMod: oldMod, hard: op.kind == opHardDelete, old: boolVals(wasDeleted)})
			}
		}
		if op.err != nil {
			failed = true
		}
	}
	if !allOrNone || !failed {
		return
	}
	for i := len(undo) - 1; i >= 0; i-- {
		u := undo[i]
		od := u.st.def.Load()
		switch u.kind {
		case opInsert:
			u.st.indexRemove(od, u.r)
			delete(u.st.ids, u.r.id)
			u.r.purged = true
			if n := len(u.st.order); n > 0 && u.st.order[n-1] == u.r {
				u.st.order = u.st.order[:n-1]
			}
			u.st.live--
		case opUpdate:
			u.st.indexRemove(od, u.r)
			u.r.vals = u.old
			u.r.modified = u.oldMod
			u.st.indexAdd(od, u.r)
		case opDelete:
			if u.hard {
				u.st.ids[u.r.id] = u.r
				u.r.purged = false
				u.st.deleted++
			}
			if wasDeleted := u.old != nil; !wasDeleted {
				u.r.deleted = false
				u.st.deleted--
				u.st.live++
				u.st.indexAdd(od, u.r)
			}
			u.r.modified = u.oldMod
		}
	}
	for _, op := range ops {
		op.resID, op.created, op.matches = "", false, nil
		if op.err == nil {
			op.err = newRecErr(codeAllOrNoneRolledBack,
				"Record rolled back because not all records were valid and the request was using AllOrNone header")
		}
	}
}

// boolVals encodes "was already deleted" in undoEntry.old (non-nil = yes).
func boolVals(b bool) []fieldVal {
	if b {
		return []fieldVal{}
	}
	return nil
}

// currentSets maps sets prepared against an older definition onto od.
func currentSets(od *objectDef, sets []fieldSet) []fieldSet {
	for i, s := range sets {
		if s.f.idx < len(od.data) && od.data[s.f.idx] != s.f {
			sets[i].f = od.data[s.f.idx]
		}
	}
	return sets
}

// writable refuses a set of a field that cannot be written by this kind of
// write (describe's createable for inserts, updateable for updates).
func writable(sets []fieldSet, insert bool) *recErr {
	for _, s := range sets {
		if insert && !s.f.createable || !insert && !s.f.updateable {
			return errReadOnly(s.f)
		}
	}
	return nil
}

func (o *org) doInsert(op *dmlOp, od *objectDef, sets []fieldSet, now int64, keepUndo bool, undo *[]undoEntry) {
	if err := writable(sets, true); err != nil {
		op.err = err
		return
	}
	r, err := op.st.insert(od, sets, now)
	if err != nil {
		op.err = err
		return
	}
	op.resID, op.created = r.id, true
	if keepUndo {
		*undo = append(*undo, undoEntry{st: op.st, r: r, kind: opInsert})
	}
}

func (o *org) updateRecord(op *dmlOp, od *objectDef, r *record, sets []fieldSet, now int64, keepUndo bool, undo *[]undoEntry) {
	if err := writable(sets, false); err != nil {
		op.err = err
		return
	}
	var old []fieldVal
	oldMod := r.modified
	if keepUndo {
		old = slices.Clone(r.vals)
	}
	if err := op.st.update(od, r, sets, now); err != nil {
		op.err = err
		return
	}
	op.resID = r.id
	if keepUndo {
		*undo = append(*undo, undoEntry{st: op.st, r: r, kind: opUpdate, old: old, oldMod: oldMod})
	}
}

func (o *org) doUpdate(op *dmlOp, od *objectDef, sets []fieldSet, now int64, keepUndo bool, undo *[]undoEntry) {
	r := op.st.ids[op.id]
	if r == nil || r.purged {
		op.err = errCrossRef("Id")
		return
	}
	o.updateRecord(op, od, r, sets, now, keepUndo, undo)
}

func (o *org) doUpsert(op *dmlOp, od *objectDef, sets []fieldSet, now int64, keepUndo bool, undo *[]undoEntry) {
	if op.ext.sys == sysID {
		if op.id == "" {
			o.doInsert(op, od, sets, now, keepUndo, undo)
			return
		}
		r := op.st.ids[op.id]
		if r == nil || r.purged {
			op.err = newRecErr(codeNotFound, "The requested resource does not exist")
			return
		}
		o.updateRecord(op, od, r, sets, now, keepUndo, undo)
		return
	}
	ext := od.data[op.ext.idx]
	var matches []*record
	if m := op.st.idx[ext.idx]; m != nil {
		matches = m[op.extKey]
	}
	switch len(matches) {
	case 0:
		if op.updateOnly {
			op.err = newRecErr(codeNotFound, "The requested resource does not exist")
			return
		}
		o.doInsert(op, od, sets, now, keepUndo, undo)
	case 1:
		o.updateRecord(op, od, matches[0], sets, now, keepUndo, undo)
	default:
		op.matches = make([]string, len(matches))
		for i, r := range matches {
			op.matches[i] = r.id
		}
		op.err = newRecErr(codeDuplicateExternalID, "Duplicate external id specified: "+shown(op.extShown), ext.name)
	}
}
