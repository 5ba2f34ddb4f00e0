package server

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestTuneGC: the server's defaults apply unless the environment sets
// GOGC or GOMEMLIMIT. (Not parallel: the settings are the process's.)
func TestTuneGC(t *testing.T) {
	gogc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	defer func() { debug.SetGCPercent(gogc); debug.SetMemoryLimit(limit) }()

	none := func(string) (string, bool) { return "", false }
	got := TuneGC(none)
	if p := debug.SetGCPercent(100); p != DefaultGOGC {
		t.Errorf("GOGC after TuneGC = %d, want %d (%s)", p, DefaultGOGC, got)
	}
	if mem := availableMemory(); mem > 0 {
		if l := debug.SetMemoryLimit(-1); l != mem/2 {
			t.Errorf("memory limit after TuneGC = %d, want %d (%s)", l, mem/2, got)
		}
	}

	debug.SetMemoryLimit(limit)
	env := func(k string) (string, bool) { return map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB"}[k], true }
	got = TuneGC(env)
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GOGC set by TuneGC despite the environment: %d", p)
	}
	if l := debug.SetMemoryLimit(-1); l != limit {
		t.Errorf("memory limit set by TuneGC despite the environment: %d", l)
	}
	if !strings.Contains(got, "GOGC=150 (environment)") || !strings.Contains(got, "GOMEMLIMIT=1GiB (environment)") {
		t.Errorf("TuneGC = %q, want it to name the environment's values", got)
	}
}
