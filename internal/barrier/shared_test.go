package barrier_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// sharedStore is a memstore that says it is shared by several processes
// (it has a storage.Watcher, never called here): the barrier then reads
// the stored keyring in every write transaction.
type sharedStore struct{ storage.Store }

func (sharedStore) Version(context.Context) (uint64, error) { return 0, nil }
func (sharedStore) Watch(context.Context, uint64) (<-chan storage.Change, error) {
	return nil, nil
}

// nodes opens n barriers over one shared store, each with its own copy of
// the file seal, as n processes do; the counting seals are returned too.
func nodes(t *testing.T, n int) (storage.Store, []*barrier.Barrier, []*countingSeal) {
	t.Helper()
	inner := sharedStore{memstore.New()}
	kpath := filepath.Join(t.TempDir(), "root.key")
	if _, _, err := keyring.LoadOrCreateFile(kpath); err != nil {
		t.Fatal(err)
	}
	var bs []*barrier.Barrier
	var seals []*countingSeal
	for range n {
		kr, err := keyring.LoadFile(kpath)
		if err != nil {
			t.Fatal(err)
		}
		cs := &countingSeal{Keyring: kr}
		bs = append(bs, mustOpen(t, inner, cs))
		seals = append(seals, cs)
	}
	return inner, bs, seals
}

func put(t *testing.T, b *barrier.Barrier, k, v string) {
	t.Helper()
	if err := b.Update(ctx, func(tx storage.Tx) error { return tx.Put(k, []byte(v)) }); err != nil {
		t.Fatalf("Put(%s) err = %v", k, err)
	}
}

func get(t *testing.T, b *barrier.Barrier, k string) string {
	t.Helper()
	var v []byte
	if err := b.View(ctx, func(tx storage.Tx) (err error) { v, err = tx.Get(k); return err }); err != nil {
		t.Fatalf("Get(%s) err = %v", k, err)
	}
	return string(v)
}

// A node that has not heard of another node's data-key rotation seals its
// writes under the new key all the same, and its own rotation follows the
// stored keyring: two nodes never mint the same version.
func TestSharedRotationSeenByWriters(t *testing.T) {
	t.Parallel()
	inner, bs, _ := nodes(t, 2)
	a, b := bs[0], bs[1]
	v, err := a.RotateDataKey(ctx)
	if err != nil || v != 2 {
		t.Fatalf("RotateDataKey on a = %d, %v; want 2", v, err)
	}
	put(t, b, "kms/from-b", secret)
	if got := recordVersions(t, inner); got[2] != 1 || len(got) != 1 {
		t.Errorf("record versions after b's write = %v, want the one record on version 2", got)
	}
	if b.DataKey() != 2 {
		t.Errorf("b seals under %d after its write, want 2", b.DataKey())
	}
	if v, err := b.RotateDataKey(ctx); err != nil || v != 3 {
		t.Fatalf("RotateDataKey on b = %d, %v; want 3 (after a's 2)", v, err)
	}
	put(t, a, "kms/from-a", secret)
	if got := get(t, b, "kms/from-a"); got != secret {
		t.Errorf("b reads a's record as %q", got)
	}
	if a.DataKey() != 3 {
		t.Errorf("a seals under %d, want 3", a.DataKey())
	}
}

// A rewrap finished on one node drops the old version; a node that still
// sealed under it adopts the stored keyring at its next write, and every
// record stays readable by every node (and by a new one).
func TestSharedRewrapFinishedElsewhere(t *testing.T) {
	t.Parallel()
	inner, bs, _ := nodes(t, 2)
	a, b := bs[0], bs[1]
	for i := range 300 {
		put(t, b, "kms/r/"+string(rune('a'+i%26))+string(rune('a'+i/26)), secret)
	}
	if _, err := a.RotateDataKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Rewrap(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := a.Status(ctx)
	if err != nil || len(st.DataKeys) != 1 || st.DataKey != 2 {
		t.Fatalf("a after its rewrap: %+v, %v; want data keys [2]", st, err)
	}
	put(t, b, "kms/late", secret) // b still thinks 1 is current
	if got := recordVersions(t, inner); got[2] != 301 || len(got) != 1 {
		t.Errorf("record versions = %v, want all 301 on version 2", got)
	}
	st, _ = b.Status(ctx)
	if len(st.DataKeys) != 1 || st.DataKey != 2 {
		t.Errorf("b after its write: data keys %v (current %d), want [2]", st.DataKeys, st.DataKey)
	}
	if got := get(t, a, "kms/late"); got != secret {
		t.Errorf("a reads b's record as %q", got)
	}
}

// A root key rotated on one node reaches another through Reload, with one
// call to that node's seal.
func TestSharedRootRotation(t *testing.T) {
	t.Parallel()
	_, bs, seals := nodes(t, 2)
	a, b := bs[0], bs[1]
	if err := a.RotateRootKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RotateDataKey(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, a, "kms/after", secret)
	before := seals[1].unwraps.Load()
	if err := b.Reload(ctx); err != nil {
		t.Fatalf("Reload on b: %v", err)
	}
	if n := seals[1].unwraps.Load() - before; n != 1 {
		t.Errorf("Reload called b's seal %d times, want 1", n)
	}
	if got := get(t, b, "kms/after"); got != secret {
		t.Errorf("b reads a's record as %q", got)
	}
	put(t, b, "kms/from-b", secret)
	if got := get(t, a, "kms/from-b"); got != secret {
		t.Errorf("a reads b's record as %q", got)
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := seals[1].unwraps.Load() - before; n != 1 {
		t.Errorf("a second Reload with nothing new called the seal again (%d calls)", n)
	}
	// b rotates the root in turn; a follows.
	if err := b.RotateRootKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, a, "kms/again", secret)
	if got := get(t, b, "kms/again"); got != secret {
		t.Errorf("b reads a's record as %q", got)
	}
	// A new node unseals with the seal file and reads everything.
	c := mustOpen(t, bs[0].Inner(), seals[0].Keyring)
	for _, k := range []string{"kms/after", "kms/from-b", "kms/again"} {
		if got := get(t, c, k); got != secret {
			t.Errorf("a new node reads %s as %q", k, got)
		}
	}
}
