package barrier_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// countingSeal counts the calls that reach the seal.
type countingSeal struct {
	keyring.Keyring
	wraps, unwraps atomic.Int64
}

func (c *countingSeal) Wrap(ctx context.Context, pt, aad []byte) ([]byte, error) {
	c.wraps.Add(1)
	return c.Keyring.Wrap(ctx, pt, aad)
}

func (c *countingSeal) Unwrap(ctx context.Context, w, aad []byte) ([]byte, error) {
	c.unwraps.Add(1)
	return c.Keyring.Unwrap(ctx, w, aad)
}

// TestSealCalledOncePerUnseal: records never reach the seal.
func TestSealCalledOncePerUnseal(t *testing.T) {
	t.Parallel()
	inner := memstore.New()
	kpath := filepath.Join(t.TempDir(), "root.key")
	root, _, err := keyring.LoadOrCreateFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSeal{Keyring: root}
	b := mustOpen(t, inner, cs)
	for i := range 500 {
		err := b.Update(ctx, func(tx storage.Tx) error { return tx.Put(fmt.Sprintf("kms/r/%d", i), []byte(secret)) })
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = b.View(ctx, func(tx storage.Tx) error { _, err := tx.List("", "", 0); return err })
	if w, u := cs.wraps.Load(), cs.unwraps.Load(); w != 1 || u != 0 {
		t.Errorf("after init and 500 records: seal Wrap %d, Unwrap %d times, want 1, 0", w, u)
	}
	// Seal closes the seal's keyring; unseal with a fresh one: one Unwrap.
	b.Seal()
	kr2, err := keyring.LoadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	cs2 := &countingSeal{Keyring: kr2}
	if err := b.Unseal(ctx, cs2); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		err := b.View(ctx, func(tx storage.Tx) error { _, err := tx.Get(fmt.Sprintf("kms/r/%d", i)); return err })
		if err != nil {
			t.Fatal(err)
		}
	}
	if w, u := cs2.wraps.Load(), cs2.unwraps.Load(); w != 0 || u != 1 {
		t.Errorf("after unseal and 500 reads: seal Wrap %d, Unwrap %d times, want 0, 1", w, u)
	}
}

func recordVersions(t *testing.T, inner storage.Store) map[uint32]int {
	t.Helper()
	vs := map[uint32]int{}
	for _, e := range userEntries(t, inner) {
		vs[binary.BigEndian.Uint32(e.Value[1:5])]++
	}
	return vs
}

// TestRotationUnderLoad rotates the data key while writers go on: nothing
// acknowledged is lost and every record ends on the new version; the old
// version leaves the keyring; the root key rotates with one seal call.
func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kpath := filepath.Join(dir, "root.key")
	kr, _, err := keyring.LoadOrCreateFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := boltstore.Open(filepath.Join(dir, "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSeal{Keyring: kr}
	b := mustOpen(t, bs, cs)
	defer b.Close()
	const initial = 1500
	err = b.Update(ctx, func(tx storage.Tx) error {
		for i := range initial {
			if err := tx.Put(fmt.Sprintf("kms/key/%05d", i), []byte(fmt.Sprint("v0-", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked := map[string]string{} // last acknowledged value per path
	for i := range initial {
		acked[fmt.Sprintf("kms/key/%05d", i)] = fmt.Sprint("v0-", i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := fmt.Sprintf("kms/key/%05d", (n*7+w*311)%(initial+200)) // overwrite and create
				v := fmt.Sprintf("w%d-%d", w, n)
				if err := b.Update(ctx, func(tx storage.Tx) error { return tx.Put(p, []byte(v)) }); err != nil {
					t.Errorf("Put during rotation err = %v", err)
					return
				}
				mu.Lock()
				acked[p] = v
				mu.Unlock()
			}
		})
	}
	v2, err := b.RotateDataKey(ctx)
	if err != nil || v2 != 2 {
		t.Fatalf("RotateDataKey() = %d, %v, want 2, nil", v2, err)
	}
	if err := b.Rewrap(ctx); err != nil {
		t.Fatalf("Rewrap() err = %v", err)
	}
	close(stop)
	wg.Wait()

	if p := b.Progress(); p.Running || p.Target != 2 || p.Remaining != 0 || p.Rewrapped == 0 {
		t.Errorf("Progress() = %+v, want done, target 2, nothing remaining, some rewrapped", p)
	}
	if vs := recordVersions(t, bs); len(vs) != 1 || vs[2] == 0 {
		t.Errorf("record versions after rewrap = %v, want all on 2", vs)
	}
	st, _ := b.Status(ctx)
	if st.DataKey != 2 || len(st.DataKeys) != 1 {
		t.Errorf("Status() data keys = %d %v, want current 2 and only 2", st.DataKey, st.DataKeys)
	}
	check := func(s storage.Store) {
		t.Helper()
		err := s.View(ctx, func(tx storage.Tx) error {
			for p, want := range acked {
				if v, err := tx.Get(p); err != nil || string(v) != want {
					t.Errorf("Get(%q) = %q, %v, want %q", p, v, err, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(b)

	// Root rotation: one seal Wrap, then a fresh unseal opens everything.
	w0 := cs.wraps.Load()
	if err := b.RotateRootKey(ctx); err != nil {
		t.Fatalf("RotateRootKey() err = %v", err)
	}
	if got := cs.wraps.Load() - w0; got != 1 {
		t.Errorf("RotateRootKey called the seal's Wrap %d times, want 1", got)
	}
	if cs.unwraps.Load() != 0 {
		t.Errorf("the seal's Unwrap was called %d times without an unseal", cs.unwraps.Load())
	}
	b.Seal()
	kr2, err := keyring.LoadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Unseal(ctx, kr2); err != nil {
		t.Fatalf("Unseal after root rotation err = %v", err)
	}
	check(b)
	if err := b.Rewrap(ctx); err != nil {
		t.Errorf("Rewrap() with nothing to do err = %v", err)
	}
}

func TestRotateSealed(t *testing.T) {
	t.Parallel()
	b := barrier.New(memstore.New())
	if _, err := b.RotateDataKey(ctx); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("RotateDataKey(sealed) err = %v, want ErrSealed", err)
	}
	if err := b.RotateRootKey(ctx); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("RotateRootKey(sealed) err = %v, want ErrSealed", err)
	}
}

// TestOtherNodeRotation: a barrier that did not rotate learns the new data
// key from the store the first time it meets a record sealed under it.
func TestOtherNodeRotation(t *testing.T) {
	t.Parallel()
	inner := memstore.New()
	dir := t.TempDir()
	kpath := filepath.Join(dir, "root.key")
	kr, _, _ := keyring.LoadOrCreateFile(kpath)
	a := mustOpen(t, inner, kr)
	kr2, _ := keyring.LoadFile(kpath)
	b := mustOpen(t, inner, kr2)
	if _, err := a.RotateDataKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, func(tx storage.Tx) error { return tx.Put("k", []byte(secret)) }); err != nil {
		t.Fatal(err)
	}
	err := b.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get("k")
		if err != nil || string(v) != secret {
			t.Errorf("Get on the other node = %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
