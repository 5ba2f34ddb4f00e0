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

// mustOpen initialises (or unseals) a barrier over inner with the file
// keyring kr as its seal.
func mustOpen(t testing.TB, inner storage.Store, kr keyring.Keyring) *barrier.Barrier {
	t.Helper()
	b, err := barrier.Open(ctx, inner, kr, "file")
	if err != nil {
		t.Fatalf("barrier.Open() err = %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return mustOpen(t, memstore.New(), keyring.GenerateEphemeral())
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

// userEntries lists the raw records of inner, without the barrier's own.
func userEntries(t *testing.T, inner storage.Store) []storage.Entry {
	t.Helper()
	var out []storage.Entry
	for _, e := range rawEntries(t, inner) {
		if !strings.HasPrefix(e.Key, barrier.Prefix) {
			out = append(out, e)
		}
	}
	return out
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
	s := mustOpen(t, inner, keyring.GenerateEphemeral())
	mustSeed(t, s)
	es := userEntries(t, inner)
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
		if len(e.Value) != len(pt)+barrier.Overhead {
			t.Errorf("inner value at %q is %d bytes, want %d", e.Key, len(e.Value), len(pt)+barrier.Overhead)
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
	s := mustOpen(t, inner, keyring.GenerateEphemeral())
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
	s := mustOpen(t, inner, keyring.GenerateEphemeral())
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
}

func TestWrongSealFails(t *testing.T) {
	inner := memstore.New()
	mustSeed(t, mustOpen(t, inner, keyring.GenerateEphemeral()))
	other := keyring.GenerateEphemeral()
	b := barrier.New(inner)
	if err := b.Unseal(ctx, other); !errors.Is(err, barrier.ErrRootKey) {
		t.Fatalf("Unseal(another seal) err = %v, want ErrRootKey", err)
	}
	if err := b.View(ctx, func(storage.Tx) error { return nil }); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("View after a failed unseal err = %v, want ErrSealed", err)
	}
}

func TestSealAndUnseal(t *testing.T) {
	inner := memstore.New()
	path := filepath.Join(t.TempDir(), "root.key")
	kr, _, err := keyring.LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t, inner, kr)
	mustSeed(t, b)
	b.Seal()
	if !b.Sealed() {
		t.Fatalf("Sealed() = false after Seal")
	}
	err = b.Update(ctx, func(tx storage.Tx) error { return tx.Put("k", []byte(secret)) })
	if !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("Update while sealed err = %v, want ErrSealed", err)
	}
	if err := b.View(ctx, func(storage.Tx) error { return nil }); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("View while sealed err = %v, want ErrSealed", err)
	}
	if _, err := kr.Wrap(ctx, []byte("x"), nil); !errors.Is(err, keyring.ErrClosed) {
		t.Errorf("seal keyring after Seal: Wrap err = %v, want ErrClosed (Seal closes the seal)", err)
	}
	st, err := b.Status(ctx)
	if err != nil || !st.Initialized || !st.Sealed || st.Kind != "file" {
		t.Errorf("Status() = %+v, %v, want initialised, sealed, file", st, err)
	}
	kr2, err := keyring.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Unseal(ctx, kr2); err != nil {
		t.Fatalf("Unseal() err = %v", err)
	}
	wantRecords(t, b)
}

func wantRecords(t *testing.T, s storage.Store) {
	t.Helper()
	err := s.View(ctx, func(tx storage.Tx) error {
		for k, want := range records {
			if v, err := tx.Get(k); err != nil || string(v) != want {
				t.Errorf("Get(%q) = %q, %v, want %q", k, v, err, want)
			}
		}
		es, err := tx.List("", "", 0)
		if err != nil || len(es) != len(records) {
			t.Errorf("List() = %d entries, %v, want %d (barrier records hidden)", len(es), err, len(records))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReservedPaths(t *testing.T) {
	b := mustOpen(t, memstore.New(), keyring.GenerateEphemeral())
	err := b.Update(ctx, func(tx storage.Tx) error {
		for _, p := range []string{"barrier/root", "barrier/keyring", "barrier/x"} {
			if err := tx.Put(p, []byte("x")); !errors.Is(err, barrier.ErrReserved) {
				t.Errorf("Put(%q) err = %v, want ErrReserved", p, err)
			}
			if _, err := tx.Get(p); !errors.Is(err, barrier.ErrReserved) {
				t.Errorf("Get(%q) err = %v, want ErrReserved", p, err)
			}
			if err := tx.Delete(p); !errors.Is(err, barrier.ErrReserved) {
				t.Errorf("Delete(%q) err = %v, want ErrReserved", p, err)
			}
		}
		// Paging around the hidden records returns full pages.
		for _, k := range []string{"a", "b", "barrier0", "c", "d"} {
			if err := tx.Put(k, []byte(k)); err != nil {
				return err
			}
		}
		es, err := tx.List("", "a", 3)
		if err != nil || len(es) != 3 || es[0].Key != "b" || es[1].Key != "barrier0" || es[2].Key != "c" {
			t.Errorf("List(after a, 3) = %v, %v, want b, barrier0, c", es, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLegacyMigration opens a store written by the single-level barrier of
// earlier releases (records sealed by the file keyring directly, with their
// path as additional data): Open migrates every record to the first data
// key in one transaction.
func TestLegacyMigration(t *testing.T) {
	inner := memstore.New()
	kr := keyring.GenerateEphemeral()
	err := inner.Update(ctx, func(tx storage.Tx) error {
		for k, v := range records {
			w, err := kr.Wrap(ctx, []byte(v), []byte(k))
			if err != nil {
				return err
			}
			if err := tx.Put(k, w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b := barrier.New(inner)
	if st, err := b.Status(ctx); err != nil || st.Initialized || !st.Legacy {
		t.Fatalf("Status() of a legacy store = %+v, %v, want legacy, not initialised", st, err)
	}
	// Without the legacy keyring, records are never overwritten.
	if err := b.Initialize(ctx, keyring.GenerateEphemeral(), "file", nil, nil); err == nil {
		t.Fatalf("Initialize over records without the legacy keyring err = nil")
	}
	// A wrong legacy keyring fails as a whole and changes nothing.
	before := rawEntries(t, inner)
	if err := b.Initialize(ctx, keyring.GenerateEphemeral(), "file", nil, keyring.GenerateEphemeral()); !errors.Is(err, keyring.ErrUnwrap) {
		t.Fatalf("Initialize with the wrong legacy keyring err = %v, want ErrUnwrap", err)
	}
	if after := rawEntries(t, inner); len(after) != len(before) {
		t.Fatalf("a failed migration left %d records, want the %d it started with", len(after), len(before))
	}
	b2 := mustOpen(t, inner, kr)
	wantRecords(t, b2)
	for _, e := range userEntries(t, inner) {
		if e.Value[0] != 2 {
			t.Errorf("record %q has format %d after migration, want 2", e.Key, e.Value[0])
		}
	}
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
	mustSeed(t, mustOpen(t, bs, kr))
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
	if err := barrier.New(stolen).Unseal(ctx, keyring.GenerateEphemeral()); !errors.Is(err, barrier.ErrRootKey) {
		t.Errorf("Unseal(stolen copy, another key) err = %v, want ErrRootKey", err)
	}

	// The real key file opens the copy.
	kr2, created, err := keyring.LoadOrCreateFile(keyPath)
	if err != nil || created {
		t.Fatalf("reload key file: created %v, err %v", created, err)
	}
	err = mustOpen(t, stolen, kr2).View(ctx, func(tx storage.Tx) error {
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
