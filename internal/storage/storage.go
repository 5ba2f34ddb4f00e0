// Package storage is the transactional key-value interface under Trent's state.
// Keys are slash-separated paths ("kms/key/us-east-1/111122223333/<id>");
// values are opaque bytes. Implementations: boltstore (embedded default),
// memstore (dev mode), pgstore (several nodes on one PostgreSQL database);
// barrier.New seals any Store under the keyring. Every implementation passes
// storagetest.Run.
//
// A Store that several processes share may offer two optional capabilities,
// found with a type assertion on the raw store (not the barrier): Watcher (a
// change feed, for keeping every node's in-memory state current) and Elector
// (one leader at a time, for background jobs).
package storage

import (
	"context"
	"errors"
	"time"
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
	// ErrUnavailable is wrapped by errors of a store that could not reach its
	// database or got no answer in time (a server that is down, restarting or
	// unreachable). A View or Update that returns it did not commit, except
	// when the connection failed during the commit itself: then the outcome is
	// unknown (the error says so). Retrying later is the remedy; the service
	// layer answers DependencyTimeoutException.
	ErrUnavailable = errors.New("storage: database unavailable")
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
	//
	// Update may run fn more than once: a store shared by several processes
	// (pgstore) rolls back a transaction that lost a conflict with another
	// one and runs fn again. So fn must act only through tx (and on
	// variables it resets), and must not keep what a run read once fn
	// returns an error.
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

// Watcher is the change feed of a Store shared by several processes: every
// committed Update that wrote something (Put, Create or Delete that took
// effect) gets a version, and every process can follow the versions in
// order. It is the basis of cache coherence between nodes.
//
// Contract:
//   - Versions are positive and increase in commit order: a change with a
//     higher version committed after every change with a lower one. They
//     need not be consecutive (a version can be consumed by a commit that
//     then failed).
//   - Version returns the highest committed version (0 when there is none):
//     one cheap query, for the periodic check that catches anything missed.
//   - Watch delivers, in increasing version order and exactly once, every
//     change with a version above since, including changes committed before
//     Watch was called, changes made by other processes, and changes
//     committed while the database was unreachable (Watch reconnects by
//     itself and catches up; it never ends because of an outage). A change
//     is delivered after its commit, usually within milliseconds, and at the
//     latest one poll interval after the store can read it again.
//   - When the history after since is no longer kept (a process that was
//     away too long), Watch sends one Change with Reset set and the current
//     version: the receiver must reload everything it caches, and Watch then
//     goes on from that version.
//   - The channel is closed when ctx is done or the store is closed. Watch
//     with a ctx already done returns ctx's error; after Close, Watch and
//     Version return ErrClosed.
//
// To follow a store without a gap: read Version, then load the state, then
// Watch(ctx, version). Changes already seen by the load may be delivered
// again; applying a change twice must be harmless (invalidate, re-read).
type Watcher interface {
	Version(ctx context.Context) (uint64, error)
	Watch(ctx context.Context, since uint64) (<-chan Change, error)
}

// Change is one committed transaction as seen by a Watcher.
type Change struct {
	// Version of the transaction.
	Version uint64
	// Keys the transaction put, created or deleted, in byte order, without
	// duplicates. Values are not included: read them in a transaction.
	Keys []string
	// Time is when the transaction committed, by the database's clock
	// (taken just before the commit). Zero in a Reset.
	Time time.Time
	// Reset means the changes between the requested version and Version are
	// no longer known: reload everything. Keys is empty.
	Reset bool
}

// Elector elects one leader among the processes that share a Store, for
// work that must run in one place at a time (key rotation, deletion, audit
// digests).
type Elector interface {
	// Elect blocks until this process holds the leadership of role (any
	// short name) or ctx is done (then it returns ctx's error). A database
	// outage does not end it: it keeps trying.
	Elect(ctx context.Context, role string) (Lease, error)
}

// Lease is a held leadership. At most one Lease per role is held at a time
// among the processes of a Store, up to how fast a holder learns that it
// lost its lease: the holder's Done channel is closed as soon as its store
// notices (at once when the database ends its session, within the store's
// keepalive interval when the network fails silently). Work done under a
// lease should stop when Done is closed and should itself be safe if, for
// that short moment, two holders overlap (e.g. a transaction that re-checks
// what it changes).
type Lease interface {
	// Done is closed when the leadership is lost or released.
	Done() <-chan struct{}
	// Release gives the leadership up at once (another candidate can take
	// it immediately). It is safe to call more than once.
	Release()
}
