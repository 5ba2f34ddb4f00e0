package pgstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/storage"
)

// channel is the LISTEN/NOTIFY channel; the payload is the version.
const channel = "trent_changes"

// watchBatch is how many changes one read of the change log returns.
const watchBatch = 1000

// Version returns the highest committed version (0 before the first write).
func (s *Store) Version(ctx context.Context) (uint64, error) {
	release, err := s.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	qctx, cancel := s.opCtx(ctx)
	defer cancel()
	var v uint64
	if err := s.pool.QueryRow(qctx, sqlVersion).Scan(&v); err != nil {
		return 0, s.wrap(ctx, "version", err)
	}
	return v, nil
}

// Watch follows the change log on a connection of its own that LISTENs
// for commits. The notifications only wake it up: what it delivers it
// reads from the change log, in version order, so a lost notification (or
// a lost connection) delays a change by at most Options.Poll (or until the
// database answers again), never drops it.
func (s *Store) Watch(ctx context.Context, since uint64) (<-chan storage.Change, error) {
	release, err := s.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	ch := make(chan storage.Change, 64)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel) // Close ends the watch
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer stop()
		defer cancel()
		defer close(ch)
		s.watch(ctx, since, ch)
	}()
	return ch, nil
}

func (s *Store) watch(ctx context.Context, last uint64, ch chan<- storage.Change) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	pause := backoff(s.poll)
	for ctx.Err() == nil {
		if conn == nil {
			c, err := s.connect(ctx, "watch", nil)
			if err == nil {
				lctx, cancel := s.opCtx(ctx)
				_, err = c.Exec(lctx, "LISTEN "+channel)
				cancel()
				if err != nil {
					c.Close(context.Background())
				}
			}
			if err != nil {
				s.log.Warn("pgstore: watch: cannot listen for changes; retrying", "err", s.wrap(ctx, "listen", err))
				sleep(ctx, pause())
				continue
			}
			conn = c
		}
		// Notifications already received are covered by the read below.
		drainNotifications(conn)
		if err := s.catchUp(ctx, conn, &last, ch); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("pgstore: watch: cannot read the change log; reconnecting", "err", err)
				conn.Close(context.Background())
				conn = nil
				sleep(ctx, pause())
			}
			continue
		}
		pause = backoff(s.poll)
		wctx, cancel := context.WithTimeout(ctx, s.poll)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil && (ctx.Err() != nil || conn.IsClosed() || !errors.Is(err, context.DeadlineExceeded)) {
			conn.Close(context.Background())
			conn = nil
		}
	}
}

// catchUp sends every change after *last, reading the change log in
// snapshots of watchBatch changes.
func (s *Store) catchUp(ctx context.Context, conn *pgx.Conn, last *uint64, ch chan<- storage.Change) error {
	for {
		var (
			batch  []storage.Change
			pruned uint64
		)
		qctx, cancel := s.opCtx(ctx)
		err := pgx.BeginTxFunc(qctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if err := tx.QueryRow(qctx, `SELECT version FROM trent_changes_pruned`).Scan(&pruned); err != nil {
				return err
			}
			if *last < pruned {
				var v uint64
				if err := tx.QueryRow(qctx, sqlVersion).Scan(&v); err != nil {
					return err
				}
				batch = []storage.Change{{Version: v, Reset: true}}
				return nil
			}
			rows, err := tx.Query(qctx, `SELECT version, keys, committed FROM trent_changes WHERE version > $1 ORDER BY version LIMIT $2`, *last, watchBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					c    storage.Change
					keys [][]byte
				)
				if err := rows.Scan(&c.Version, &keys, &c.Time); err != nil {
					return err
				}
				c.Keys = make([]string, len(keys))
				for i, k := range keys {
					c.Keys[i] = string(k)
				}
				slices.Sort(c.Keys)
				batch = append(batch, c)
			}
			return rows.Err()
		})
		cancel()
		if err != nil {
			return s.wrap(ctx, "read the change log", err)
		}
		for _, c := range batch {
			select {
			case ch <- c:
				*last = c.Version
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(batch) < watchBatch {
			return nil
		}
	}
}

// drainNotifications discards the notifications conn has buffered.
func drainNotifications(conn *pgx.Conn) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		// With a done context, WaitForNotification returns buffered
		// notifications and then an error, without touching the network.
		if _, err := conn.WaitForNotification(done); err != nil {
			return
		}
	}
}

// connect opens a connection of its own (not from the pool), with extra
// run-time parameters, named "<application_name> <what>" in
// pg_stat_activity.
func (s *Store) connect(ctx context.Context, what string, params map[string]string) (*pgx.Conn, error) {
	cfg := s.connCfg.Copy()
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	cfg.RuntimeParams["application_name"] += " " + what
	cctx, cancel := s.opCtx(ctx)
	defer cancel()
	return pgx.ConnectConfig(cctx, cfg)
}

// backoff returns a function giving pauses that double from 100 ms up to
// ceiling, for retrying a database that does not answer.
func backoff(ceiling time.Duration) func() time.Duration {
	d := 100 * time.Millisecond
	return func() time.Duration {
		p := min(d, ceiling)
		d *= 2
		return p
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

const sqlVersion = `SELECT greatest((SELECT max(version) FROM trent_changes), (SELECT version FROM trent_changes_pruned))`
