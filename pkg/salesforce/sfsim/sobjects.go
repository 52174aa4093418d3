package sfsim

import (
	"net/http"
	"strings"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// appendAttributes appends "attributes":{"type":…,"url":…}.
func appendAttributes(b []byte, ver, object, id string) []byte {
	b = append(b, `"attributes":{"type":`...)
	b = jsontext.AppendStringHTML(b, object)
	if id != "" {
		b = append(b, `,"url":"/services/data/`...)
		b = append(b, ver...)
		b = append(b, "/sobjects/"...)
		b = append(b, object...)
		b = append(b, '/')
		b = append(b, id...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendRecord appends a record with attributes and fields (all fields when
// fields is nil; Id is always included). Caller holds the store's read lock.
func appendRecord(b []byte, ver string, od *objectDef, r *record, fields []*fieldDef) []byte {
	b = append(b, '{')
	b = appendAttributes(b, ver, od.name, r.id)
	all := fields == nil
	if all {
		fields = od.fields
	}
	hasID := false
	for _, f := range fields {
		if f.sys == sysID {
			hasID = true
		}
		b = append(b, ',')
		b = jsontext.AppendStringHTML(b, f.name)
		b = append(b, ':')
		b = appendJSONValue(b, r.get(od, f))
	}
	if !hasID {
		b = append(b, `,"Id":`...)
		b = jsontext.AppendStringHTML(b, r.id)
	}
	return append(b, '}')
}

// parseFieldList resolves a comma-separated list of field names.
func parseFieldList(od *objectDef, list []string) ([]*fieldDef, *apiError) {
	var out []*fieldDef
	for _, item := range list {
		for _, name := range strings.Split(item, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			f := od.field(name)
			if f == nil {
				return nil, newAPIError(http.StatusBadRequest, codeInvalidField,
					"No such column '"+name+"' on entity '"+od.name+"'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", name)
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// decodeObject decodes a JSON object body.
func decodeObject(data []byte) ([]jsonField, *apiError) {
	rec, err := decodeRecord(data)
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, codeJSONParserError, err.Error())
	}
	return rec, nil
}

// recordID validates an id from a URL for object od: 400 MALFORMED_ID when it
// is not an id, 404 NOT_FOUND when it belongs to another object.
func recordID(od *objectDef, raw string) (string, *apiError) {
	id, ok := normID(raw)
	if !ok {
		return "", newAPIError(http.StatusBadRequest, codeMalformedID, od.label+" ID: id value of incorrect type: "+shown(raw))
	}
	if !strings.HasPrefix(id, od.keyPrefix) {
		return "", errNotFound()
	}
	return id, nil
}

func (c *call) createOne(st *store, od *objectDef) *apiError {
	data, aerr := c.readBody(maxJSONBody)
	if aerr != nil {
		return aerr
	}
	rec, aerr := decodeObject(data)
	if aerr != nil {
		return aerr
	}
	c.st.records, c.latRecs = 1, 1
	if aerr := checkRecord(od, rec, data); aerr != nil {
		return aerr
	}
	op := &dmlOp{kind: opInsert, st: st, od: od}
	(&preparer{cat: c.cat}).prepareJSON(op, rec)
	c.s.org.execute(c.cat, []*dmlOp{op}, false, c.lockFault())
	if op.err != nil {
		return errFromRec(http.StatusBadRequest, op.err)
	}
	c.status = http.StatusCreated
	c.body.b = appendSaveResult(c.body.b, op, false)
	return nil
}

// appendSaveResult appends {"id","success","errors"[,"created"]}.
func appendSaveResult(b []byte, op *dmlOp, withCreated bool) []byte {
	b = append(b, '{')
	if op.err == nil {
		b = append(b, `"id":`...)
		b = jsontext.AppendStringHTML(b, op.resID)
		b = append(b, `,"success":true,"errors":[]`...)
	} else {
		if op.id != "" && op.err.code != codeAllOrNoneRolledBack {
			b = append(b, `"id":`...)
			b = jsontext.AppendStringHTML(b, op.id)
			b = append(b, ',')
		}
		b = append(b, `"success":false,"errors":[{"statusCode":`...)
		b = jsontext.AppendStringHTML(b, op.err.code)
		b = append(b, `,"message":`...)
		b = jsontext.AppendStringHTML(b, op.err.message)
		b = append(b, `,"fields":`...)
		b = appendStrings(b, op.err.fields)
		b = append(b, "}]"...)
	}
	if withCreated {
		if op.created {
			b = append(b, `,"created":true`...)
		} else {
			b = append(b, `,"created":false`...)
		}
	}
	return append(b, '}')
}

func (c *call) getOne(st *store, od *objectDef, rawID string) *apiError {
	id, aerr := recordID(od, rawID)
	if aerr != nil {
		return aerr
	}
	fields, aerr := parseFieldList(od, c.r.URL.Query()["fields"])
	if aerr != nil {
		return aerr
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	r := st.ids[id]
	if r == nil || r.purged {
		return errNotFound()
	}
	if r.deleted {
		return newAPIError(http.StatusNotFound, codeEntityIsDeleted, "entity is deleted")
	}
	c.body.b = appendRecord(c.body.b, c.ver, od, r, fields)
	return nil
}

func (c *call) getByExternal(st *store, od *objectDef, field, value string) *apiError {
	f := od.field(field)
	if f == nil || !f.externalID && f.sys != sysID {
		return newAPIError(http.StatusNotFound, codeNotFound, "Provided external ID field does not exist or is not accessible: "+field)
	}
	if f.sys == sysID {
		return c.getOne(st, od, value)
	}
	v, rerr := coerceCSV(f, value)
	if rerr != nil {
		return errFromRec(http.StatusBadRequest, rerr)
	}
	fields, aerr := parseFieldList(od, c.r.URL.Query()["fields"])
	if aerr != nil {
		return aerr
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	matches := st.lookup(f, indexKey(f, v))
	switch len(matches) {
	case 0:
		return errNotFound()
	case 1:
		c.body.b = appendRecord(c.body.b, c.ver, od, matches[0], fields)
		return nil
	}
	c.status = http.StatusMultipleChoices
	c.body.b = c.appendURLs(c.body.b, od, matches)
	return nil
}

func (c *call) appendURLs(b []byte, od *objectDef, rs []*record) []byte {
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendStringHTML(b, "/services/data/"+c.ver+"/sobjects/"+od.name+"/"+r.id)
	}
	return append(b, ']')
}

// singleWriteErr maps a record error of a single-record call to its status.
func singleWriteErr(e *recErr) *apiError {
	switch e.code {
	case codeEntityIsDeleted, codeNotFound:
		return errFromRec(http.StatusNotFound, e)
	}
	return errFromRec(http.StatusBadRequest, e)
}

func (c *call) updateOne(st *store, od *objectDef, rawID string) *apiError {
	id, aerr := recordID(od, rawID)
	if aerr != nil {
		return aerr
	}
	data, aerr := c.readBody(maxJSONBody)
	if aerr != nil {
		return aerr
	}
	rec, aerr := decodeObject(data)
	if aerr != nil {
		return aerr
	}
	c.st.records, c.latRecs = 1, 1
	if aerr := checkRecord(od, rec, data); aerr != nil {
		return aerr
	}
	op := &dmlOp{kind: opUpdate, st: st, od: od, id: id}
	for _, kv := range rec {
		if strings.EqualFold(kv.key, "Id") {
			if s, _ := kv.val.(string); !sameID(s, id) {
				return errFromRec(http.StatusBadRequest, errIDInBody())
			}
		}
	}
	(&preparer{cat: c.cat}).prepareJSON(op, rec)
	c.s.org.execute(c.cat, []*dmlOp{op}, false, c.lockFault())
	if op.err != nil {
		if op.err.code == codeInvalidCrossReference && len(op.err.fields) == 1 && op.err.fields[0] == "Id" {
			return errNotFound()
		}
		return singleWriteErr(op.err)
	}
	c.status = http.StatusNoContent
	return nil
}

func sameID(a, b string) bool {
	x, ok1 := normID(a)
	y, ok2 := normID(b)
	return ok1 && ok2 && x == y
}

func (c *call) deleteOne(st *store, od *objectDef, rawID string) *apiError {
	id, aerr := recordID(od, rawID)
	if aerr != nil {
		return aerr
	}
	c.st.records, c.latRecs = 1, 1
	op := &dmlOp{kind: opDelete, st: st, od: od, id: id}
	c.s.org.execute(c.cat, []*dmlOp{op}, false, c.lockFault())
	if op.err != nil {
		if op.err.code == codeInvalidCrossReference {
			return errNotFound()
		}
		return singleWriteErr(op.err)
	}
	c.status = http.StatusNoContent
	return nil
}

// upsertOne serves PATCH /sobjects/{o}/{extField}/{value}.
func (c *call) upsertOne(st *store, od *objectDef, field, value string) *apiError {
	ext := od.field(field)
	if ext == nil || !ext.externalID && ext.sys != sysID {
		return errNotFound()
	}
	data, aerr := c.readBody(maxJSONBody)
	if aerr != nil {
		return aerr
	}
	rec, aerr := decodeObject(data)
	if aerr != nil {
		return aerr
	}
	c.st.records, c.latRecs = 1, 1
	if aerr := checkRecord(od, rec, data); aerr != nil {
		return aerr
	}
	op := &dmlOp{kind: opUpsert, st: st, od: od, ext: ext, updateOnly: c.r.URL.Query().Get("updateOnly") == "true"}
	if ext.sys == sysID {
		id, aerr := recordID(od, value)
		if aerr != nil {
			return aerr
		}
		op.id = id
	}
	(&preparer{cat: c.cat}).prepareJSON(op, rec)
	if op.err == nil && ext.sys != sysID {
		v, rerr := coerceCSV(ext, value)
		if rerr != nil {
			return errFromRec(http.StatusBadRequest, rerr)
		}
		op.extKey, op.extShown = indexKey(ext, v), value
		replaced := false
		for i := range op.sets {
			if op.sets[i].f == ext {
				op.sets[i].v, replaced = v, true
			}
		}
		if !replaced {
			op.sets = append(op.sets, fieldSet{f: ext, v: v})
		}
	}
	c.s.org.execute(c.cat, []*dmlOp{op}, false, c.lockFault())
	if op.err != nil {
		if op.matches != nil {
			c.status = http.StatusMultipleChoices
			c.body.b = append(c.body.b, '[')
			for i, id := range op.matches {
				if i > 0 {
					c.body.b = append(c.body.b, ',')
				}
				c.body.b = jsontext.AppendStringHTML(c.body.b, "/services/data/"+c.ver+"/sobjects/"+od.name+"/"+id)
			}
			c.body.b = append(c.body.b, ']')
			c.st.code = op.err.code
			return nil
		}
		return singleWriteErr(op.err)
	}
	if !op.created && c.verNum < 46 {
		c.status = http.StatusNoContent
		return nil
	}
	c.status = http.StatusOK
	if op.created {
		c.status = http.StatusCreated
	}
	c.body.b = appendSaveResult(c.body.b, op, true)
	return nil
}
