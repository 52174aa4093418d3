package sfsim

import (
	"strconv"
	"sync"
)

// Stats are the simulator's call statistics since start or the last reset.
type Stats struct {
	// Calls counts every call to a Salesforce path (token endpoint and
	// version list included; the admin API excluded).
	Calls int64 `json:"calls"`
	// CallsByKind splits Calls by endpoint kind: "token", "versions",
	// "limits", "describe", "sobject_create", "sobject_get",
	// "sobject_update", "sobject_upsert", "sobject_delete",
	// "collections_create", "collections_update", "collections_upsert",
	// "collections_delete", "collections_retrieve", "query", "query_more",
	// "bulk_create", "bulk_list", "bulk_get", "bulk_upload", "bulk_close",
	// "bulk_delete", "bulk_results", "resources", "other".
	CallsByKind map[string]int64 `json:"calls_by_kind"`
	// Records counts the records sent in write calls (collections records,
	// 1 per single-record write, bulk upload rows).
	Records int64 `json:"records"`
	// RecordsPerCall is Records divided by the number of calls that carried
	// records.
	RecordsPerCall float64 `json:"records_per_call"`
	// CollectionsCallSizes counts sObject Collections write calls (create,
	// update, upsert, delete) by the records each carried: how well a
	// client fills its calls, tails included.
	CollectionsCallSizes map[int]int64 `json:"collections_call_sizes"`
	// ErrorsByCode counts error codes: call-level errors and per-record
	// errors (collections results, bulk failed rows, token errors).
	ErrorsByCode map[string]int64 `json:"errors_by_code"`
	// StatusCodes counts HTTP statuses ("200", "403", …).
	StatusCodes map[string]int64 `json:"status_codes"`
	// APIUsage and APILimit are the api-usage=N/LIMIT figures.
	APIUsage int64 `json:"api_usage"`
	APILimit int64 `json:"api_limit"`
}

// statsState accumulates Stats under one mutex, taken once per call.
type statsState struct {
	mu               sync.Mutex
	calls            int64
	byKind           map[string]int64
	records          int64
	callsWithRecords int64
	callSizes        map[int]int64
	errors           map[string]int64
	status           map[int]int64
}

func newStatsState() *statsState {
	s := &statsState{}
	s.reset()
	return s
}

func (s *statsState) reset() {
	s.mu.Lock()
	s.calls, s.records, s.callsWithRecords = 0, 0, 0
	s.byKind = map[string]int64{}
	s.callSizes = map[int]int64{}
	s.errors = map[string]int64{}
	s.status = map[int]int64{}
	s.mu.Unlock()
}

// callStats is what one call reports.
type callStats struct {
	kind    string
	status  int
	records int64
	code    string         // call-level error code
	codes   map[string]int // per-record error codes
	code1   string         // a single per-record code without a map
	code1n  int
}

func (c *callStats) addCode(code string) {
	if c.code1 == "" || c.code1 == code {
		c.code1 = code
		c.code1n++
		return
	}
	if c.codes == nil {
		c.codes = map[string]int{}
	}
	c.codes[code]++
}

func (s *statsState) record(c *callStats) {
	s.mu.Lock()
	s.calls++
	s.byKind[c.kind]++
	s.status[c.status]++
	if c.records > 0 {
		s.records += c.records
		s.callsWithRecords++
		if collectionsWrite(c.kind) {
			s.callSizes[int(c.records)]++
		}
	}
	if c.code != "" {
		s.errors[c.code]++
	}
	if c.code1 != "" {
		s.errors[c.code1] += int64(c.code1n)
	}
	for k, n := range c.codes {
		s.errors[k] += int64(n)
	}
	s.mu.Unlock()
}

// collectionsWrite reports whether a call kind is a Collections write.
func collectionsWrite(kind string) bool {
	switch kind {
	case "collections_create", "collections_update", "collections_upsert", "collections_delete":
		return true
	}
	return false
}

// addErrors counts per-record errors found outside a call (bulk processing).
func (s *statsState) addErrors(codes map[string]int) {
	if len(codes) == 0 {
		return
	}
	s.mu.Lock()
	for k, n := range codes {
		s.errors[k] += int64(n)
	}
	s.mu.Unlock()
}

func (s *statsState) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Calls: s.calls, Records: s.records, CallsByKind: map[string]int64{},
		ErrorsByCode: map[string]int64{}, StatusCodes: map[string]int64{}, CollectionsCallSizes: map[int]int64{}}
	for k, v := range s.callSizes {
		out.CollectionsCallSizes[k] = v
	}
	for k, v := range s.byKind {
		out.CallsByKind[k] = v
	}
	for k, v := range s.errors {
		out.ErrorsByCode[k] = v
	}
	for k, v := range s.status {
		out.StatusCodes[strconv.Itoa(k)] = v
	}
	if s.callsWithRecords > 0 {
		out.RecordsPerCall = float64(s.records) / float64(s.callsWithRecords)
	}
	return out
}
