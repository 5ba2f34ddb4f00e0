package pgstore

import (
	"bytes"
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/storage"
)

// tx is a storage.Tx over one PostgreSQL transaction.
type tx struct {
	s        *Store
	ctx      context.Context // of the View/Update
	pg       pgx.Tx
	writable bool
	done     bool
	err      error               // first database error: PostgreSQL aborted the transaction
	written  map[string]struct{} // keys changed, for the change log
}

func (t *tx) end() { t.done = true }

func (t *tx) check(key string, write bool) error {
	if err := storage.CheckAccess(t.done, t.writable, write, key); err != nil {
		return err
	}
	return t.err
}

// fail records the first database error of the transaction.
func (t *tx) fail(op string, err error) error {
	t.err = t.s.wrap(t.ctx, op, err)
	return t.err
}

func (t *tx) wrote(key string) {
	if t.written == nil {
		t.written = make(map[string]struct{})
	}
	t.written[key] = struct{}{}
}

// exec runs a statement that changes at most one row and reports whether it did.
func (t *tx) exec(op, sql string, args ...any) (changed bool, err error) {
	ctx, cancel := t.s.opCtx(t.ctx)
	defer cancel()
	tag, err := t.pg.Exec(ctx, sql, args...)
	if err != nil {
		return false, t.fail(op, err)
	}
	return tag.RowsAffected() > 0, nil
}

func (t *tx) Get(key string) ([]byte, error) {
	if err := t.check(key, false); err != nil {
		return nil, err
	}
	ctx, cancel := t.s.opCtx(t.ctx)
	defer cancel()
	var v []byte
	err := t.pg.QueryRow(ctx, sqlGet, []byte(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, t.fail("get", err)
	}
	return nonNil(v), nil // pgx copied it out of the connection's buffer
}

func (t *tx) Put(key string, value []byte) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	// Keys go as bytea, never as text: a string argument would be parsed
	// as bytea's text format, where a backslash is an escape.
	if _, err := t.exec("put", sqlPut, []byte(key), nonNil(value)); err != nil {
		return err
	}
	t.wrote(key)
	return nil
}

func (t *tx) Create(key string, value []byte) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	created, err := t.exec("create", sqlCreate, []byte(key), nonNil(value))
	if err != nil {
		return err
	}
	if !created {
		return storage.ErrExists
	}
	t.wrote(key)
	return nil
}

func (t *tx) Delete(key string) error {
	if err := t.check(key, true); err != nil {
		return err
	}
	deleted, err := t.exec("delete", sqlDelete, []byte(key))
	if err != nil {
		return err
	}
	if !deleted {
		return storage.ErrNotFound
	}
	t.wrote(key)
	return nil
}

func (t *tx) List(prefix, after string, limit int) ([]storage.Entry, error) {
	if t.done {
		return nil, storage.ErrTxDone
	}
	if t.err != nil {
		return nil, t.err
	}
	var lim *int64 // NULL: no limit
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	sql, args := sqlList, []any{[]byte(prefix), []byte(after), lim}
	if end := prefixEnd([]byte(prefix)); end != nil {
		sql, args = sqlListEnd, append(args, end)
	}
	ctx, cancel := t.s.opCtx(t.ctx)
	defer cancel()
	rows, err := t.pg.Query(ctx, sql, args...)
	if err != nil {
		return nil, t.fail("list", err)
	}
	defer rows.Close()
	out := []storage.Entry{}
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, t.fail("list", err)
		}
		out = append(out, storage.Entry{Key: string(k), Value: nonNil(v)})
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail("list", err)
	}
	return out, nil
}

// prefixEnd returns the smallest key greater than every key that starts
// with prefix, or nil when there is none (prefix empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// nonNil returns v, or an empty slice for nil (pgx sends a nil slice as
// NULL, and callers expect an empty value to read back non-nil).
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
