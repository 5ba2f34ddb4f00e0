// Package barrier seals everything Trent stores. It wraps a storage.Store so
// that every value is encrypted by the keyring (the root of trust) on the
// way in and authenticated and decrypted on the way out, with the record's
// key path as additional data:
//
//   - a copied database file is useless without the root key;
//   - a value moved or copied to another path (or tampered with, or read
//     under another root key) fails to open with ErrUnseal, and no plaintext
//     is returned.
//
// Keys (paths) are stored in the clear, so List and key ordering work as in
// the inner store; do not put secrets in paths.
package barrier

import (
	"context"
	"errors"
	"fmt"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage"
)

// ErrUnseal is returned (wrapped, with the path) when a stored value cannot
// be opened: wrong root key, a value moved from another path, or corrupted
// data. When the keyring reported the failure, its error is wrapped too.
var ErrUnseal = errors.New("barrier: cannot unseal stored value (wrong root key, moved or corrupted record)")

type store struct {
	inner storage.Store
	kr    keyring.Keyring
}

// New returns inner sealed under kr. It panics if either is nil (programmer
// error). Close closes inner but not kr, which the caller owns.
func New(inner storage.Store, kr keyring.Keyring) storage.Store {
	if inner == nil || kr == nil {
		panic("barrier: New with a nil store or keyring")
	}
	return &store{inner: inner, kr: kr}
}

func (s *store) View(ctx context.Context, fn func(storage.Tx) error) error {
	return s.inner.View(ctx, func(tx storage.Tx) error {
		return fn(&sealedTx{ctx: ctx, inner: tx, kr: s.kr})
	})
}

func (s *store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return s.inner.Update(ctx, func(tx storage.Tx) error {
		return fn(&sealedTx{ctx: ctx, inner: tx, kr: s.kr})
	})
}

func (s *store) Ping(ctx context.Context) error { return s.inner.Ping(ctx) }

func (s *store) Close() error { return s.inner.Close() }

type sealedTx struct {
	ctx   context.Context // of the View/Update, for keyring calls
	inner storage.Tx
	kr    keyring.Keyring
}

func (t *sealedTx) seal(key string, value []byte) ([]byte, error) {
	w, err := t.kr.Wrap(t.ctx, value, []byte(key))
	if err != nil {
		return nil, fmt.Errorf("barrier: seal %q: %w", key, err)
	}
	return w, nil
}

func (t *sealedTx) unseal(key string, sealed []byte) ([]byte, error) {
	v, err := t.kr.Unwrap(t.ctx, sealed, []byte(key))
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrUnseal, key, err)
	}
	return v, nil
}

func (t *sealedTx) Get(key string) ([]byte, error) {
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

func (t *sealedTx) Delete(key string) error { return t.inner.Delete(key) }

// List fails as a whole if any listed value does not unseal.
func (t *sealedTx) List(prefix, after string, limit int) ([]storage.Entry, error) {
	es, err := t.inner.List(prefix, after, limit)
	if err != nil {
		return nil, err
	}
	for i := range es {
		v, err := t.unseal(es[i].Key, es[i].Value)
		if err != nil {
			for j := range i {
				clear(es[j].Value)
			}
			return nil, err
		}
		es[i].Value = v
	}
	return es, nil
}
