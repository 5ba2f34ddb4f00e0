// Package storage is the transactional key-value interface under Trent's state.
// Keys are slash-separated paths ("kms/key/us-east-1/111122223333/<id>");
// values are opaque bytes. Implementations: boltstore (embedded default),
// memstore (dev mode); barrier.New seals any Store under the keyring. Every
// implementation passes storagetest.Run.
package storage

import (
	"context"
	"errors"
)

var (
	// ErrNotFound is returned by Tx.Get and Tx.Delete for a missing key.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists is returned by Tx.Create when the key is already present.
	ErrExists = errors.New("storage: already exists")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("storage: closed")
	// ErrReadOnly is returned by writes through a read-only Tx.
	ErrReadOnly = errors.New("storage: write in read-only transaction")
	// ErrTxDone is returned by a Tx used after its View/Update returned.
	ErrTxDone = errors.New("storage: transaction used after it ended")
	// ErrKey is returned for an empty key or one longer than MaxKeyLen.
	ErrKey = errors.New("storage: key must be 1 to 32768 bytes")
)

// MaxKeyLen is the longest key every Store accepts (bbolt's limit).
const MaxKeyLen = 32768

// CheckAccess is the check every Tx implementation makes before an
// operation on key: the tx is still open (done=false), a write (write=true)
// goes through a writable tx, and the key length is within 1..MaxKeyLen.
func CheckAccess(done, writable, write bool, key string) error {
	if done {
		return ErrTxDone
	}
	if write && !writable {
		return ErrReadOnly
	}
	if len(key) == 0 || len(key) > MaxKeyLen {
		return ErrKey
	}
	return nil
}

// Store is a transactional key-value store.
type Store interface {
	// View runs fn in a read-only transaction and returns fn's error. A
	// context already done when View is called returns ctx.Err() without
	// running fn; after Close, View returns ErrClosed.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction. It commits (durably) iff fn
	// returns nil; it rolls back when fn returns an error or panics (the panic
	// is re-raised after rollback). Nothing of a rolled-back tx is visible.
	// fn's error is returned unchanged. Context and Close as for View.
	Update(ctx context.Context, fn func(Tx) error) error
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store; every later call returns ErrClosed. Closing
	// an already closed store returns nil.
	Close() error
}

// Tx is one transaction. It must not be used after its View/Update returns
// (implementations return an error rather than panic) nor from several
// goroutines at once. Writes through a read-only Tx return an error. Keys
// must be non-empty (at most 32768 bytes); an empty key is an error.
type Tx interface {
	// Get returns a copy of the value at key, or ErrNotFound.
	Get(key string) ([]byte, error)
	// Put creates or replaces the value at key.
	Put(key string, value []byte) error
	// Create stores value at key iff key is absent, else returns ErrExists.
	Create(key string, value []byte) error
	// Delete removes key; ErrNotFound if it is absent.
	Delete(key string) error
	// List returns up to limit entries whose keys start with prefix and sort
	// strictly after `after` (byte order), in ascending key order. limit <= 0
	// means no limit. Values are copies.
	List(prefix, after string, limit int) ([]Entry, error)
}

// Entry is one key-value pair returned by List.
type Entry struct {
	Key   string
	Value []byte
}
