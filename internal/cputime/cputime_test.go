package cputime

import (
	"crypto/sha256"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestProcessAdvances(t *testing.T) {
	before := Process()
	if before <= 0 {
		t.Fatalf("Process() = %v, want > 0", before)
	}
	buf := make([]byte, 1<<20)
	for range 200 { // some milliseconds of CPU
		sha256.Sum256(buf)
	}
	if after := Process(); after <= before {
		t.Errorf("Process() = %v after work, want more than %v", after, before)
	}
}

func TestThreadAdvances(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := Thread()
	buf := make([]byte, 1<<20)
	for range 200 {
		sha256.Sum256(buf)
	}
	after := Thread()
	if runtime.GOOS == "linux" && after <= before {
		t.Errorf("Thread() = %v after work, want more than %v", after, before)
	}
}

func TestOfPIDAgreesWithProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux only")
	}
	buf := make([]byte, 1<<20)
	for range 200 { // some tens of milliseconds: several of /proc's ticks
		sha256.Sum256(buf)
	}
	own := Process()
	got, err := OfPID(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts in 10 ms ticks and rounds its own way; Process has
	// microseconds. Both count the same threads.
	if d := got - own; d < -30*time.Millisecond || d > 30*time.Millisecond {
		t.Errorf("OfPID(self) = %v, Process() = %v", got, own)
	}
	if _, err := OfPID(1 << 30); err == nil {
		t.Error("OfPID of a process that does not exist: no error")
	}
}
