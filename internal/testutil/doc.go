// Package testutil holds helpers shared by Kinetic's tests. It is imported
// only from _test.go files.
package testutil
