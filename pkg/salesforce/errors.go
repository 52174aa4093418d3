package salesforce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// APIError is a non-success answer from a Salesforce REST endpoint. Salesforce
// sends errors as a JSON array of {message, errorCode, fields}; the first
// element fills Code, Message and Fields and every element is kept in Items.
type APIError struct {
	HTTPStatus int         // HTTP status code of the response
	Code       string      // Salesforce errorCode, e.g. "INVALID_SESSION_ID"
	Message    string      // human-readable message from Salesforce
	Fields     []string    // fields the error names, if any
	Items      []ErrorItem // every element of the error array
	Op         string      // the operation that failed, e.g. "collections.upsert"
}

// ErrorItem is one element of a Salesforce REST error array.
type ErrorItem struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("salesforce: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " (fields: %s)", strings.Join(e.Fields, ", "))
	}
	return b.String()
}

// SaveError is the error of one record inside an sObject Collections or
// Bulk API 2.0 result: an item of a save result's "errors" list (Salesforce's
// Error object), which names its code "statusCode". It is not
// pipeline.RecordError, which is Kinetic's verdict on a record.
type SaveError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func (e *SaveError) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("%s: %s (fields: %s)", e.StatusCode, e.Message, strings.Join(e.Fields, ", "))
	}
	return e.StatusCode + ": " + e.Message
}

// AuthError is a failure answer from the OAuth token endpoint, such as
// {"error":"invalid_grant","error_description":"audience is invalid"}.
type AuthError struct {
	HTTPStatus  int
	Code        string // OAuth error, e.g. "invalid_grant", "invalid_client_id"
	Description string // error_description, which names the cause
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("salesforce: authentication failed: HTTP %d %s: %s", e.HTTPStatus, e.Code, e.Description)
}

// ResponseTooLargeError is an answer larger than the client reads
// (Config.MaxResponseBytes, Config.MaxResultBytes): the call fails rather
// than keep an unbounded body in memory or cut it short. Size is the
// announced Content-Length when it gave the excess away, else 0.
type ResponseTooLargeError struct {
	Op    string
	Limit int64
	Size  int64
}

func (e *ResponseTooLargeError) Error() string {
	what := "more than"
	if e.Size > 0 {
		what = fmt.Sprintf("%d bytes, over", e.Size)
	}
	return fmt.Sprintf("salesforce: %s: the response is %s the %d-byte limit (MaxResponseBytes/SF_MAX_RESPONSE_BYTES for JSON answers, MaxResultBytes/SF_MAX_RESULT_BYTES for Bulk result CSVs)", e.Op, what, e.Limit)
}

// MultipleMatchesError is the 300 answer to a single-record upsert whose
// external id value matches several records.
type MultipleMatchesError struct {
	SObject, Field, Value string
	Matches               []string // URLs (or ids) of the matching records
}

func (e *MultipleMatchesError) Error() string {
	return fmt.Sprintf("salesforce: upsert %s.%s=%q matches %d records", e.SObject, e.Field, e.Value, len(e.Matches))
}

// Class sorts errors by what the caller should do about them. It follows the
// failure-class table of the design (docs/architecture.md).
type Class int

const (
	// ClassNone is the class of a nil error.
	ClassNone Class = iota
	// ClassTransient: timeouts, connection resets, HTTP 5xx. Retry the call
	// with exponential backoff.
	ClassTransient
	// ClassSessionExpired: 401 INVALID_SESSION_ID. The client re-authenticates
	// once and retries by itself; this class reaches callers only when the
	// retry failed too.
	ClassSessionExpired
	// ClassRateLimited: 403 REQUEST_LIMIT_EXCEEDED (daily or concurrent limit),
	// HTTP 429. Slow down or pause; never dead-letter for it.
	ClassRateLimited
	// ClassRetryableRecord: a record-level error that may pass later,
	// UNABLE_TO_LOCK_ROW. Retry that record only.
	ClassRetryableRecord
	// ClassPermanentRecord: a record-level error that will fail again
	// (REQUIRED_FIELD_MISSING, DUPLICATE_VALUE, …). Dead-letter the record.
	ClassPermanentRecord
	// ClassPermanentRequest: the request itself is wrong (HTTP 4xx other than
	// the above). Retrying it unchanged fails again.
	ClassPermanentRequest
	// ClassAuth: the token endpoint refused the credentials (invalid_grant,
	// invalid_client_id, …). Nothing about the records is wrong: pause and
	// report, never dead-letter. This class extends the design's table, which
	// has no row for a misconfigured connected app.
	ClassAuth
)

var classNames = [...]string{"none", "transient", "session_expired", "rate_limited", "retryable_record", "permanent_record", "permanent_request", "auth"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Retryable reports whether retrying can succeed without changing the input.
func (c Class) Retryable() bool {
	switch c {
	case ClassTransient, ClassSessionExpired, ClassRateLimited, ClassRetryableRecord:
		return true
	}
	return false
}

// Error codes with their own class. Every other record-level code is permanent.
const (
	CodeUnableToLockRow      = "UNABLE_TO_LOCK_ROW"
	CodeRequestLimitExceeded = "REQUEST_LIMIT_EXCEEDED"
	CodeInvalidSessionID     = "INVALID_SESSION_ID"
	CodeServerUnavailable    = "SERVER_UNAVAILABLE"
	CodeAllOrNoneRolledBack  = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
)

// ClassifyCode classifies a record-level Salesforce status code.
func ClassifyCode(code string) Class {
	switch code {
	case "":
		return ClassNone
	case CodeUnableToLockRow, "TooManyLockFailure", CodeServerUnavailable:
		return ClassRetryableRecord
	case CodeAllOrNoneRolledBack:
		// The record itself was fine; another record of the call failed.
		return ClassRetryableRecord
	case CodeRequestLimitExceeded:
		return ClassRateLimited
	}
	return ClassPermanentRecord
}

// Classify sorts any error returned by this package (or by the network under
// it) into a Class, using errors.As on the typed errors; it never looks at
// error text. Unknown errors are transient: retrying is bounded by the
// caller's retry budget and loses nothing.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	var rec *SaveError
	if errors.As(err, &rec) {
		return ClassifyCode(rec.StatusCode)
	}
	var api *APIError
	if errors.As(err, &api) {
		return classifyAPI(api)
	}
	var auth *AuthError
	if errors.As(err, &auth) {
		if auth.HTTPStatus >= 500 || auth.HTTPStatus == http.StatusTooManyRequests {
			return ClassTransient
		}
		if auth.Code == "rate_limit_exceeded" {
			return ClassRateLimited
		}
		return ClassAuth
	}
	var mm *MultipleMatchesError
	if errors.As(err, &mm) {
		return ClassPermanentRecord
	}
	var big *ResponseTooLargeError
	if errors.As(err, &big) {
		// The same request gets the same answer.
		return ClassPermanentRequest
	}
	var insecure *InsecureURLError
	if errors.As(err, &insecure) {
		// A configuration to fix, never the records' fault.
		return ClassAuth
	}
	if errors.Is(err, ErrMalformedID) {
		return ClassPermanentRecord
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return ClassTransient
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ClassTransient
	}
	return ClassTransient
}

func classifyAPI(e *APIError) Class {
	switch {
	case e.HTTPStatus == http.StatusUnauthorized || e.Code == CodeInvalidSessionID:
		return ClassSessionExpired
	case e.Code == CodeRequestLimitExceeded || e.HTTPStatus == http.StatusTooManyRequests:
		return ClassRateLimited
	case e.HTTPStatus >= 500 || e.Code == CodeServerUnavailable || e.HTTPStatus == http.StatusRequestTimeout:
		return ClassTransient
	case e.Code == CodeUnableToLockRow:
		return ClassTransient
	}
	return ClassPermanentRequest
}
