package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// schemaFS holds the migrations, schema/NNNN_name.sql, applied in order.
//
//go:embed schema/*.sql
var schemaFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order; their
// versions must be 1, 2, 3, ... (checked by a test).
func migrations() ([]migration, error) {
	files, err := fs.Glob(schemaFS, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("pgstore: migration file %s: want NNNN_name.sql", f)
		}
		b, err := schemaFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("pgstore: migrations are not numbered 1, 2, 3, ...: %d is at position %d", m.version, i+1)
		}
	}
	return ms, nil
}

// migrateWait bounds how long Open waits for another node's migration.
const migrateWait = 2 * time.Minute

// migrate applies the migrations the database lacks. A session advisory
// lock on a connection of its own makes concurrent starts take turns: the
// first applies, the others then find nothing left to do. The lock goes
// with the connection, also if this process dies halfway.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	cctx, cancel := s.opCtx(ctx)
	conn, err := pgx.ConnectConfig(cctx, s.connCfg.Copy())
	cancel()
	if err != nil {
		return s.wrap(ctx, "connect", err)
	}
	defer conn.Close(context.Background())

	lctx, cancel := context.WithTimeout(ctx, migrateWait)
	defer cancel()
	if _, err := conn.Exec(lctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return s.wrap(ctx, "wait for the schema lock", err)
	}
	const create = `CREATE TABLE IF NOT EXISTS trent_schema (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied timestamptz NOT NULL DEFAULT now())`
	if _, err := conn.Exec(lctx, create); err != nil {
		return s.wrap(ctx, "create trent_schema", err)
	}
	var current int
	if err := conn.QueryRow(lctx, "SELECT coalesce(max(version), 0) FROM trent_schema").Scan(&current); err != nil {
		return s.wrap(ctx, "read the schema version", err)
	}
	if latest := len(ms); current > latest {
		return fmt.Errorf("pgstore: the database schema is at version %d, newer than this trent knows (%d): upgrade trent", current, latest)
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(lctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(lctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(lctx, "INSERT INTO trent_schema (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return s.wrap(ctx, fmt.Sprintf("apply migration %d (%s)", m.version, m.name), err)
		}
		s.log.Info("pgstore: schema migration applied", "version", m.version, "name", m.name)
	}
	return nil
}
