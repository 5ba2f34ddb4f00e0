package kms

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// feedStore is a store shared by several Services (the nodes of a test)
// that remembers the paths each committed Update wrote: a change feed
// without a database.
type feedStore struct {
	storage.Store
	mu    sync.Mutex
	paths []string
}

type feedTx struct {
	storage.Tx
	wrote *[]string
}

func (t feedTx) Put(k string, v []byte) error {
	*t.wrote = append(*t.wrote, k)
	return t.Tx.Put(k, v)
}

func (t feedTx) Create(k string, v []byte) error {
	*t.wrote = append(*t.wrote, k)
	return t.Tx.Create(k, v)
}

func (t feedTx) Delete(k string) error {
	*t.wrote = append(*t.wrote, k)
	return t.Tx.Delete(k)
}

func (f *feedStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	var wrote []string
	err := f.Store.Update(ctx, func(tx storage.Tx) error {
		wrote = wrote[:0]
		return fn(feedTx{tx, &wrote})
	})
	if err == nil {
		f.mu.Lock()
		f.paths = append(f.paths, wrote...)
		f.mu.Unlock()
	}
	return err
}

// since returns the paths written after the first n.
func (f *feedStore) since(n int) ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths[n:]...), len(f.paths)
}

// node is one Service over the shared store, with how far it followed the feed.
type node struct {
	t     *testing.T
	s     *Service
	feed  *feedStore
	seen  int
	clock *clock
}

func newCluster(t *testing.T, n int) []*node {
	t.Helper()
	feed := &feedStore{Store: memstore.New()}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var nodes []*node
	for range n {
		s, err := New(context.Background(), Config{Store: feed, Now: clk.Now, Shared: true})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &node{t: t, s: s, feed: feed, clock: clk})
	}
	return nodes
}

// follow applies every change made since the node last followed.
func (n *node) follow() {
	n.t.Helper()
	var paths []string
	paths, n.seen = n.feed.since(n.seen)
	if err := n.s.Apply(context.Background(), paths); err != nil {
		n.t.Fatalf("Apply(%v) err = %v", paths, err)
	}
}

func (n *node) encrypt(keyID string) ([]byte, error) {
	out, err := n.s.Encrypt(context.Background(), caller, &EncryptInput{KeyId: keyID, Plaintext: []byte("hello")})
	if err != nil {
		return nil, err
	}
	return out.CiphertextBlob, nil
}

func TestApplyFollowsAnotherNode(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	out, err := a.s.CreateKey(ctx, caller, &CreateKeyInput{Description: "made on a"})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	if _, err := b.encrypt(id); !errors.Is(err, kmserr.ErrNotFound) {
		t.Fatalf("Encrypt on b before it follows: err = %v, want NotFoundException", err)
	}
	b.follow()
	blob, err := b.encrypt(id)
	if err != nil {
		t.Fatalf("Encrypt on b after it follows: %v", err)
	}
	if _, err := a.s.Decrypt(ctx, caller, &DecryptInput{CiphertextBlob: blob}); err != nil {
		t.Fatalf("Decrypt on a of b's ciphertext: %v", err)
	}
	if _, err := a.s.CreateAlias(ctx, caller, &CreateAliasInput{AliasName: "alias/x", TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.DisableKey(ctx, caller, &DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	b.follow()
	if _, err := b.encrypt("alias/x"); !errors.Is(err, kmserr.ErrDisabled) {
		t.Fatalf("Encrypt(alias/x) on b after a disabled the key: err = %v, want DisabledException", err)
	}
	if _, err := a.s.DeleteAlias(ctx, caller, &DeleteAliasInput{AliasName: "alias/x"}); err != nil {
		t.Fatal(err)
	}
	b.follow()
	if _, err := b.encrypt("alias/x"); !errors.Is(err, kmserr.ErrNotFound) {
		t.Fatalf("Encrypt(alias/x) on b after a deleted the alias: err = %v, want NotFoundException", err)
	}
	// Applying the same paths again changes nothing.
	b.seen = 0
	b.follow()
	d, err := b.s.DescribeKey(ctx, caller, &DescribeKeyInput{KeyId: id})
	if err != nil || d.KeyMetadata.KeyState != stateDisabled {
		t.Fatalf("DescribeKey on b after a replay = %v, %v", d, err)
	}
}

// A change made on a node that had not yet seen another node's change of
// the same key is done again on the fresh record: nothing is lost.
func TestStaleWriteIsRedone(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	out, err := a.s.CreateKey(ctx, caller, &CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	b.follow()
	if _, err := a.s.DisableKey(ctx, caller, &DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	// b has not seen the DisableKey: its TagResource starts from an
	// enabled key, meets the newer record, and is redone on it.
	if _, err := b.s.TagResource(ctx, caller, &TagResourceInput{KeyId: id, Tags: []Tag{{TagKey: "k", TagValue: "v"}}}); err != nil {
		t.Fatalf("TagResource on b: %v", err)
	}
	for name, n := range map[string]*node{"a": a, "b": b} {
		n.follow()
		d, err := n.s.DescribeKey(ctx, caller, &DescribeKeyInput{KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		if d.KeyMetadata.KeyState != stateDisabled {
			t.Errorf("%s: key state = %s, want Disabled (b's write must not undo a's)", name, d.KeyMetadata.KeyState)
		}
		tags, err := n.s.ListResourceTags(ctx, caller, &ListResourceTagsInput{KeyId: id})
		if err != nil || len(tags.Tags) != 1 {
			t.Errorf("%s: tags = %v, %v; want the tag b added", name, tags, err)
		}
	}
	// A fresh node reads the same.
	s, err := New(ctx, Config{Store: a.feed})
	if err != nil {
		t.Fatal(err)
	}
	if k := s.getKey(scope{region, acct}, id); k == nil || k.state != stateDisabled || len(k.tags) != 1 {
		t.Errorf("stored key = %+v, want disabled with one tag", k)
	}
}

// The background job of a node that missed a CancelKeyDeletion does not
// delete the key.
func TestStaleDeletionIsNotDone(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	out, err := a.s.CreateKey(ctx, caller, &CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	if _, err := a.s.ScheduleKeyDeletion(ctx, caller, &ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	b.follow()
	if _, err := a.s.CancelKeyDeletion(ctx, caller, &CancelKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(8 * 24 * time.Hour)
	if err := b.s.Tick(ctx); err != nil {
		t.Fatalf("Tick on b: %v", err)
	}
	if k := b.s.getKey(scope{region, acct}, id); k == nil || k.state != stateDisabled {
		t.Fatalf("after b's Tick the key on b = %+v, want it kept (Disabled, as CancelKeyDeletion leaves it)", k)
	}
	a.follow()
	if k := a.s.getKey(scope{region, acct}, id); k == nil {
		t.Fatal("b's Tick deleted a key whose deletion a had cancelled")
	}
}

// Key deletion removes the aliases another node added meanwhile.
func TestDeletionTakesAliasesOfOtherNodes(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	out, err := a.s.CreateKey(ctx, caller, &CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	b.follow()
	if _, err := b.s.CreateAlias(ctx, caller, &CreateAliasInput{AliasName: "alias/b", TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.ScheduleKeyDeletion(ctx, caller, &ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(8 * 24 * time.Hour)
	if err := a.s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	b.follow()
	if al := b.s.getAlias(scope{region, acct}, "alias/b"); al != nil {
		t.Errorf("alias/b (made on b) survives the deletion of its key: %+v", al)
	}
	err = a.s.feedView(func(tx storage.Tx) error {
		_, err := tx.Get(aliasPath(region, acct, "alias/b"))
		return err
	})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("stored alias/b after the key's deletion: err = %v, want not found", err)
	}
}

func (s *Service) feedView(fn func(storage.Tx) error) error {
	return s.store.View(context.Background(), fn)
}

// Encryption counters: every node counts its own encryptions and adds them
// to the stored counter; every node ends up knowing the total.
func TestCountersAddUpAcrossNodes(t *testing.T) {
	nodes := newCluster(t, 3)
	ctx := context.Background()
	out, err := nodes[0].s.CreateKey(ctx, caller, &CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	for _, n := range nodes {
		n.follow()
	}
	counts := []int{5, 7, 11}
	for i, n := range nodes {
		for range counts[i] {
			if _, err := n.encrypt(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Flushes interleaved with other writes on stale nodes.
	if err := nodes[0].s.FlushCounters(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].s.UpdateKeyDescription(ctx, caller, &UpdateKeyDescriptionInput{KeyId: id, Description: ptr("x")}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		if err := n.s.FlushCounters(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if _, err := n.encrypt(id); err != nil { // one more, unflushed
			t.Fatal(err)
		}
	}
	for i, n := range nodes {
		n.follow()
		got := n.s.getKey(scope{region, acct}, id).current().Encryptions.Load()
		if want := uint64(5 + 7 + 11 + 1); got != want {
			t.Errorf("node %d counts %d encryptions, want %d (everyone's flushed ones and its own)", i, got, want)
		}
	}
	for _, n := range nodes {
		if err := n.s.FlushCounters(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(ctx, Config{Store: nodes[0].feed})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.getKey(scope{region, acct}, id).current().Encryptions.Load(), uint64(5+7+11+3); got != want {
		t.Errorf("stored counter = %d, want %d", got, want)
	}
}

// Reload (the change feed lost its history) brings a node to what storage
// holds, removing what was deleted.
func TestReloadDropsWhatStorageLost(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	var ids []string
	for range 3 {
		out, err := a.s.CreateKey(ctx, caller, &CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.KeyMetadata.KeyId)
	}
	b.follow()
	if _, err := a.s.ScheduleKeyDeletion(ctx, caller, &ScheduleKeyDeletionInput{KeyId: ids[0], PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(8 * 24 * time.Hour)
	if err := a.s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.CreateAlias(ctx, caller, &CreateAliasInput{AliasName: "alias/new", TargetKeyId: ids[1]}); err != nil {
		t.Fatal(err)
	}
	if err := b.s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if b.s.getKey(scope{region, acct}, ids[0]) != nil {
		t.Error("Reload kept a key storage no longer holds")
	}
	if _, err := b.encrypt("alias/new"); err != nil {
		t.Errorf("Encrypt(alias/new) after Reload: %v", err)
	}
	if got := len(b.s.sortedKeyIDs(scope{region, acct})); got != 2 {
		t.Errorf("ListKeys after Reload: %d keys, want 2", got)
	}
}

func grantIDs(t *testing.T, n *node, keyID string) []string {
	t.Helper()
	out, err := n.s.ListGrants(context.Background(), caller, &ListGrantsInput{KeyId: keyID})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range out.Grants {
		ids = append(ids, g.GrantId)
	}
	return ids
}

// Grants made and revoked on one node reach the other; a key's deletion
// takes the grants another node made.
func TestGrantsFollowAnotherNode(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	out, err := a.s.CreateKey(ctx, caller, &CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	g, err := a.s.CreateGrant(ctx, caller, &CreateGrantInput{KeyId: id, GranteePrincipal: "arn:aws:iam::" + acct + ":user/bob", Operations: []string{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	b.follow()
	if ids := grantIDs(t, b, id); len(ids) != 1 || ids[0] != g.GrantId {
		t.Fatalf("b's grants = %v, want [%s]", ids, g.GrantId)
	}
	// A change of the key itself keeps its grants.
	if _, err := a.s.UpdateKeyDescription(ctx, caller, &UpdateKeyDescriptionInput{KeyId: id, Description: ptr("d")}); err != nil {
		t.Fatal(err)
	}
	b.follow()
	if ids := grantIDs(t, b, id); len(ids) != 1 {
		t.Fatalf("b's grants after a's key change = %v, want one", ids)
	}
	if _, err := a.s.RevokeGrant(ctx, caller, &RevokeGrantInput{KeyId: id, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	b.follow()
	if ids := grantIDs(t, b, id); len(ids) != 0 {
		t.Fatalf("b's grants after a revoked it = %v, want none", ids)
	}
	// b grants; a deletes the key without having seen b's grant.
	if _, err := b.s.CreateGrant(ctx, caller, &CreateGrantInput{KeyId: id, GranteePrincipal: "arn:aws:iam::" + acct + ":user/eve", Operations: []string{"Decrypt"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.ScheduleKeyDeletion(ctx, caller, &ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(8 * 24 * time.Hour)
	if err := a.s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	err = a.s.feedView(func(tx storage.Tx) error {
		es, err := tx.List(grantPathPrefix, "", 0)
		if len(es) != 0 {
			t.Errorf("grants left in storage after the key's deletion: %d", len(es))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Reload on a fresh node gives the same.
	c, err := New(ctx, Config{Store: a.feed})
	if err != nil {
		t.Fatal(err)
	}
	if c.getKey(scope{region, acct}, id) != nil {
		t.Error("the deleted key is back")
	}
}

// TestApplyAgainstWriters applies another node's changes while this node's
// own writers change the same keys and alias: no write is lost on either
// node, and both end with what storage holds (run with -race).
func TestApplyAgainstWriters(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	shared, k1, k2 := mustCreate(t, a.s), mustCreate(t, a.s), mustCreate(t, a.s)
	if _, err := a.s.CreateAlias(ctx, caller, &CreateAliasInput{AliasName: "alias/moving", TargetKeyId: k1}); err != nil {
		t.Fatal(err)
	}
	b.follow()

	const n = 8
	done := make(chan struct{})
	var followers, writers sync.WaitGroup
	for _, nd := range nodes { // each node follows the feed all along
		followers.Go(func() {
			for {
				var paths []string
				paths, nd.seen = nd.feed.since(nd.seen)
				if err := nd.s.Apply(ctx, paths); err != nil {
					t.Errorf("Apply: %v", err)
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	for i := range n {
		for name, nd := range map[string]*node{"a": a, "b": b} {
			writers.Go(func() {
				tag := Tag{TagKey: name + strconv.Itoa(i), TagValue: "v"}
				if _, err := nd.s.TagResource(ctx, caller, &TagResourceInput{KeyId: shared, Tags: []Tag{tag}}); err != nil {
					t.Errorf("TagResource on %s: %v", name, err)
				}
			})
		}
		writers.Go(func() { // new keys: Apply may read one before CreateKey publishes it
			out, err := a.s.CreateKey(ctx, caller, &CreateKeyInput{})
			if err != nil {
				t.Errorf("CreateKey on a: %v", err)
				return
			}
			if _, err := a.encrypt(out.KeyMetadata.KeyId); err != nil {
				t.Errorf("Encrypt on a with a key it just made: %v", err)
			}
		})
		for name, nd := range map[string]*node{"a": a, "b": b} {
			writers.Go(func() { // both move the alias: each meets the other's moves
				target := []string{k1, k2}[i%2]
				if _, err := nd.s.UpdateAlias(ctx, caller, &UpdateAliasInput{AliasName: "alias/moving", TargetKeyId: target}); err != nil {
					t.Errorf("UpdateAlias on %s: %v", name, err)
				}
			})
		}
	}
	writers.Wait()
	close(done)
	followers.Wait()

	stored, err := New(ctx, Config{Store: a.feed})
	if err != nil {
		t.Fatal(err)
	}
	want := stored.getAlias(scope{region, acct}, "alias/moving")
	for name, nd := range map[string]*node{"a": a, "b": b, "stored": {t: t, s: stored, feed: a.feed}} {
		nd.follow()
		tags, err := nd.s.ListResourceTags(ctx, caller, &ListResourceTagsInput{KeyId: shared})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags.Tags) != 2*n {
			t.Errorf("%s: %d tags on the shared key, want %d (a write was lost)", name, len(tags.Tags), 2*n)
		}
		if got, want := len(nd.s.allKeys()), len(stored.allKeys()); got != want {
			t.Errorf("%s: %d keys, storage holds %d", name, got, want)
		}
		if got := nd.s.getAlias(scope{region, acct}, "alias/moving"); got == nil || got.target != want.target {
			t.Errorf("%s: alias/moving -> %v, storage holds -> %s", name, got, want.target)
		}
	}
}

// TestReloadAgainstCreateKey: Reload (a node catching up after its
// database came back) runs while CreateKeys commit and publish; every key
// whose CreateKey answered stays in memory, though Reload drops what its
// read of storage did not return (a key committed after that read must not
// be published, then dropped).
func TestReloadAgainstCreateKey(t *testing.T) {
	s := newCluster(t, 1)[0].s
	ctx := context.Background()
	done := make(chan struct{})
	var reloader, creators sync.WaitGroup
	reloader.Go(func() {
		for {
			if err := s.Reload(ctx); err != nil {
				t.Errorf("Reload: %v", err)
			}
			select {
			case <-done:
				return
			default:
			}
		}
	})
	var mu sync.Mutex
	var ids []string
	for range 4 {
		creators.Go(func() {
			for range 100 {
				out, err := s.CreateKey(ctx, caller, &CreateKeyInput{})
				if err != nil {
					t.Errorf("CreateKey: %v", err)
					return
				}
				mu.Lock()
				ids = append(ids, out.KeyMetadata.KeyId)
				mu.Unlock()
			}
		})
	}
	creators.Wait()
	close(done)
	reloader.Wait()
	for _, id := range ids {
		if _, err := s.DescribeKey(ctx, caller, &DescribeKeyInput{KeyId: id}); err != nil {
			t.Fatalf("key %s, created and acknowledged during Reloads: DescribeKey: %v", id, err)
		}
	}
}

// TestAliasQuotaAcrossNodes: a node that has not heard of another node's
// aliases for a key still keeps the key at maxAliasesPerKey: the quota is
// counted again on what storage holds, for CreateAlias and UpdateAlias.
func TestAliasQuotaAcrossNodes(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	full, other := mustCreate(t, a.s), mustCreate(t, a.s)
	for i := range maxAliasesPerKey - 1 {
		if _, err := a.s.CreateAlias(ctx, caller, &CreateAliasInput{AliasName: "alias/a" + strconv.Itoa(i), TargetKeyId: full}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.s.CreateAlias(ctx, caller, &CreateAliasInput{AliasName: "alias/elsewhere", TargetKeyId: other}); err != nil {
		t.Fatal(err)
	}
	b.follow() // b knows 49 aliases of full
	if _, err := a.s.CreateAlias(ctx, caller, &CreateAliasInput{AliasName: "alias/last", TargetKeyId: full}); err != nil {
		t.Fatal(err)
	}
	// b has not heard of alias/last: its memory says full has room for one more.
	_, err := b.s.CreateAlias(ctx, caller, &CreateAliasInput{AliasName: "alias/one-too-many", TargetKeyId: full})
	wantErr(t, err, "LimitExceededException", "The number of aliases for key arn:aws:kms:us-east-1:111122223333:key/"+full+" exceeds the limit of 50.")
	_, err = b.s.UpdateAlias(ctx, caller, &UpdateAliasInput{AliasName: "alias/elsewhere", TargetKeyId: full})
	wantErr(t, err, "LimitExceededException", "*")
	b.follow()
	out, err := b.s.ListAliases(ctx, caller, &ListAliasesInput{KeyId: full})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Aliases) != maxAliasesPerKey {
		t.Errorf("key has %d aliases, want %d", len(out.Aliases), maxAliasesPerKey)
	}
	out, err = b.s.ListAliases(ctx, caller, &ListAliasesInput{KeyId: other})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Aliases) != 1 || out.Aliases[0].AliasName != "alias/elsewhere" {
		t.Errorf("the other key's aliases after a refused UpdateAlias: %+v, want alias/elsewhere", out.Aliases)
	}
}

// afterViewStore runs its hook once, when the next read transaction has
// read (before its caller uses what it read): a change that comes in
// between, as another caller's would.
type afterViewStore struct {
	storage.Store
	hook atomic.Pointer[func()]
}

func (a *afterViewStore) View(ctx context.Context, fn func(storage.Tx) error) error {
	err := a.Store.View(ctx, fn)
	if h := a.hook.Swap(nil); h != nil {
		(*h)()
	}
	return err
}

// TestReloadKeepsNoOlderStore: a Reload (the cluster follower's, when the
// change feed lost its history) that read a custom key store before a
// change of this node's must not cache its older read after the change's
// own refresh: the store, disconnected meanwhile, would still serve its
// keys' cryptographic operations until its next change.
func TestReloadKeepsNoOlderStore(t *testing.T) {
	t.Parallel()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	st := &afterViewStore{Store: bs}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := New(bg, Config{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	p := newTestProxy(t)
	cs, err := s.CreateCustomKeyStore(bg, caller, p.storeInput("store"))
	if err != nil {
		t.Fatal(err)
	}
	id := cs.CustomKeyStoreId
	md := connectedKey(t, &env{t: t, s: s, clock: clk}, p, id)
	if _, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	disconnect := func() {
		if _, err := s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
			t.Error(err)
		}
	}
	st.hook.Store(&disconnect) // after Reload's read, before it caches it
	if err := s.Reload(bg); err != nil {
		t.Fatal(err)
	}
	if st.hook.Load() != nil {
		t.Fatal("Reload did not read storage")
	}
	if got := describeStore(t, s, id).ConnectionState; got != stateDisconnected {
		t.Fatalf("store is %s, want DISCONNECTED", got)
	}
	_, err = s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException", md.Arn+" is unavailable.")

	// With no change during it, Reload caches every store: no read on use.
	if err := s.Reload(bg); err != nil {
		t.Fatal(err)
	}
	s.stores.mu.Lock()
	cached := s.stores.m[keyStorePath(scope{region, acct}, id)]
	s.stores.mu.Unlock()
	if cached == nil || cached.rec.State != stateDisconnected {
		t.Errorf("after a Reload with no change during it, the cache holds %+v, want the DISCONNECTED store", cached)
	}
}
