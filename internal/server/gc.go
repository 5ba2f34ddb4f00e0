package server

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGOGC is the garbage collector's target of trent server when the
// environment sets no GOGC: the heap may grow to 5 times the live heap
// before a collection, instead of Go's 2 times. A KMS server's live heap is
// small (keys, policies, connection buffers: tens of MB) while every
// request allocates a few KB, so with Go's default the collector runs tens
// of times per second under load for little garbage each time; at 400 it
// runs a quarter as often, for tens of MB more memory. docs/benchmarks.md
// has the figures.
const DefaultGOGC = 400

// TuneGC sets the collector for a server (cmd/trent calls it before
// starting one; tests and other embedders keep Go's defaults). Unless the
// environment sets them (then the Go runtime has applied them already):
// GOGC is DefaultGOGC, and GOMEMLIMIT, the soft memory limit that makes the
// collector run sooner whatever GOGC says, is half of the memory this
// process may use (the cgroup's limit, else the machine's), so that a large
// live heap never grows to 5 times its size when memory runs short. It
// returns what it set, for the log.
func TuneGC(lookupEnv func(string) (string, bool)) string {
	var did []string
	if v, ok := lookupEnv("GOGC"); ok {
		did = append(did, "GOGC="+v+" (environment)")
	} else {
		debug.SetGCPercent(DefaultGOGC)
		did = append(did, "GOGC="+strconv.Itoa(DefaultGOGC))
	}
	if v, ok := lookupEnv("GOMEMLIMIT"); ok {
		did = append(did, "GOMEMLIMIT="+v+" (environment)")
	} else if mem := availableMemory(); mem > 0 {
		debug.SetMemoryLimit(mem / 2)
		did = append(did, fmt.Sprintf("GOMEMLIMIT=%dMiB (half of %dMiB)", mem/2>>20, mem>>20))
	}
	return strings.Join(did, ", ")
}

// availableMemory is the cgroup's memory limit (v2: memory.max) when it has
// one, else the machine's memory (MemTotal); 0 when neither is known.
func availableMemory() int64 {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// MemTotal:       24683620 kB
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
