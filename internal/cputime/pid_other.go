//go:build !linux

package cputime

import (
	"errors"
	"time"
)

// OfPID is Linux only (/proc/PID/stat).
func OfPID(pid int) (time.Duration, error) {
	return 0, errors.New("cputime: another process's CPU time is read on Linux only")
}
