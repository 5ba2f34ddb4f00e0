package boltstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/trent-kms/trent/internal/storage"
)

// TestCommitFailure makes every write to the database file fail (the file is
// opened read-only underneath bbolt), so commits fail midway, and checks
// that Update reports it and no half-written key is ever readable, neither
// in the same process nor after reopening the file.
func TestCommitFailure(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trent.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.Put("kept", []byte("v1")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	readOnly := func(name string, _ int, _ os.FileMode) (*os.File, error) {
		return os.OpenFile(name, os.O_RDONLY, 0)
	}
	s, err = OpenWithOptions(path, Options{openFile: readOnly})
	if err != nil {
		t.Fatalf("Open with failing writes err = %v", err)
	}
	for range 3 {
		err = s.Update(ctx, func(tx storage.Tx) error {
			for _, k := range []string{"half/1", "half/2", "half/3"} {
				if err := tx.Put(k, []byte("x")); err != nil {
					return err
				}
			}
			if err := tx.Delete("kept"); err != nil {
				return err
			}
			return nil
		})
		if err == nil {
			t.Fatalf("Update() with failing writes err = nil, want the commit error")
		}
		t.Logf("Update() err = %v", err)
		if errors.Is(err, storage.ErrClosed) {
			t.Fatalf("Update() err = %v, want a write error", err)
		}
		wantOnlyKept(t, s)
	}
	if err := s.Close(); err != nil {
		t.Logf("Close after failed commits: %v", err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen after failed commits err = %v", err)
	}
	defer s.Close()
	wantOnlyKept(t, s)
}

func wantOnlyKept(t *testing.T, s *Store) {
	t.Helper()
	err := s.View(context.Background(), func(tx storage.Tx) error {
		es, err := tx.List("", "", 0)
		if err != nil {
			return err
		}
		if len(es) != 1 || es[0].Key != "kept" || string(es[0].Value) != "v1" {
			var keys []string
			for _, e := range es {
				keys = append(keys, e.Key)
			}
			t.Errorf("store holds %q, want only kept=v1", keys)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View() err = %v", err)
	}
}
