// Package cputime reads the CPU time of this process: what benchmarks and
// trent bench report next to wall time, since on a shared machine the CPU
// a request costs is steadier than the time it takes.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the CPU time (user and system) this process has used,
// with microsecond resolution; 0 when the system does not say.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
