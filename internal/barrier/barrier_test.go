package barrier_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/memstore"
	"github.com/trent-kms/trent/internal/storage/storagetest"
)

var ctx = context.Background()

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return barrier.New(memstore.New(), keyring.GenerateEphemeral())
	})
}

const secret = "plaintext-key-material-0123456789"

var records = map[string]string{
	"kms/key/us-east-1/111122223333/a": secret + "-a",
	"kms/key/us-east-1/111122223333/b": secret + "-b",
	"iam/accesskey/AKIAEXAMPLE":        secret + "-c",
}

func mustSeed(t *testing.T, s storage.Store) {
	t.Helper()
	err := s.Update(ctx, func(tx storage.Tx) error {
		for k, v := range records {
			if err := tx.Put(k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update() err = %v", err)
	}
}

func rawEntries(t *testing.T, inner storage.Store) []storage.Entry {
	t.Helper()
	var es []storage.Entry
	err := inner.View(ctx, func(tx storage.Tx) (err error) {
		es, err = tx.List("", "", 0)
		return err
	})
	if err != nil {
		t.Fatalf("inner List err = %v", err)
	}
	return es
}

// wantUnseal checks that Get(key) and a List over it fail with ErrUnseal
// without returning any plaintext.
func wantUnseal(t *testing.T, s storage.Store, key string) {
	t.Helper()
	err := s.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get(key)
		if !errors.Is(err, barrier.ErrUnseal) || v != nil {
			t.Errorf("Get(%q) = %q, %v, want nil, ErrUnseal", key, v, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("Get(%q) error %q contains plaintext", key, err)
		}
		es, err := tx.List("", "", 0)
		if !errors.Is(err, barrier.ErrUnseal) || es != nil {
			t.Errorf("List() = %d entries, %v, want nil, ErrUnseal", len(es), err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View() err = %v", err)
	}
}

func TestRawValuesAreSealed(t *testing.T) {
	inner := memstore.New()
	s := barrier.New(inner, keyring.GenerateEphemeral())
	mustSeed(t, s)
	es := rawEntries(t, inner)
	if len(es) != len(records) {
		t.Fatalf("inner holds %d entries, want %d", len(es), len(records))
	}
	for _, e := range es {
		pt, ok := records[e.Key] // keys are stored as-is
		if !ok {
			t.Errorf("inner key %q is not a key that was written", e.Key)
			continue
		}
		if bytes.Contains(e.Value, []byte(secret)) || bytes.Contains(e.Value, []byte(pt[:16])) {
			t.Errorf("inner value at %q contains the plaintext", e.Key)
		}
		if len(e.Value) != len(pt)+keyring.Overhead {
			t.Errorf("inner value at %q is %d bytes, want %d", e.Key, len(e.Value), len(pt)+keyring.Overhead)
		}
	}
	// And the barrier reads them back.
	err := s.View(ctx, func(tx storage.Tx) error {
		for k, want := range records {
			if v, err := tx.Get(k); err != nil || string(v) != want {
				t.Errorf("Get(%q) = %q, %v, want %q", k, v, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSwappedRecordsFail(t *testing.T) {
	inner := memstore.New()
	s := barrier.New(inner, keyring.GenerateEphemeral())
	mustSeed(t, s)
	a, b := "kms/key/us-east-1/111122223333/a", "kms/key/us-east-1/111122223333/b"
	err := inner.Update(ctx, func(tx storage.Tx) error {
		va, err := tx.Get(a)
		if err != nil {
			return err
		}
		vb, err := tx.Get(b)
		if err != nil {
			return err
		}
		if err := tx.Put(a, vb); err != nil {
			return err
		}
		return tx.Put(b, va)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantUnseal(t, s, a)
	wantUnseal(t, s, b)

	// A record copied to a new path fails too.
	err = inner.Update(ctx, func(tx storage.Tx) error {
		v, err := tx.Get("iam/accesskey/AKIAEXAMPLE")
		if err != nil {
			return err
		}
		return tx.Put("iam/accesskey/AKIAOTHER", v)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantUnseal(t, s, "iam/accesskey/AKIAOTHER")
}

func TestTamperedRecordFails(t *testing.T) {
	inner := memstore.New()
	s := barrier.New(inner, keyring.GenerateEphemeral())
	mustSeed(t, s)
	key := "iam/accesskey/AKIAEXAMPLE"
	err := inner.Update(ctx, func(tx storage.Tx) error {
		v, err := tx.Get(key)
		if err != nil {
			return err
		}
		v[len(v)/2] ^= 0x40
		return tx.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantUnseal(t, s, key)
	// Unsealing failures are keyring failures underneath.
	_ = s.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(key); !errors.Is(err, keyring.ErrUnwrap) {
			t.Errorf("Get(tampered) err = %v, want it to wrap keyring.ErrUnwrap too", err)
		}
		return nil
	})
}

func TestWrongRootKeyFails(t *testing.T) {
	inner := memstore.New()
	mustSeed(t, barrier.New(inner, keyring.GenerateEphemeral()))
	other := barrier.New(inner, keyring.GenerateEphemeral())
	for k := range records {
		wantUnseal(t, other, k)
	}
}

func TestClosedKeyringFails(t *testing.T) {
	inner := memstore.New()
	kr := keyring.GenerateEphemeral()
	s := barrier.New(inner, kr)
	mustSeed(t, s)
	_ = kr.Close()
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put("k", []byte(secret)) })
	if err == nil {
		t.Errorf("Put with a closed keyring err = nil, want an error")
	}
	_ = inner.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get("k"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("inner Get(k) err = %v, want ErrNotFound: nothing may be stored when sealing fails", err)
		}
		return nil
	})
	_ = s.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get("iam/accesskey/AKIAEXAMPLE"); !errors.Is(err, barrier.ErrUnseal) || !errors.Is(err, keyring.ErrClosed) {
			t.Errorf("Get with a closed keyring err = %v, want ErrUnseal wrapping keyring.ErrClosed", err)
		}
		return nil
	})
}

// TestCopiedDatabaseFile covers the at-rest promise end to end: the bbolt
// file holds no plaintext, opens only with the root key file, and a copy of
// the database without that key is useless.
func TestCopiedDatabaseFile(t *testing.T) {
	dir := t.TempDir()
	dbPath, keyPath := filepath.Join(dir, "trent.db"), filepath.Join(dir, "root.key")
	kr, _, err := keyring.LoadOrCreateFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := boltstore.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	mustSeed(t, barrier.New(bs, kr))
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Errorf("database file contains plaintext")
	}

	// A copy of the file opened with another root key: nothing opens.
	copyPath := filepath.Join(t.TempDir(), "stolen.db")
	if err := os.WriteFile(copyPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	stolen, err := boltstore.Open(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stolen.Close()
	for k := range records {
		wantUnseal(t, barrier.New(stolen, keyring.GenerateEphemeral()), k)
	}

	// The real key file opens the copy.
	kr2, created, err := keyring.LoadOrCreateFile(keyPath)
	if err != nil || created {
		t.Fatalf("reload key file: created %v, err %v", created, err)
	}
	err = barrier.New(stolen, kr2).View(ctx, func(tx storage.Tx) error {
		for k, want := range records {
			if v, err := tx.Get(k); err != nil || string(v) != want {
				t.Errorf("Get(%q) with the root key = %q, %v, want %q", k, v, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
