package salesforce

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// BulkOperation is a Bulk API 2.0 ingest operation.
type BulkOperation string

// Bulk API 2.0 ingest operations.
const (
	BulkInsert     BulkOperation = "insert"
	BulkUpdate     BulkOperation = "update"
	BulkUpsert     BulkOperation = "upsert"
	BulkDelete     BulkOperation = "delete"
	BulkHardDelete BulkOperation = "hardDelete"
)

// Bulk API 2.0 job states.
const (
	JobOpen           = "Open"
	JobUploadComplete = "UploadComplete"
	JobInProgress     = "InProgress"
	JobComplete       = "JobComplete"
	JobAborted        = "Aborted"
	JobFailed         = "Failed"
)

// JobInfo is a Bulk API 2.0 ingest job as Salesforce describes it.
type JobInfo struct {
	ID                     string  `json:"id"`
	Operation              string  `json:"operation"`
	Object                 string  `json:"object"`
	CreatedByID            string  `json:"createdById"`
	CreatedDate            string  `json:"createdDate"`
	SystemModstamp         string  `json:"systemModstamp"`
	State                  string  `json:"state"`
	ExternalIDFieldName    string  `json:"externalIdFieldName,omitempty"`
	ConcurrencyMode        string  `json:"concurrencyMode"`
	ContentType            string  `json:"contentType"`
	APIVersion             float64 `json:"apiVersion"`
	ContentURL             string  `json:"contentUrl,omitempty"`
	LineEnding             string  `json:"lineEnding"`
	ColumnDelimiter        string  `json:"columnDelimiter"`
	JobType                string  `json:"jobType,omitempty"`
	NumberRecordsProcessed int     `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int     `json:"numberRecordsFailed"`
	Retries                int     `json:"retries"`
	TotalProcessingTime    int64   `json:"totalProcessingTime"`
	ErrorMessage           string  `json:"errorMessage,omitempty"`
}

// Finished reports whether the job reached a final state.
func (j *JobInfo) Finished() bool {
	return j.State == JobComplete || j.State == JobFailed || j.State == JobAborted
}

// JobRequest creates an ingest job.
type JobRequest struct {
	Object              string        `json:"object"`
	Operation           BulkOperation `json:"operation"`
	ExternalIDFieldName string        `json:"externalIdFieldName,omitempty"`
	ContentType         string        `json:"contentType,omitempty"`     // CSV (default)
	LineEnding          string        `json:"lineEnding,omitempty"`      // LF (default) or CRLF
	ColumnDelimiter     string        `json:"columnDelimiter,omitempty"` // COMMA (default)
}

// CreateIngestJob creates a Bulk API 2.0 ingest job (POST /jobs/ingest).
func (c *Client) CreateIngestJob(ctx context.Context, jr JobRequest) (*JobInfo, error) {
	body, err := jsonBody(jr)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{op: "bulk.create", method: http.MethodPost, path: "/jobs/ingest", body: body, contentType: "application/json"})
	if err != nil {
		return nil, err
	}
	return decodeJob("bulk.create", resp.body)
}

// UploadJobData uploads the job's CSV (PUT /jobs/ingest/{id}/batches, 201).
// Salesforce takes one upload per job, up to 100 MB of raw CSV.
func (c *Client) UploadJobData(ctx context.Context, jobID string, csv []byte, rows int) error {
	_, err := c.do(ctx, request{op: "bulk.upload", method: http.MethodPut, path: "/jobs/ingest/" + url.PathEscape(jobID) + "/batches", body: csv, contentType: "text/csv", records: rows})
	return err
}

// CloseJob marks the upload complete, which starts processing.
func (c *Client) CloseJob(ctx context.Context, jobID string) (*JobInfo, error) {
	return c.setJobState(ctx, "bulk.close", jobID, JobUploadComplete)
}

// AbortJob stops a job. Records already processed stay processed.
func (c *Client) AbortJob(ctx context.Context, jobID string) (*JobInfo, error) {
	return c.setJobState(ctx, "bulk.abort", jobID, JobAborted)
}

func (c *Client) setJobState(ctx context.Context, op, jobID, state string) (*JobInfo, error) {
	resp, err := c.do(ctx, request{op: op, method: http.MethodPatch, path: "/jobs/ingest/" + url.PathEscape(jobID), body: []byte(`{"state":"` + state + `"}`), contentType: "application/json"})
	if err != nil {
		return nil, err
	}
	return decodeJob(op, resp.body)
}

// DeleteJob deletes a finished or aborted job and its data (204).
func (c *Client) DeleteJob(ctx context.Context, jobID string) error {
	_, err := c.do(ctx, request{op: "bulk.delete", method: http.MethodDelete, path: "/jobs/ingest/" + url.PathEscape(jobID)})
	return err
}

// GetJob reads a job's state and counters (GET /jobs/ingest/{id}).
func (c *Client) GetJob(ctx context.Context, jobID string) (*JobInfo, error) {
	resp, err := c.do(ctx, request{op: "bulk.get", method: http.MethodGet, path: "/jobs/ingest/" + url.PathEscape(jobID)})
	if err != nil {
		return nil, err
	}
	return decodeJob("bulk.get", resp.body)
}

// PollPolicy is how WaitForJob spaces its polls: exponential from Initial up
// to Max. The zero value polls after 500ms, then up to every 10s.
type PollPolicy struct {
	Initial time.Duration
	Max     time.Duration
}

func (p PollPolicy) backOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = p.Initial, p.Max
	if b.InitialInterval <= 0 {
		b.InitialInterval = 500 * time.Millisecond
	}
	if b.MaxInterval <= 0 {
		b.MaxInterval = 10 * time.Second
	}
	b.Multiplier = 1.5
	b.MaxElapsedTime = 0 // the context bounds the wait
	b.Reset()
	return b
}

// WaitForJob polls a job until it is JobComplete, Failed or Aborted, or ctx ends.
func (c *Client) WaitForJob(ctx context.Context, jobID string, poll PollPolicy) (*JobInfo, int, error) {
	b := poll.backOff()
	calls := 0
	for {
		job, err := c.GetJob(ctx, jobID)
		calls++
		if err != nil && !Classify(err).Retryable() {
			return nil, calls, err
		}
		if err == nil && job.Finished() {
			return job, calls, nil
		}
		t := time.NewTimer(b.NextBackOff())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, calls, ctx.Err()
		case <-t.C:
		}
	}
}

// ResultKind names a job result set.
type ResultKind string

// Result sets of a job.
const (
	SuccessfulResults ResultKind = "successfulResults/"
	FailedResults     ResultKind = "failedResults/"
	UnprocessedResult ResultKind = "unprocessedrecords/"
)

// JobResults streams one of a job's result CSVs. The caller closes it.
func (c *Client) JobResults(ctx context.Context, jobID string, kind ResultKind) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{op: "bulk.results", method: http.MethodGet, path: "/jobs/ingest/" + url.PathEscape(jobID) + "/" + string(kind), accept: "text/csv", stream: true})
	if err != nil {
		return nil, err
	}
	return resp.stream, nil
}

func decodeJob(op string, data []byte) (*JobInfo, error) {
	var j JobInfo
	if err := decodeJSON(op, data, &j); err != nil {
		return nil, err
	}
	if j.ID == "" {
		return nil, fmt.Errorf("salesforce: %s: job info without id", op)
	}
	return &j, nil
}
