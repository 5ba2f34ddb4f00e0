package cputime

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: the kernel's
// USER_HZ, 100 on every architecture Go supports on Linux.
const userHZ = 100

// OfPID returns the CPU time (user and system, all threads) of another
// process on this machine, from /proc/PID/stat: 10 ms resolution, enough
// over a run of seconds. It measures servers that expose no CPU time of their
// own.
func OfPID(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid ... utime stime: comm may hold spaces and
	// parentheses, so the fields are counted from its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("cputime: /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 { // state is field 3, utime 14 and stime 15
		return 0, fmt.Errorf("cputime: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cputime: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}
