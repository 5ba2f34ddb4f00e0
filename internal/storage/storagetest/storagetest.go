// Package storagetest is the conformance suite for storage.Store. Every
// implementation (and every wrapper, such as the barrier) runs it from one
// short test:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return memstore.New() })
//	}
//
// open must return a new, empty store each time it is called. The suite
// closes every store it opens.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trent-kms/trent/internal/storage"
)

// Run exercises the contract documented on storage.Store and storage.Tx.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"PutReplace", testPutReplace},
		{"EmptyValue", testEmptyValue},
		{"LargeValue", testLargeValue},
		{"KeyLength", testKeyLength},
		{"CreateExists", testCreateExists},
		{"DeleteMissing", testDeleteMissing},
		{"Delete", testDelete},
		{"List", testList},
		{"ListPaging", testListPaging},
		{"ReadYourWrites", testReadYourWrites},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ViewReturnsError", testViewReturnsError},
		{"ValuesAreCopies", testValuesAreCopies},
		{"TxAfterReturn", testTxAfterReturn},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

var errTest = errors.New("storagetest: deliberate failure")

func mustUpdate(t *testing.T, s storage.Store, fn func(storage.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("Update() err = %v, want nil", err)
	}
}

func mustPut(t *testing.T, s storage.Store, kv ...string) {
	t.Helper()
	if len(kv)%2 != 0 {
		panic("storagetest: mustPut needs key/value pairs")
	}
	mustUpdate(t, s, func(tx storage.Tx) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put(kv[i], []byte(kv[i+1])); err != nil {
				return fmt.Errorf("Put(%q): %w", kv[i], err)
			}
		}
		return nil
	})
}

// get reads key in its own View; missing keys give ok=false.
func get(t *testing.T, s storage.Store, key string) (value []byte, ok bool) {
	t.Helper()
	err := s.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get(key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		value, ok = v, true
		return nil
	})
	if err != nil {
		t.Fatalf("View(Get(%q)) err = %v", key, err)
	}
	return value, ok
}

func wantValue(t *testing.T, s storage.Store, key, want string) {
	t.Helper()
	got, ok := get(t, s, key)
	if !ok {
		t.Errorf("Get(%q) = not found, want %q", key, want)
		return
	}
	if string(got) != want {
		t.Errorf("Get(%q) = %q, want %q", key, got, want)
	}
}

// all returns every entry as a map, read with List("", "", 0).
func all(t *testing.T, s storage.Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := s.View(ctx, func(tx storage.Tx) error {
		es, err := tx.List("", "", 0)
		for _, e := range es {
			m[e.Key] = string(e.Value)
		}
		return err
	})
	if err != nil {
		t.Fatalf("View(List) err = %v", err)
	}
	return m
}

func keysOf(es []storage.Entry) []string {
	ks := []string{}
	for _, e := range es {
		ks = append(ks, e.Key)
	}
	return ks
}

func testGetMissing(t *testing.T, s storage.Store) {
	err := s.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get("kms/missing")
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(missing) = %q, %v, want ErrNotFound", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View() err = %v", err)
	}
}

func testPutGet(t *testing.T, s storage.Store) {
	keys := []string{"a", "kms/key/us-east-1/111122223333/abc", "with space/ü/\x00nul", "\xff\xfe"}
	for _, k := range keys {
		mustPut(t, s, k, "value of "+k)
	}
	for _, k := range keys {
		wantValue(t, s, k, "value of "+k)
	}
}

func testPutReplace(t *testing.T, s storage.Store) {
	mustPut(t, s, "k", "one")
	mustPut(t, s, "k", "two, longer than one")
	wantValue(t, s, "k", "two, longer than one")
	mustPut(t, s, "k", "3")
	wantValue(t, s, "k", "3")
	if got := all(t, s); len(got) != 1 {
		t.Errorf("after replacing one key, store holds %d entries, want 1: %q", len(got), got)
	}
}

func testEmptyValue(t *testing.T, s storage.Store) {
	mustUpdate(t, s, func(tx storage.Tx) error {
		if err := tx.Put("nil", nil); err != nil {
			return err
		}
		return tx.Create("empty", []byte{})
	})
	for _, k := range []string{"nil", "empty"} {
		got, ok := get(t, s, k)
		if !ok || len(got) != 0 {
			t.Errorf("Get(%q) = %q, found=%v, want empty value, found", k, got, ok)
		}
	}
}

func testLargeValue(t *testing.T, s storage.Store) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	mustUpdate(t, s, func(tx storage.Tx) error { return tx.Put("big", big) })
	got, _ := get(t, s, "big")
	if !bytes.Equal(got, big) {
		t.Errorf("Get(big) returned %d bytes, want the %d bytes stored", len(got), len(big))
	}
}

func testKeyLength(t *testing.T, s storage.Store) {
	err := s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put("", []byte("v")); err == nil {
			t.Errorf(`Put("") err = nil, want an error`)
		}
		if err := tx.Create("", []byte("v")); err == nil {
			t.Errorf(`Create("") err = nil, want an error`)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update() err = %v", err)
	}
	if got := all(t, s); len(got) != 0 {
		t.Errorf("store holds %q after rejected empty keys, want nothing", got)
	}
	longest, tooLong := strings.Repeat("k", 32768), strings.Repeat("k", 32769)
	mustUpdate(t, s, func(tx storage.Tx) error { return tx.Put(longest, []byte("v")) })
	err = s.Update(ctx, func(tx storage.Tx) error { return tx.Put(tooLong, []byte("v")) })
	if err == nil {
		t.Errorf("Put(32769-byte key) err = nil, want an error")
	}
	got := all(t, s)
	if len(got) != 1 || got[longest] != "v" {
		t.Errorf("after Put(32768-byte key) and Put(32769-byte key) the store holds %d entries, want only the 32768-byte key", len(got))
	}
}

func testCreateExists(t *testing.T, s storage.Store) {
	mustUpdate(t, s, func(tx storage.Tx) error { return tx.Create("k", []byte("first")) })
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.Create("k", []byte("second")) })
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("Create(existing) err = %v, want ErrExists", err)
	}
	wantValue(t, s, "k", "first")

	// ErrExists inside a tx that then goes on and commits.
	mustUpdate(t, s, func(tx storage.Tx) error {
		if err := tx.Create("k", []byte("third")); !errors.Is(err, storage.ErrExists) {
			t.Errorf("Create(existing) in tx err = %v, want ErrExists", err)
		}
		return tx.Create("k2", []byte("other"))
	})
	wantValue(t, s, "k", "first")
	wantValue(t, s, "k2", "other")
}

func testDeleteMissing(t *testing.T, s storage.Store) {
	mustPut(t, s, "present", "v")
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.Delete("absent") })
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete(missing) err = %v, want ErrNotFound", err)
	}
	wantValue(t, s, "present", "v")
}

func testDelete(t *testing.T, s storage.Store) {
	mustPut(t, s, "a", "1", "b", "2", "c", "3")
	mustUpdate(t, s, func(tx storage.Tx) error { return tx.Delete("b") })
	if diff := cmp.Diff(map[string]string{"a": "1", "c": "3"}, all(t, s)); diff != "" {
		t.Errorf("after Delete(b) (-want +got):\n%s", diff)
	}
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.Delete("b") })
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second Delete(b) err = %v, want ErrNotFound", err)
	}
	// A deleted key can be created again.
	mustUpdate(t, s, func(tx storage.Tx) error { return tx.Create("b", []byte("again")) })
	wantValue(t, s, "b", "again")
}

func testList(t *testing.T, s storage.Store) {
	// Inserted out of order; byte order is "a" < "a/" < "a/b" < "a/c" < "a0" < "b" < "b/x" < "\xff".
	mustPut(t, s, "b/x", "5", "a/c", "3", "a", "0", "\xff", "7", "a0", "4", "a/b", "2", "b", "6", "a/", "1")
	tests := []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"", "", 0, []string{"a", "a/", "a/b", "a/c", "a0", "b", "b/x", "\xff"}},
		{"", "", -1, []string{"a", "a/", "a/b", "a/c", "a0", "b", "b/x", "\xff"}},
		{"a/", "", 0, []string{"a/", "a/b", "a/c"}},
		{"a", "", 0, []string{"a", "a/", "a/b", "a/c", "a0"}},
		{"a/", "a/", 0, []string{"a/b", "a/c"}},
		{"a/", "a/b", 0, []string{"a/c"}},
		{"a/", "a/bb", 0, []string{"a/c"}},
		{"a/", "a/c", 0, []string{}},
		{"a/", "", 2, []string{"a/", "a/b"}},
		{"", "a0", 2, []string{"b", "b/x"}},
		{"", "", 100, []string{"a", "a/", "a/b", "a/c", "a0", "b", "b/x", "\xff"}},
		{"b", "a", 0, []string{"b", "b/x"}}, // after sorts before prefix
		{"a/", "b", 0, []string{}},          // after sorts past every match
		{"c", "", 0, []string{}},
		{"a/b/", "", 0, []string{}},
		{"\xff", "", 0, []string{"\xff"}},
	}
	err := s.View(ctx, func(tx storage.Tx) error {
		for _, tc := range tests {
			es, err := tx.List(tc.prefix, tc.after, tc.limit)
			if err != nil {
				t.Errorf("List(%q, %q, %d) err = %v", tc.prefix, tc.after, tc.limit, err)
				continue
			}
			if diff := cmp.Diff(tc.want, keysOf(es)); diff != "" {
				t.Errorf("List(%q, %q, %d) keys (-want +got):\n%s", tc.prefix, tc.after, tc.limit, diff)
			}
			for _, e := range es {
				want := map[string]string{"a": "0", "a/": "1", "a/b": "2", "a/c": "3", "a0": "4", "b": "6", "b/x": "5", "\xff": "7"}[e.Key]
				if string(e.Value) != want {
					t.Errorf("List(%q, %q, %d) value of %q = %q, want %q", tc.prefix, tc.after, tc.limit, e.Key, e.Value, want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View() err = %v", err)
	}
}

func testListPaging(t *testing.T, s storage.Store) {
	const n = 57
	var want []string
	mustUpdate(t, s, func(tx storage.Tx) error {
		for i := range n {
			k := fmt.Sprintf("page/%03d", i)
			want = append(want, k)
			if err := tx.Put(k, []byte(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		// Neighbours that must never appear.
		if err := tx.Put("pagf", []byte("x")); err != nil {
			return err
		}
		return tx.Put("pag", []byte("x"))
	})
	for _, limit := range []int{1, 2, 10, 56, 57, 58} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > n+1 {
				t.Fatalf("limit %d: paging does not terminate", limit)
			}
			var es []storage.Entry
			err := s.View(ctx, func(tx storage.Tx) (err error) {
				es, err = tx.List("page/", after, limit)
				return err
			})
			if err != nil {
				t.Fatalf("List() err = %v", err)
			}
			if len(es) > limit {
				t.Fatalf("List(limit %d) returned %d entries", limit, len(es))
			}
			got = append(got, keysOf(es)...)
			if len(es) < limit {
				break
			}
			after = es[len(es)-1].Key
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("paging with limit %d (-want +got):\n%s", limit, diff)
		}
	}
}

func testReadYourWrites(t *testing.T, s storage.Store) {
	mustPut(t, s, "r/old", "old", "r/gone", "gone")
	mustUpdate(t, s, func(tx storage.Tx) error {
		if err := tx.Put("r/new", []byte("new")); err != nil {
			return err
		}
		if err := tx.Put("r/old", []byte("replaced")); err != nil {
			return err
		}
		if err := tx.Delete("r/gone"); err != nil {
			return err
		}
		if v, err := tx.Get("r/new"); err != nil || string(v) != "new" {
			t.Errorf("Get(r/new) in tx = %q, %v, want %q", v, err, "new")
		}
		if v, err := tx.Get("r/old"); err != nil || string(v) != "replaced" {
			t.Errorf("Get(r/old) in tx = %q, %v, want %q", v, err, "replaced")
		}
		if _, err := tx.Get("r/gone"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(deleted) in tx err = %v, want ErrNotFound", err)
		}
		if err := tx.Create("r/new", nil); !errors.Is(err, storage.ErrExists) {
			t.Errorf("Create(written in tx) err = %v, want ErrExists", err)
		}
		if err := tx.Create("r/gone", []byte("back")); err != nil {
			t.Errorf("Create(deleted in tx) err = %v, want nil", err)
		}
		if err := tx.Delete("r/gone"); err != nil {
			t.Errorf("Delete(created in tx) err = %v, want nil", err)
		}
		es, err := tx.List("r/", "", 0)
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, e := range es {
			got[e.Key] = string(e.Value)
		}
		if diff := cmp.Diff(map[string]string{"r/new": "new", "r/old": "replaced"}, got); diff != "" {
			t.Errorf("List in tx (-want +got):\n%s", diff)
		}
		return nil
	})
	if diff := cmp.Diff(map[string]string{"r/new": "new", "r/old": "replaced"}, all(t, s)); diff != "" {
		t.Errorf("after commit (-want +got):\n%s", diff)
	}
}

// dirty makes every kind of write, so that a rollback has something to undo.
func dirty(tx storage.Tx) error {
	for _, w := range []func() error{
		func() error { return tx.Put("x/replaced", []byte("changed")) },
		func() error { return tx.Put("x/new", []byte("new")) },
		func() error { return tx.Create("x/created", []byte("created")) },
		func() error { return tx.Delete("x/deleted") },
		func() error { return tx.Put("x/new", []byte("new twice")) },
		func() error { return tx.Delete("x/new") },
		func() error { return tx.Create("x/new", []byte("new again")) },
		func() error { return tx.Put("x/deleted", []byte("resurrected")) },
	} {
		if err := w(); err != nil {
			return err
		}
	}
	return nil
}

var before = map[string]string{"x/replaced": "original", "x/deleted": "still here", "x/untouched": "u"}

func seedBefore(t *testing.T, s storage.Store) {
	t.Helper()
	mustPut(t, s, "x/replaced", "original", "x/deleted", "still here", "x/untouched", "u")
}

func testRollbackOnError(t *testing.T, s storage.Store) {
	seedBefore(t, s)
	err := s.Update(ctx, func(tx storage.Tx) error {
		if err := dirty(tx); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errTest)
	})
	if !errors.Is(err, errTest) {
		t.Errorf("Update() err = %v, want the error returned by fn", err)
	}
	if diff := cmp.Diff(before, all(t, s)); diff != "" {
		t.Errorf("after rolled-back Update (-want +got):\n%s", diff)
	}
	// The store still accepts writes.
	mustPut(t, s, "x/after", "ok")
	wantValue(t, s, "x/after", "ok")
}

func testRollbackOnPanic(t *testing.T, s storage.Store) {
	seedBefore(t, s)
	type boom struct{ n int }
	func() {
		defer func() {
			r := recover()
			if r != (boom{42}) {
				t.Errorf("recovered %v, want the panic value raised in fn re-raised", r)
			}
		}()
		_ = s.Update(ctx, func(tx storage.Tx) error {
			if err := dirty(tx); err != nil {
				t.Errorf("dirty() err = %v", err)
			}
			panic(boom{42})
		})
		t.Errorf("Update() returned normally after fn panicked")
	}()
	if diff := cmp.Diff(before, all(t, s)); diff != "" {
		t.Errorf("after panicking Update (-want +got):\n%s", diff)
	}
	// Locks were released: writers and readers still work.
	mustPut(t, s, "x/after", "ok")
	wantValue(t, s, "x/after", "ok")
}

func testViewIsReadOnly(t *testing.T, s storage.Store) {
	mustPut(t, s, "k", "v")
	err := s.View(ctx, func(tx storage.Tx) error {
		if err := tx.Put("k", []byte("changed")); err == nil {
			t.Errorf("Put in View err = nil, want an error")
		}
		if err := tx.Put("new", []byte("x")); err == nil {
			t.Errorf("Put(new) in View err = nil, want an error")
		}
		if err := tx.Create("created", []byte("x")); err == nil {
			t.Errorf("Create in View err = nil, want an error")
		}
		if err := tx.Delete("k"); err == nil {
			t.Errorf("Delete in View err = nil, want an error")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View() err = %v", err)
	}
	if diff := cmp.Diff(map[string]string{"k": "v"}, all(t, s)); diff != "" {
		t.Errorf("after writes in View (-want +got):\n%s", diff)
	}
}

func testViewReturnsError(t *testing.T, s storage.Store) {
	err := s.View(ctx, func(tx storage.Tx) error { return fmt.Errorf("wrapped: %w", errTest) })
	if !errors.Is(err, errTest) {
		t.Errorf("View() err = %v, want the error returned by fn", err)
	}
	type boom struct{}
	func() {
		defer func() {
			if r := recover(); r != (boom{}) {
				t.Errorf("recovered %v, want the panic from View's fn", r)
			}
		}()
		_ = s.View(ctx, func(tx storage.Tx) error { panic(boom{}) })
	}()
	mustPut(t, s, "after", "ok") // a panicking View released its locks
}

func testValuesAreCopies(t *testing.T, s storage.Store) {
	in := []byte("original")
	mustUpdate(t, s, func(tx storage.Tx) error {
		if err := tx.Put("put", in); err != nil {
			return err
		}
		if err := tx.Create("created", in); err != nil {
			return err
		}
		in[0] = 'X' // the store must have copied the value on Put/Create
		v, err := tx.Get("put")
		if err != nil {
			return err
		}
		v[1] = 'X' // mutating a Get result inside the tx
		return nil
	})
	wantValue(t, s, "put", "original")
	wantValue(t, s, "created", "original")

	err := s.View(ctx, func(tx storage.Tx) error {
		v, err := tx.Get("put")
		if err != nil {
			return err
		}
		clear(v)
		es, err := tx.List("", "", 0)
		if err != nil {
			return err
		}
		for _, e := range es {
			clear(e.Value)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View() err = %v", err)
	}
	wantValue(t, s, "put", "original")
	wantValue(t, s, "created", "original")

	// Values read in a View stay valid and unchanged after it returns, even
	// when later writes happen (bbolt memory is only valid inside the tx).
	var got []byte
	var listed []storage.Entry
	_ = s.View(ctx, func(tx storage.Tx) (err error) {
		if got, err = tx.Get("put"); err != nil {
			return err
		}
		listed, err = tx.List("", "", 0)
		return err
	})
	mustUpdate(t, s, func(tx storage.Tx) error {
		for i := range 200 {
			if err := tx.Put(fmt.Sprintf("filler/%d", i), bytes.Repeat([]byte{'f'}, 512)); err != nil {
				return err
			}
		}
		return tx.Put("put", []byte("overwritten"))
	})
	if string(got) != "original" {
		t.Errorf("value read in an earlier View = %q, want %q", got, "original")
	}
	for _, e := range listed {
		if string(e.Value) != "original" {
			t.Errorf("List value of %q read in an earlier View = %q, want %q", e.Key, e.Value, "original")
		}
	}
}

func testTxAfterReturn(t *testing.T, s storage.Store) {
	mustPut(t, s, "k", "v")
	var leaked storage.Tx
	mustUpdate(t, s, func(tx storage.Tx) error { leaked = tx; return nil })
	if _, err := leaked.Get("k"); err == nil {
		t.Errorf("Get on a finished Update tx err = nil, want an error")
	}
	if err := leaked.Put("k", []byte("late")); err == nil {
		t.Errorf("Put on a finished Update tx err = nil, want an error")
	}
	if _, err := leaked.List("", "", 0); err == nil {
		t.Errorf("List on a finished Update tx err = nil, want an error")
	}
	_ = s.View(ctx, func(tx storage.Tx) error { leaked = tx; return nil })
	if _, err := leaked.Get("k"); err == nil {
		t.Errorf("Get on a finished View tx err = nil, want an error")
	}
	wantValue(t, s, "k", "v")
}

func testCanceledContext(t *testing.T, s storage.Store) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	called := false
	fn := func(storage.Tx) error { called = true; return nil }
	if err := s.View(cctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("View(canceled ctx) err = %v, want context.Canceled", err)
	}
	if err := s.Update(cctx, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("Update(canceled ctx) err = %v, want context.Canceled", err)
	}
	if called {
		t.Errorf("fn ran under a canceled context")
	}
}

// testConcurrentWriters runs read-modify-write counters from many goroutines
// (with readers alongside); lost updates show up as a wrong total. Run the
// suite with -race.
func testConcurrentWriters(t *testing.T, s storage.Store) {
	const workers, rounds, counters = 8, 25, 3
	var wg sync.WaitGroup
	errs := make(chan error, workers+2)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				key := fmt.Sprintf("ctr/%d", (w+i)%counters)
				err := s.Update(ctx, func(tx storage.Tx) error {
					n := 0
					v, err := tx.Get(key)
					switch {
					case errors.Is(err, storage.ErrNotFound):
					case err != nil:
						return err
					default:
						if n, err = strconv.Atoi(string(v)); err != nil {
							return err
						}
					}
					if err := tx.Put(key, []byte(strconv.Itoa(n+1))); err != nil {
						return err
					}
					// Every other round also writes a private key, then rolls back.
					if i%2 == 1 {
						return nil
					}
					return tx.Put(fmt.Sprintf("ctr/private/%d/%d", w, i), []byte("x"))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := s.View(ctx, func(tx storage.Tx) error {
				_, err := tx.List("ctr/", "", 0)
				return err
			})
			if err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Update/View err = %v", err)
	}
	total := 0
	for c := range counters {
		v, ok := get(t, s, fmt.Sprintf("ctr/%d", c))
		if !ok {
			t.Fatalf("counter %d missing", c)
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			t.Fatalf("counter %d = %q", c, v)
		}
		total += n
	}
	if total != workers*rounds {
		t.Errorf("sum of counters = %d, want %d (lost updates)", total, workers*rounds)
	}
	var private []storage.Entry
	_ = s.View(ctx, func(tx storage.Tx) (err error) {
		private, err = tx.List("ctr/private/", "", 0)
		return err
	})
	if want := workers * ((rounds + 1) / 2); len(private) != want {
		t.Errorf("private keys = %d, want %d", len(private), want)
	}
}

func testClosed(t *testing.T, s storage.Store) {
	mustPut(t, s, "k", "v")
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping() on an open store err = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() err = %v, want nil", err)
	}
	fn := func(storage.Tx) error { t.Errorf("fn ran on a closed store"); return nil }
	if err := s.View(ctx, fn); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("View() after Close err = %v, want ErrClosed", err)
	}
	if err := s.Update(ctx, fn); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Update() after Close err = %v, want ErrClosed", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Ping() after Close err = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() err = %v, want nil", err)
	}
}
