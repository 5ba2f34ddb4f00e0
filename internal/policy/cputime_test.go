package policy

import (
	"runtime"
	"testing"

	"github.com/trent-kms/trent/internal/cputime"
)

// threadCPU reports the CPU time of the benchmark's thread per operation
// ("cpu-ns/op"; Linux only): on a machine shared with other work, wall-clock
// ns/op counts the time spent waiting for a core, this does not.
func threadCPU(b *testing.B) func() {
	runtime.LockOSThread()
	start := cputime.Thread()
	return func() {
		used := cputime.Thread() - start
		runtime.UnlockOSThread()
		if used > 0 {
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}
