package pgstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
	"github.com/trent-kms/trent/internal/storage/storagetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func mustOpen(t *testing.T, url string, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open() err = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel() // its subtests run in order; other tests overlap with them
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return mustOpen(t, pgtest.URL(t), pgstore.Options{})
	})
}

func TestWatcherConformance(t *testing.T) {
	t.Parallel()
	storagetest.RunWatcher(t, func(t *testing.T) storage.Store {
		return mustOpen(t, pgtest.URL(t), pgstore.Options{})
	})
}
