package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trent-kms/trent/internal/storage"
)

// RunWatcher exercises the contract documented on storage.Watcher. open
// must return a new, empty store that implements it.
func RunWatcher(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store, w storage.Watcher)
	}{
		{"Version", testVersion},
		{"Deliver", testDeliver},
		{"Replay", testReplay},
		{"ConcurrentCommits", testConcurrentCommits},
		{"DeliveredAfterCommit", testDeliveredAfterCommit},
		{"Cancel", testWatchCancel},
		{"Close", testWatchClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			w, ok := s.(storage.Watcher)
			if !ok {
				t.Fatalf("%T does not implement storage.Watcher", s)
			}
			tc.fn(t, s, w)
		})
	}
}

// waitLimit bounds every wait for a change: a contract violation shows up
// as a failure, not a hung test. It is not a performance target.
const waitLimit = 20 * time.Second

func version(t *testing.T, w storage.Watcher) uint64 {
	t.Helper()
	v, err := w.Version(ctx)
	if err != nil {
		t.Fatalf("Version() err = %v", err)
	}
	return v
}

func watch(t *testing.T, w storage.Watcher, since uint64) <-chan storage.Change {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	ch, err := w.Watch(wctx, since)
	if err != nil {
		t.Fatalf("Watch(%d) err = %v", since, err)
	}
	return ch
}

// next returns the next change, failing the test if none comes in time.
func next(t *testing.T, ch <-chan storage.Change) storage.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatalf("watch channel closed, want a change")
		}
		return c
	case <-time.After(waitLimit):
		t.Fatalf("no change within %v", waitLimit)
	}
	panic("unreachable")
}

// quiet checks that no change arrives for a moment.
func quiet(t *testing.T, ch <-chan storage.Change, d time.Duration) {
	t.Helper()
	select {
	case c, ok := <-ch:
		if ok {
			t.Errorf("unexpected change %+v", c)
		}
	case <-time.After(d):
	}
}

func testVersion(t *testing.T, s storage.Store, w storage.Watcher) {
	if v := version(t, w); v != 0 {
		t.Errorf("Version() of an empty store = %d, want 0", v)
	}
	mustPut(t, s, "a", "1", "b", "2")
	v1 := version(t, w)
	if v1 == 0 {
		t.Fatalf("Version() after a write = 0, want > 0")
	}
	// None of these commits a change.
	_ = s.Update(ctx, func(tx storage.Tx) error {
		_ = tx.Put("c", []byte("3"))
		return errTest
	})
	mustUpdate(t, s, func(tx storage.Tx) error {
		if err := tx.Create("a", []byte("x")); !errors.Is(err, storage.ErrExists) {
			t.Errorf("Create(existing) err = %v, want ErrExists", err)
		}
		if err := tx.Delete("missing"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Delete(missing) err = %v, want ErrNotFound", err)
		}
		_, err := tx.Get("a")
		return err
	})
	_ = s.View(ctx, func(tx storage.Tx) error { _, err := tx.List("", "", 0); return err })
	if v := version(t, w); v != v1 {
		t.Errorf("Version() after transactions that changed nothing = %d, want %d", v, v1)
	}
	mustUpdate(t, s, func(tx storage.Tx) error { return tx.Delete("a") })
	if v := version(t, w); v <= v1 {
		t.Errorf("Version() after a Delete = %d, want > %d", v, v1)
	}
}

func testDeliver(t *testing.T, s storage.Store, w storage.Watcher) {
	mustPut(t, s, "old", "x")
	v0 := version(t, w)
	ch := watch(t, w, v0)
	quiet(t, ch, 100*time.Millisecond) // nothing after v0 yet
	mustUpdate(t, s, func(tx storage.Tx) error {
		for _, op := range []func() error{
			func() error { return tx.Put("k/b", []byte("1")) },
			func() error { return tx.Create("k/a", []byte("2")) },
			func() error { return tx.Put("k/b", []byte("3")) }, // twice: listed once
			func() error { return tx.Delete("old") },
		} {
			if err := op(); err != nil {
				return err
			}
		}
		return nil
	})
	// A rolled-back transaction is never delivered.
	_ = s.Update(ctx, func(tx storage.Tx) error { _ = tx.Put("rolled/back", nil); return errTest })
	mustUpdate(t, s, func(tx storage.Tx) error { return tx.Delete("k/a") })

	c1 := next(t, ch)
	if diff := cmp.Diff([]string{"k/a", "k/b", "old"}, c1.Keys); diff != "" || c1.Reset {
		t.Errorf("first change keys (-want +got):\n%s (reset %v)", diff, c1.Reset)
	}
	c2 := next(t, ch)
	if diff := cmp.Diff([]string{"k/a"}, c2.Keys); diff != "" {
		t.Errorf("second change keys (-want +got):\n%s", diff)
	}
	if !(v0 < c1.Version && c1.Version < c2.Version) {
		t.Errorf("versions %d, %d after %d, want increasing", c1.Version, c2.Version, v0)
	}
	if v := version(t, w); v != c2.Version {
		t.Errorf("Version() = %d, want the last change's %d", v, c2.Version)
	}
	if c1.Time.IsZero() || c2.Time.Before(c1.Time.Add(-time.Minute)) {
		t.Errorf("change times %v, %v: want set and about ordered", c1.Time, c2.Time)
	}
	quiet(t, ch, 200*time.Millisecond)
}

func testReplay(t *testing.T, s storage.Store, w storage.Watcher) {
	var vs []uint64
	for i := range 3 {
		mustPut(t, s, fmt.Sprintf("r/%d", i), "v")
		vs = append(vs, version(t, w))
	}
	// Changes committed before Watch are delivered from since on.
	ch := watch(t, w, 0)
	for i := range 3 {
		c := next(t, ch)
		if c.Version != vs[i] || !slices.Equal(c.Keys, []string{fmt.Sprintf("r/%d", i)}) {
			t.Errorf("replayed change %d = %+v, want version %d key r/%d", i, c, vs[i], i)
		}
	}
	ch = watch(t, w, vs[1])
	if c := next(t, ch); c.Version != vs[2] {
		t.Errorf("Watch(%d) first change version = %d, want %d", vs[1], c.Version, vs[2])
	}
	quiet(t, ch, 100*time.Millisecond)
}

// testConcurrentCommits checks exactly-once, in-order delivery while many
// transactions commit at once, some of them conflicting.
func testConcurrentCommits(t *testing.T, s storage.Store, w storage.Watcher) {
	const writers, rounds = 6, 10
	ch := watch(t, w, version(t, w))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			for i := range rounds {
				err := s.Update(ctx, func(tx storage.Tx) error {
					// Every transaction also bumps a shared counter: conflicts.
					n := 0
					if v, err := tx.Get("c/shared"); err == nil {
						n, _ = strconv.Atoi(string(v))
					}
					if err := tx.Put("c/shared", []byte(strconv.Itoa(n+1))); err != nil {
						return err
					}
					return tx.Put(fmt.Sprintf("p/%d/%d", g, i), []byte("x"))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Update() err = %v", err)
	}
	seen := map[string]bool{}
	var last uint64
	for range writers * rounds {
		c := next(t, ch)
		if c.Version <= last {
			t.Errorf("version %d after %d, want increasing", c.Version, last)
		}
		last = c.Version
		if len(c.Keys) != 2 || c.Keys[0] != "c/shared" {
			t.Errorf("change %d keys = %q, want c/shared and one private key", c.Version, c.Keys)
			continue
		}
		if seen[c.Keys[1]] {
			t.Errorf("change of %s delivered twice", c.Keys[1])
		}
		seen[c.Keys[1]] = true
	}
	if len(seen) != writers*rounds {
		t.Errorf("got %d distinct changes, want %d", len(seen), writers*rounds)
	}
	if v := version(t, w); v != last {
		t.Errorf("Version() = %d, want the last delivered %d", v, last)
	}
	quiet(t, ch, 200*time.Millisecond)
}

// testDeliveredAfterCommit: when a change arrives, a new transaction reads
// what it wrote (or something newer).
func testDeliveredAfterCommit(t *testing.T, s storage.Store, w storage.Watcher) {
	const n = 20
	ch := watch(t, w, version(t, w))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			if err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put("seq", []byte(strconv.Itoa(i))) }); err != nil {
				t.Errorf("Update() err = %v", err)
				return
			}
		}
	}()
	for i := 1; i <= n; i++ {
		next(t, ch)
		v, ok := get(t, s, "seq")
		if got, _ := strconv.Atoi(string(v)); !ok || got < i {
			t.Errorf("after change %d, seq = %q, want >= %d", i, v, i)
		}
	}
	<-done
}

func testWatchCancel(t *testing.T, s storage.Store, w storage.Watcher) {
	wctx, cancel := context.WithCancel(ctx)
	ch, err := w.Watch(wctx, 0)
	if err != nil {
		t.Fatalf("Watch() err = %v", err)
	}
	cancel()
	wantClosed(t, ch)
	if _, err := w.Watch(wctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch(canceled ctx) err = %v, want context.Canceled", err)
	}
}

func testWatchClose(t *testing.T, s storage.Store, w storage.Watcher) {
	ch := watch(t, w, 0)
	mustPut(t, s, "k", "v")
	next(t, ch)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() err = %v", err)
	}
	wantClosed(t, ch)
	if _, err := w.Watch(ctx, 0); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Watch() after Close err = %v, want ErrClosed", err)
	}
	if _, err := w.Version(ctx); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Version() after Close err = %v, want ErrClosed", err)
	}
}

func wantClosed(t *testing.T, ch <-chan storage.Change) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("watch channel still open %v after its end", waitLimit)
		}
	}
}
