//go:build trent_testclock

package server

import (
	"os"
	"time"
)

// Built only with -tags trent_testclock (the end-to-end tests build the
// binary so): TRENT_TEST_CLOCK_OFFSET (a Go duration) moves the identity
// service's clock, which decides when session credentials expire, so that a
// test sees an STS session expire without waiting 15 minutes. SigV4's
// request-time check keeps the real clock. Release builds have no such
// variable.
func init() {
	d, err := time.ParseDuration(os.Getenv("TRENT_TEST_CLOCK_OFFSET"))
	if err != nil || d == 0 {
		return
	}
	identityNow = func() time.Time { return time.Now().Add(d) }
}
