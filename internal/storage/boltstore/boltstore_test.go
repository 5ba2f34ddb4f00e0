package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/storagetest"
)

func mustOpen(t testing.TB, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open(%q) err = %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "trent.db"))
	})
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trent.db")
	s := mustOpen(t, path)
	err := s.Update(ctx, func(tx storage.Tx) error {
		for _, k := range []string{"kms/key/a", "kms/key/b", "kms/alias/x", "gone"} {
			if err := tx.Put(k, []byte("v:"+k)); err != nil {
				return err
			}
		}
		return tx.Delete("gone")
	})
	if err != nil {
		t.Fatalf("Update() err = %v", err)
	}
	// A rolled-back tx must not reach the file either.
	_ = s.Update(ctx, func(tx storage.Tx) error {
		_ = tx.Put("kms/key/rolledback", []byte("x"))
		return errors.New("abort")
	})
	if err := s.Close(); err != nil {
		t.Fatalf("Close() err = %v", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode = %04o, want no group/other access", perm)
	}

	s = mustOpen(t, path)
	var keys []string
	err = s.View(ctx, func(tx storage.Tx) error {
		es, err := tx.List("", "", 0)
		for _, e := range es {
			keys = append(keys, e.Key)
			if string(e.Value) != "v:"+e.Key {
				t.Errorf("after reopen %q = %q, want %q", e.Key, e.Value, "v:"+e.Key)
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("View() err = %v", err)
	}
	want := []string{"kms/alias/x", "kms/key/a", "kms/key/b"}
	if len(keys) != len(want) {
		t.Fatalf("after reopen keys = %q, want %q", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Errorf("after reopen keys = %q, want %q", keys, want)
			break
		}
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trent.db")
	_ = mustOpen(t, path)
	start := time.Now()
	s2, err := boltstore.OpenWithOptions(path, boltstore.Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		_ = s2.Close()
		t.Fatalf("second Open of a locked database err = nil, want ErrLocked")
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("second Open err = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v, want about the 100ms lock timeout", d)
	}
}

func TestOpenReleasesLockOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trent.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := boltstore.OpenWithOptions(path, boltstore.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close err = %v", err)
	}
	_ = s2.Close()
}

func TestOpenBadPath(t *testing.T) {
	dir := t.TempDir()
	if _, err := boltstore.Open(filepath.Join(dir, "no", "such", "dir", "trent.db")); err == nil {
		t.Errorf("Open in a missing directory err = nil, want an error")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := boltstore.Open(junk); err == nil {
		_ = s.Close()
		t.Errorf("Open of a non-bbolt file err = nil, want an error")
	}
}

// Records written in increasing key order (as new keys are: their ids grow
// with time) fill the pages they are split into, rather than leaving each
// half empty.
func TestAppendsFillPages(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, filepath.Join(t.TempDir(), "trent.db"))
	defer s.Close()
	value := bytes.Repeat([]byte{'v'}, 800) // about a key record
	for i := range 100 {
		err := s.Update(context.Background(), func(tx storage.Tx) error {
			for j := range 10 {
				if err := tx.Put(fmt.Sprintf("kms/key/us-east-1/111122223333/%06d", i*10+j), value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if fill := s.LeafFill(); fill < 0.6 { // 70% here; 42% with bbolt's default
		t.Errorf("after 1000 appended records the leaf pages are %.0f%% full, want at least 60%%", fill*100)
	}
}
