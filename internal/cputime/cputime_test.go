package cputime

import (
	"crypto/sha256"
	"runtime"
	"testing"
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
