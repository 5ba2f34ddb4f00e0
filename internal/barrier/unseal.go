package barrier

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage"
)

func randRead(b []byte) { _, _ = rand.Read(b) } // never fails (Go 1.24+)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// migratePage bounds how many legacy records one List call returns while
// migrating.
const migratePage = 512

// Initialize creates the root key and the first data key, wraps the root key
// with seal (one Wrap) and stores both with the seal's kind and public
// parameters, in one transaction. The barrier is then unsealed and owns
// seal.
//
// legacy, when not nil, is the keyring that sealed the records of an earlier
// single-level release (the file seal's key): every record is opened with it
// and sealed again under the first data key in the same transaction, so the
// migration is all or nothing. Without legacy, a store holding records is
// refused.
func (b *Barrier) Initialize(ctx context.Context, seal keyring.Keyring, kind string, params []byte, legacy keyring.Keyring) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deks.Load() != nil {
		return ErrInitialized
	}
	root := generateAESKey()
	d := &dek{version: 1, created: time.Now().UTC().Truncate(time.Second), key: generateAESKey()}
	ring := &dekRing{current: 1, keys: map[uint32]*dek{1: d}}
	fail := func(err error) error {
		root.wipe()
		ring.wipe()
		return err
	}
	wrappedRoot, err := seal.Wrap(ctx, root.b[:], []byte(pathRoot))
	if err != nil {
		return fail(fmt.Errorf("barrier: wrap the root key with the %s seal: %w", kind, err))
	}
	encRing := root.sealRing(ring)
	sealRec, err := json.Marshal(sealRecord{Kind: kind, Params: params})
	if err != nil {
		return fail(err)
	}
	err = b.inner.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(pathRoot); err == nil {
			return ErrInitialized
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		after := ""
		for {
			es, err := tx.List("", after, migratePage)
			if err != nil {
				return err
			}
			for _, e := range es {
				if reserved(e.Key) {
					continue
				}
				if legacy == nil {
					return fmt.Errorf("barrier: the store holds records (%q) but no root key: refusing to initialise over them", e.Key)
				}
				pt, err := legacy.Unwrap(ctx, e.Value, []byte(e.Key))
				if err != nil {
					return fmt.Errorf("barrier: migrate %q from the single-level format: %w", e.Key, err)
				}
				err = tx.Put(e.Key, sealValue(ring, e.Key, pt))
				clear(pt)
				if err != nil {
					return err
				}
			}
			if len(es) < migratePage {
				break
			}
			after = es[len(es)-1].Key
		}
		for _, kv := range []struct {
			k string
			v []byte
		}{{pathSeal, sealRec}, {pathRoot, wrappedRoot}, {pathKeyring, encRing}} {
			if err := tx.Put(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrInitialized) {
			return fail(err)
		}
		return fail(fmt.Errorf("barrier: initialise: %w", err))
	}
	b.seal, b.kind, b.rootRaw = seal, kind, wrappedRoot
	ring.raw = encRing
	b.root.Store(root)
	b.deks.Store(ring)
	return nil
}

// sealRing encrypts ring's encoding under the root key k.
func (k *aesKey) sealRing(ring *dekRing) []byte {
	pt := ring.marshal()
	defer clear(pt)
	return sealWith(k, keyringFormat, pt, []byte(pathKeyring))
}

// openRing decrypts and parses an encrypted keyring.
func (k *aesKey) openRing(enc []byte) (*dekRing, error) {
	pt, ok := openWith(k, keyringFormat, enc, []byte(pathKeyring))
	if !ok {
		return nil, errors.New("barrier: the data keyring does not open under the root key (corrupted, or rotated by another node)")
	}
	defer clear(pt)
	return parseRing(pt)
}

// Unseal unwraps the root key with seal (one Unwrap, the only seal call of
// an unseal), decrypts the data keyring with it and holds both in memory.
// The barrier then owns seal (Seal closes it). On error seal is not closed.
// Unsealing an unsealed barrier closes seal and returns nil.
func (b *Barrier) Unseal(ctx context.Context, seal keyring.Keyring) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deks.Load() != nil {
		seal.Close()
		return nil
	}
	var wrappedRoot, encRing, restored []byte
	var rec sealRecord
	err := b.inner.View(ctx, func(tx storage.Tx) (err error) {
		if wrappedRoot, err = tx.Get(pathRoot); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return ErrNotInitialized
			}
			return err
		}
		if encRing, err = tx.Get(pathKeyring); err != nil {
			return err
		}
		if restored, err = tx.Get(PathRestored); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		rec, err = readSealRecord(tx)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotInitialized) {
			return err
		}
		return fmt.Errorf("barrier: unseal: %w", err)
	}
	rootPT, err := seal.Unwrap(ctx, wrappedRoot, []byte(pathRoot))
	if err != nil {
		if errors.Is(err, keyring.ErrUnwrap) {
			return fmt.Errorf("%w (%s seal): %w", ErrRootKey, rec.Kind, err)
		}
		return fmt.Errorf("barrier: unseal with the %s seal: %w", rec.Kind, err)
	}
	if len(rootPT) != keySize {
		clear(rootPT)
		return fmt.Errorf("%w: unwrapped %d bytes", ErrRootKey, len(rootPT))
	}
	root := newAESKey(rootPT)
	clear(rootPT)
	ring, err := root.openRing(encRing)
	if err == nil && restored != nil {
		if err = checkRestored(root, restored); err == nil {
			err = b.forgetRestored(ctx)
		}
		if err != nil {
			ring.wipe()
		}
	}
	if err != nil {
		root.wipe()
		return err
	}
	b.seal, b.kind, b.rootRaw = seal, rec.Kind, wrappedRoot
	ring.raw = encRing
	b.root.Store(root)
	b.restored.Store(restored != nil)
	b.deks.Store(ring)
	return nil
}

// reloadRing reads the data keyring through tx (another node may have
// added a version) and adopts it.
func (b *Barrier) reloadRing(tx storage.Tx) (*dekRing, error) {
	raw, err := tx.Get(pathKeyring)
	if err != nil {
		return nil, err
	}
	return b.adopt(raw)
}

// adopt makes the stored keyring raw (the record at pathKeyring) the
// keyring in memory, unless memory holds a newer one (a higher current
// version: raw was read by a transaction older than this node's last
// rotation). Versions memory already holds keep their keys; versions raw
// lacks (dropped by a finished rewrap) leave memory. It returns the ring in
// memory. It takes no lock: it runs inside transactions.
func (b *Barrier) adopt(raw []byte) (*dekRing, error) {
	for {
		cur, root := b.deks.Load(), b.root.Load()
		if cur == nil || root == nil {
			return nil, ErrSealed
		}
		if bytes.Equal(cur.raw, raw) {
			return cur, nil
		}
		stored, err := root.openRing(raw)
		if err != nil {
			return nil, err
		}
		if stored.current < cur.current {
			stored.wipe()
			return cur, nil
		}
		next := &dekRing{current: stored.current, keys: make(map[uint32]*dek, len(stored.keys)), raw: raw}
		for v, d := range stored.keys {
			if held := cur.keys[v]; held != nil {
				next.keys[v] = held
				d.key.wipe() // a copy of a key memory holds
			} else {
				next.keys[v] = d
			}
		}
		if b.deks.CompareAndSwap(cur, next) {
			for v, d := range cur.keys {
				if next.keys[v] != d {
					d.key.wipe() // dropped: its AEAD keeps working for whoever holds it
				}
			}
			return next, nil
		}
		for v, d := range stored.keys {
			if cur.keys[v] == nil {
				d.key.wipe()
			}
		}
	}
}

// Reload reads the root key and the data keyring from storage, for a node
// whose store another node changed (the storage change feed calls it for
// changes under Prefix): a data key rotated or dropped elsewhere is adopted
// (as adopt does), and a root key rotated elsewhere is unwrapped with this
// node's seal (one seal call per root rotation). A sealed barrier has
// nothing to reload.
func (b *Barrier) Reload(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.root.Load() == nil || b.seal == nil {
		return nil
	}
	var wrapped, raw []byte
	err := b.inner.View(ctx, func(tx storage.Tx) (err error) {
		if wrapped, err = tx.Get(pathRoot); err != nil {
			return err
		}
		raw, err = tx.Get(pathKeyring)
		return err
	})
	if err != nil {
		return fmt.Errorf("barrier: reload: %w", err)
	}
	if !bytes.Equal(wrapped, b.rootRaw) {
		pt, err := b.seal.Unwrap(ctx, wrapped, []byte(pathRoot))
		if err != nil {
			return fmt.Errorf("barrier: reload the root key rotated by another node (%s seal): %w", b.kind, err)
		}
		if len(pt) != keySize {
			clear(pt)
			return fmt.Errorf("%w: unwrapped %d bytes", ErrRootKey, len(pt))
		}
		root := newAESKey(pt)
		clear(pt)
		b.root.Swap(root).wipe()
		b.rootRaw = wrapped
	}
	_, err = b.adopt(raw)
	return err
}

// MigrateSeal rewraps the root key with to (one Wrap) and records to's kind
// and parameters, in one transaction: records and the data keyring are not
// touched. The barrier then uses to (and closes the old seal). It must be
// unsealed. On error to is not closed.
func (b *Barrier) MigrateSeal(ctx context.Context, to keyring.Keyring, kind string, params []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	root := b.root.Load()
	if root == nil {
		return ErrSealed
	}
	wrapped, err := to.Wrap(ctx, root.b[:], []byte(pathRoot))
	if err != nil {
		return fmt.Errorf("barrier: wrap the root key with the %s seal: %w", kind, err)
	}
	sealRec, err := json.Marshal(sealRecord{Kind: kind, Params: params})
	if err != nil {
		return err
	}
	err = b.inner.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(pathSeal, sealRec); err != nil {
			return err
		}
		return tx.Put(pathRoot, wrapped)
	})
	if err != nil {
		return fmt.Errorf("barrier: migrate seal: %w", err)
	}
	if b.seal != nil {
		_ = b.seal.Close()
	}
	b.seal, b.kind, b.rootRaw = to, kind, wrapped
	return nil
}
