//go:build !linux

package server

import (
	"errors"
	"log/slog"
)

// lockMemory is Linux-only (mlockall, PR_SET_DUMPABLE): elsewhere "required"
// stops the start and "best-effort" warns once.
func lockMemory(mode string, logger *slog.Logger) (string, error) {
	switch mode {
	case MlockOff:
		return "not locked (--mlock off)", nil
	case MlockRequired:
		return "", &HintError{Err: errors.New("server: --mlock required, but memory locking is supported on Linux only"),
			Advice: "start with --mlock best-effort or --mlock off"}
	}
	logger.Warn("server: memory not locked: keys may be swapped to disk (memory locking is supported on Linux only)")
	return "NOT locked (Linux only)", nil
}

// noCoreDumps is Linux-only (PR_SET_DUMPABLE).
func noCoreDumps() error { return nil }
