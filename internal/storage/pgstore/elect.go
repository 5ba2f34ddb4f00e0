package pgstore

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/storage"
)

// Elect takes the leadership of role: a session advisory lock
// (pg_try_advisory_lock) on a connection of its own, tried every Keepalive
// until it is granted. The lease lasts as long as that session: the
// database frees the lock when the session ends (the process exits or
// dies, the connection breaks, an operator terminates the backend), and
// the holder learns it at once (its connection reads the end) or, when the
// network fails silently, within two Keepalives (a ping that gets no
// answer). The session asks the server to probe the holder with TCP
// keepalives after 5 Keepalives of silence, so a holder cut off from the
// database has given the lease up (2 Keepalives) well before the server
// frees it for another node (about 11).
func (s *Store) Elect(ctx context.Context, role string) (storage.Lease, error) {
	release, err := s.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(s.ctx, cancel)() // Close ends the wait
	defer cancel()
	key := lockKey("leader/" + role)
	secs := int(s.keep / time.Second)
	params := map[string]string{
		"tcp_keepalives_idle":     strconv.Itoa(5 * secs),
		"tcp_keepalives_interval": strconv.Itoa(2 * secs),
		"tcp_keepalives_count":    "3",
	}
	var conn *pgx.Conn
	for {
		if conn == nil {
			if conn, err = s.connect(ctx, "leader/"+role, params); err != nil {
				conn = nil
			}
		}
		if conn != nil {
			var got bool
			qctx, qcancel := s.opCtx(ctx)
			err = conn.QueryRow(qctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got)
			qcancel()
			if err == nil && got {
				return s.hold(conn, role), nil
			}
			if err != nil {
				conn.Close(context.Background())
				conn = nil
			}
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("pgstore: elect: cannot reach the database; retrying", "role", role, "err", s.wrap(ctx, "elect", err))
		}
		sleep(ctx, s.keep)
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close(context.Background())
			}
			return nil, ctx.Err()
		}
	}
}

// lease is a held leadership: a goroutine watches its session.
type lease struct {
	done    chan struct{}
	release context.CancelFunc
}

func (l *lease) Done() <-chan struct{} { return l.done }

func (l *lease) Release() {
	l.release()
	<-l.done
}

func (s *Store) hold(conn *pgx.Conn, role string) *lease {
	ctx, cancel := context.WithCancel(s.ctx) // Close releases every lease
	l := &lease{done: make(chan struct{}), release: cancel}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer close(l.done)
		defer cancel()
		// Closing the session frees the lock.
		defer conn.Close(context.Background())
		for {
			// Blocked on a read, the connection learns at once that the
			// server ended the session; the timeout then pings, for a
			// network that fails silently.
			wctx, wcancel := context.WithTimeout(ctx, s.keep)
			_, err := conn.WaitForNotification(wctx)
			wcancel()
			if ctx.Err() != nil {
				return // released
			}
			if err == nil {
				continue // a notification (none are expected)
			}
			if conn.IsClosed() {
				s.log.Warn("pgstore: lease lost: the session ended", "role", role)
				return
			}
			pctx, pcancel := context.WithTimeout(ctx, s.keep)
			err = conn.Ping(pctx)
			pcancel()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("pgstore: lease lost: the database does not answer", "role", role, "err", s.wrap(ctx, "keepalive", err))
				}
				return
			}
		}
	}()
	return l
}
