package audit

import (
	"os"

	"golang.org/x/sys/unix"
)

// dataSyncFile is a segment whose Sync is fdatasync(2): the data and the
// metadata needed to read it back (the file size), without the timestamps
// fsync(2) also writes. Records are only ever appended, so that is all a
// reader needs after a crash.
type dataSyncFile struct{ *os.File }

func (f dataSyncFile) Sync() error {
	rc, err := f.File.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

func dataSync(f *os.File) segmentFile { return dataSyncFile{f} }
