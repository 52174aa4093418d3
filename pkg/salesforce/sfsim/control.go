package sfsim

// Run-time controls: the Go API of the admin endpoints.

// Reset deletes every record, bulk job and query cursor, zeroes the stats
// and the API usage, and restores the start-up schema, faults (re-seeding the
// RNG) and limits. Sessions stay valid. Ids are never reused.
func (s *Server) Reset() {
	s.org.adminMu.Lock()
	s.org.cat.Store(s.org.buildCatalog(s.startSchema, nil))
	s.org.adminMu.Unlock()
	s.cursors.reset()
	s.bulk.reset()
	s.stats.reset()
	s.limits.set(Limits{DailyAPILimit: s.cfg.DailyAPILimit, ConcurrentLimit: s.cfg.ConcurrentLimit, LongRunningLimit: s.cfg.LongRunningLimit})
	s.faults.reset(s.cfg.Faults)
	s.dataCalls.Store(0)
}

// Count returns the live and deleted records of an object.
func (s *Server) Count(object string) (ObjectCount, error) {
	st := s.org.cat.Load().store(object)
	if st == nil {
		return ObjectCount{}, &UnknownObjectError{Object: object}
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	return ObjectCount{Live: st.live, Deleted: st.deleted}, nil
}

// Counts returns the counts of every object, by object name.
func (s *Server) Counts() map[string]ObjectCount { return s.org.counts() }

// Records returns the live records of an object in creation order, each as a
// map of every field (system fields included) to its value (nil, string,
// float64 or bool).
func (s *Server) Records(object string) ([]map[string]any, error) {
	return s.records(object, false)
}

// RecordsWithDeleted is Records including the records in the recycle bin.
func (s *Server) RecordsWithDeleted(object string) ([]map[string]any, error) {
	return s.records(object, true)
}

func (s *Server) records(object string, deleted bool) ([]map[string]any, error) {
	st := s.org.cat.Load().store(object)
	if st == nil {
		return nil, &UnknownObjectError{Object: object}
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	od := st.def.Load()
	out := make([]map[string]any, 0, st.live)
	for _, r := range st.order {
		if r.purged || r.deleted && !deleted {
			continue
		}
		m := make(map[string]any, len(od.fields))
		for _, f := range od.fields {
			m[f.name] = r.get(od, f)
		}
		out = append(out, m)
	}
	return out, nil
}

// appendAdminRecords renders records as a JSON array (admin API).
func (s *Server) appendAdminRecords(b []byte, object string, deleted bool) ([]byte, error) {
	st := s.org.cat.Load().store(object)
	if st == nil {
		return b, &UnknownObjectError{Object: object}
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	od := st.def.Load()
	ver := "v" + itoa(MaxAPIVersion) + ".0"
	b = append(b, '[')
	first := true
	for _, r := range st.order {
		if r.purged || r.deleted && !deleted {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendRecord(b, ver, od, r, nil)
	}
	return append(b, ']'), nil
}

// Stats returns the call statistics.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	l := s.limits.get()
	st.APIUsage, st.APILimit = l.APIUsage, int64(l.DailyAPILimit)
	return st
}

// ResetStats zeroes the call statistics (not the API usage).
func (s *Server) ResetStats() { s.stats.reset() }

// Faults returns the faults in force.
func (s *Server) Faults() Faults { return s.faults.get() }

// SetFaults replaces the faults in force.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.faults.set(f)
	return nil
}

// Limits returns the limits in force and the API usage.
func (s *Server) Limits() Limits { return s.limits.get() }

// SetLimits replaces the daily and concurrent limits; the API usage is left
// alone (l.APIUsage is ignored: a value read earlier would be stale — use
// SetAPIUsage). A DailyAPILimit of 0 restores the configured one.
func (s *Server) SetLimits(l Limits) error {
	if l.DailyAPILimit < 0 || l.ConcurrentLimit < 0 || l.LongRunningLimit < 0 {
		return errNegativeLimit
	}
	if l.DailyAPILimit == 0 {
		l.DailyAPILimit = s.cfg.DailyAPILimit
	}
	s.limits.setLimits(l)
	return nil
}

// SetAPIUsage sets N of api-usage=N/LIMIT.
func (s *Server) SetAPIUsage(n int64) error {
	if n < 0 {
		return errNegativeLimit
	}
	s.limits.usage.Store(n)
	return nil
}

// ExpireSessions invalidates every access token.
func (s *Server) ExpireSessions() { s.sessions.expireAll() }

// ApplySchema merges sch into the org's schema (see Schema.Merge): objects
// and fields are added, fields of the same name replaced. Existing records
// keep their values.
func (s *Server) ApplySchema(sch *Schema) error {
	s.org.adminMu.Lock()
	defer s.org.adminMu.Unlock()
	old := s.org.cat.Load()
	compiled, err := compileSchema(old.schema.source.Merge(sch))
	if err != nil {
		return err
	}
	s.org.cat.Store(s.org.buildCatalog(compiled, old))
	return nil
}

// Schema returns a copy of the org's current schema.
func (s *Server) Schema() *Schema { return s.org.cat.Load().schema.source.Clone() }

// errNegativeLimit is returned by SetLimits.
const errNegativeLimit = constError("sfsim: limits must not be negative")

// constError is an error that can be a constant.
type constError string

func (e constError) Error() string { return string(e) }
