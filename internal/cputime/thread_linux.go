package cputime

import (
	"syscall"
	"time"
)

// Thread returns the CPU time (user and system) of the calling OS thread;
// lock the goroutine to its thread (runtime.LockOSThread) around the
// measurement. Unlike Process it leaves out the garbage collector's and other
// goroutines' threads: the cost of one code path alone.
func Thread() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
