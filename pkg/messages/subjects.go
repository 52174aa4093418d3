package messages

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
)

// DefaultPrefix is the default subject prefix and stream-name prefix.
const DefaultPrefix = "kinetic"

// Subjects builds Kinetic's subject names under a prefix. The zero value
// uses DefaultPrefix.
//
//	<prefix>.records.<SObject>.<mode>            records to load, without a key
//	<prefix>.records.<SObject>.<mode>.<key>      records to load, keyed (ordered per key)
//	<prefix>.results.<pipeline>.<job>            batch results
//	<prefix>.dlq.<pipeline>.<SObject>.<mode>     dead letters
//
// The records stream stores a keyed record under
// <prefix>.records.<SObject>.<mode>.<partition>.<key>: its subject transform
// inserts partition = fnv32a(SObject + key) mod Topology.Partitions (see
// Partition), so every change of one key, whatever its mode, lands in the
// same partition, which one worker replica at a time loads in order.
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

// RecordsKeyed is the subject a change of the record with key is published
// to: Records plus the key as one token (KeyToken). Publishing keyed is what
// gives a key's changes their order across worker replicas.
func (s Subjects) RecordsKeyed(sobject, mode, key string) string {
	return s.Records(sobject, mode) + "." + KeyToken(key)
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

// RecordSubject is a record subject taken apart.
type RecordSubject struct {
	SObject string
	Mode    string
	// Key is the key token (KeyToken of the key); "" for an unkeyed subject.
	Key string
	// Partition is the partition the stream put a keyed record in; -1 when
	// the subject has none (unkeyed, or keyed as published, before the
	// stream's transform).
	Partition int
}

// Keyed reports whether the subject carries a key.
func (r RecordSubject) Keyed() bool { return r.Key != "" }

// ParseRecordSubject splits a record subject into sObject and mode. It takes
// every form: unkeyed, keyed as published, and keyed as stored.
func (s Subjects) ParseRecordSubject(subject string) (sobject, mode string, err error) {
	r, err := s.ParseRecords(subject)
	return r.SObject, r.Mode, err
}

// ParseRecords takes a record subject apart: <SObject>.<mode>,
// <SObject>.<mode>.<key> (as published) or <SObject>.<mode>.<partition>.<key>
// (as stored) after <prefix>.records.
func (s Subjects) ParseRecords(subject string) (RecordSubject, error) {
	bad := func() (RecordSubject, error) {
		return RecordSubject{}, fmt.Errorf("%q is not a record subject (%s or %s)", subject,
			s.Records("<SObject>", "<mode>"), s.Records("<SObject>", "<mode>")+".<key>")
	}
	rest, ok := strings.CutPrefix(subject, s.prefix()+".records.")
	if !ok {
		return bad()
	}
	parts := strings.Split(rest, ".")
	for _, p := range parts {
		if p == "" {
			return bad()
		}
	}
	r := RecordSubject{Partition: -1}
	switch len(parts) {
	case 2:
		r.SObject, r.Mode = parts[0], parts[1]
	case 3:
		r.SObject, r.Mode, r.Key = parts[0], parts[1], parts[2]
	case 4:
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 0 || strconv.Itoa(n) != parts[2] {
			return bad()
		}
		r.SObject, r.Mode, r.Partition, r.Key = parts[0], parts[1], n, parts[3]
	default:
		return bad()
	}
	if !ValidToken(r.SObject) || !ValidToken(r.Mode) {
		return bad()
	}
	return r, nil
}

// KeyToken turns a record's key into the one subject token that carries it:
// the key in lower case (Salesforce matches external ids case-insensitively,
// so "ACC-1" and "acc-1" are one record and must share an order), with every
// byte that is not a letter, digit, '-' or '_' written as %XX (upper-case
// hex). So '.', '*', '>', spaces and '%' itself never reach the subject:
//
//	KeyToken("ACC-1")      = "acc-1"
//	KeyToken("a.b c")      = "a%2Eb%20c"
//	KeyToken("Café")       = "caf%C3%A9"
//
// Plain NATS publishers must escape keys the same way; a keyed record whose
// token is not KeyToken of its key is dead-lettered (KINETIC_BAD_KEY), since
// its changes could otherwise be ordered with another key's.
func KeyToken(key string) string {
	key = strings.ToLower(key)
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// Partition is the partition the records stream's subject transform
// ({{partition(n,1,3)}}) gives a keyed record: FNV-1a 32 of the sObject and
// key tokens, concatenated, modulo n. It matches nats-server's
// subjectTransform.getHashPartition.
func Partition(sobject, keyToken string, n int) int {
	if n <= 0 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(sobject))
	_, _ = h.Write([]byte(keyToken))
	return int(h.Sum32() % uint32(n))
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidToken reports whether v can be one subject token: letters, digits, _
// and -. Job ids, pipeline names and sObject names must be.
func ValidToken(v string) bool { return tokenRE.MatchString(v) }
