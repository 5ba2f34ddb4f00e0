package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trent-kms/trent/internal/storage"
)

// TestGroupCommit runs many concurrent Updates, some of which fail, panic
// or conflict, so that they share batches: each succeeds or fails as it
// would alone, a failed one leaves nothing behind, and what every
// successful one wrote is there after the store is reopened.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trent.db")
	s := mustOpen(t, path)
	const n = 200
	var created atomic.Int32
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					results[i] = fmt.Sprint("panic:", p)
				}
			}()
			err := s.Update(ctx, func(tx storage.Tx) error {
				if err := tx.Put("k/"+strconv.Itoa(i), []byte("v")); err != nil {
					return err
				}
				switch i % 4 {
				case 1: // fails after writing: nothing of it may remain
					return errors.New("abort")
				case 2:
					panic("boom")
				case 3: // all of these race for one key: one wins
					if err := tx.Create("the-one", []byte(strconv.Itoa(i))); err != nil {
						return err
					}
					created.Add(1)
				}
				return nil
			})
			if results[i] == "" {
				results[i] = fmt.Sprint(err)
			}
		})
	}
	wg.Wait()
	wins := 0
	for i, r := range results {
		want := map[int]string{0: "<nil>", 1: "abort", 2: "panic:boom"}[i%4]
		if i%4 == 3 {
			if r == "<nil>" {
				wins++
				continue
			}
			want = storage.ErrExists.Error()
		}
		if r != want {
			t.Errorf("Update %d = %q, want %q", i, r, want)
		}
	}
	if wins != 1 {
		t.Errorf("%d Creates of one key succeeded, want 1", wins)
	}
	check := func(s storage.Store) {
		t.Helper()
		err := s.View(ctx, func(tx storage.Tx) error {
			for i := range n {
				_, err := tx.Get("k/" + strconv.Itoa(i))
				ok := i%4 == 0 || (i%4 == 3 && results[i] == "<nil>")
				if ok != (err == nil) {
					t.Errorf("k/%d: Get err = %v, want present %v", i, err, ok)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(mustOpen(t, path))
}

// TestGroupCommitCanceled: an Update whose context ends while it waits
// for its batch does not run (and says so); the others commit.
func TestGroupCommitCanceled(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, filepath.Join(t.TempDir(), "trent.db"))
	hold, release := make(chan struct{}), make(chan struct{})
	go s.Update(ctx, func(tx storage.Tx) error { // keeps the committer busy
		close(hold)
		<-release
		return tx.Put("first", nil)
	})
	<-hold
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() { errc <- s.Update(cctx, func(tx storage.Tx) error { return tx.Put("canceled", nil) }) }()
	go func() { errc <- s.Update(ctx, func(tx storage.Tx) error { return tx.Put("kept", nil) }) }()
	for s.Waiting() < 2 {
		runtime.Gosched()
	}
	cancel()
	close(release)
	var errs []error
	errs = append(errs, <-errc, <-errc)
	if !(errors.Is(errs[0], context.Canceled) != errors.Is(errs[1], context.Canceled)) || (errs[0] != nil && errs[1] != nil) {
		t.Fatalf("Update errs = %v, want one context.Canceled and one nil", errs)
	}
	err := s.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get("canceled"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the canceled Update wrote: Get err = %v", err)
		}
		if _, err := tx.Get("kept"); err != nil {
			t.Errorf("the other Update of the batch: Get err = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkUpdate is one small durable write (a Put, committed and fsynced)
// by `writers` concurrent writers: with group commit, the writes that wait
// while one commits share the next commit.
func BenchmarkUpdate(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "trent.db"))
			val := make([]byte, 1024)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if err := s.Update(context.Background(), func(tx storage.Tx) error {
							return tx.Put("kms/key/"+strconv.FormatInt(i, 10), val)
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
