package sfsim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// maxCollection is the record limit of sObject Collections writes;
// maxRetrieve is the id limit of a collections retrieve.
const (
	maxCollection = 200
	maxRetrieve   = 2000
)

type collectionBody struct {
	AllOrNone bool
	Records   []jsonRecord
	data      []byte // the body as sent (inflated), for error positions
}

func errTooMany() *apiError {
	return newAPIError(http.StatusBadRequest, codeExceededIDLimit,
		"record limit reached. cannot submit more than 200 records into this call")
}

func (c *call) decodeCollection() (*collectionBody, *apiError) {
	data, aerr := c.readBody(maxJSONBody)
	if aerr != nil {
		return nil, aerr
	}
	var body collectionBody
	var err error
	if body.AllOrNone, body.Records, err = decodeCollectionBody(data); err != nil {
		return nil, newAPIError(http.StatusBadRequest, codeJSONParserError, err.Error())
	}
	if len(body.Records) > maxCollection {
		return nil, errTooMany()
	}
	body.data = data
	return &body, nil
}

// field returns the value of key in rec (exact key).
func lookupField(rec []jsonField, key string) (any, bool) {
	for _, kv := range rec {
		if kv.key == key {
			return kv.val, true
		}
	}
	return nil, false
}

// recordType returns the store named by a record's attributes.type.
func (c *call) recordType(rec []jsonField) (*store, *recErr) {
	a, _ := lookupField(rec, "attributes")
	attrs, _ := a.(map[string]any)
	t, _ := attrs["type"].(string)
	if t == "" {
		return nil, newRecErr(codeInvalidType, "Must send a concrete entity type.")
	}
	st := c.cat.store(t)
	if st == nil {
		return nil, newRecErr(codeInvalidType, "sObject type '"+t+"' is not supported.")
	}
	return st, nil
}

// takeID returns a record's Id value (any key case) and removes nothing.
func takeID(rec []jsonField) (string, bool) {
	for _, kv := range rec {
		if strings.EqualFold(kv.key, "Id") {
			s, _ := kv.val.(string)
			return s, true
		}
	}
	return "", false
}

// collectionsWrite serves create (POST) and update (PATCH) of
// /composite/sobjects.
func (c *call) collectionsWrite(kind opKind) *apiError {
	body, aerr := c.decodeCollection()
	if aerr != nil {
		return aerr
	}
	n := len(body.Records)
	c.st.records, c.latRecs = int64(n), float64(n)
	// The whole body is read before any record is written.
	for _, jr := range body.Records {
		if jr.null {
			continue
		}
		if st, rerr := c.recordType(jr.fields); rerr == nil {
			if aerr := checkRecord(st.def.Load(), jr.fields, body.data); aerr != nil {
				return aerr
			}
		}
	}
	ops := make([]*dmlOp, n)
	opsArr := make([]dmlOp, n)
	p := &preparer{cat: c.cat}
	for i, jr := range body.Records {
		rec := jr.fields
		op := &opsArr[i]
		ops[i] = op
		op.kind = kind
		if jr.null {
			op.err = newRecErr(codeJSONParserError, "each record must be a JSON object")
			continue
		}
		st, rerr := c.recordType(rec)
		if rerr != nil {
			op.err = rerr
			continue
		}
		op.st, op.od = st, st.def.Load()
		if kind == opUpdate {
			raw, ok := takeID(rec)
			if !ok || raw == "" {
				op.err = newRecErr(codeMissingArgument, "Id not specified in an update call", "Id")
				continue
			}
			id, valid := normID(raw)
			if !valid {
				op.err = newRecErr(codeMalformedID, "malformed id "+shown(raw), "Id")
				continue
			}
			op.id, op.idShown = id, raw
			if !strings.HasPrefix(id, op.od.keyPrefix) {
				op.err = errCrossRef("Id")
				continue
			}
		}
		p.prepareJSON(op, rec)
	}
	if kind == opUpdate {
		markDuplicates(ops)
	}
	c.s.org.execute(c.cat, ops, body.AllOrNone, c.lockFault())
	c.appendResults(ops, false)
	return nil
}

// appendResults writes the collection results and counts their errors.
func (c *call) appendResults(ops []*dmlOp, withCreated bool) {
	b := c.body.b
	b = append(b, '[')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSaveResult(b, op, withCreated)
		if op.err != nil {
			c.st.addCode(op.err.code)
		}
	}
	b = append(b, ']')
	c.body.b = b
}

// collectionsUpsert serves PATCH /composite/sobjects/{o}/{extField}.
func (c *call) collectionsUpsert(st *store, field string) *apiError {
	od := st.def.Load()
	ext := od.field(field)
	if ext == nil {
		return newAPIError(http.StatusBadRequest, codeInvalidField, "No such column '"+field+"' on entity '"+od.name+"'", field)
	}
	if !ext.externalID && ext.sys != sysID {
		return newAPIError(http.StatusBadRequest, codeInvalidField,
			"Field name provided, "+ext.name+" is not an External ID or indexed field for "+od.name, ext.name)
	}
	body, aerr := c.decodeCollection()
	if aerr != nil {
		return aerr
	}
	updateOnly := c.r.URL.Query().Get("updateOnly") == "true"
	n := len(body.Records)
	c.st.records, c.latRecs = int64(n), float64(n)
	// The whole body is read before any record is written.
	for _, jr := range body.Records {
		if !jr.null {
			if aerr := checkRecord(od, jr.fields, body.data); aerr != nil {
				return aerr
			}
		}
	}
	ops := make([]*dmlOp, n)
	opsArr := make([]dmlOp, n)
	p := &preparer{cat: c.cat}
	for i, jr := range body.Records {
		rec := jr.fields
		op := &opsArr[i]
		ops[i] = op
		*op = dmlOp{kind: opUpsert, st: st, od: od, ext: ext, updateOnly: updateOnly}
		if jr.null {
			op.err = newRecErr(codeJSONParserError, "each record must be a JSON object")
			continue
		}
		if a, _ := lookupField(rec, "attributes"); a != nil {
			attrs, _ := a.(map[string]any)
			if t, _ := attrs["type"].(string); t != "" && !strings.EqualFold(t, od.name) {
				op.err = newRecErr(codeInvalidType, "Record type "+t+" does not match the upsert type "+od.name)
				continue
			}
		}
		if ext.sys == sysID {
			if raw, ok := takeID(rec); ok && raw != "" {
				id, valid := normID(raw)
				if !valid {
					op.err = newRecErr(codeMalformedID, "malformed id "+shown(raw), "Id")
					continue
				}
				op.id, op.idShown = id, raw
			}
		}
		p.prepareJSON(op, rec)
		if op.err == nil && ext.sys != sysID && op.extKey == "" {
			op.err = newRecErr(codeMissingArgument, ext.name+" not specified", ext.name)
		}
		upsertKeyJSON(op, rec)
	}
	markDuplicates(ops)
	c.s.org.execute(c.cat, ops, body.AllOrNone, c.lockFault())
	c.appendResults(ops, true)
	return nil
}

// collectionsDelete serves DELETE /composite/sobjects?ids=…&allOrNone=….
func (c *call) collectionsDelete() *apiError {
	q := c.r.URL.Query()
	var ids []string
	for _, v := range q["ids"] {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return newAPIError(http.StatusBadRequest, codeMissingArgument, "ids parameter is required", "ids")
	}
	if len(ids) > maxCollection {
		return errTooMany()
	}
	allOrNone := strings.EqualFold(q.Get("allOrNone"), "true")
	c.st.records, c.latRecs = int64(len(ids)), float64(len(ids))
	ops := make([]*dmlOp, len(ids))
	opsArr := make([]dmlOp, len(ids))
	for i, raw := range ids {
		op := &opsArr[i]
		ops[i] = op
		op.kind = opDelete
		id, ok := normID(raw)
		if !ok {
			op.err = newRecErr(codeMalformedID, "malformed id "+shown(raw))
			continue
		}
		op.id, op.idShown = id, raw
		st := c.cat.byPfx[id[:3]]
		if st == nil {
			op.err = errCrossRef()
			continue
		}
		op.st, op.od = st, st.def.Load()
	}
	markDuplicates(ops)
	c.s.org.execute(c.cat, ops, allOrNone, c.lockFault())
	c.appendResults(ops, false)
	return nil
}

// upsertKeyJSON reads the external id of an upsert record whose preparation
// stopped at an error before reaching it, so that markDuplicates sees every
// record's key.
func upsertKeyJSON(op *dmlOp, rec []jsonField) {
	if op.extKey != "" || op.ext.sys == sysID || op.od == nil {
		return
	}
	for _, kv := range rec {
		if op.od.field(kv.key) != op.ext {
			continue
		}
		if v, err := coerceJSON(op.ext, kv.val); err == nil && v != nil {
			op.extKey, op.extShown = indexKey(op.ext, v), jsonShown(v)
		}
	}
}

// collectionsRetrieve serves GET /composite/sobjects/{o}?ids=&fields= and the
// POST form {"ids":[…],"fields":[…]}. Unknown, deleted or foreign ids give
// null; no fields means all fields.
func (c *call) collectionsRetrieve(st *store) *apiError {
	od := st.def.Load()
	var ids, fieldNames []string
	if c.r.Method == http.MethodPost {
		data, aerr := c.readBody(maxJSONBody)
		if aerr != nil {
			return aerr
		}
		var body struct {
			IDs    []string `json:"ids"`
			Fields []string `json:"fields"`
		}
		if err := json.Unmarshal(data, &body); err != nil {
			return newAPIError(http.StatusBadRequest, codeJSONParserError, err.Error())
		}
		ids, fieldNames = body.IDs, body.Fields
	} else {
		q := c.r.URL.Query()
		for _, v := range q["ids"] {
			for _, id := range strings.Split(v, ",") {
				if id = strings.TrimSpace(id); id != "" {
					ids = append(ids, id)
				}
			}
		}
		fieldNames = q["fields"]
	}
	if len(ids) == 0 {
		return newAPIError(http.StatusBadRequest, codeMissingArgument, "ids parameter is required", "ids")
	}
	if len(ids) > maxRetrieve {
		return newAPIError(http.StatusBadRequest, codeExceededIDLimit, "cannot retrieve more than 2000 records in one call")
	}
	fields, aerr := parseFieldList(od, fieldNames)
	if aerr != nil {
		return aerr
	}
	c.latRecs = float64(len(ids))
	st.mu.RLock()
	defer st.mu.RUnlock()
	b := c.body.b
	b = append(b, '[')
	for i, raw := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		id, ok := normID(raw)
		var r *record
		if ok {
			r = st.ids[id]
		}
		if r == nil || r.deleted || r.purged {
			b = append(b, "null"...)
			continue
		}
		b = appendRecord(b, c.ver, od, r, fields)
	}
	b = append(b, ']')
	c.body.b = b
	return nil
}
