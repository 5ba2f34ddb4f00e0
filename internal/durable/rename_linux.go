package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// renameat2NoReplace renames oldpath to newpath unless newpath exists.
func renameat2NoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if err != nil {
		return &os.LinkError{Op: "renameat2", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
