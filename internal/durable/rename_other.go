//go:build !linux

package durable

import (
	"errors"
	"os"
)

// renameat2NoReplace is unsupported outside Linux: Link falls back to a
// placeholder.
func renameat2NoReplace(oldpath, newpath string) error {
	return &os.LinkError{Op: "renameat2", Old: oldpath, New: newpath, Err: errors.ErrUnsupported}
}
