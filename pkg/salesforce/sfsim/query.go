package sfsim

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim/internal/soql"
)

// Query paging.
const (
	defaultBatchSize = 2000
	minBatchSize     = 200
	maxBatchSize     = 2000
)

// fieldPath is a SOQL field path resolved against the schema.
type fieldPath struct {
	rels []*fieldDef  // reference fields walked, in order
	objs []*objectDef // the object reached after each rel
	f    *fieldDef    // the final field
	od   *objectDef   // the object f belongs to
}

// renderNode is one key of a query result record: a field, or a
// relationship with its own keys.
type renderNode struct {
	name     string
	f        *fieldDef
	rel      *fieldDef
	od       *objectDef
	children []*renderNode
}

// queryPlan is a validated query with what is needed to evaluate and render it.
type queryPlan struct {
	q      *soql.Query
	cat    *catalog
	od     *objectDef
	st     *store
	stores []*store // to read-lock, in rank order
	paths  map[string]*fieldPath
	byPtr  map[*string]*fieldPath // the same, keyed by the parsed path's first element
	tree   []*renderNode
}

func queryErr(code, msg string) *apiError { return newAPIError(http.StatusBadRequest, code, msg) }

// planQuery validates q against the schema.
func planQuery(cat *catalog, q *soql.Query) (*queryPlan, *apiError) {
	st := cat.store(q.Object)
	if st == nil {
		return nil, queryErr(codeInvalidType, "sObject type '"+q.Object+"' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.")
	}
	p := &queryPlan{q: q, cat: cat, st: st, od: st.def.Load(), paths: map[string]*fieldPath{}, stores: []*store{st}}
	p.byPtr = map[*string]*fieldPath{}
	for _, f := range q.AllFields() {
		fp, err := p.path(f.Path)
		if err != nil {
			return nil, err
		}
		if len(f.Path) > 0 {
			p.byPtr[&f.Path[0]] = fp
		}
	}
	slices.SortFunc(p.stores, func(a, b *store) int { return cat.rank[a] - cat.rank[b] })
	for _, f := range q.Fields {
		fp, _ := p.path(f.Path)
		p.tree = addRenderNode(p.tree, fp, 0)
	}
	return p, nil
}

func pathKey(path []string) string { return strings.ToLower(strings.Join(path, ".")) }

// path resolves (and caches) a field path.
func (p *queryPlan) path(path []string) (*fieldPath, *apiError) {
	key := pathKey(path)
	if fp, ok := p.paths[key]; ok {
		return fp, nil
	}
	fp := &fieldPath{}
	cur := p.od
	for i, seg := range path {
		if i == len(path)-1 {
			f := cur.field(seg)
			if f == nil {
				return nil, queryErr(codeInvalidField, "No such column '"+seg+"' on entity '"+cur.name+"'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.")
			}
			fp.f, fp.od = f, cur
			break
		}
		rf := cur.byRel[strings.ToLower(seg)]
		if rf == nil {
			return nil, queryErr(codeInvalidField, "Didn't understand relationship '"+seg+"' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.")
		}
		pst := p.cat.store(rf.refTo)
		if pst == nil {
			return nil, queryErr(codeInvalidField, "Didn't understand relationship '"+seg+"' in field path.")
		}
		if !slices.Contains(p.stores, pst) {
			p.stores = append(p.stores, pst)
		}
		cur = pst.def.Load()
		fp.rels = append(fp.rels, rf)
		fp.objs = append(fp.objs, cur)
	}
	p.paths[key] = fp
	return fp, nil
}

func addRenderNode(nodes []*renderNode, fp *fieldPath, depth int) []*renderNode {
	if depth == len(fp.rels) {
		return append(nodes, &renderNode{name: fp.f.name, f: fp.f})
	}
	rf := fp.rels[depth]
	for _, n := range nodes {
		if n.rel == rf {
			n.children = addRenderNode(n.children, fp, depth+1)
			return nodes
		}
	}
	n := &renderNode{name: rf.relName, rel: rf, od: fp.objs[depth]}
	n.children = addRenderNode(nil, fp, depth+1)
	return append(nodes, n)
}

// parent returns the record a reference field of r points to, or nil.
// Callers hold the read locks of p.stores.
func (p *queryPlan) parent(r *record, rf *fieldDef) *record {
	id, _ := r.val(rf.idx).(string)
	if id == "" {
		return nil
	}
	pst := p.cat.store(rf.refTo)
	if pst == nil {
		return nil
	}
	pr := pst.ids[id]
	if pr == nil || pr.deleted || pr.purged {
		return nil
	}
	return pr
}

// resolver returns the SOQL Resolver of a record.
func (p *queryPlan) resolver(r *record) soql.Resolver {
	return func(path []string) (any, bool) { return p.resolve(r, path) }
}

// resolve returns the value of a field path for record r.
func (p *queryPlan) resolve(r *record, path []string) (any, bool) {
	var fp *fieldPath
	if len(path) > 0 {
		fp = p.byPtr[&path[0]]
	}
	if fp == nil {
		var ok bool
		if fp, ok = p.paths[pathKey(path)]; !ok {
			return nil, false
		}
	}
	cur, od := r, p.od
	for i, rf := range fp.rels {
		cur = p.parent(cur, rf)
		if cur == nil {
			return nil, true
		}
		od = fp.objs[i]
	}
	return cur.get(od, fp.f), true
}

func (p *queryPlan) rlock() {
	for _, st := range p.stores {
		st.mu.RLock()
	}
}

func (p *queryPlan) runlock() {
	for _, st := range p.stores {
		st.mu.RUnlock()
	}
}

// run evaluates the query and returns the matching records, sorted, with
// OFFSET and LIMIT applied.
func (p *queryPlan) run(all bool) ([]*record, *apiError) {
	p.rlock()
	defer p.runlock()
	var out []*record
	var cur *record
	match := func(path []string) (any, bool) { return p.resolve(cur, path) } // one closure for all records
	for _, r := range p.st.order {
		if r.purged || r.deleted && !all {
			continue
		}
		if p.q.Where != nil {
			cur = r
			ok, err := p.q.Where.Eval(match)
			if err != nil {
				return nil, queryErr(codeMalformedQuery, err.Error())
			}
			if !ok {
				continue
			}
		}
		out = append(out, r)
	}
	if err := soql.SortRecords(out, p.q.OrderBy, p.resolver); err != nil {
		return nil, queryErr(codeMalformedQuery, err.Error())
	}
	if p.q.Offset > 0 {
		if p.q.Offset >= len(out) {
			out = nil
		} else {
			out = out[p.q.Offset:]
		}
	}
	if p.q.Limit >= 0 && len(out) > p.q.Limit {
		out = out[:p.q.Limit]
	}
	return out, nil
}

// appendRows appends records rs rendered by the plan's tree. Caller holds the
// read locks.
func (p *queryPlan) appendRows(b []byte, ver string, rs []*record) []byte {
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = p.appendNode(b, ver, p.od, r, p.tree)
	}
	return b
}

func (p *queryPlan) appendNode(b []byte, ver string, od *objectDef, r *record, nodes []*renderNode) []byte {
	b = append(b, '{')
	b = appendAttributes(b, ver, od.name, r.id)
	for _, n := range nodes {
		b = append(b, ',')
		b = jsontext.AppendStringHTML(b, n.name)
		b = append(b, ':')
		if n.f != nil {
			b = appendJSONValue(b, r.get(od, n.f))
			continue
		}
		pr := p.parent(r, n.rel)
		if pr == nil {
			b = append(b, "null"...)
			continue
		}
		b = p.appendNode(b, ver, n.od, pr, n.children)
	}
	return append(b, '}')
}

// batchSize reads Sforce-Query-Options: batchSize=N (clamped to 200..2000).
func batchSize(r *http.Request) int {
	for _, opt := range strings.Split(r.Header.Get("Sforce-Query-Options"), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(opt), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "batchSize") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		return min(max(n, minBatchSize), maxBatchSize)
	}
	return defaultBatchSize
}

// query serves GET /query?q= and /queryAll?q=.
func (c *call) query(all bool) *apiError {
	text := c.r.URL.Query().Get("q")
	q, err := soql.ParseAt(text, c.s.clock())
	if err != nil {
		msg := err.Error()
		var pe *soql.ParseError
		if errors.As(err, &pe) {
			msg = pe.Error()
		}
		return queryErr(codeMalformedQuery, msg)
	}
	plan, aerr := planQuery(c.cat, q)
	if aerr != nil {
		return aerr
	}
	recs, aerr := plan.run(all)
	if aerr != nil {
		return aerr
	}
	b := c.body.b
	b = append(b, `{"totalSize":`...)
	b = appendInt(b, int64(len(recs)))
	if q.Count {
		b = append(b, `,"done":true,"records":[]}`...)
		c.body.b = b
		return nil
	}
	size := batchSize(c.r)
	if len(recs) <= size {
		b = append(b, `,"done":true,"records":[`...)
		plan.rlock()
		b = plan.appendRows(b, c.ver, recs)
		plan.runlock()
		b = append(b, "]}"...)
		c.body.b = b
		return nil
	}
	cur := c.s.cursors.add(&cursor{plan: plan, recs: recs, size: size})
	c.body.b = c.appendPage(b, cur, 0)
	return nil
}

// appendPage appends ,"done",["nextRecordsUrl"],"records" for the page of cur
// starting at from, after "totalSize".
func (c *call) appendPage(b []byte, cur *cursor, from int) []byte {
	end := min(from+cur.size, len(cur.recs))
	if end >= len(cur.recs) {
		b = append(b, `,"done":true`...)
	} else {
		b = append(b, `,"done":false,"nextRecordsUrl":"/services/data/`...)
		b = append(b, c.ver...)
		b = append(b, "/query/"...)
		b = append(b, cur.id...)
		b = append(b, '-')
		b = appendInt(b, int64(end))
		b = append(b, '"')
	}
	b = append(b, `,"records":[`...)
	cur.plan.rlock()
	b = cur.plan.appendRows(b, c.ver, cur.recs[from:end])
	cur.plan.runlock()
	return append(b, "]}"...)
}

// queryMore serves GET /query/{locator}-{offset}.
func (c *call) queryMore(locator string) *apiError {
	id, offStr, _ := strings.Cut(locator, "-")
	off, err := strconv.Atoi(offStr)
	cur := c.s.cursors.get(id)
	if cur == nil || err != nil || off < 0 || off > len(cur.recs) {
		return queryErr(codeInvalidQueryLocator, "invalid query locator")
	}
	b := c.body.b
	b = append(b, `{"totalSize":`...)
	b = appendInt(b, int64(len(cur.recs)))
	c.body.b = c.appendPage(b, cur, off)
	return nil
}

// cursor is the snapshot of a query's matching records, served a page at a
// time. Any page of a live cursor can be fetched again (a retried call gets
// the same page).
type cursor struct {
	id       string
	plan     *queryPlan
	recs     []*record
	size     int
	lastUsed time.Time
	touch    uint64 // recency order, for evicting the least recently used
}

// cursorStore keeps cursors until CursorTTL of disuse, at most max of them
// (the least recently used goes first).
type cursorStore struct {
	mu    sync.Mutex
	byID  map[string]*cursor
	max   int
	ttl   time.Duration
	clock func() time.Time
	ids   *idGen
	touch uint64
}

func newCursorStore(maxCursors int, ttl time.Duration, clock func() time.Time, ids *idGen) *cursorStore {
	return &cursorStore{byID: map[string]*cursor{}, max: maxCursors, ttl: ttl, clock: clock, ids: ids}
}

func (cs *cursorStore) add(c *cursor) *cursor {
	c.id = cs.ids.next(prefixLocator)
	now := cs.clock()
	c.lastUsed = now
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.byID) >= cs.max {
		for id, old := range cs.byID {
			if now.Sub(old.lastUsed) > cs.ttl {
				delete(cs.byID, id)
			}
		}
		for len(cs.byID) >= cs.max && len(cs.byID) > 0 {
			var oldest *cursor
			for _, old := range cs.byID {
				if oldest == nil || old.touch < oldest.touch {
					oldest = old
				}
			}
			delete(cs.byID, oldest.id)
		}
	}
	cs.touch++
	c.touch = cs.touch
	cs.byID[c.id] = c
	return c
}

func (cs *cursorStore) get(id string) *cursor {
	now := cs.clock()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.byID[id]
	if c == nil {
		return nil
	}
	if now.Sub(c.lastUsed) > cs.ttl {
		delete(cs.byID, id)
		return nil
	}
	c.lastUsed = now
	cs.touch++
	c.touch = cs.touch
	return c
}

func (cs *cursorStore) reset() {
	cs.mu.Lock()
	cs.byID = map[string]*cursor{}
	cs.mu.Unlock()
}

func (cs *cursorStore) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.byID)
}
