package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/trent-kms/trent/internal/backup"
	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

var ctx = context.Background()

// sealed returns a barrier with n records and the path of its seal's key.
func sealed(t *testing.T, n int) (*barrier.Barrier, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "root.key")
	kr, _, err := keyring.LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := barrier.Open(ctx, memstore.New(), kr, "file")
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			if err := tx.Put(fmt.Sprintf("kms/key/%04d", i), []byte(fmt.Sprint("secret value ", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, path
}

func write(t *testing.T, b *barrier.Barrier) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := backup.Write(ctx, &buf, b.Inner(), backup.Header{Seal: "file"}, b.BackupMAC); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func unseal(t *testing.T, st storage.Store, keyPath string) (*barrier.Barrier, error) {
	t.Helper()
	kr, err := keyring.LoadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	b := barrier.New(st)
	return b, b.Unseal(ctx, kr)
}

func TestRoundTrip(t *testing.T) {
	src, key := sealed(t, 700) // several pages
	raw := write(t, src)
	if bytes.Contains(raw, []byte("secret value")) {
		t.Fatalf("the backup holds a record in the clear")
	}
	dst := memstore.New()
	h, err := backup.Restore(ctx, bytes.NewReader(raw), dst)
	if err != nil || h.Records < 700 || h.Seal != "file" {
		t.Fatalf("Restore() = %+v, %v", h, err)
	}
	if _, err := backup.Restore(ctx, bytes.NewReader(raw), dst); err == nil {
		t.Errorf("Restore into a non-empty store err = nil")
	}
	if _, err := barrier.New(dst).Status(ctx); err != nil {
		t.Fatal(err)
	}
	if err := barrier.New(dst).Unseal(ctx, keyring.GenerateEphemeral()); !errors.Is(err, barrier.ErrRootKey) {
		t.Errorf("Unseal(restored, another seal) err = %v, want ErrRootKey", err)
	}
	b, err := unseal(t, dst, key)
	if err != nil {
		t.Fatalf("Unseal(restored) err = %v", err)
	}
	err = b.View(ctx, func(tx storage.Tx) error {
		es, err := tx.List("", "", 0)
		if len(es) != 700 || string(es[699].Value) != "secret value 699" {
			t.Errorf("restored %d records, last %q", len(es), es[len(es)-1].Value)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = dst.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(barrier.PathRestored); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the restored-backup record survived a successful unseal: %v", err)
		}
		return nil
	})
}

func TestEveryByteMatters(t *testing.T) {
	src, key := sealed(t, 3)
	raw := write(t, src)
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x10
		dst := memstore.New()
		if _, err := backup.Restore(ctx, bytes.NewReader(bad), dst); err == nil {
			// Only the MAC itself is not checked by Restore: the unseal does.
			if i < len(raw)-sha256.Size {
				t.Fatalf("Restore(byte %d of %d flipped) err = nil", i, len(raw))
			}
			if _, err := unseal(t, dst, key); !errors.Is(err, barrier.ErrBackupAuth) {
				t.Fatalf("unseal after MAC byte %d flipped err = %v, want ErrBackupAuth", i, err)
			}
		}
	}
	for _, n := range []int{0, 8, 20, len(raw) - 65, len(raw) - 1} {
		if _, err := backup.Restore(ctx, bytes.NewReader(raw[:n]), memstore.New()); !errors.Is(err, backup.ErrCorrupt) {
			t.Errorf("Restore(first %d of %d bytes) err = %v, want ErrCorrupt", n, len(raw), err)
		}
	}
	if _, err := backup.Restore(ctx, bytes.NewReader(append(bytes.Clone(raw), 0)), memstore.New()); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("Restore(trailing byte) err = %v, want ErrCorrupt", err)
	}
}

// TestForgedDigest: a backup altered with its digest recomputed restores,
// but the first unseal refuses it (the MAC needs the root key).
func TestForgedDigest(t *testing.T) {
	src, key := sealed(t, 3)
	raw := write(t, src)
	body := bytes.Clone(raw[:len(raw)-2*sha256.Size])
	i := bytes.Index(body, []byte("kms/key/0002"))
	body[i+len("kms/key/000")] = '9' // the last record moved to another path
	sum := sha256.Sum256(body)
	forged := append(append(body, sum[:]...), raw[len(raw)-sha256.Size:]...)
	dst := memstore.New()
	if _, err := backup.Restore(ctx, bytes.NewReader(forged), dst); err != nil {
		t.Fatalf("Restore(forged digest) err = %v (the digest alone should pass)", err)
	}
	if _, err := unseal(t, dst, key); !errors.Is(err, barrier.ErrBackupAuth) {
		t.Fatalf("Unseal(forged backup) err = %v, want ErrBackupAuth", err)
	}
}

func FuzzRestore(f *testing.F) {
	src, _ := sealed(&testing.T{}, 2)
	raw := write(&testing.T{}, src)
	f.Add(raw)
	f.Add(raw[:40])
	f.Add([]byte("TRENTBAK\x01\x00\x00\x00\x02{}\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dst := memstore.New()
		if _, err := backup.Restore(ctx, bytes.NewReader(b), dst); err != nil {
			_ = dst.View(ctx, func(tx storage.Tx) error {
				if es, _ := tx.List("", "", 1); len(es) != 0 {
					t.Fatalf("a refused restore left records")
				}
				return nil
			})
		}
	})
}
