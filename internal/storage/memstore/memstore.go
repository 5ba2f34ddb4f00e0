// Package memstore is an in-memory storage.Store for development mode and
// tests. It has the same semantics as boltstore (it passes storagetest.Run)
// but keeps nothing across restarts.
//
// Concurrency: any number of View transactions run in parallel; an Update
// excludes every other transaction for its duration (one writer, no readers
// while it runs). Calling View or Update from inside fn on the same Store
// deadlocks, as it can with bbolt.
package memstore

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/trent-kms/trent/internal/storage"
)

// Store is an in-memory transactional key-value store. The zero value is not
// usable; call New.
type Store struct {
	mu     sync.RWMutex
	closed bool
	data   map[string][]byte // values are owned by the store, never aliased
	keys   []string          // sorted keys of data
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{data: make(map[string][]byte)}
}

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
	tx := &tx{s: s}
	defer tx.end()
	return fn(tx)
}

// Update runs fn in a read-write transaction. Writes are applied in place
// under the exclusive lock and recorded in an undo log; when fn returns an
// error or panics, the undo log is replayed before the lock is released, so
// no other transaction ever observes a rolled-back write.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	tx := &tx{s: s, writable: true}
	committed := false
	defer func() {
		tx.end()
		if !committed {
			tx.rollback() // also on panic, which then continues unwinding
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	return nil
}

// Ping returns ErrClosed after Close, else nil.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	return nil
}

// Close drops the data. It waits for running transactions; later calls
// return ErrClosed. Closing twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.data = nil
	s.keys = nil
	return nil
}

// undo restores key to its state before one write.
type undo struct {
	key     string
	old     []byte
	existed bool
}

type tx struct {
	s        *Store
	writable bool
	done     bool
	log      []undo
}

func (t *tx) end() { t.done = true }

func (t *tx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		if u.existed {
			t.s.set(u.key, u.old)
		} else {
			t.s.remove(u.key)
		}
	}
	t.log = nil
}

func (t *tx) check(key string, write bool) error {
	return storage.CheckAccess(t.done, t.writable, write, key)
}

func (t *tx) Get(key string) ([]byte, error) {
	if err := t.check(key, false); err != nil {
		return nil, err
	}
	v, ok := t.s.data[key]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return clone(v), nil
}

func (t *tx) Put(key string, value []byte) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	t.record(key)
	t.s.set(key, clone(value))
	return nil
}

func (t *tx) Create(key string, value []byte) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	if _, ok := t.s.data[key]; ok {
		return storage.ErrExists
	}
	t.record(key)
	t.s.set(key, clone(value))
	return nil
}

func (t *tx) Delete(key string) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	if _, ok := t.s.data[key]; !ok {
		return storage.ErrNotFound
	}
	t.record(key)
	t.s.remove(key)
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
	i, _ := slices.BinarySearch(t.s.keys, start)
	var out []storage.Entry
	for ; i < len(t.s.keys); i++ {
		k := t.s.keys[i]
		if k == after {
			continue
		}
		if !strings.HasPrefix(k, prefix) {
			break
		}
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, storage.Entry{Key: k, Value: clone(t.s.data[k])})
	}
	return out, nil
}

// record saves key's current state in the undo log before it is written.
func (t *tx) record(key string) {
	old, ok := t.s.data[key]
	t.log = append(t.log, undo{key: key, old: old, existed: ok})
}

// set stores v (already owned by the store) at key.
func (s *Store) set(key string, v []byte) {
	if _, ok := s.data[key]; !ok {
		i, _ := slices.BinarySearch(s.keys, key)
		s.keys = slices.Insert(s.keys, i, key)
	}
	s.data[key] = v
}

func (s *Store) remove(key string) {
	if _, ok := s.data[key]; !ok {
		return
	}
	delete(s.data, key)
	if i, ok := slices.BinarySearch(s.keys, key); ok {
		s.keys = slices.Delete(s.keys, i, i+1)
	}
}

// clone returns a copy of v that is never nil, so an empty value reads back
// as an empty, non-nil slice.
func clone(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return bytes.Clone(v)
}
