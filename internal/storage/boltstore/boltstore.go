// Package boltstore is the embedded default storage.Store, a single bbolt
// database file. Every commit is fsynced before Update returns, so nothing
// acknowledged is lost on a crash. All keys live in one bucket.
//
// Concurrency: one Update at a time, any number of concurrent Views (bbolt's
// MVCC). As with bbolt, calling View or Update from inside fn on the same
// Store may deadlock.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/trent-kms/trent/internal/storage"
)

// DefaultLockTimeout is how long Open waits for another process to release
// the database file lock.
const DefaultLockTimeout = 2 * time.Second

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("boltstore: database file is locked by another process")

var bucketName = []byte("trent")

// Options tune Open. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for the file lock; DefaultLockTimeout
	// when zero.
	LockTimeout time.Duration

	// openFile replaces os.OpenFile; tests use it to make writes fail.
	openFile func(name string, flag int, perm os.FileMode) (*os.File, error)
}

// Store is a storage.Store backed by a bbolt file.
type Store struct {
	db *bolt.DB

	mu     sync.RWMutex // held shared by transactions, exclusively by Close
	closed bool
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed, mode 0600) the database at path with the
// default options. The file is locked for the lifetime of the Store.
func Open(path string) (*Store, error) {
	return OpenWithOptions(path, Options{})
}

// OpenWithOptions is Open with options.
func OpenWithOptions(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: false, OpenFile: opts.openFile})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (waited %v; is another trent server running on this data directory?)", ErrLocked, path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	// Create the bucket on first use only, so opening an existing database
	// writes nothing.
	exists := false
	_ = db.View(func(tx *bolt.Tx) error { exists = tx.Bucket(bucketName) != nil; return nil })
	if !exists {
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucketName)
			return err
		})
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: create bucket: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	return mapErr(s.db.View(func(btx *bolt.Tx) error {
		t := &tx{b: btx.Bucket(bucketName)}
		defer t.end()
		return fn(t)
	}))
}

// Update runs fn in a read-write transaction and fsyncs the commit. bbolt
// rolls back when fn returns an error or panics (the panic continues after
// the rollback).
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	btx, err := s.db.Begin(true)
	if err != nil {
		return mapErr(fmt.Errorf("boltstore: begin: %w", err))
	}
	// Roll back unless committed, also when fn panics (the panic then
	// continues). After a Commit, Rollback is a no-op returning ErrTxClosed.
	defer func() { _ = btx.Rollback() }()
	t := &tx{b: btx.Bucket(bucketName), writable: true}
	err = func() error {
		defer t.end()
		return fn(t)
	}()
	if err != nil {
		return err // fn's error, unchanged
	}
	if err := btx.Commit(); err != nil { // bbolt rolls back a failed commit
		return fmt.Errorf("boltstore: commit: %w", err)
	}
	return nil
}

// Ping runs an empty read transaction.
func (s *Store) Ping(ctx context.Context) error {
	return s.View(ctx, func(storage.Tx) error { return nil })
}

// Close waits for running transactions, then closes the file and releases
// its lock. Later calls return ErrClosed; closing twice returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// mapErr turns bbolt's closed-database error into storage.ErrClosed; every
// other error (notably fn's own) is returned unchanged.
func mapErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return storage.ErrClosed
	}
	return err
}

type tx struct {
	b        *bolt.Bucket
	writable bool
	done     bool // bbolt memory is invalid once set; never touch b again
}

func (t *tx) end() { t.done = true }

func (t *tx) check(key string, write bool) error {
	return storage.CheckAccess(t.done, t.writable, write, key)
}

// lookup finds key with a cursor rather than Bucket.Get, so that a present
// key with an empty value is never mistaken for a missing one.
func (t *tx) lookup(key []byte) (value []byte, ok bool) {
	k, v := t.b.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

func (t *tx) Get(key string) ([]byte, error) {
	if err := t.check(key, false); err != nil {
		return nil, err
	}
	v, ok := t.lookup([]byte(key))
	if !ok {
		return nil, storage.ErrNotFound
	}
	return clone(v), nil
}

func (t *tx) Put(key string, value []byte) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	// bbolt keeps a reference to value until commit; copy so a caller
	// reusing its buffer cannot change what is written.
	if err := t.b.Put([]byte(key), clone(value)); err != nil {
		return fmt.Errorf("boltstore: put: %w", err)
	}
	return nil
}

func (t *tx) Create(key string, value []byte) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	if _, ok := t.lookup([]byte(key)); ok {
		return storage.ErrExists
	}
	if err := t.b.Put([]byte(key), clone(value)); err != nil {
		return fmt.Errorf("boltstore: create: %w", err)
	}
	return nil
}

func (t *tx) Delete(key string) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	k := []byte(key)
	if _, ok := t.lookup(k); !ok {
		return storage.ErrNotFound
	}
	if err := t.b.Delete(k); err != nil {
		return fmt.Errorf("boltstore: delete: %w", err)
	}
	return nil
}

func (t *tx) List(prefix, after string, limit int) ([]storage.Entry, error) {
	if t.done {
		return nil, storage.ErrTxDone
	}
	start := prefix
	if after >= prefix {
		start = after
	}
	var out []storage.Entry
	c := t.b.Cursor()
	p := []byte(prefix)
	for k, v := c.Seek([]byte(start)); k != nil; k, v = c.Next() {
		if string(k) == after {
			continue
		}
		if !bytes.HasPrefix(k, p) {
			break
		}
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, storage.Entry{Key: string(k), Value: clone(v)})
	}
	return out, nil
}

// clone copies v out of bbolt's memory (valid only inside the tx). The copy
// is never nil, so an empty value reads back as an empty slice.
func clone(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return bytes.Clone(v)
}
