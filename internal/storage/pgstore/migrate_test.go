package pgstore_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

// Several nodes starting at once on a new database: every one opens, and
// each migration is applied once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := pgstore.Open(ctx, url, pgstore.Options{})
			if err != nil {
				t.Errorf("Open() err = %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	var n, distinct int
	if err := sqlConn(t, url).QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM trent_schema`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("trent_schema has %d rows for %d versions, want one row per migration", n, distinct)
	}
	// Opening again changes nothing.
	mustOpen(t, url, pgstore.Options{})
	var again int
	sqlConn(t, url).QueryRow(ctx, `SELECT count(*) FROM trent_schema`).Scan(&again)
	if again != n {
		t.Errorf("after a reopen trent_schema has %d rows, want %d", again, n)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	mustOpen(t, url, pgstore.Options{})
	if _, err := sqlConn(t, url).Exec(ctx, `INSERT INTO trent_schema (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	_, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open() of a newer schema err = %v, want a refusal", err)
	}
}
