// Package barrier seals everything Trent stores, in two levels as Vault's
// barrier does:
//
//   - a root key, wrapped by the seal (the keyring.Keyring of the chosen seal
//     kind: file, shamir, pkcs11, kms) and stored at "barrier/root";
//   - a keyring of versioned data-encryption keys (DEKs), AES-256-GCM under
//     the root key, stored at "barrier/keyring";
//   - every record, AES-256-GCM under the current DEK, with its path and the
//     DEK version as additional data.
//
// The seal is called at Unseal (one Unwrap), at Initialize, root rotation
// and seal migration (one Wrap), never per record: records are sealed and
// opened with the DEKs held in memory while unsealed. Seal wipes them.
//
// Consequences:
//   - a copied database file (or a backup) is useless without the seal;
//   - a value moved or copied to another path, tampered with, or read under
//     another keyring fails to open with ErrUnseal, and no plaintext is
//     returned.
//
// Paths are stored in the clear, so List and key ordering work as in the
// inner store; do not put secrets in paths. Paths under "barrier/" belong to
// this package: the sealed view refuses them and List skips them.
//
// Record format (version 2; version 1 was the single-level format of
// earlier releases, sealed by the file keyring directly, and is migrated by
// Initialize):
//
//	0x02 | DEK version (uint32, big-endian) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// with additional data 0x02 || DEK version || path.
package barrier

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage"
)

var (
	// ErrUnseal is returned (wrapped, with the path) when a stored value
	// cannot be opened: a value moved from another path, an unknown data-key
	// version, or corrupted data.
	ErrUnseal = errors.New("barrier: cannot unseal stored value (wrong keyring, moved or corrupted record)")
	// ErrSealed is returned by every View and Update while the barrier is
	// sealed (or not initialised): the data keys are not in memory.
	ErrSealed = errors.New("barrier: sealed")
	// ErrNotInitialized is returned by Unseal when the store was never
	// initialised.
	ErrNotInitialized = errors.New("barrier: not initialised")
	// ErrInitialized is returned by Initialize when the store already is.
	ErrInitialized = errors.New("barrier: already initialised")
	// ErrReserved is returned for a path under Prefix through the sealed view.
	ErrReserved = fmt.Errorf("%w: paths under %q are reserved for the barrier", storage.ErrKey, Prefix)
	// ErrRootKey is returned by Unseal when the seal does not open the stored
	// root key (wrong seal, wrong Shamir shares, another HSM key).
	ErrRootKey = errors.New("barrier: the seal does not open the stored root key")
)

// Prefix is the reserved path prefix of the barrier's own records.
const Prefix = "barrier/"

const (
	pathSeal    = Prefix + "seal"    // seal kind and its public parameters, in the clear (JSON)
	pathRoot    = Prefix + "root"    // root key wrapped by the seal
	pathKeyring = Prefix + "keyring" // data keyring under the root key
)

const (
	recordFormat  byte = 2
	legacyFormat  byte = 1 // single-level records of earlier releases
	keyringFormat byte = 1 // envelope of barrier/keyring
	nonceSize          = 12
	tagSize            = 16
	recordHeader       = 1 + 4
	// Overhead is how many bytes the barrier adds to a record.
	Overhead = recordHeader + nonceSize + tagSize
)

// Barrier is the sealed view of a store. It implements storage.Store: View
// and Update return ErrSealed while sealed. It is safe for concurrent use.
type Barrier struct {
	inner storage.Store

	mu   sync.Mutex      // serialises Initialize, Unseal, Seal, rotations and migration
	seal keyring.Keyring // nil while sealed; owned (closed by Seal)
	kind string          // seal kind, once known

	// root and deks are nil while sealed. Records read them lock-free;
	// they change under mu.
	root atomic.Pointer[aesKey]
	deks atomic.Pointer[dekRing]

	// rootRaw is the wrapped root key as last read or written (under mu):
	// Reload unwraps the stored one only when it differs.
	rootRaw []byte
	// shared: the inner store is shared by several processes (it
	// implements storage.Watcher). Then every write transaction reads the
	// stored keyring first (see sealedTx.seal).
	shared bool

	rewrap   rewrapState
	closed   atomic.Bool
	restored atomic.Bool // the last unseal authenticated a restored backup (Restored)
}

var _ storage.Store = (*Barrier)(nil)

// New returns a sealed barrier over inner. It panics if inner is nil.
// Close closes inner and seals.
func New(inner storage.Store) *Barrier {
	if inner == nil {
		panic("barrier: New with a nil store")
	}
	_, shared := inner.(storage.Watcher)
	return &Barrier{inner: inner, shared: shared}
}

// Open is New, then Initialize if the store was never initialised, then
// Unseal, all with seal (of kind "file" unless the store says otherwise):
// the path of the file, pkcs11 and kms seals and of tests. On error seal is
// closed.
func Open(ctx context.Context, inner storage.Store, seal keyring.Keyring, kind string) (*Barrier, error) {
	b := New(inner)
	st, err := b.Status(ctx)
	if err != nil {
		seal.Close()
		return nil, err
	}
	if !st.Initialized {
		var legacy keyring.Keyring
		if st.Legacy {
			legacy = seal // the file keyring sealed legacy records directly
		}
		err = b.Initialize(ctx, seal, kind, nil, legacy)
	} else {
		err = b.Unseal(ctx, seal)
	}
	if err != nil {
		seal.Close()
		return nil, err
	}
	return b, nil
}

// Status describes the barrier's state.
type Status struct {
	Initialized bool   // barrier/root exists
	Legacy      bool   // not initialised but holding single-level records of an earlier release
	Sealed      bool   // the data keys are not in memory
	Kind        string // seal kind recorded at Initialize ("" when not initialised)
	// SealParams are the seal's public parameters recorded at Initialize
	// (the Shamir split description), nil for kinds that have none.
	SealParams []byte
	// DataKey is the current data-key version and DataKeys every version
	// held (only while unsealed).
	DataKey  uint32
	DataKeys []uint32
}

type sealRecord struct {
	Kind   string `json:"kind"`
	Params []byte `json:"params,omitempty"`
}

// Status reads the barrier's state from the store (it works while sealed).
func (b *Barrier) Status(ctx context.Context) (Status, error) {
	var st Status
	err := b.inner.View(ctx, func(tx storage.Tx) error {
		_, err := tx.Get(pathRoot)
		switch {
		case err == nil:
			st.Initialized = true
		case errors.Is(err, storage.ErrNotFound):
			es, err := tx.List("", "", 1)
			if err != nil {
				return err
			}
			st.Legacy = len(es) > 0
			return nil
		default:
			return err
		}
		rec, err := readSealRecord(tx)
		st.Kind, st.SealParams = rec.Kind, rec.Params
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("barrier: status: %w", err)
	}
	if r := b.deks.Load(); r != nil {
		st.DataKey, st.DataKeys = r.current, r.versions()
	} else {
		st.Sealed = true
	}
	return st, nil
}

func readSealRecord(tx storage.Tx) (sealRecord, error) {
	var rec sealRecord
	v, err := tx.Get(pathSeal)
	if errors.Is(err, storage.ErrNotFound) {
		return sealRecord{Kind: "file"}, nil
	}
	if err != nil {
		return rec, err
	}
	if err := jsonUnmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("barrier: %s: %w", pathSeal, err)
	}
	return rec, nil
}

// Sealed reports whether the data keys are not in memory.
func (b *Barrier) Sealed() bool { return b.deks.Load() == nil }

// Kind returns the seal kind of an unsealed or initialised barrier.
func (b *Barrier) Kind() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kind
}

// Seal wipes the root key and the data keys from memory and closes the seal
// keyring. Later View and Update return ErrSealed until Unseal. Sealing a
// sealed barrier does nothing. Wiping is best effort (see docs/threat-model.md).
func (b *Barrier) Seal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sealLocked()
}

func (b *Barrier) sealLocked() {
	if r := b.deks.Swap(nil); r != nil {
		r.wipe()
	}
	b.root.Swap(nil).wipe()
	if b.seal != nil {
		_ = b.seal.Close()
		b.seal = nil
	}
}

// View implements storage.Store over the sealed view.
func (b *Barrier) View(ctx context.Context, fn func(storage.Tx) error) error {
	if err := b.usable(); err != nil {
		return err
	}
	return b.inner.View(ctx, func(tx storage.Tx) error {
		return fn(&sealedTx{b: b, inner: tx})
	})
}

// Update implements storage.Store over the sealed view.
func (b *Barrier) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if err := b.usable(); err != nil {
		return err
	}
	return b.inner.Update(ctx, func(tx storage.Tx) error {
		return fn(&sealedTx{b: b, inner: tx})
	})
}

// Ping pings the inner store (it works while sealed).
func (b *Barrier) Ping(ctx context.Context) error { return b.inner.Ping(ctx) }

func (b *Barrier) usable() error {
	if b.closed.Load() {
		return storage.ErrClosed
	}
	if b.deks.Load() == nil {
		return ErrSealed
	}
	return nil
}

// Close seals and closes the inner store; later calls return
// storage.ErrClosed.
func (b *Barrier) Close() error {
	b.closed.Store(true)
	b.Seal()
	return b.inner.Close()
}

// Inner returns the store under the barrier (records as stored: sealed).
func (b *Barrier) Inner() storage.Store { return b.inner }

func reserved(key string) bool { return strings.HasPrefix(key, Prefix) }

// sealRecord seals value for path under the current data key.
func sealValue(r *dekRing, path string, value []byte) []byte {
	d := r.cur()
	out := make([]byte, recordHeader+nonceSize, recordHeader+nonceSize+len(value)+tagSize)
	out[0] = recordFormat
	binary.BigEndian.PutUint32(out[1:], d.version)
	randRead(out[recordHeader:])
	return d.key.aead.Seal(out, out[recordHeader:recordHeader+nonceSize], value, recordAD(out[:recordHeader], path))
}

func recordAD(header []byte, path string) []byte {
	ad := make([]byte, 0, len(header)+len(path))
	ad = append(ad, header...)
	return append(ad, path...)
}

// recordVersion returns the data-key version of a sealed record, or false
// when it is not in the record format.
func recordVersion(sealed []byte) (uint32, bool) {
	if len(sealed) < Overhead || sealed[0] != recordFormat {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[1:]), true
}

// openValue opens a record sealed for path. ok=false with known=false means
// the data-key version is not in r.
func openValue(r *dekRing, path string, sealed []byte) (pt []byte, known, ok bool) {
	v, valid := recordVersion(sealed)
	if !valid {
		return nil, true, false
	}
	d := r.keys[v]
	if d == nil {
		return nil, false, false
	}
	pt, err := d.key.aead.Open(nil, sealed[recordHeader:recordHeader+nonceSize], sealed[recordHeader+nonceSize:], recordAD(sealed[:recordHeader], path))
	if err != nil {
		return nil, true, false
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, true, true
}

type sealedTx struct {
	b       *Barrier
	inner   storage.Tx
	checked bool // the stored keyring was read (shared stores)
}

func (t *sealedTx) ring() (*dekRing, error) {
	r := t.b.deks.Load()
	if r == nil {
		return nil, ErrSealed
	}
	return r, nil
}

func (t *sealedTx) seal(key string, value []byte) ([]byte, error) {
	if reserved(key) {
		return nil, ErrReserved
	}
	if err := storage.CheckAccess(false, true, false, key); err != nil {
		return nil, err
	}
	r, err := t.ring()
	if err != nil {
		return nil, err
	}
	if t.b.shared && !t.checked {
		// Another node may have rotated the data key (or finished a
		// rewrap that dropped the version this node seals under) without
		// this node knowing yet. Reading the keyring in the transaction
		// makes the database order this write with any such change:
		// a rotation committed before is adopted here, one committing
		// concurrently conflicts with this transaction (serializable).
		raw, err := t.inner.Get(pathKeyring)
		if err != nil {
			return nil, err
		}
		if r, err = t.b.adopt(raw); err != nil {
			return nil, err
		}
		t.checked = true
	}
	return sealValue(r, key, value), nil
}

func (t *sealedTx) unseal(key string, sealed []byte) ([]byte, error) {
	r, err := t.ring()
	if err != nil {
		return nil, err
	}
	pt, known, ok := openValue(r, key, sealed)
	if !known {
		// Another node may have rotated the data key: reload the keyring
		// from this transaction's view and try once more.
		if r, err = t.b.reloadRing(t.inner); err == nil {
			pt, _, ok = openValue(r, key, sealed)
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnseal, key)
	}
	return pt, nil
}

func (t *sealedTx) Get(key string) ([]byte, error) {
	if reserved(key) {
		return nil, ErrReserved
	}
	sealed, err := t.inner.Get(key)
	if err != nil {
		return nil, err
	}
	return t.unseal(key, sealed)
}

func (t *sealedTx) Put(key string, value []byte) error {
	w, err := t.seal(key, value)
	if err != nil {
		return err
	}
	return t.inner.Put(key, w)
}

func (t *sealedTx) Create(key string, value []byte) error {
	w, err := t.seal(key, value)
	if err != nil {
		return err
	}
	return t.inner.Create(key, w)
}

func (t *sealedTx) Delete(key string) error {
	if reserved(key) {
		return ErrReserved
	}
	return t.inner.Delete(key)
}

// List skips the barrier's own records and fails as a whole if any listed
// value does not unseal.
func (t *sealedTx) List(prefix, after string, limit int) ([]storage.Entry, error) {
	var out []storage.Entry
	for {
		want := 0
		if limit > 0 {
			want = limit - len(out)
		}
		es, err := t.inner.List(prefix, after, want)
		if err != nil {
			wipeEntries(out)
			return nil, err
		}
		for _, e := range es {
			if reserved(e.Key) {
				continue
			}
			v, err := t.unseal(e.Key, e.Value)
			if err != nil {
				wipeEntries(out)
				return nil, err
			}
			out = append(out, storage.Entry{Key: e.Key, Value: v})
		}
		// A page shortened by skipped barrier records is refilled.
		if limit <= 0 || len(es) < want || len(out) >= limit {
			if out == nil {
				out = []storage.Entry{}
			}
			return out, nil
		}
		after = es[len(es)-1].Key
	}
}

func wipeEntries(es []storage.Entry) {
	for _, e := range es {
		clear(e.Value)
	}
}

// DataKey returns the data-key version new records are sealed under, 0
// while sealed.
func (b *Barrier) DataKey() uint32 {
	if r := b.deks.Load(); r != nil {
		return r.current
	}
	return 0
}
