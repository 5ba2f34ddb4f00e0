package kms

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

// storeKinds are the stores the tests below run on: bbolt (one node) and
// PostgreSQL (shared: several nodes may open it).
var storeKinds = []string{"bbolt", "postgres"}

// openStore opens a new store of kind for t; open opens it again (for
// PostgreSQL, another node's connection to the same database; for bbolt,
// the same store).
func openStore(t *testing.T, kind string) (open func() storage.Store, shared bool) {
	t.Helper()
	if kind == "bbolt" {
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "trent.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return func() storage.Store { return st }, false
	}
	url := pgtest.URL(t)
	return func() storage.Store {
		t.Helper()
		st, err := pgstore.Open(context.Background(), url, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}, true
}

// listCounter counts the alias records (not index entries) that the List
// calls of its write transactions return.
type listCounter struct {
	storage.Store
	aliases atomic.Int64
}

func (l *listCounter) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return l.Store.Update(ctx, func(tx storage.Tx) error { return fn(countingTx{tx, l}) })
}

type countingTx struct {
	storage.Tx
	l *listCounter
}

func (c countingTx) List(prefix, after string, limit int) ([]storage.Entry, error) {
	es, err := c.Tx.List(prefix, after, limit)
	for _, e := range es {
		if strings.HasPrefix(e.Key, aliasPathPrefix) {
			c.l.aliases.Add(1)
		}
	}
	return es, err
}

func createAliases(t *testing.T, s *Service, keyID, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: prefix + strconv.Itoa(i), TargetKeyId: keyID}); err != nil {
			t.Fatal(err)
		}
	}
}

func storedPaths(t *testing.T, st storage.Store, prefix string) []string {
	t.Helper()
	var ps []string
	err := st.View(bg, func(tx storage.Tx) error {
		es, err := tx.List(prefix, "", 0)
		for _, e := range es {
			ps = append(ps, e.Key)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestAliasWritesReadOnlyTheKeysAliases: the alias quota of a shared store
// (CreateAlias, UpdateAlias) and the deletion of a key at the end of its
// waiting period read the key's aliases from the per-key index, not every
// alias of the account (which cost 8 ms per write at 10,000 aliases).
func TestAliasWritesReadOnlyTheKeysAliases(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			open, shared := openStore(t, kind)
			lc := &listCounter{Store: open()}
			clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			s, err := New(bg, Config{Store: lc, Now: clk.Now, Shared: shared})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 4 { // 100 aliases of other keys in the account
				createAliases(t, s, mustCreate(t, s), "alias/many"+strconv.Itoa(i)+"-", 25)
			}
			k, other := mustCreate(t, s), mustCreate(t, s)
			lc.aliases.Store(0)
			createAliases(t, s, k, "alias/k", 3)
			if _, err := s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/k0", TargetKeyId: other}); err != nil {
				t.Fatal(err)
			}
			deleteKeyNow(t, s, clk, k)
			if n := lc.aliases.Load(); n != 0 {
				t.Errorf("the alias writes and the key's deletion listed %d alias records, want none (the key's index entries only)", n)
			}
			if got := storedPaths(t, lc, aliasPathPrefix); len(got) != 101 || got[0] != aliasPath(region, acct, "alias/k0") {
				t.Errorf("stored aliases after the key's deletion: %d, first %v; want 101, first alias/k0", len(got), got[:1])
			}
			if got := storedPaths(t, lc, aliasKeyPath(region, acct, k, "")); len(got) != 0 {
				t.Errorf("index entries of the deleted key: %v", got)
			}
			if got := storedPaths(t, lc, aliasKeyPath(region, acct, other, "")); len(got) != 1 || got[0] != aliasKeyPath(region, acct, other, "alias/k0") {
				t.Errorf("index entries of the key alias/k0 moved to: %v", got)
			}
			const seeded = "1234abcd-12ab-34cd-56ef-1234567890ab"
			if err := s.SeedKey(bg, SeedKey{ID: seeded, AccountID: acct, Aliases: []string{"alias/seeded"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeleteAlias(bg, caller, &DeleteAliasInput{AliasName: "alias/many0-0"}); err != nil {
				t.Fatal(err)
			}
			checkAliasIndex(t, lc)
		})
	}
}

// checkAliasIndex fails t unless st's alias index has one entry per stored
// alias, naming its target.
func checkAliasIndex(t *testing.T, st storage.Store) {
	t.Helper()
	err := st.View(bg, func(tx storage.Tx) error {
		as, err := tx.List(aliasPathPrefix, "", 0)
		if err != nil {
			return err
		}
		var want []string
		for _, e := range as {
			var rec aliasRecord
			if err := json.Unmarshal(e.Value, &rec); err != nil {
				return err
			}
			want = append(want, aliasKeyPath(rec.Region, rec.Account, rec.Target, rec.Name))
		}
		slices.Sort(want)
		idx, err := tx.List(aliasKeyPathPrefix, "", 0)
		var got []string
		for _, e := range idx {
			got = append(got, e.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("alias index:\n%s\nwant (from the aliases):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAliasIndexBuiltAtStart: a database written by a release before the
// alias index (its aliases without index entries, or with an entry left
// by a release that did not remove it) gets its index at start, and the
// quota across nodes and a key's deletion then see every alias.
func TestAliasIndexBuiltAtStart(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			open, shared := openStore(t, kind)
			st := open()
			clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			old, err := New(bg, Config{Store: st, Now: clk.Now, Shared: shared})
			if err != nil {
				t.Fatal(err)
			}
			full, other := mustCreate(t, old), mustCreate(t, old)
			createAliases(t, old, full, "alias/full", maxAliasesPerKey-1)
			createAliases(t, old, other, "alias/other", 1)
			// What the earlier release stored: the aliases alone.
			err = st.Update(bg, func(tx storage.Tx) error {
				es, err := tx.List(aliasKeyPathPrefix, "", 0)
				for _, e := range es {
					if err := tx.Delete(e.Key); err != nil {
						return err
					}
				}
				if err != nil {
					return err
				}
				return tx.Put(aliasKeyPath(region, acct, other, "alias/gone"), []byte{})
			})
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(bg, Config{Store: open(), Now: clk.Now, Shared: shared})
			if err != nil {
				t.Fatal(err)
			}
			if got := storedPaths(t, st, aliasKeyPathPrefix); len(got) != maxAliasesPerKey {
				t.Fatalf("%d index entries after the start, want %d", len(got), maxAliasesPerKey)
			}
			if got := storedPaths(t, st, aliasKeyPath(region, acct, other, "")); len(got) != 1 || got[0] != aliasKeyPath(region, acct, other, "alias/other0") {
				t.Errorf("index entries of the other key: %v", got)
			}
			if _, err := s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/last", TargetKeyId: full}); err != nil {
				t.Fatal(err)
			}
			if shared {
				// old has not heard of alias/last.
				_, err := old.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/one-too-many", TargetKeyId: full})
				wantErr(t, err, "LimitExceededException", "*")
			}
			deleteKeyNow(t, s, clk, full)
			if got := storedPaths(t, st, aliasPathPrefix); len(got) != 1 || got[0] != aliasPath(region, acct, "alias/other0") {
				t.Errorf("stored aliases after the deletion of the key: %v, want alias/other0 only", got)
			}
			checkAliasIndex(t, st)
			out, err := s.ListAliases(bg, caller, &ListAliasesInput{KeyId: other})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Aliases) != 1 {
				t.Errorf("aliases of the other key: %+v", out.Aliases)
			}
		})
	}
}

// BenchmarkUpdateAliasShared measures an UpdateAlias on PostgreSQL (a
// shared store: the alias quota is counted again in its transaction) in
// an account of 1,000 and 10,000 aliases (50 per key).
//
//	go test ./internal/kms -run '^$' -bench BenchmarkUpdateAliasShared -benchtime 300x
func BenchmarkUpdateAliasShared(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run("aliases="+strconv.Itoa(n), func(b *testing.B) {
			st, err := pgstore.Open(bg, pgtest.URL(b), pgstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			setup, err := New(bg, Config{Store: st, Shared: true})
			if err != nil {
				b.Fatal(err)
			}
			var keys []string
			for range n / maxAliasesPerKey {
				out, err := setup.CreateKey(bg, caller, &CreateKeyInput{})
				if err != nil {
					b.Fatal(err)
				}
				keys = append(keys, out.KeyMetadata.KeyId)
			}
			// The aliases, written as records (CreateAlias would take a
			// transaction each); New indexes them.
			now := time.Now()
			for start := 0; start < n; start += 1000 {
				err := st.Update(bg, func(tx storage.Tx) error {
					for i := start; i < start+1000 && i < n; i++ {
						a := &alias{name: "alias/filler" + strconv.Itoa(i), region: region, account: acct,
							target: keys[i/maxAliasesPerKey], created: now, updated: now}
						data, err := marshalAlias(a)
						if err != nil {
							return err
						}
						if err := tx.Put(aliasPath(region, acct, a.name), data); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			s, err := New(bg, Config{Store: st, Shared: true})
			if err != nil {
				b.Fatal(err)
			}
			k := [2]string{mustCreateB(b, s), mustCreateB(b, s)}
			if _, err := s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/bench", TargetKeyId: k[0]}); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				if _, err := s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/bench", TargetKeyId: k[i%2]}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustCreateB(b *testing.B, s *Service) string {
	b.Helper()
	out, err := s.CreateKey(bg, caller, &CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	return out.KeyMetadata.KeyId
}

// TestAliasQuotaStaleIndexEntries: during an upgrade, a node of the
// earlier release deletes an alias, or points it to another key, without
// touching the index; the entries it leaves do not refuse an upgraded
// node's aliases (the quota counts the aliases they name, and drops them).
func TestAliasQuotaStaleIndexEntries(t *testing.T) {
	open, _ := openStore(t, "postgres")
	st := open()
	s, err := New(bg, Config{Store: st, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	full, other := mustCreate(t, s), mustCreate(t, s)
	createAliases(t, s, full, "alias/full", maxAliasesPerKey)
	// The earlier release's DeleteAlias of alias/full0 and UpdateAlias of
	// alias/full1 to the other key: the alias records alone.
	moved := s.getAlias(scope{region, acct}, "alias/full1")
	err = st.Update(bg, func(tx storage.Tx) error {
		if err := tx.Delete(aliasPath(region, acct, "alias/full0")); err != nil {
			return err
		}
		data, err := marshalAlias(&alias{name: moved.name, region: region, account: acct, target: other, created: moved.created, updated: moved.updated.Add(time.Second)})
		if err != nil {
			return err
		}
		return tx.Put(aliasPath(region, acct, moved.name), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	// s hears of both by the change feed.
	if err := s.Apply(bg, []string{aliasPath(region, acct, "alias/full0"), aliasPath(region, acct, "alias/full1")}); err != nil {
		t.Fatal(err)
	}
	createAliases(t, s, full, "alias/again", 2)
	_, err = s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/one-too-many", TargetKeyId: full})
	wantErr(t, err, "LimitExceededException", "*")
	if got := storedPaths(t, st, aliasKeyPath(region, acct, full, "")); len(got) != maxAliasesPerKey {
		t.Errorf("%d index entries of the key, want %d", len(got), maxAliasesPerKey)
	}
}

// TestKeyDeletionDeletesUnindexedAliases: during an upgrade, a node of the
// earlier release creates an alias without its index entry; an upgraded
// node that has heard of it deletes it with its key, as AWS does (and as
// the earlier release did).
func TestKeyDeletionDeletesUnindexedAliases(t *testing.T) {
	open, _ := openStore(t, "postgres")
	st := open()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := New(bg, Config{Store: st, Now: clk.Now, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	k := mustCreate(t, s)
	createAliases(t, s, k, "alias/indexed", 1)
	// The earlier release's CreateAlias: the alias record alone.
	now := clk.Now()
	data, err := marshalAlias(&alias{name: "alias/unindexed", region: region, account: acct, target: k, created: now, updated: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(bg, func(tx storage.Tx) error { return tx.Create(aliasPath(region, acct, "alias/unindexed"), data) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(bg, []string{aliasPath(region, acct, "alias/unindexed")}); err != nil { // the change feed
		t.Fatal(err)
	}
	deleteKeyNow(t, s, clk, k)
	if got := storedPaths(t, st, aliasPathPrefix); len(got) != 0 {
		t.Errorf("aliases stored after the deletion of their key: %v", got)
	}
	out, err := s.ListAliases(bg, caller, &ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range out.Aliases {
		if a.TargetKeyId != "" {
			t.Errorf("alias left after the deletion of its key: %+v", a)
		}
	}
	checkAliasIndex(t, st)
}
