package policy

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU reports the CPU time of the benchmark's thread per operation
// ("cpu-ns/op"): on a machine shared with other work, wall-clock ns/op
// counts the time spent waiting for a core, this does not. The goroutine is
// locked to its thread for the run.
func threadCPU(b *testing.B) func() {
	runtime.LockOSThread()
	start := rusageThread()
	return func() {
		used := rusageThread() - start
		runtime.UnlockOSThread()
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func rusageThread() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
