package pgstore

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

func TestMigrationsNumbered(t *testing.T) {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		t.Fatalf("migrations() = %d, %v", len(ms), err)
	}
}

// TestCommitFailure kills the transaction's session at each stage of the
// end of an Update (before the change log, before the commit): Update
// fails with ErrUnavailable, and nothing of the transaction is readable,
// neither its records nor a change log entry.
func TestCommitFailure(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"before-log", "before-commit"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := pgtest.URL(t)
			s, err := Open(ctx, url, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put("kept", []byte("v1")) }); err != nil {
				t.Fatal(err)
			}
			v0, _ := s.Version(ctx)
			admin, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(ctx)
			s.testHook = func(at string) {
				if at != stage {
					return
				}
				// Every session of the pool that is inside a transaction:
				// the one running this Update.
				_, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
					WHERE datname = current_database() AND application_name = 'trent' AND state LIKE 'idle in transaction%'`)
				if err != nil {
					t.Errorf("terminate: %v", err)
				}
			}
			err = s.Update(ctx, func(tx storage.Tx) error {
				for _, k := range []string{"half/1", "half/2"} {
					if err := tx.Put(k, []byte("x")); err != nil {
						return err
					}
				}
				return tx.Delete("kept")
			})
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("Update() with its session killed %s err = %v, want ErrUnavailable", stage, err)
			}
			s.testHook = nil
			var keys []string
			err = s.View(ctx, func(tx storage.Tx) error {
				es, err := tx.List("", "", 0)
				for _, e := range es {
					keys = append(keys, e.Key)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || keys[0] != "kept" {
				t.Errorf("store holds %q, want only kept", keys)
			}
			if v, _ := s.Version(ctx); v != v0 {
				t.Errorf("Version() = %d after a failed commit, want %d", v, v0)
			}
		})
	}
}
