// Package boltstore is the embedded default storage.Store, a single bbolt
// database file. Every commit is fsynced before Update returns, so nothing
// acknowledged is lost on a crash. All keys live in one bucket.
//
// Group commit: concurrent Updates share one bbolt transaction, so one
// commit (two fdatasyncs) acknowledges them all. One goroutine commits;
// the Updates that arrive while it commits wait and form the next batch.
// A lone writer is not delayed: its Update commits at once (after a burst of
// concurrent ones, its first eight wait at most a commit's time). When one of
// the last eight batches was larger than what waits now (several writers,
// some still preparing their next write), the committer waits for the queue
// to reach that size, at most as long as the last commit took (capped at
// 2 ms): a commit's time is mostly its two fdatasyncs, which cost about
// the same for 12 records as for 7, so a wait that fills the batch costs
// less than the commit it saves; without it, the first writer back would
// commit almost alone while the others queue behind it. In
// a batch each fn runs in turn on the state the ones before it left, as if
// the Updates had run one after the other in that order. A fn that fails
// (returns an error, panics, or whose context is done before it runs)
// leaves no trace: the transaction is rolled back and the others run again
// without it, which the storage.Store contract allows (fn may run more than
// once). No Update returns before its batch is on disk.
//
// Concurrency: any number of concurrent Views (bbolt's MVCC). As with bbolt,
// calling View or Update from inside fn on the same Store may deadlock.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/trent-kms/trent/internal/durable"
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

	qmu     sync.Mutex
	queue   []*update     // Updates waiting for the next batch
	wake    chan struct{} // tells the committer the queue is not empty
	stop    chan struct{} // closed by Close (after every Update returned)
	stopped chan struct{} // closed when the committer has ended
}

// update is one Update waiting for its batch.
type update struct {
	ctx      context.Context
	fn       func(storage.Tx) error
	err      error // fn's error, or the commit's
	panicked any   // fn's panic, raised again by Update
	done     chan struct{}
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed, mode 0600, all or nothing) the database
// at path with the default options. The file is locked for the lifetime of the Store.
func Open(path string) (*Store, error) {
	return OpenWithOptions(path, Options{})
}

// OpenWithOptions is Open with options.
func OpenWithOptions(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := create(path, opts); err != nil {
			return nil, fmt.Errorf("boltstore: create %s: %w", path, err)
		}
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
	s := &Store{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.committer()
	return s, nil
}

// create makes a new database at path all or nothing: bbolt writes its
// first pages into the file it opens, so a full disk (or a crash) while it
// does would leave path a file that no later Open accepts ("invalid
// database"). The database is made in a temporary file, then hard-linked
// into place (a database made meanwhile by another process is kept) and
// the directory fsynced.
func create(path string, opts Options) error {
	dir := filepath.Dir(path)
	f, err := durable.Temp(dir, filepath.Base(path))
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Close(); err != nil {
		return err
	}
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{OpenFile: opts.openFile})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(bucketName)
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := durable.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
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

// Update runs fn in a read-write transaction, shared with the Updates that
// arrive while the one before commits (group commit, see the package
// documentation), and returns once the commit is fsynced. fn's error is
// returned unchanged; a panic in fn is raised again here after the rollback.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	u := &update{ctx: ctx, fn: fn, done: make(chan struct{})}
	s.qmu.Lock()
	s.queue = append(s.queue, u)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // already woken
	}
	<-u.done
	if u.panicked != nil {
		panic(u.panicked)
	}
	return u.err
}

// committer commits the waiting Updates, a batch at a time, until Close.
func (s *Store) committer() {
	defer close(s.stopped)
	var batch []*update
	var sizes recentSizes
	took := time.Duration(0) // the last commit's duration
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			return
		}
		for {
			s.gather(sizes.max(), took)
			s.qmu.Lock()
			batch, s.queue = s.queue, batch[:0]
			s.qmu.Unlock()
			if len(batch) == 0 {
				break
			}
			start := time.Now()
			sizes.add(len(batch))
			s.commit(batch)
			took = time.Since(start)
			clear(batch)
		}
	}
}

// maxGather bounds the wait for a batch to fill (see the package comment).
const maxGather = 2 * time.Millisecond

// recentSizes holds the sizes of the last batches; the committer waits for
// the largest (see the package comment). One batch cut short (its writers
// came back late) does not halve the next ones, as waiting for the last
// size alone did.
type recentSizes struct {
	n     [8]int
	count int
}

func (r *recentSizes) add(size int) {
	r.n[r.count%len(r.n)] = size
	r.count++
}

func (r *recentSizes) max() int { return slices.Max(r.n[:]) }

// gather waits, when the queue is not empty but shorter than want (the
// largest recent batch), until it reaches want or took (the last commit's
// duration, at most maxGather) has passed.
func (s *Store) gather(want int, took time.Duration) {
	if want < 2 {
		return
	}
	var deadline *time.Timer
	for {
		s.qmu.Lock()
		n := len(s.queue)
		s.qmu.Unlock()
		if n == 0 || n >= want {
			break
		}
		if deadline == nil {
			deadline = time.NewTimer(min(took, maxGather))
			defer deadline.Stop()
		}
		select {
		case <-s.wake:
		case <-deadline.C:
			return
		case <-s.stop:
			return
		}
	}
}

// commit runs the fns of batch in one transaction and commits it. A fn that
// fails is answered at once and the rest run again without it.
func (s *Store) commit(batch []*update) {
	for len(batch) > 0 {
		failed, err := s.try(batch)
		if failed < 0 {
			for _, u := range batch {
				u.err = err // the commit's outcome
				close(u.done)
			}
			return
		}
		close(batch[failed].done)
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}

// fillPercent is how full bbolt fills the first part of a page it splits
// (its default is half). New records mostly go after every existing one (key
// ids grow with time) and a page split at the end of the tree is never
// written again: records appended ten at a time leave the leaf pages 42%
// full with the default, 70% with this (TestAppendsFillPages), so a commit
// of new records writes fewer pages (each a separate write to the disk) and
// the file is smaller. A record inserted amid full pages splits them a
// little more often.
const fillPercent = 0.9

// try runs every fn of batch in one transaction. If one fails it rolls the
// transaction back and returns its index (its error or panic is in it);
// else it commits and returns -1 with the commit's error.
func (s *Store) try(batch []*update) (failed int, err error) {
	btx, err := s.db.Begin(true)
	if err != nil {
		return -1, mapErr(fmt.Errorf("boltstore: begin: %w", err))
	}
	b := btx.Bucket(bucketName)
	b.FillPercent = fillPercent
	for i, u := range batch {
		if u.err = u.ctx.Err(); u.err == nil {
			u.panicked, u.err = run(&tx{b: b, writable: true}, u.fn)
		}
		if u.err != nil || u.panicked != nil {
			_ = btx.Rollback()
			return i, nil
		}
	}
	if err := btx.Commit(); err != nil { // bbolt rolls back a failed commit
		return -1, fmt.Errorf("boltstore: commit: %w", err)
	}
	return -1, nil
}

// run calls fn on t, catching a panic, and ends t (bbolt memory is invalid
// once the transaction is over).
func run(t *tx, fn func(storage.Tx) error) (panicked any, err error) {
	defer func() {
		t.end()
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return nil, fn(t)
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
	close(s.stop) // no Update is running: they hold mu shared
	<-s.stopped
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
