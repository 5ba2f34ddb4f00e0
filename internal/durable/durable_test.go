package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCreate(t *testing.T) {
	dir := t.TempDir()
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
		t.Errorf("directory holds %d entries, want the file alone (no temporary file left)", len(ents))
	}
	if err := Create(filepath.Join(dir, "no-such-dir", "f"), nil); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}
