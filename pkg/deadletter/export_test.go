package deadletter

import "context"

// Retry exposes Inspector.retry to the tests.
func Retry(ctx context.Context, i *Inspector, op func(context.Context) error) error {
	return i.retry(ctx, op)
}
