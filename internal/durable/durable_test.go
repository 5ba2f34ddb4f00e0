package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	checkCreate(t, dir)
	if err := Create(filepath.Join(dir, "no-such-dir", "f"), nil); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

// TestCreateWithoutHardLinks acts as a filesystem whose link(2) fails (some
// FUSE, overlay and network filesystems), with and without renameat2's
// RENAME_NOREPLACE: Create still makes the file, all or nothing, and still
// refuses to replace an existing one.
func TestCreateWithoutHardLinks(t *testing.T) {
	noLink := func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	noRename := func(oldname, newname string) error {
		return &os.LinkError{Op: "renameat2", Old: oldname, New: newname, Err: syscall.EINVAL}
	}
	for _, tc := range []struct {
		name   string
		rename func(string, string) error
	}{
		{"renameat2", renameNoReplace},
		{"placeholder", noRename},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(l, r func(string, string) error) { link, renameNoReplace = l, r }(link, renameNoReplace)
			link, renameNoReplace = noLink, tc.rename
			checkCreate(t, t.TempDir())
		})
	}
}

// checkCreate creates a file in dir with Create, then checks that a second
// Create does not replace it, that it holds what the first wrote with mode
// 0600, and that nothing else (a temporary or placeholder file) is left.
func checkCreate(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "secret")
	if err := Create(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Create(p, []byte("two")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing file = %v, want fs.ErrExist", err)
	}
	b, err := os.ReadFile(p)
	fi, serr := os.Stat(p)
	if err != nil || string(b) != "one" || serr != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file = %q %v, mode %v %v; want \"one\", 0600", b, err, fi.Mode().Perm(), serr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want the file alone (no temporary or placeholder file left)", len(ents))
	}
}
