package server

import (
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"
)

// lockMemory applies the mlock setting: it keeps the process's memory out of
// swap (mlockall) and, whatever the setting, out of core dumps
// (PR_SET_DUMPABLE 0). mlockall needs CAP_IPC_LOCK or an RLIMIT_MEMLOCK
// larger than the process: with "required" a failure stops the start, with
// "best-effort" it is one warning with what to do, with "off" mlockall is not
// tried. It returns what the start-up summary says about memory.
func lockMemory(mode string, logger *slog.Logger) (string, error) {
	if err := noCoreDumps(); err != nil {
		logger.Warn("server: could not disable core dumps", "err", err)
	}
	if mode == MlockOff {
		return "not locked (--mlock off)", nil
	}
	// MCL_ONFAULT locks pages as they are touched instead of populating
	// every future mapping (Go reserves large arenas); older kernels lack it.
	err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
	if err != nil {
		err = unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE)
	}
	if err == nil {
		logger.Debug("server: memory locked (mlockall)")
		return "locked (mlockall), core dumps off", nil
	}
	if mode == MlockRequired {
		return "", &HintError{
			Err:    fmt.Errorf("server: --mlock required, but mlockall failed: %w", err),
			Advice: mlockHint + ", or start with --mlock best-effort",
		}
	}
	logger.Warn("server: memory not locked: keys may be swapped to disk (--mlock best-effort)",
		"err", err, "hint", mlockHint+"; --mlock off skips the attempt")
	return fmt.Sprintf("NOT locked (mlockall: %v; --mlock best-effort)", err), nil
}

// The container image runs as a non-root user, to which Docker does not give
// --cap-add capabilities: there the memlock limit is what works.
const mlockHint = "give the process CAP_IPC_LOCK (systemd: AmbientCapabilities=CAP_IPC_LOCK) " +
	"or an unlimited RLIMIT_MEMLOCK (systemd: LimitMEMLOCK=infinity; docker: --ulimit memlock=-1; shell: ulimit -l unlimited)"

// noCoreDumps keeps the process's memory, where the keys are, out of core
// dumps (PR_SET_DUMPABLE 0, which also keeps other processes of the same
// user from reading it through /proc or ptrace).
func noCoreDumps() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
