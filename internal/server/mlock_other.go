//go:build !linux

package server

import "log/slog"

// lockMemory is Linux-only (mlockall, PR_SET_DUMPABLE).
func lockMemory(logger *slog.Logger) {
	logger.Warn("server: memory locking is not supported on this platform: memory holding keys may be swapped to disk")
}
