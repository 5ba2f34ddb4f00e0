package kms

import (
	"context"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keyring/pkcs11/softhsmtest"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// TestCloudHSMKeyDeletion: a key of a CloudHSM key store deleted at the end
// of its waiting period takes its material in the token with it; when the
// store is disconnected then, the material stays in the token, as AWS's
// stays in the cluster. (The service directly: the waiting period passes
// on the test's clock.)
func TestCloudHSMKeyDeletion(t *testing.T) {
	t.Parallel()
	bg := context.Background()
	tok := softhsmtest.Token(t)
	const cluster = "cluster-abcdefghijk"
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := New(bg, Config{Store: memstore.New(), Now: clk.Now,
		CloudHSMClusters: map[string]CloudHSMCluster{cluster: {Module: tok.Lib, TokenLabel: tok.TokenLabel}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	cs, err := s.CreateCustomKeyStore(bg, caller, &CreateCustomKeyStoreInput{CustomKeyStoreName: "hsm", CloudHsmClusterId: cluster,
		TrustAnchorCertificate: softhsmtest.TrustAnchor(t), KeyStorePassword: softhsmtest.PIN})
	if err != nil {
		t.Fatal(err)
	}
	store := &ConnectCustomKeyStoreInput{CustomKeyStoreId: cs.CustomKeyStoreId}
	if _, err := s.ConnectCustomKeyStore(bg, caller, store); err != nil {
		t.Fatal(err)
	}
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
