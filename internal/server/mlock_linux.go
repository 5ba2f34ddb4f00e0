package server

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// lockMemory keeps the process's memory out of swap (mlockall) and out of
// core dumps (PR_SET_DUMPABLE 0). Both are best effort: a failure is logged,
// never fatal (mlockall needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK).
func lockMemory(logger *slog.Logger) {
	// MCL_ONFAULT locks pages as they are touched instead of populating
	// every future mapping (Go reserves large arenas); older kernels lack it.
	err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
	if err != nil {
		err = unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE)
	}
	if err != nil {
		logger.Warn("server: mlockall failed: memory holding keys may be swapped to disk", "err", err)
	} else {
		logger.Info("server: memory locked (mlockall)")
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		logger.Warn("server: could not disable core dumps", "err", err)
	} else {
		logger.Info("server: core dumps disabled")
	}
}
