package salesforce

import (
	"strconv"
	"strings"
)

// LimitInfo is the org's API usage as reported by the Sforce-Limit-Info
// response header, e.g. "api-usage=18/5000".
type LimitInfo struct {
	Used  int
	Limit int
}

// Fraction returns Used/Limit, or 0 when the limit is unknown.
func (l LimitInfo) Fraction() float64 {
	if l.Limit <= 0 {
		return 0
	}
	return float64(l.Used) / float64(l.Limit)
}

// ParseLimitInfo parses a Sforce-Limit-Info header value. The header may carry
// several comma- or semicolon-separated entries (api-usage, per-app-api-usage,
// api-bursts); only api-usage is returned. ok is false when it is absent or
// malformed.
func ParseLimitInfo(h string) (info LimitInfo, ok bool) {
	for _, part := range strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' }) {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || k != "api-usage" {
			continue
		}
		used, limit, found := strings.Cut(v, "/")
		if !found {
			return LimitInfo{}, false
		}
		u, err1 := strconv.Atoi(strings.TrimSpace(used))
		l, err2 := strconv.Atoi(strings.TrimSpace(limit))
		if err1 != nil || err2 != nil || u < 0 || l < 0 {
			return LimitInfo{}, false
		}
		return LimitInfo{Used: u, Limit: l}, true
	}
	return LimitInfo{}, false
}
