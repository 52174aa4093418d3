package sfsim

import (
	"bytes"
	"encoding/csv"
	"strings"
)

// Bulk API 2.0 CSV preparation: delimiters, header mapping, and turning a
// row into a dmlOp.

// delimiter maps a columnDelimiter name to its character.
func delimiter(name string) (rune, bool) {
	switch name {
	case "COMMA":
		return ',', true
	case "TAB":
		return '\t', true
	case "PIPE":
		return '|', true
	case "SEMICOLON":
		return ';', true
	case "CARET":
		return '^', true
	case "BACKQUOTE":
		return '`', true
	}
	return 0, false
}

// csvColumn maps a CSV header column.
type csvColumn struct {
	f         *fieldDef // field, or the reference field of a relationship column
	parentExt string    // relationship column: the parent's field name
	isID      bool
	ignore    bool
}

// mapHeader resolves a CSV header; an unknown column fails the job.
func mapHeader(od *objectDef, header []string, operation string) ([]csvColumn, string) {
	cols := make([]csvColumn, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		name := strings.TrimSpace(h)
		lower := strings.ToLower(name)
		if seen[lower] {
			return nil, "InvalidBatch : Duplicate field name: " + name
		}
		seen[lower] = true
		if rel, ext, ok := strings.Cut(name, "."); ok {
			rf := od.byRel[strings.ToLower(rel)]
			if rf == nil || strings.Contains(ext, ".") {
				return nil, "InvalidBatch : Field name not found : " + name
			}
			cols[i] = csvColumn{f: rf, parentExt: ext}
			continue
		}
		f := od.field(name)
		if f == nil {
			return nil, "InvalidBatch : Field name not found : " + name
		}
		cols[i] = csvColumn{f: f, isID: f.sys == sysID}
		if (operation == "delete" || operation == "hardDelete") && !cols[i].isID {
			cols[i].ignore = true
		}
	}
	return cols, ""
}

// prepareCSV fills op from one CSV row. An empty value is ignored, #N/A sets
// null.
func (p *preparer) prepareCSV(op *dmlOp, cols []csvColumn, row []string) {
	op.sets = make([]fieldSet, 0, len(row))
	for i, col := range cols {
		if col.ignore || i >= len(row) {
			continue
		}
		v := row[i]
		if v == "" {
			continue
		}
		null := v == "#N/A"
		if col.isID {
			if null {
				continue
			}
			id, ok := normID(strings.TrimSpace(v))
			if !ok {
				op.err = newRecErr(codeMalformedID, "malformed id "+shown(v), "Id")
				return
			}
			switch {
			case op.kind == opInsert:
				op.err = errIDInBody()
				return
			case op.kind == opUpsert && op.ext.sys != sysID:
				continue
			}
			if !strings.HasPrefix(id, op.od.keyPrefix) {
				op.err = errCrossRef("Id")
				return
			}
			op.id, op.idShown = id, v
			continue
		}
		if op.kind == opDelete || op.kind == opHardDelete {
			continue
		}
		f := col.f
		if col.parentExt != "" {
			if !f.createable && !f.updateable {
				op.err = errReadOnly(f)
				return
			}
			if null {
				op.sets = append(op.sets, fieldSet{f: f})
				continue
			}
			id, err := p.parentByExternal(f, col.parentExt, v, true)
			if err != nil {
				op.err = err
				return
			}
			op.sets = append(op.sets, fieldSet{f: f, v: id})
			continue
		}
		if !f.createable && !f.updateable {
			op.err = errReadOnly(f)
			return
		}
		var val any
		if !null {
			var err *recErr
			if val, err = coerceCSV(f, v); err != nil {
				if err.code == codeInvalidTypeOnField {
					err = bulkDeserializeErr(f, i, v)
				}
				op.err = err
				return
			}
			if f.typ == TypeReference {
				if err := p.checkParentID(f, val.(string)); err != nil {
					op.err = err
					return
				}
			}
		}
		if op.kind == opUpsert && op.ext == f && val != nil {
			op.extKey, op.extShown = indexKey(f, val), v
		}
		op.sets = append(op.sets, fieldSet{f: f, v: val})
	}
	switch op.kind {
	case opUpdate, opDelete, opHardDelete:
		if op.id == "" {
			op.err = newRecErr(codeMissingArgument, "Id not specified in an update call", "Id")
		}
	case opUpsert:
		if op.ext.sys != sysID && op.extKey == "" {
			op.err = newRecErr(codeMissingArgument, op.ext.name+" not specified", op.ext.name)
		}
	}
}

// csvKey reads the key of an upsert, update or delete row whose preparation
// stopped at an error before reaching its key column, so that
// markDuplicates sees every row's key.
func csvKey(op *dmlOp, cols []csvColumn, row []string) {
	for i, col := range cols {
		v := row[i]
		if v == "" || v == "#N/A" {
			continue
		}
		switch {
		case col.isID && op.id == "" && op.kind != opInsert && (op.kind != opUpsert || op.ext.sys == sysID):
			if id, ok := normID(strings.TrimSpace(v)); ok && strings.HasPrefix(id, op.od.keyPrefix) {
				op.id, op.idShown = id, v
			}
		case op.kind == opUpsert && op.extKey == "" && col.f == op.ext && col.parentExt == "":
			if val, err := coerceCSV(op.ext, v); err == nil {
				op.extKey, op.extShown = indexKey(op.ext, val), v
			}
		}
	}
}

// unprocessedFromData makes every uploaded row unprocessed, for a job that
// failed or was aborted before it applied any row. Caller holds j.mu.
func (j *bulkJob) unprocessedFromData() {
	if len(j.data) == 0 || j.processed > 0 {
		return
	}
	rd := csv.NewReader(bytes.NewReader(j.data))
	rd.Comma, _ = delimiter(j.delimiter)
	rd.FieldsPerRecord = -1
	header, err := rd.Read()
	if err != nil {
		return
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	j.header = header
	j.unprocessed = j.unprocessed[:0]
	for {
		row, err := rd.Read()
		if row != nil {
			j.unprocessed = append(j.unprocessed, row)
		}
		if err != nil && row == nil {
			break
		}
	}
	j.data = nil
}
