package messages

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultPrefix is the default subject prefix and stream-name prefix.
const DefaultPrefix = "kinetic"

// Subjects builds Kinetic's subject names under a prefix. The zero value
// uses DefaultPrefix.
//
//	<prefix>.records.<SObject>.<mode>            records to load
//	<prefix>.results.<pipeline>.<job>            batch results
//	<prefix>.dlq.<pipeline>.<SObject>.<mode>     dead letters
type Subjects struct{ Prefix string }

func (s Subjects) prefix() string {
	if s.Prefix == "" {
		return DefaultPrefix
	}
	return s.Prefix
}

// Records is the subject records of sobject and mode are published to.
func (s Subjects) Records(sobject, mode string) string {
	return s.prefix() + ".records." + sobject + "." + mode
}

// AllRecords matches every record subject.
func (s Subjects) AllRecords() string { return s.prefix() + ".records.>" }

// NoJob is the job token of records published without a job id.
const NoJob = "_"

// Results is the subject a batch result of pipeline for job goes to.
func (s Subjects) Results(pipeline, job string) string {
	if job == "" {
		job = NoJob
	}
	return s.prefix() + ".results." + pipeline + "." + job
}

// JobResults matches the results of one job, from any pipeline.
func (s Subjects) JobResults(job string) string { return s.prefix() + ".results.*." + job }

// AllResults matches every result subject.
func (s Subjects) AllResults() string { return s.prefix() + ".results.>" }

// DeadLetters is the subject a dead letter of pipeline goes to.
func (s Subjects) DeadLetters(pipeline, sobject, mode string) string {
	return s.prefix() + ".dlq." + pipeline + "." + sobject + "." + mode
}

// AllDeadLetters matches every dead-letter subject.
func (s Subjects) AllDeadLetters() string { return s.prefix() + ".dlq.>" }

// DeadLetterFilter matches the dead letters of a pipeline, sObject and mode;
// an empty part matches anything.
func (s Subjects) DeadLetterFilter(pipeline, sobject, mode string) string {
	w := func(v string) string {
		if v == "" {
			return "*"
		}
		return v
	}
	return s.prefix() + ".dlq." + w(pipeline) + "." + w(sobject) + "." + w(mode)
}

// ParseRecordSubject splits a record subject into sObject and mode.
func (s Subjects) ParseRecordSubject(subject string) (sobject, mode string, err error) {
	rest, ok := strings.CutPrefix(subject, s.prefix()+".records.")
	parts := strings.Split(rest, ".")
	if !ok || len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", fmt.Errorf("%q is not a record subject (%s)", subject, s.Records("<SObject>", "<mode>"))
	}
	return parts[0], parts[1], nil
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidToken reports whether v can be one subject token: letters, digits, _
// and -. Job ids, pipeline names and sObject names must be.
func ValidToken(v string) bool { return tokenRE.MatchString(v) }
