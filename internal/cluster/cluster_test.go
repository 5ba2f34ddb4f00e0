package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/cluster"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

const (
	acct   = "111122223333"
	region = "us-east-1"
)

var root = kms.Caller{Principal: iam.RootPrincipal(acct, "AKIAROOT"), Region: region}

// node is one Trent node's state over a shared database, followed by a
// cluster.Follower, as the server wires it.
type node struct {
	raw *pgstore.Store
	b   *barrier.Barrier
	kms *kms.Service
	iam *iam.Service
	f   *cluster.Follower
}

func openNode(t *testing.T, url, keyFile string, opts pgstore.Options, maxStale time.Duration) *node {
	t.Helper()
	// A short opts.Timeout is what some tests are about; the first
	// connection to a server just started can take longer than it when the
	// whole suite runs (CI), so opening is retried.
	raw, err := pgstore.Open(ctx, url, opts)
	for deadline := time.Now().Add(15 * time.Second); errors.Is(err, storage.ErrUnavailable) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		raw, err = pgstore.Open(ctx, url, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	kr, _, err := keyring.LoadOrCreateFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := barrier.Open(ctx, raw, kr, "file")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	since, err := raw.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{raw: raw, b: b}
	if n.iam, err = iam.New(ctx, iam.Config{Store: b}); err != nil {
		t.Fatal(err)
	}
	if n.kms, err = kms.New(ctx, kms.Config{Store: b}); err != nil {
		t.Fatal(err)
	}
	n.f, err = cluster.Follow(ctx, cluster.FollowerConfig{
		Watcher: raw, Since: since, SinceAt: at, MaxStaleness: maxStale, CheckInterval: 100 * time.Millisecond,
		Targets: []cluster.Target{
			{Name: "barrier", Prefix: barrier.Prefix, Apply: func(ctx context.Context, _ []string) error { return b.Reload(ctx) }, Reload: b.Reload},
			{Name: "kms", Prefix: kms.PathPrefix, Apply: n.kms.Apply, Reload: n.kms.Reload},
			{Name: "iam", Prefix: "iam/", Apply: func(ctx context.Context, _ []string) error { return n.iam.Reload(ctx) }, Reload: n.iam.Reload},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.f.Stop)
	return n
}

func twoNodes(t *testing.T, opts pgstore.Options, maxStale time.Duration) (string, *node, *node) {
	url := pgtest.URL(t)
	key := filepath.Join(t.TempDir(), "root.key")
	return url, openNode(t, url, key, opts, maxStale), openNode(t, url, key, opts, maxStale)
}

// eventually polls cond every 2 ms until it holds, failing after d; it
// returns how long it took.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func encryptErr(n *node, id string) error {
	_, err := n.kms.Encrypt(ctx, root, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	return err
}

// A key made on one node encrypts on the other, and the other refuses it
// once the first disables it, within the store's notification delay.
func TestKeyChangesReachTheOtherNode(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t, pgstore.Options{}, 0)
	out, err := a.kms.CreateKey(ctx, root, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	d := eventually(t, 2*time.Second, "the key reaches b", func() bool { return encryptErr(b, id) == nil })
	t.Logf("CreateKey on a: b encrypts after %v", d)
	if _, err := a.kms.DisableKey(ctx, root, &kms.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	d = eventually(t, 2*time.Second, "b refuses the disabled key", func() bool { return errors.Is(encryptErr(b, id), kmserr.ErrDisabled) })
	t.Logf("DisableKey on a: b refuses after %v", d)
	if _, err := b.kms.CreateAlias(ctx, root, &kms.CreateAliasInput{AliasName: "alias/b", TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.kms.EnableKey(ctx, root, &kms.EnableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "a encrypts with b's alias", func() bool { return encryptErr(a, "alias/b") == nil })
	if st := b.f.Status(); st.Applied == 0 || st.Error != "" {
		t.Errorf("b's follower: %+v", st)
	}
}

// An access key deactivated on one node is refused by the other.
func TestAccessKeyRevocationReachesTheOtherNode(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t, pgstore.Options{}, 0)
	if _, _, err := a.iam.OpenAccount(ctx, acct, true, false); err != nil {
		t.Fatal(err)
	}
	k, err := a.iam.CreateOperatorKey(ctx, acct, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "b knows the new access key", func() bool {
		_, _, err := b.iam.Credential(k.AccessKeyID, "")
		return err == nil
	})
	if err := a.iam.SetAccessKeyStatus(ctx, k.AccessKeyID, iam.StatusInactive); err != nil {
		t.Fatal(err)
	}
	d := eventually(t, 2*time.Second, "b refuses the deactivated key", func() bool {
		_, _, err := b.iam.Credential(k.AccessKeyID, "")
		return errors.Is(err, iam.ErrInvalidCredential)
	})
	t.Logf("deactivated on a: refused on b after %v", d)
}

// A data key rotated on one node is used by the other for its writes, and a
// root key rotated on one node is followed by the other (its records stay
// readable everywhere).
func TestBarrierRotationsReachTheOtherNode(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t, pgstore.Options{}, 0)
	if err := a.b.RotateRootKey(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := a.b.RotateDataKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "b seals under the new data key", func() bool { return b.b.DataKey() == v })
	out, err := b.kms.CreateKey(ctx, root, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey on b after a rotated the root key: %v", err)
	}
	eventually(t, 2*time.Second, "a encrypts with b's key", func() bool { return encryptErr(a, out.KeyMetadata.KeyId) == nil })
	if err := a.b.Rewrap(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "b drops the rewrapped data keys", func() bool {
		st, err := b.b.Status(ctx)
		return err == nil && len(st.DataKeys) == 1
	})
}

// A node whose change history was pruned away reloads everything.
func TestResetReloads(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	key := filepath.Join(t.TempDir(), "root.key")
	a := openNode(t, url, key, pgstore.Options{Retention: 5}, 0)
	b := openNode(t, url, key, pgstore.Options{Retention: 5}, 0)
	b.f.Stop() // b misses what follows
	var ids []string
	for range 20 {
		out, err := a.kms.CreateKey(ctx, root, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.KeyMetadata.KeyId)
	}
	since := b.f.Status().Applied
	f, err := cluster.Follow(ctx, cluster.FollowerConfig{Watcher: b.raw, Since: since, Targets: []cluster.Target{
		{Name: "kms", Prefix: kms.PathPrefix, Apply: b.kms.Apply, Reload: b.kms.Reload},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	eventually(t, 5*time.Second, "b holds every key after the reset", func() bool {
		for _, id := range ids {
			if encryptErr(b, id) != nil {
				return false
			}
		}
		return true
	})
	if f.Status().Resets == 0 {
		t.Error("no reset counted: the test did not prune the history")
	}
}

// A node that cannot hear the database stops saying it is fresh once
// max-staleness has passed, and recovers by itself.
func TestStalenessBound(t *testing.T) {
	t.Parallel()
	in := pgtest.Start(t)
	url := in.URL(t)
	key := filepath.Join(t.TempDir(), "root.key")
	a := openNode(t, url, key, pgstore.Options{Timeout: 500 * time.Millisecond}, 700*time.Millisecond)
	eventually(t, 3*time.Second, "fresh", func() bool { return a.f.Fresh() == nil })
	in.Freeze()
	frozen := time.Now()
	// Stale once 700 ms passed since the last confirmation, which came
	// before the freeze: at most 700 ms after it (plus polling).
	d := eventually(t, 5*time.Second, "stale while the database is frozen", func() bool { return errors.Is(a.f.Fresh(), cluster.ErrStale) })
	if since := time.Since(frozen); since > 700*time.Millisecond+500*time.Millisecond {
		t.Errorf("stale only %v after the freeze, want within max-staleness (700ms)", since)
	}
	t.Logf("stale %v after the freeze", d)
	in.Thaw()
	eventually(t, 10*time.Second, "fresh again once the database answers", func() bool { return a.f.Fresh() == nil })
}

// One leader at a time; another node takes over when it goes.
func TestLeadFailsOver(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var running atomic.Int32
	var overlap atomic.Bool
	var ran [2]atomic.Int32
	var leaders [2]*cluster.Leader
	var stores [2]*pgstore.Store
	for i := range 2 {
		s, err := pgstore.Open(ctx, url, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
		leaders[i] = cluster.Lead(ctx, s, "jobs", nil, func(ctx context.Context) {
			if running.Add(1) > 1 {
				overlap.Store(true)
			}
			ran[i].Add(1)
			<-ctx.Done()
			running.Add(-1)
		})
	}
	eventually(t, 3*time.Second, "a leader", func() bool { return leaders[0].Leading() || leaders[1].Leading() })
	first := 0
	if leaders[1].Leading() {
		first = 1
	}
	other := 1 - first
	stores[first].Close() // the leader's database session ends (as when its process dies)
	eventually(t, 5*time.Second, "the other node leads", func() bool { return leaders[other].Leading() })
	// Leading is reported just before the job starts.
	eventually(t, 5*time.Second, "the job on the new leader", func() bool { return ran[other].Load() > 0 })
	if overlap.Load() {
		t.Error("two jobs ran at once")
	}
	if ran[other].Load() != 1 {
		t.Errorf("the job ran %d times on the new leader, want 1", ran[other].Load())
	}
	var wg sync.WaitGroup
	for _, l := range leaders {
		wg.Add(1)
		go func() { defer wg.Done(); l.Stop() }()
	}
	wg.Wait()
}

var _ storage.Watcher = (*pgstore.Store)(nil)
