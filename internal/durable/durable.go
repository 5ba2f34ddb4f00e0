// Package durable writes files so that a crash, a power cut or a full disk
// leaves either nothing or the whole file under its name: the data goes to a
// temporary file in the same directory, fsynced, which is then linked into
// place, and the directory is fsynced so that the new name survives too.
package durable

import (
	"errors"
	"os"
	"path/filepath"
)

// Create creates path, mode 0600, holding data, all or nothing. It fails
// with an error wrapping fs.ErrExist when path exists (it never replaces a
// file: a key or a credential shown once must not be overwritten).
func Create(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*") // mode 0600
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

// Link links the complete, fsynced file tmp into place as path (an error
// wrapping fs.ErrExist when path exists) and makes the new name durable.
// The caller removes tmp.
func Link(tmp, path string) error {
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
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
