package pgstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

var ctx = context.Background()

// sqlConn is a plain connection to the test database, for what a store
// would never do.
func sqlConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(ctx) })
	return c
}

func put(t *testing.T, s storage.Store, key, value string) {
	t.Helper()
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put(key, []byte(value)) }); err != nil {
		t.Fatalf("Update(Put %q) err = %v", key, err)
	}
}

func watch(t *testing.T, s *pgstore.Store, since uint64) <-chan storage.Change {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	ch, err := s.Watch(wctx, since)
	if err != nil {
		t.Fatalf("Watch() err = %v", err)
	}
	return ch
}

// within returns the next change, failing if none comes within d.
func within(t *testing.T, ch <-chan storage.Change, d time.Duration) storage.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(d):
		t.Fatalf("no change within %v", d)
	}
	panic("unreachable")
}

// Two stores on one database are two nodes: what one commits, the other's
// watch delivers.
func TestWatchOtherNode(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := mustOpen(t, url, pgstore.Options{})
	b := mustOpen(t, url, pgstore.Options{})
	ch := watch(t, b, 0)
	put(t, a, "kms/key/x", "1")
	if c := within(t, ch, 10*time.Second); !slices.Equal(c.Keys, []string{"kms/key/x"}) {
		t.Errorf("node B got %+v, want the change of kms/key/x", c)
	}
	va, _ := a.Version(ctx)
	vb, _ := b.Version(ctx)
	if va != vb || va == 0 {
		t.Errorf("Version() on A = %d, on B = %d, want the same, non-zero", va, vb)
	}
}

// A change whose notification never came (here: a change log row written
// without NOTIFY) is delivered by the poll of the change log.
func TestWatchMissedNotification(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s := mustOpen(t, url, pgstore.Options{Poll: 300 * time.Millisecond})
	ch := watch(t, s, 0)
	put(t, s, "first", "1")
	within(t, ch, 10*time.Second)
	start := time.Now()
	if _, err := sqlConn(t, url).Exec(ctx, `INSERT INTO trent_changes (keys) VALUES (ARRAY['silent'::bytea])`); err != nil {
		t.Fatal(err)
	}
	c := within(t, ch, 10*time.Second)
	if !slices.Equal(c.Keys, []string{"silent"}) {
		t.Errorf("got %+v, want the silent change", c)
	}
	t.Logf("silent change delivered after %v (poll 300ms)", time.Since(start))
}

// The watch's connection is terminated while commits go on: it reconnects
// and delivers every change, in order, once.
func TestWatchReconnect(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s := mustOpen(t, url, pgstore.Options{Poll: 300 * time.Millisecond})
	ch := watch(t, s, 0)
	put(t, s, "k/0", "x")
	within(t, ch, 10*time.Second)
	admin := sqlConn(t, url)
	var killed int
	err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'trent watch'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the watch's backend: %d terminated, err = %v", killed, err)
	}
	for i := 1; i <= 5; i++ {
		put(t, s, fmt.Sprintf("k/%d", i), "x")
	}
	for i := 1; i <= 5; i++ {
		c := within(t, ch, 15*time.Second)
		if want := fmt.Sprintf("k/%d", i); !slices.Equal(c.Keys, []string{want}) {
			t.Errorf("change %d = %+v, want %s", i, c, want)
		}
	}
	select {
	case c := <-ch:
		t.Errorf("extra change %+v", c)
	case <-time.After(500 * time.Millisecond):
	}
}

// A watch from a version whose history was pruned starts with a Reset.
func TestWatchReset(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.URL(t), pgstore.Options{Retention: 4})
	for i := range 20 {
		put(t, s, fmt.Sprintf("k/%d", i), "x")
	}
	v, err := s.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := watch(t, s, 1)
	c := within(t, ch, 10*time.Second)
	if !c.Reset || c.Version == 0 || c.Version > v || len(c.Keys) != 0 {
		t.Fatalf("first change of Watch(1) after pruning = %+v, want a Reset at a version <= %d", c, v)
	}
	for c.Version < v {
		c = within(t, ch, 10*time.Second)
		if c.Reset {
			t.Fatalf("second Reset %+v", c)
		}
	}
	put(t, s, "after", "x")
	if c := within(t, ch, 10*time.Second); !slices.Equal(c.Keys, []string{"after"}) {
		t.Errorf("after the Reset got %+v, want the next change", c)
	}
	// A recent version is still served from the log, without a Reset.
	ch = watch(t, s, v-1)
	if c := within(t, ch, 10*time.Second); c.Reset || c.Version != v {
		t.Errorf("Watch(%d) first change = %+v, want version %d", v-1, c, v)
	}
}
