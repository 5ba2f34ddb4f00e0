package kms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
)

// boltService is the service over the production stack (bbolt, whose
// Updates commit together, under the barrier) at path; close closes the
// database.
func boltService(tb testing.TB, path string) (s *Service, close func()) {
	tb.Helper()
	db, err := boltstore.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	kr, err := keyring.NewFileKeyring(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	b, err := barrier.Open(bg, db, kr, "file")
	if err != nil {
		tb.Fatal(err)
	}
	s, err = New(bg, Config{Store: b})
	if err != nil {
		tb.Fatal(err)
	}
	return s, func() { db.Close() }
}

// TestConcurrentWrites runs writers at the same time over bbolt, whose
// commits they share: writes to one key never lose one another (each
// builds on what the one before published), a name taken by two writers
// goes to exactly one, and memory and storage agree after a restart.
func TestConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trent.db")
	s, closeDB := boltService(t, path)
	shared := mustCreate(t, s)
	others := []string{mustCreate(t, s), mustCreate(t, s)}

	const n = 24
	var wg sync.WaitGroup
	var aliasWins, created atomic.Int32
	for i := range n {
		wg.Go(func() { // tags on one key: none may be lost
			_, err := s.TagResource(bg, caller, &TagResourceInput{KeyId: shared, Tags: []Tag{{"t" + strconv.Itoa(i), "v"}}})
			if err != nil {
				t.Errorf("TagResource %d: %v", i, err)
			}
		})
		wg.Go(func() { // one alias name, many keys: one wins
			_, err := s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/race", TargetKeyId: others[i%2]})
			var ke *kmserr.Error
			switch {
			case err == nil:
				aliasWins.Add(1)
			case !errors.As(err, &ke) || ke.Code != "AlreadyExistsException":
				t.Errorf("CreateAlias %d: %v", i, err)
			}
		})
		wg.Go(func() { // new keys with their own alias each
			out, err := s.CreateKey(bg, caller, &CreateKeyInput{Description: "c" + strconv.Itoa(i)})
			if err != nil {
				t.Errorf("CreateKey %d: %v", i, err)
				return
			}
			if _, err := s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/k" + strconv.Itoa(i), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
				t.Errorf("CreateAlias k%d: %v", i, err)
			}
			created.Add(1)
		})
		wg.Go(func() { // moves of one alias between two keys
			_, err := s.UpdateAlias(bg, caller, &UpdateAliasInput{AliasName: "alias/race", TargetKeyId: others[(i+1)%2]})
			var ke *kmserr.Error
			if err != nil && (!errors.As(err, &ke) || ke.Code != "NotFoundException") {
				t.Errorf("UpdateAlias %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if aliasWins.Load() != 1 {
		t.Errorf("%d CreateAlias of one name succeeded, want 1", aliasWins.Load())
	}
	check := func(s *Service, when string) {
		t.Helper()
		tags, err := s.ListResourceTags(bg, caller, &ListResourceTagsInput{KeyId: shared})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags.Tags) != n {
			t.Errorf("%s: %d tags on the shared key, want %d (a concurrent write was lost)", when, len(tags.Tags), n)
		}
		keys, err := s.ListKeys(bg, caller, &ListKeysInput{Limit: ptr(int32(1000))})
		if err != nil {
			t.Fatal(err)
		}
		if want := 3 + int(created.Load()); len(keys.Keys) != want {
			t.Errorf("%s: %d keys, want %d", when, len(keys.Keys), want)
		}
		as, err := s.ListAliases(bg, caller, &ListAliasesInput{Limit: ptr(int32(100))})
		if err != nil {
			t.Fatal(err)
		}
		mine := 0
		for _, a := range as.Aliases {
			if a.TargetKeyId != "" {
				mine++
			}
		}
		if want := 1 + int(created.Load()); mine != want {
			t.Errorf("%s: %d aliases, want %d", when, mine, want)
		}
	}
	check(s, "in memory")
	closeDB()
	s, closeDB = boltService(t, path)
	defer closeDB()
	check(s, "after a restart")
}

func mustCreate(t *testing.T, s *Service) string {
	t.Helper()
	out, err := s.CreateKey(bg, caller, &CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	return out.KeyMetadata.KeyId
}

// TestTickLeavesConcurrentWrites: the background jobs (counter flushes,
// which rewrite key records) run while writers change the same keys; no
// change is lost, and a key deleted meanwhile is not brought back.
func TestTickLeavesConcurrentWrites(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for range 8 {
		ids = append(ids, e.createKey(caller).KeyId)
	}
	ctx, cancel := context.WithCancel(bg)
	var ticks sync.WaitGroup
	ticks.Go(func() {
		for ctx.Err() == nil {
			for _, id := range ids {
				e.encrypt(id, []byte("x"), nil) // counters to flush
			}
			if err := e.s.Tick(bg); err != nil {
				t.Errorf("Tick: %v", err)
			}
		}
	})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			id := ids[i%len(ids)]
			if _, err := e.s.TagResource(bg, caller, &TagResourceInput{KeyId: id, Tags: []Tag{{fmt.Sprint("t", i), "v"}}}); err != nil {
				t.Errorf("TagResource: %v", err)
			}
		})
	}
	wg.Wait()
	cancel()
	ticks.Wait()
	s := e.reopen()
	total := 0
	for _, id := range ids {
		out, err := s.ListResourceTags(bg, caller, &ListResourceTagsInput{KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		total += len(out.Tags)
	}
	if total != 40 {
		t.Errorf("%d tags stored after concurrent Tick, want 40", total)
	}
}

// BenchmarkCreateKey is a durable CreateKey over bbolt under the barrier,
// by 1 and 16 concurrent callers: the writes of different keys share the
// storage's commits.
func BenchmarkCreateKey(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			s, closeDB := boltService(b, filepath.Join(b.TempDir(), "trent.db"))
			defer closeDB()
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for range callers {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if _, err := s.CreateKey(bg, caller, &CreateKeyInput{}); err != nil {
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

var _ storage.Store = (*failStore)(nil)
