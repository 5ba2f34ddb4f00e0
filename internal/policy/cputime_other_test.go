//go:build !linux

package policy

import "testing"

// threadCPU reports nothing outside Linux (see cputime_linux_test.go).
func threadCPU(*testing.B) func() { return func() {} }
