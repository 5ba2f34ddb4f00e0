// Package durable writes files so that a crash, a power cut or a full disk
// leaves either nothing or the whole file under its name: the data goes to a
// temporary file in the same directory, fsynced, which is then linked into
// place, and the directory is fsynced so that the new name survives too.
//
// On a filesystem without hard links (some FUSE, overlay and network
// filesystems), the temporary file is renamed into place instead, with
// renameat2's RENAME_NOREPLACE where the system has it, and otherwise over
// a placeholder created at the final name with O_EXCL. Either way an
// existing file is never replaced; only the placeholder fallback can leave
// an empty file under the name if the machine stops between the placeholder
// and the rename.
package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
)

// Create creates path, mode 0600, holding data, all or nothing. It fails
// with an error wrapping fs.ErrExist when path exists (it never replaces a
// file: a key or a credential shown once must not be overwritten).
func Create(path string, data []byte) error {
	tmp, err := Temp(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return err
	}
	return Link(tmp.Name(), path)
}

// Temp creates a new temporary file, mode 0600, in dir for the file name:
// ".name.tmp-" and random digits, the name that Leftovers removes.
func Temp(dir, name string) (*os.File, error) {
	return os.CreateTemp(dir, "."+name+".tmp-*")
}

// tempName matches the names of Temp's files (os.CreateTemp's random part
// is decimal digits).
var tempName = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// Leftovers removes the temporary files of Temp that a crash left in dir
// (before they were linked into place, or before they were removed) and
// returns their names. Call it only where no other process can be writing
// one, such as a data directory whose database lock is held. A missing dir
// has none.
func Leftovers(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !e.Type().IsRegular() || !tempName.MatchString(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		return removed, SyncDir(dir)
	}
	return nil, nil
}

// Hooks that tests replace to act as a filesystem without hard links or
// without RENAME_NOREPLACE.
var (
	link            = os.Link
	renameNoReplace = renameat2NoReplace
)

// Link puts the complete, fsynced file tmp into place as path (an error
// wrapping fs.ErrExist when path exists) and makes the new name durable.
// The caller removes tmp, which may be gone (renamed into place) when Link
// returns.
func Link(tmp, path string) error {
	err := link(tmp, path)
	if noHardLinks(err) {
		err = renameNoReplace(tmp, path)
		if noRenameNoReplace(err) {
			err = renameOverPlaceholder(tmp, path)
		}
	}
	if err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// renameOverPlaceholder claims path with an empty file created with O_EXCL
// (so that an existing file is never replaced), then renames tmp over it.
func renameOverPlaceholder(tmp, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(path) // our placeholder: nothing was written under path
		return err
	}
	return nil
}

// noHardLinks reports whether err is how a filesystem without hard links
// answers link(2).
func noHardLinks(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) ||
		errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EXDEV) ||
		errors.Is(err, syscall.ENOSYS)
}

// noRenameNoReplace reports whether err is how a system or filesystem
// without renameat2's RENAME_NOREPLACE answers it.
func noRenameNoReplace(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.ENOTSUP) ||
		errors.Is(err, syscall.EOPNOTSUPP)
}

// SyncDir fsyncs the directory dir, which makes the names created or
// removed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
