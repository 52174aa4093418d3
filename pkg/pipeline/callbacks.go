package pipeline

import (
	"fmt"
)

// Callbacks are the original SyncPipeline's lifecycle hooks. Each is
// optional. They run on the goroutine that called Sync, one at a time, so
// they need no locking. OnRecordStart runs as each batch is prepared, which
// may be while earlier batches are still loading; OnRecordSuccess and
// OnRecordError run in input order, and OnBatchComplete in batch order,
// after the batch's records.
//
// A callback that returns an error or panics is reported — the error (or
// the recovered panic, as a *CallbackPanic) is appended to
// SyncResult.CallbackErrors, counted in Metadata.CallbackErrors and logged —
// and the sync carries on. It never changes a record's outcome or the
// counts: unlike the original, a failing success callback does not count a
// loaded record a second time, as an error.
type Callbacks struct {
	// OnRecordStart is called for each record before it is mapped and sent.
	OnRecordStart func(record map[string]any) error
	// OnRecordSuccess is called for each loaded record with its Salesforce id.
	OnRecordSuccess func(record map[string]any, id string) error
	// OnRecordError is called for each failed record; err is a *RecordError.
	OnRecordError func(record map[string]any, err error) error
	// OnBatchComplete is called after each batch with a snapshot of the
	// result so far (status IN_PROGRESS).
	OnBatchComplete func(batchNum, totalBatches int, snapshot SyncResult) error
}

// CallbackPanic is a panic recovered from a callback.
type CallbackPanic struct {
	Callback string
	Value    any
}

func (p *CallbackPanic) Error() string {
	return fmt.Sprintf("callback %s panicked: %v", p.Callback, p.Value)
}

// CallbackError wraps an error returned by a callback.
type CallbackError struct {
	Callback string
	Err      error
}

func (e *CallbackError) Error() string { return "callback " + e.Callback + ": " + e.Err.Error() }

func (e *CallbackError) Unwrap() error { return e.Err }

// invoke runs one callback, turning an error or panic into a reported
// callback error.
func (p *Pipeline) invoke(res *SyncResult, name string, f func() error) {
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = &CallbackPanic{Callback: name, Value: v}
			}
		}()
		if e := f(); e != nil {
			return &CallbackError{Callback: name, Err: e}
		}
		return nil
	}()
	if err != nil {
		res.CallbackErrors = append(res.CallbackErrors, err)
		res.Metadata.CallbackErrors++
		p.log.Warn().Err(err).Str("sobject", p.opts.SObject).Msg("callback failed")
	}
}
