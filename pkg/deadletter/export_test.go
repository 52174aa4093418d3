package deadletter

import (
	"context"
	"time"
)

// Retry exposes Inspector.retry to the tests.
func Retry(ctx context.Context, i *Inspector, op func(context.Context) error) error {
	return i.retry(ctx, op)
}

// Step names a point of a dead letter's replay.
type Step = stepName

// The steps of a dead letter's replay, in order.
const (
	StepRead       = stepRead
	StepClaim      = stepClaim
	StepPublishing = stepPublishing
	StepPublished  = stepPublished
	StepRecorded   = stepRecorded
	StepRemoved    = stepRemoved
	StepDone       = stepDone
)

// WithStepHook calls hook at each step of each dead letter's replay; an
// error ends the replay right there, as a crash would: no later step of any
// dead letter runs.
func WithStepHook(hook func(Step, uint64) error) Option {
	return func(o *options) { o.stepHook = hook }
}

// WithClock replaces the clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.clock = now }
}

// ErrAborted is Replay's error when a step hook ended it.
var ErrAborted = errAborted
