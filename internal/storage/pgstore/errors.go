package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/trent-kms/trent/internal/storage"
)

// conflictError is a serialization failure or deadlock: the transaction
// lost a conflict with another one and Update runs it again. It never
// leaves the package.
type conflictError struct{ op, code, msg string }

func (e *conflictError) Error() string {
	return fmt.Sprintf("pgstore: %s: %s (SQLSTATE %s)", e.op, e.msg, e.code)
}

// wrap turns an error of pgx into one of ours, never exposing pgx's types
// (their text goes only into the message, for the log):
//
//   - the caller's context ended: its error, wrapped;
//   - a serialization failure or deadlock: *conflictError;
//   - no answer, a broken connection, a server shutting down or out of
//     connections: storage.ErrUnavailable;
//   - any other error the server reported: a plain error with its SQLSTATE.
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("pgstore: %s: %w", op, ctxErr)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch c := pe.Code; {
		case c == "40001" || c == "40P01": // serialization_failure, deadlock_detected
			return &conflictError{op: op, code: c, msg: pe.Message}
		case strings.HasPrefix(c, "08"), // connection exception
			strings.HasPrefix(c, "53"),  // insufficient resources (too many connections, disk full)
			strings.HasPrefix(c, "57P"), // shutting down, crashed, starting up
			c == "57014",                // query canceled: our timeout
			c == "25P03":                // idle in transaction for too long: the server ended the session
			return fmt.Errorf("%w: pgstore: %s: %s (SQLSTATE %s)", storage.ErrUnavailable, op, pe.Message, c)
		default:
			return fmt.Errorf("pgstore: %s: %s (SQLSTATE %s)", op, pe.Message, c)
		}
	}
	if pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: pgstore: %s: no answer within %v", storage.ErrUnavailable, op, s.timeout)
	}
	// Not an answer from the server: connecting failed, or the connection
	// broke. %v, not %w: the cause is for the log, not for errors.As.
	return fmt.Errorf("%w: pgstore: %s: %v", storage.ErrUnavailable, op, err)
}
