package kms

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keyring/pkcs11"
	"github.com/trent-kms/trent/internal/keyring/pkcs11/softhsmtest"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

const hsmCluster = "cluster-abcdefghijk"

var (
	hsmOnce    sync.Once
	testTokens []pkcs11.Config
)

// hsmToken returns the i-th SoftHSM2 token of this package's tests. They
// are all made on the first call, before any test loads the module: the
// module lists the tokens that existed when it was initialised. The tests
// that use them do not run in parallel (their hooks are package
// variables).
func hsmToken(t *testing.T, i int) pkcs11.Config {
	t.Helper()
	hsmOnce.Do(func() {
		for range 17 {
			testTokens = append(testTokens, softhsmtest.Token(t))
		}
	})
	if i >= len(testTokens) {
		t.Fatal("SoftHSM2 tokens were not made") // softhsmtest skipped or failed the first caller
	}
	return testTokens[i]
}

// newHSMService is a service over st whose cluster hsmCluster is tok, with
// a connected CloudHSM key store; it returns the store's id.
func newHSMService(t *testing.T, st storage.Store, now func() time.Time, tok pkcs11.Config) (*Service, string) {
	t.Helper()
	s, err := New(bg, Config{Store: st, Now: now,
		CloudHSMClusters: map[string]CloudHSMCluster{hsmCluster: {Module: tok.Lib, TokenLabel: tok.TokenLabel}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wipe)
	id := createHSMStore(t, s)
	connectHSMStore(t, s, id)
	return s, id
}

// createHSMStore creates a CloudHSM key store of cluster hsmCluster in s
// (the token's PIN as its password) and returns its id.
func createHSMStore(t *testing.T, s *Service) string {
	t.Helper()
	cs, err := s.CreateCustomKeyStore(bg, caller, &CreateCustomKeyStoreInput{CustomKeyStoreName: "hsm", CloudHsmClusterId: hsmCluster,
		TrustAnchorCertificate: softhsmtest.TrustAnchor(t), KeyStorePassword: softhsmtest.PIN})
	if err != nil {
		t.Fatal(err)
	}
	return cs.CustomKeyStoreId
}

// connectHSMStore connects the key store id of s.
func connectHSMStore(t *testing.T, s *Service, id string) {
	t.Helper()
	if _, err := s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
}

// TestCloudHSMKeyDeletion: a key of a CloudHSM key store deleted at the end
// of its waiting period takes its material in the token with it; when the
// store is disconnected then, the material stays in the token, as AWS's
// stays in the cluster. (The service directly: the waiting period passes
// on the test's clock.)
func TestCloudHSMKeyDeletion(t *testing.T) {
	tok := hsmToken(t, 0)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, id := newHSMService(t, memstore.New(), clk.Now, tok)
	cs := &CreateCustomKeyStoreOutput{CustomKeyStoreId: id}
	newKey := func() string {
		out, err := s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: cs.CustomKeyStoreId})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := softhsmtest.KeyAttributes(t, tok, out.KeyMetadata.KeyId); !ok {
			t.Fatalf("no key %s in the token", out.KeyMetadata.KeyId)
		}
		if _, err := s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: out.KeyMetadata.KeyId, PendingWindowInDays: ptr[int32](7)}); err != nil {
			t.Fatal(err)
		}
		return out.KeyMetadata.KeyId
	}
	deleted := newKey()
	clk.Advance(7 * 24 * time.Hour)
	if err := s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: deleted}); err == nil {
		t.Fatal("the key is not deleted at the end of its waiting period")
	}
	if _, ok := softhsmtest.KeyAttributes(t, tok, deleted); ok {
		t.Error("the deleted key's material is still in the token")
	}

	kept := newKey()
	if _, err := s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: cs.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(7 * 24 * time.Hour)
	if err := s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: kept}); err == nil {
		t.Fatal("the key of a disconnected store is not deleted at the end of its waiting period")
	}
	if _, ok := softhsmtest.KeyAttributes(t, tok, kept); !ok {
		t.Error("the material of a key deleted while its store was disconnected left the token")
	}
	if _, err := s.DeleteCustomKeyStore(bg, caller, &DeleteCustomKeyStoreInput{CustomKeyStoreId: cs.CustomKeyStoreId}); err != nil {
		t.Errorf("DeleteCustomKeyStore with no keys left: %v", err)
	}
}

// TestCloudHSMNoStorageOnCrypto: a CloudHSM key's cryptographic operations
// read no storage, after a restart (the token is logged in to on first
// use) and after a change of the store.
func TestCloudHSMNoStorageOnCrypto(t *testing.T) {
	tok := hsmToken(t, 1)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st := memstore.New()
	first, id := newHSMService(t, st, clk.Now, tok)
	k, err := first.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	first.Wipe() // the process's login to the token ends with the first service
	vc := &viewCounter{Store: st}
	s, err := New(bg, Config{Store: vc, Now: clk.Now,
		CloudHSMClusters: map[string]CloudHSMCluster{hsmCluster: {Module: tok.Lib, TokenLabel: tok.TokenLabel}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	roundTrip := func(what string) {
		t.Helper()
		before := vc.views.Load()
		enc, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
		if err != nil {
			t.Fatalf("Encrypt %s: %v", what, err)
		}
		if _, err := s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
			t.Fatalf("Decrypt %s: %v", what, err)
		}
		if n := vc.views.Load() - before; n != 0 {
			t.Errorf("Encrypt and Decrypt %s read storage %d times", what, n)
		}
	}
	roundTrip("after a restart")
	roundTrip("again")
	if _, err := s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, NewCustomKeyStoreName: "renamed"}); err != nil {
		t.Fatal(err)
	}
	roundTrip("after UpdateCustomKeyStore")
}

// TestCloudHSMLoginNotRetried: when the token refuses the store's password
// on a key's first use (its PIN was changed in the token), the keys'
// operations do not log in again at each request (each wrong PIN brings
// the token closer to locking its user); ConnectCustomKeyStore, after a
// disconnection, tries again.
func TestCloudHSMLoginNotRetried(t *testing.T) {
	tok := hsmToken(t, 2)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st := memstore.New()
	first, id := newHSMService(t, st, clk.Now, tok)
	k, err := first.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	first.Wipe()
	softhsmtest.SetPIN(t, tok, softhsmtest.PIN, "changed-pin")
	s, err := New(bg, Config{Store: st, Now: clk.Now,
		CloudHSMClusters: map[string]CloudHSMCluster{hsmCluster: {Module: tok.Lib, TokenLabel: tok.TokenLabel}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	encrypt := func() error {
		_, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
		return err
	}
	wantErr(t, encrypt(), "KMSInvalidStateException", "*")
	softhsmtest.SetPIN(t, tok, "changed-pin", softhsmtest.PIN)
	// The password is right again, but the failed login is not tried again
	// at once.
	wantErr(t, encrypt(), "KMSInvalidStateException", "*")
	if _, err := s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	connectHSMStore(t, s, id)
	if err := encrypt(); err != nil {
		t.Errorf("Encrypt after reconnecting: %v", err)
	}
}

// TestCloudHSMRecoveryLoginNotRetried: when the token loses its login and
// refuses the store's password as the pool logs in again (its PIN was
// changed in the token), the keys' operations do not log in again for
// 30 s, even when the password is right again; then they do.
func TestCloudHSMRecoveryLoginNotRetried(t *testing.T) {
	tok := hsmToken(t, 3)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, id := newHSMService(t, memstore.New(), clk.Now, tok)
	k, err := s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	encrypt := func() error {
		_, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
		return err
	}
	if err := encrypt(); err != nil {
		t.Fatal(err)
	}
	softhsmtest.Logout(t, tok)
	softhsmtest.SetPIN(t, tok, softhsmtest.PIN, "changed-pin")
	wantErr(t, encrypt(), "KMSInvalidStateException", "*")
	softhsmtest.SetPIN(t, tok, "changed-pin", softhsmtest.PIN)
	wantErr(t, encrypt(), "KMSInvalidStateException", "*")
	clk.Advance(29 * time.Second)
	wantErr(t, encrypt(), "KMSInvalidStateException", "*")
	if softhsmtest.LoggedIn(t, tok) {
		t.Error("logged in again within 30 s of a refused PIN")
	}
	clk.Advance(2 * time.Second)
	if err := encrypt(); err != nil {
		t.Errorf("Encrypt 31 s after the refused PIN, the password right again: %v", err)
	}
}

// hsmNode is a node of TestDisconnectLogsOutOtherNodes: a service over its
// own connection to the shared database.
type hsmNode struct {
	s  *Service
	st *pgstore.Store
}

func newHSMNode(t *testing.T, url string, opts pgstore.Options, tok pkcs11.Config) *hsmNode {
	t.Helper()
	st, err := pgstore.Open(bg, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(bg, Config{Store: st,
		CloudHSMClusters: map[string]CloudHSMCluster{hsmCluster: {Module: tok.Lib, TokenLabel: tok.TokenLabel}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wipe)
	return &hsmNode{s: s, st: st}
}

// follow applies the changes of the database's change feed from version
// since to its current version, as the cluster follower does (a Reset,
// when the feed lost that history, reloads everything), and returns the
// version reached and whether it reloaded.
func (n *hsmNode) follow(t *testing.T, since uint64) (uint64, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second) // a hang, not a timing
	defer cancel()
	now, err := n.st.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := n.st.Watch(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	reloaded := false
	for since < now {
		var c storage.Change
		select {
		case c = <-ch:
		case <-ctx.Done():
			t.Fatalf("the change feed did not reach version %d from %d", now, since)
		}
		if c.Reset {
			reloaded = true
			err = n.s.Reload(ctx)
		} else {
			err = n.s.Apply(ctx, c.Keys)
		}
		if err != nil {
			t.Fatal(err)
		}
		since = c.Version
	}
	return since, reloaded
}

// TestDisconnectLogsOutOtherNodes: a CloudHSM key store disconnected on
// one node of a cluster (several nodes on one PostgreSQL) logs every node
// out of its token, whether a node learns of it by the change feed or by a
// reload (the feed lost that history), and whatever its cache held: each
// node decides from the stores as stored. The other node then refuses its
// keys' cryptographic operations as the store's ("<ARN> is unavailable.").
// (One process is logged in to a SoftHSM2 token once for all its users, so
// each node's cluster is a token of its own, and node b's key is node b's.)
func TestDisconnectLogsOutOtherNodes(t *testing.T) {
	url := pgtest.URL(t)
	tokA, tokB := hsmToken(t, 7), hsmToken(t, 8)
	// Node a keeps one change in the feed: a node that misses two of its
	// changes gets a Reset.
	a := newHSMNode(t, url, pgstore.Options{Retention: 1}, tokA)
	b := newHSMNode(t, url, pgstore.Options{}, tokB)
	at, err := b.st.Version(bg)
	if err != nil {
		t.Fatal(err)
	}
	id := createHSMStore(t, a.s)
	connect := func() {
		t.Helper()
		connectHSMStore(t, a.s, id)
		if got := describeStore(t, a.s, id).ConnectionState; got != stateConnected {
			t.Fatalf("store is %s on node a, want CONNECTED", got)
		}
	}
	disconnect := func() {
		t.Helper()
		if _, err := a.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
			t.Fatal(err)
		}
	}
	connect()
	at, _ = b.follow(t, at)
	k, err := b.s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	at, _ = b.follow(t, at)
	encryptOnB := func() error {
		_, err := b.s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
		return err
	}
	usedOnB := func(what string) {
		t.Helper()
		if err := encryptOnB(); err != nil {
			t.Fatalf("Encrypt on node b %s: %v", what, err)
		}
		if !softhsmtest.LoggedIn(t, tokB) {
			t.Fatalf("node b is not logged in to its token %s", what)
		}
	}
	loggedOutOfB := func(what string) {
		t.Helper()
		if softhsmtest.LoggedIn(t, tokB) {
			t.Errorf("node b is still logged in to its token after the store was disconnected on node a, %s", what)
		}
		wantErr(t, encryptOnB(), "KMSInvalidStateException", k.KeyMetadata.Arn+" is unavailable.")
	}
	usedOnB("with the store connected")

	disconnect()
	at, reloaded := b.follow(t, at)
	if reloaded {
		t.Fatal("node b reloaded instead of following the disconnection")
	}
	loggedOutOfB("by the change feed")

	connect()
	at, _ = b.follow(t, at)
	usedOnB("with the store connected again")
	disconnect()
	// A second change of node a's: node b's place in the feed is gone.
	if _, err := a.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, NewCustomKeyStoreName: "renamed"}); err != nil {
		t.Fatal(err)
	}
	if _, reloaded := b.follow(t, at); !reloaded {
		t.Fatal("node b followed the feed instead of reloading")
	}
	loggedOutOfB("by a reload")
}

// TestCloudHSMSealed: once the service is wiped (the server seals), the
// CloudHSM key stores' operations (those in flight too) do not log in to
// their tokens again: they answer that Trent is sealed.
func TestCloudHSMSealed(t *testing.T) {
	tok := hsmToken(t, 9)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, id := newHSMService(t, memstore.New(), clk.Now, tok)
	k, err := s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	sc, err := callerScope(caller)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.cachedStore(bg, sc, id) // as an Encrypt in flight holds it
	if err != nil || cs == nil {
		t.Fatal(cs, err)
	}
	kk := s.getKey(sc, k.KeyMetadata.KeyId)
	if kk == nil {
		t.Fatal("no key")
	}
	held, err := s.storeToken(bg, cs, kk.arn)
	if err != nil {
		t.Fatal(err)
	}
	s.Wipe()
	// An operation that had the token when Wipe logged out of it.
	_, _, err = held.Seal(bg, kk.id, []byte("blob"), nil)
	wantErr(t, s.hsmError(bg, "Encrypt", kk, err), "KMSInternalException", "Trent is sealed.")
	if softhsmtest.LoggedIn(t, tok) {
		t.Fatal("still logged in to the token after Wipe")
	}
	_, err = s.storeToken(bg, cs, k.KeyMetadata.Arn)
	wantErr(t, err, "KMSInternalException", "Trent is sealed.")
	_, err = s.GenerateRandom(bg, caller, &GenerateRandomInput{NumberOfBytes: ptr[int32](8), CustomKeyStoreId: id})
	wantErr(t, err, "KMSInternalException", "Trent is sealed.")
	_, err = s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
	wantErr(t, err, "KMSInternalException", "Trent is sealed.")
	if _, err := s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
	wantErr(t, err, "KMSInternalException", "Trent is sealed.")
	if softhsmtest.LoggedIn(t, tok) {
		t.Error("logged in to the token again after Wipe")
	}
}

// TestConnectChecksPassword: ConnectCustomKeyStore checks the store's
// password by a login of its own, even on a node still logged in to the
// token (it has not yet learned of the disconnection): a wrong password
// leaves the store FAILED with INVALID_CREDENTIALS, as AWS's.
func TestConnectChecksPassword(t *testing.T) {
	url := pgtest.URL(t)
	tokA, tokB := hsmToken(t, 10), hsmToken(t, 11)
	a := newHSMNode(t, url, pgstore.Options{}, tokA)
	b := newHSMNode(t, url, pgstore.Options{}, tokB)
	at, err := b.st.Version(bg)
	if err != nil {
		t.Fatal(err)
	}
	id := createHSMStore(t, a.s)
	connectHSMStore(t, a.s, id)
	at, _ = b.follow(t, at)
	k, err := b.s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// Node a disconnects the store and gives it a wrong password; node b,
	// which has not followed yet, is asked to connect it.
	if _, err := a.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, KeyStorePassword: "wrong-password"}); err != nil {
		t.Fatal(err)
	}
	connectHSMStore(t, b.s, id)
	if e := describeStore(t, a.s, id); e.ConnectionState != stateFailed || e.ConnectionErrorCode != "INVALID_CREDENTIALS" {
		t.Errorf("store connected with a wrong password: %s %s, want FAILED INVALID_CREDENTIALS", e.ConnectionState, e.ConnectionErrorCode)
	}
	b.follow(t, at)
	if softhsmtest.LoggedIn(t, tokB) {
		t.Error("node b is still logged in to the token of a FAILED store")
	}
}

// TestCloudHSMWipedInFlight: a GenerateRandom or CreateKey whose token
// Wipe logs out of during the token's call answers that Trent is sealed,
// as Encrypt and Decrypt do (hsmError), not that the cluster failed.
func TestCloudHSMWipedInFlight(t *testing.T) {
	tok := hsmToken(t, 12)
	for _, op := range []string{"GenerateRandom", "CreateKey"} {
		s, id := newHSMService(t, memstore.New(), time.Now, tok)
		hsmBeforeCall = func(context.Context) { s.Wipe() }
		var err error
		if op == "GenerateRandom" {
			_, err = s.GenerateRandom(bg, caller, &GenerateRandomInput{NumberOfBytes: ptr[int32](8), CustomKeyStoreId: id})
		} else {
			_, err = s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
		}
		hsmBeforeCall = nil
		wantErr(t, err, "KMSInternalException", "Trent is sealed.")
	}
}

// TestCloudHSMUpdateWiped: an UpdateCustomKeyStore that checks a new
// cluster by a login to its token during which the service is wiped, or
// whose check of the store's keys in the token the wipe interrupts,
// answers that Trent is sealed, stops calling the token at once, and
// leaves it logged out. (The new cluster names the old one's token: it is
// related, and the check calls the token for each key.)
func TestCloudHSMUpdateWiped(t *testing.T) {
	tok := hsmToken(t, 12)
	const clusterB = "cluster-bbbbbbbbbbb"
	for _, during := range []string{"login", "check"} {
		s, id := relatedHSMStore(t, tok, clusterB, 3)
		var err error
		calls := 0
		if during == "login" {
			hsmBeforeCheckLogin = s.Wipe
		} else {
			hsmBeforeCall = func(context.Context) {
				if calls++; calls == 1 {
					s.Wipe()
				}
			}
		}
		_, err = s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, CloudHsmClusterId: clusterB})
		hsmBeforeCheckLogin, hsmBeforeCall = nil, nil
		wantErr(t, err, "KMSInternalException", "Trent is sealed.")
		if calls > 1 {
			t.Errorf("Wipe during the check (%s): %d calls to the token after it, want none", during, calls-1)
		}
		if softhsmtest.LoggedIn(t, tok) {
			t.Errorf("Wipe during the check (%s): logged in to the new cluster's token after it", during)
		}
	}
}

// TestCloudHSMUpdateCheckBounded: UpdateCustomKeyStore's calls to the new
// cluster's token, one per key of the store, are each bounded by
// hsmTimeout, as the keys' own calls are, not left to the request's
// context (here with no deadline): a token that does not answer does not
// hold the check, and the cluster's login lock with it, for ever. (The new
// cluster names the old one's token: it is related.)
func TestCloudHSMUpdateCheckBounded(t *testing.T) {
	tok := hsmToken(t, 13)
	const clusterB = "cluster-bbbbbbbbbbb"
	s, id := relatedHSMStore(t, tok, clusterB, 2)
	var calls int
	hsmBeforeCall = func(ctx context.Context) {
		calls++
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > hsmTimeout {
			t.Errorf("call %d to the new cluster's token: deadline %v (set %v), want within %v", calls, d, ok, hsmTimeout)
		}
	}
	defer func() { hsmBeforeCall = nil }()
	if _, err := s.UpdateCustomKeyStore(context.Background(), caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, CloudHsmClusterId: clusterB}); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("%d calls to the new cluster's token, want 2 (one per key)", calls)
	}
}

// TestCloudHSMUpdateCheckFailed: a call of UpdateCustomKeyStore's check
// that fails for another reason than a missing key (here the token lost
// its login and refused the password when the check's pool logged in
// again: the PIN changed under it) does not say that the new cluster lacks
// the key: it answers that the cluster's token could not be used, with its
// ConnectionErrorCode. (The new cluster names the old one's token.)
func TestCloudHSMUpdateCheckFailed(t *testing.T) {
	tok := hsmToken(t, 13)
	const clusterB = "cluster-bbbbbbbbbbb"
	s, id := relatedHSMStore(t, tok, clusterB, 1)
	var err error
	const otherPIN = "other-pin-1234"
	hsmBeforeCall = func(context.Context) {
		hsmBeforeCall = nil
		softhsmtest.Logout(t, tok)
		softhsmtest.SetPIN(t, tok, softhsmtest.PIN, otherPIN)
	}
	defer func() { hsmBeforeCall = nil }()
	_, err = s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, CloudHsmClusterId: clusterB})
	softhsmtest.SetPIN(t, tok, otherPIN, softhsmtest.PIN)
	wantErr(t, err, "CloudHsmClusterInvalidConfigurationException", "*")
	if msg := err.Error(); !strings.Contains(msg, "(INVALID_CREDENTIALS)") {
		t.Errorf("err = %s, want the code INVALID_CREDENTIALS", msg)
	}
}

// TestCloudHSMWipeClosesAtOnce: Wipe (a seal, a shutdown) and a reload
// close the tokens of the node's clusters at once, not one after another:
// each Close may wait up to 10 s for the calls in flight on its token, and
// the seal must not wait for the sum. The hook holds each Close until every
// one has started; the bound only detects closes one after another.
func TestCloudHSMWipeClosesAtOnce(t *testing.T) {
	tokA, tokB := hsmToken(t, 13), hsmToken(t, 14)
	const clusterB = "cluster-bbbbbbbbbbb"
	for _, op := range []string{"Wipe", "Reload"} {
		s, err := New(bg, Config{Store: memstore.New(), CloudHSMClusters: map[string]CloudHSMCluster{
			hsmCluster: {Module: tokA.Lib, TokenLabel: tokA.TokenLabel}, clusterB: {Module: tokB.Lib, TokenLabel: tokB.TokenLabel}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Wipe)
		idA := createHSMStore(t, s)
		connectHSMStore(t, s, idA)
		b, err := s.CreateCustomKeyStore(bg, caller, &CreateCustomKeyStoreInput{CustomKeyStoreName: "b", CloudHsmClusterId: clusterB,
			TrustAnchorCertificate: softhsmtest.TrustAnchor(t), KeyStorePassword: softhsmtest.PIN})
		if err != nil {
			t.Fatal(err)
		}
		connectHSMStore(t, s, b.CustomKeyStoreId)
		if op == "Reload" { // both stores disconnected in storage, behind the node's back
			for _, id := range []string{idA, b.CustomKeyStoreId} {
				err := s.store.Update(bg, func(tx storage.Tx) error {
					rec, err := getKeyStore(tx, scope{region, acct}, id)
					if err != nil {
						return err
					}
					rec.State = stateDisconnected
					return putKeyStore(tx, scope{region, acct}, rec)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		started, release := make(chan struct{}, 2), make(chan struct{})
		hsmCloseToken = func(tok *pkcs11.Token) error {
			started <- struct{}{}
			<-release
			return tok.Close()
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if op == "Wipe" {
				s.Wipe()
			} else if err := s.Reload(bg); err != nil {
				t.Error(err)
			}
		}()
		n, timeout := 0, time.After(20*time.Second)
	wait:
		for n < 2 {
			select {
			case <-started:
				n++
			case <-timeout:
				break wait
			}
		}
		close(release)
		<-done
		hsmCloseToken = (*pkcs11.Token).Close
		if n < 2 {
			t.Errorf("%s: %d of the 2 tokens' Close started before the first ended, want both", op, n)
		}
		if softhsmtest.LoggedIn(t, tokA) || softhsmtest.LoggedIn(t, tokB) {
			t.Errorf("%s: still logged in to a token", op)
		}
	}
}

// TestCloudHSMLoginRefusedNoStall: open's look at a token's refused login
// (its lock, which the token holds while it closes sessions: a slow
// cluster's calls) is not made under the lock of every cluster's token
// (hsmTokens.mu): while it waits, another cluster's key encrypts. The hook
// holds the look of a new login to cluster A's token (explicit, as
// ConnectCustomKeyStore's); the bound only detects a stall.
func TestCloudHSMLoginRefusedNoStall(t *testing.T) {
	tokA, tokB := hsmToken(t, 13), hsmToken(t, 14)
	const clusterB = "cluster-bbbbbbbbbbb"
	s, err := New(bg, Config{Store: memstore.New(), CloudHSMClusters: map[string]CloudHSMCluster{
		hsmCluster: {Module: tokA.Lib, TokenLabel: tokA.TokenLabel}, clusterB: {Module: tokB.Lib, TokenLabel: tokB.TokenLabel}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wipe)
	connectHSMStore(t, s, createHSMStore(t, s))
	b, err := s.CreateCustomKeyStore(bg, caller, &CreateCustomKeyStoreInput{CustomKeyStoreName: "b", CloudHsmClusterId: clusterB,
		TrustAnchorCertificate: softhsmtest.TrustAnchor(t), KeyStorePassword: softhsmtest.PIN})
	if err != nil {
		t.Fatal(err)
	}
	connectHSMStore(t, s, b.CustomKeyStoreId)
	kB, err := s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: b.CustomKeyStoreId})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	hsmLoginRefused = func(tok *pkcs11.Token) error {
		if held.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return tok.LoginRefused()
	}
	defer func() { hsmLoginRefused = (*pkcs11.Token).LoginRefused }()
	opened := make(chan error, 1)
	go func() {
		_, err := s.hsm.open(s.clusters[hsmCluster], hsmCluster, softhsmtest.PIN, true)
		opened <- err
	}()
	<-entered
	done := make(chan error, 1)
	go func() {
		_, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: kB.KeyMetadata.KeyId, Plaintext: []byte("b")})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Encrypt with cluster B's key: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("cluster B's Encrypt waited for cluster A's look at its token")
	}
	close(release)
	if err := <-opened; err != nil {
		t.Errorf("new login to cluster A's token: %v", err)
	}
}

// TestCloudHSMDisconnectedDuringLogin: a key's use that logs in to its
// store's token while the store is disconnected, on this node or on
// another one whose change this node applies (the node decides to log out
// before the login ends, with no token yet to log out of), logs out as the
// login ends and answers as a key of a disconnected store.
func TestCloudHSMDisconnectedDuringLogin(t *testing.T) {
	tok := hsmToken(t, 14)
	s, id := newHSMService(t, memstore.New(), time.Now, tok)
	useDuringDisconnect(t, s, id, tok, func() {
		if _, err := s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
			t.Error(err)
		}
	})

	url := pgtest.URL(t)
	tokA, tokB := hsmToken(t, 15), hsmToken(t, 16)
	a := newHSMNode(t, url, pgstore.Options{}, tokA)
	b := newHSMNode(t, url, pgstore.Options{}, tokB)
	at, err := b.st.Version(bg)
	if err != nil {
		t.Fatal(err)
	}
	id = createHSMStore(t, a.s)
	connectHSMStore(t, a.s, id)
	at, _ = b.follow(t, at)
	useDuringDisconnect(t, b.s, id, tokB, func() {
		if _, err := a.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
			t.Error(err)
		}
		b.follow(t, at)
	})
}

// useDuringDisconnect creates a key in the connected store id of s, logs s
// out of its token tok, and encrypts with the key, running disconnect
// while that use logs in to the token again: the use must fail as a key of
// a disconnected store, logged out.
func useDuringDisconnect(t *testing.T, s *Service, id string, tok pkcs11.Config, disconnect func()) {
	t.Helper()
	k, err := s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	s.hsm.close(hsmCluster) // the key's next use logs in
	hsmBeforeLogin = func() {
		hsmBeforeLogin = nil
		disconnect()
	}
	_, err = s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
	hsmBeforeLogin = nil
	wantErr(t, err, "KMSInvalidStateException", k.KeyMetadata.Arn+" is unavailable.")
	if softhsmtest.LoggedIn(t, tok) {
		t.Error("still logged in to the token of a store disconnected during the login")
	}
}

// relatedHSMStore is a service whose clusters hsmCluster and clusterB both
// name tok (related clusters) and a store on hsmCluster with n keys, left
// disconnected, as UpdateCustomKeyStore's check of clusterB needs it.
func relatedHSMStore(t *testing.T, tok pkcs11.Config, clusterB string, n int) (*Service, string) {
	t.Helper()
	s, err := New(bg, Config{Store: memstore.New(), CloudHSMClusters: map[string]CloudHSMCluster{
		hsmCluster: {Module: tok.Lib, TokenLabel: tok.TokenLabel}, clusterB: {Module: tok.Lib, TokenLabel: tok.TokenLabel}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wipe)
	id := createHSMStore(t, s)
	connectHSMStore(t, s, id)
	for range n {
		if _, err := s.CreateKey(bg, caller, &CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	return s, id
}
