// Package pgstore is the storage.Store of several Trent nodes: one
// PostgreSQL database that every node shares. Records live in one table,
// (key bytea PRIMARY KEY, value bytea): values arrive already sealed by the
// barrier, so the database never holds plaintext key material; keys (paths:
// key ids, alias names, account ids) are visible, as they are in bbolt.
// Keys are bytea so that List pages in byte order whatever the database's
// collation, and so that any byte (NUL included) is a valid key. A key must
// also fit PostgreSQL's btree entry limit (about 2.7 kB after compression):
// a longer key that does not compress fails with an error although
// storage.MaxKeyLen is 32 KiB. Trent's paths are well under 1 kB.
//
// # Transactions
//
// Update runs at SERIALIZABLE isolation and View at REPEATABLE READ, READ
// ONLY. PostgreSQL's serializable snapshot isolation gives exactly the
// storage contract (atomic multi-record writes; no lost update, also for
// keys that did not exist yet and for decisions taken on a List) without
// any lock held while fn runs: transactions on different records proceed
// in parallel, and one that loses a conflict fails with a serialization
// failure, which Update handles by rolling back and running fn again
// (storage.Store allows it). Explicit locking (SELECT ... FOR UPDATE) would
// miss conflicts on absent keys and on ranges; a global lock around every
// transaction would serialize writers for as long as fn runs, which with a
// remote seal (an HSM, another KMS) wrapping values inside fn can be tens
// of milliseconds. A View never blocks and never fails for a conflict: it
// reads one consistent snapshot of committed data.
//
// The only serialized section is the end of a transaction that wrote
// something: under a transaction-scoped advisory lock it takes the next
// version from a sequence, records its keys in the change log
// (trent_changes) and notifies listeners, then commits. That lock makes the
// versions follow commit order, which is what lets a Watch never skip a
// change (storage.Watcher); it is held for one round trip and the commit.
//
// # Errors
//
// A unique violation cannot happen (Create is INSERT ... ON CONFLICT DO
// NOTHING, so the transaction stays usable after storage.ErrExists); a
// serialization failure or deadlock is retried inside Update; a database
// that is down, unreachable or slower than Options.Timeout gives an error
// wrapping storage.ErrUnavailable. No pgx or PostgreSQL error type is ever
// returned. After any database error inside a transaction, PostgreSQL has
// aborted it: every later call on that Tx returns the same error, and
// Update does not commit.
//
// # Schema
//
// Migrations are embedded (schema/NNNN_name.sql) and applied by Open in
// order, each in its own transaction, under a session advisory lock, so
// that several nodes starting at once apply each exactly once. A database
// whose schema is newer than this binary is refused.
//
// # Connection
//
// The URL is PostgreSQL's (postgres://user@host:port/database?options);
// pgxpool options such as pool_max_conns work. Passwords are best kept out
// of the URL: the standard PGPASSWORD and PGPASSFILE (~/.pgpass) are read.
// Behind PgBouncer in transaction mode, add default_query_exec_mode=exec.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trent-kms/trent/internal/storage"
)

// Defaults of Options.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultPoll      = 2 * time.Second
	DefaultKeepalive = time.Second
	DefaultRetention = 10000
)

// maxAttempts bounds how often Update runs fn when it keeps losing
// serialization conflicts.
const maxAttempts = 50

// Options tune Open. The zero value gives the defaults.
type Options struct {
	// Timeout bounds every single wait on the database (connecting, each
	// statement, the commit): a database that does not answer within it
	// gives storage.ErrUnavailable. DefaultTimeout when zero.
	Timeout time.Duration
	// Poll is how often a Watch reads the change log even without a
	// notification: the bound on how late a change whose notification was
	// lost is seen. DefaultPoll when zero.
	Poll time.Duration
	// Keepalive is how often a lease holder checks that its session is
	// alive, and how often a candidate tries to take the lease. A holder
	// whose database goes silent gives the lease up within two Keepalives;
	// the database ends the silent session (freeing the lease for others)
	// only after 11 of them. DefaultKeepalive when zero; whole seconds.
	Keepalive time.Duration
	// Retention is how many changes the change log keeps; a Watch from an
	// older version gets a Reset. DefaultRetention when zero.
	Retention int
	// Logger receives warnings of background work (Watch reconnecting, the
	// change log pruning). Nothing when nil.
	Logger *slog.Logger
}

// Store is a storage.Store on PostgreSQL. It also implements
// storage.Watcher and storage.Elector.
type Store struct {
	pool     *pgxpool.Pool
	connCfg  *pgx.ConnConfig // for the dedicated connections of Watch and Elect
	timeout  time.Duration
	poll     time.Duration
	keep     time.Duration
	retain   uint64
	log      *slog.Logger
	ctx      context.Context // canceled by Close: ends watches and leases
	cancel   context.CancelFunc
	bg       sync.WaitGroup // watches and leases
	pruned   atomic.Uint64  // version at which this process last pruned the change log
	mu       sync.RWMutex   // held shared by View/Update/Watch/Elect, exclusively by Close
	closed   bool
	testHook func(stage string) // failure injection in tests; nil otherwise
}

var (
	_ storage.Store   = (*Store)(nil)
	_ storage.Watcher = (*Store)(nil)
	_ storage.Elector = (*Store)(nil)
)

// Open connects to the database at url, applies the schema migrations it
// lacks, and returns the store. It fails (wrapping storage.ErrUnavailable)
// when the database cannot be reached within opts.Timeout.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap() // the message without the URL, which may hold a password
		} else {
			err = errors.New("want postgres://user@host:port/database?options")
		}
		return nil, fmt.Errorf("pgstore: invalid database URL: %v", err)
	}
	s := &Store{
		timeout: opts.Timeout, poll: opts.Poll, keep: opts.Keepalive,
		retain: uint64(opts.Retention), log: opts.Logger,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.poll <= 0 {
		s.poll = DefaultPoll
	}
	if s.keep <= 0 {
		s.keep = DefaultKeepalive
	}
	s.keep = max(time.Second, s.keep.Round(time.Second))
	if opts.Retention <= 0 {
		s.retain = DefaultRetention
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = s.timeout
	}
	setDefault := func(name, value string) {
		if _, ok := cc.RuntimeParams[name]; !ok {
			cc.RuntimeParams[name] = value
		}
	}
	setDefault("application_name", "trent")
	// A node that stops (or loses the network) in the middle of a
	// transaction must not hold its locks for long.
	setDefault("idle_in_transaction_session_timeout", strconv.FormatInt((6*s.timeout).Milliseconds(), 10))
	s.connCfg = cc.Copy()
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("pgstore: %v", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.migrate(ctx); err != nil {
		s.cancel()
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// opCtx bounds one wait on the database.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// enter takes the shared lock; it fails after Close or when ctx is done.
func (s *Store) enter(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, storage.ErrClosed
	}
	return s.mu.RUnlock, nil
}

// View runs fn in a read-only REPEATABLE READ transaction: one consistent
// snapshot of committed data.
func (s *Store) View(ctx context.Context, fn func(storage.Tx) error) error {
	release, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer release()
	bctx, cancel := s.opCtx(ctx)
	pgtx, err := s.pool.BeginTx(bctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	cancel()
	if err != nil {
		return s.wrap(ctx, "begin", err)
	}
	defer s.rollback(pgtx)
	t := &tx{s: s, ctx: ctx, pg: pgtx}
	defer t.end()
	if err := fn(t); err != nil {
		return err
	}
	return t.err // nil, or a database error fn did not return
}

// Update runs fn in a SERIALIZABLE transaction and commits it iff fn returns
// nil. A transaction that loses a serialization conflict (or a deadlock) is
// rolled back and fn runs again, up to 50 times with a growing random pause.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	release, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer release()
	for attempt := 1; ; attempt++ {
		err := s.update(ctx, fn)
		var c *conflictError
		if !errors.As(err, &c) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("pgstore: transaction still losing serialization conflicts after %d attempts (last: %s)", attempt, c)
		}
		// Full jitter, 1 ms doubling up to 100 ms.
		pause := time.Duration(rand.Int64N(int64(min(100*time.Millisecond, time.Millisecond<<min(attempt, 7))) + 1))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// update is one attempt of Update. It returns a *conflictError when the
// transaction should run again.
func (s *Store) update(ctx context.Context, fn func(storage.Tx) error) error {
	bctx, cancel := s.opCtx(ctx)
	pgtx, err := s.pool.BeginTx(bctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	cancel()
	if err != nil {
		return s.wrap(ctx, "begin", err)
	}
	// Rolls back unless committed, also when fn panics (the panic goes on).
	defer s.rollback(pgtx)
	t := &tx{s: s, ctx: ctx, pg: pgtx, writable: true}
	err = func() error {
		defer t.end()
		return fn(t)
	}()
	var c *conflictError
	if errors.As(t.err, &c) {
		return c // whatever fn made of it: run fn again
	}
	if err != nil {
		return err // fn's error, unchanged
	}
	if t.err != nil {
		return t.err // a database error that fn did not return
	}
	if len(t.written) == 0 {
		return s.commit(ctx, pgtx, "commit")
	}
	// The serialized end: version, change log, notification, commit.
	keys := make([][]byte, 0, len(t.written))
	for k := range t.written {
		keys = append(keys, []byte(k))
	}
	var version uint64
	bctx, cancel = s.opCtx(ctx)
	defer cancel()
	s.hook("before-log")
	b := &pgx.Batch{}
	b.Queue(sqlCommitLock, commitLockKey)
	b.Queue(sqlLogChange, keys).QueryRow(func(row pgx.Row) error { return row.Scan(&version, nil) })
	if err := pgtx.SendBatch(bctx, b).Close(); err != nil {
		return s.wrap(ctx, "log change", err)
	}
	s.hook("before-commit")
	if err := s.commit(ctx, pgtx, "commit"); err != nil {
		return err
	}
	s.prune(version)
	return nil
}

func (s *Store) commit(ctx context.Context, pgtx pgx.Tx, op string) error {
	cctx, cancel := s.opCtx(ctx)
	defer cancel()
	err := pgtx.Commit(cctx)
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrTxCommitRollback) {
		// The server rolled back instead: an earlier statement failed.
		return fmt.Errorf("pgstore: %s: rolled back by the server", op)
	}
	err = s.wrap(ctx, op, err)
	if errors.Is(err, storage.ErrUnavailable) {
		return fmt.Errorf("%w (the transaction may or may not have committed)", err)
	}
	return err
}

// rollback ends pgtx if it is still open (a no-op after Commit), on a
// context of its own so that a canceled request still releases the
// connection cleanly.
func (s *Store) rollback(pgtx pgx.Tx) {
	ctx, cancel := s.opCtx(context.Background())
	defer cancel()
	_ = pgtx.Rollback(ctx)
}

// prune deletes old entries of the change log every Retention/8 versions.
// Failures only delay it: the next commit that qualifies tries again.
func (s *Store) prune(version uint64) {
	last := s.pruned.Load()
	every := max(1, s.retain/8)
	if version < last+every || version <= s.retain || !s.pruned.CompareAndSwap(last, version) {
		return
	}
	ctx, cancel := s.opCtx(context.Background())
	defer cancel()
	if _, err := s.pool.Exec(ctx, sqlPrune, version-s.retain); err != nil {
		s.log.Warn("pgstore: pruning the change log failed; will retry", "err", s.wrap(ctx, "prune", err))
	}
}

// Ping checks that the database answers, within Options.Timeout.
func (s *Store) Ping(ctx context.Context) error {
	release, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer release()
	pctx, cancel := s.opCtx(ctx)
	defer cancel()
	if err := s.pool.Ping(pctx); err != nil {
		return s.wrap(ctx, "ping", err)
	}
	return nil
}

// Close waits for running transactions, ends watches and leases (their
// connections close, so a held lease is released), then closes the pool.
// Later calls return storage.ErrClosed; closing twice returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.bg.Wait()
	s.pool.Close()
	return nil
}

func (s *Store) hook(stage string) {
	if s.testHook != nil {
		s.testHook(stage)
	}
}

// lockKey is the advisory lock key of name: the first 8 bytes of its
// FNV-1a hash. Advisory locks are per database, so two deployments on two
// databases of one server never share a lock.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("trent/" + name))
	return int64(h.Sum64())
}

var (
	commitLockKey  = lockKey("commit")
	migrateLockKey = lockKey("migrate")
)

const (
	sqlGet     = `SELECT value FROM trent_records WHERE key = $1`
	sqlPut     = `INSERT INTO trent_records (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`
	sqlCreate  = `INSERT INTO trent_records (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`
	sqlDelete  = `DELETE FROM trent_records WHERE key = $1`
	sqlList    = `SELECT key, value FROM trent_records WHERE key >= $1 AND key > $2 ORDER BY key LIMIT $3`
	sqlListEnd = `SELECT key, value FROM trent_records WHERE key >= $1 AND key > $2 AND key < $4 ORDER BY key LIMIT $3`

	sqlCommitLock = `SELECT pg_advisory_xact_lock($1)`
	sqlLogChange  = `WITH c AS (INSERT INTO trent_changes (keys) VALUES ($1) RETURNING version)
		SELECT version, pg_notify('` + channel + `', version::text) FROM c`
	sqlPrune = `WITH d AS (DELETE FROM trent_changes WHERE version <= $1)
		UPDATE trent_changes_pruned SET version = greatest(version, $1)`
)
