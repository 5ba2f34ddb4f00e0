package server

import (
	"path/filepath"
	"testing"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestMigrateSeal moves a data directory from the file seal to shamir and
// back: only the root key is rewrapped, every ciphertext still decrypts.
func TestMigrateSeal(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	keyID, blob := roundTrip(t, sdk(s.URL(), id, secret, nil), "")
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	if err := MigrateSeal(bg, cfg, SealFile, nil, 3, 2, nil); err == nil {
		t.Errorf("MigrateSeal(file to file) err = nil")
	}
	var shares []string
	err := MigrateSeal(bg, cfg, SealShamir, nil, 3, 2, func(s []string) error { shares = s; return nil })
	if err != nil || len(shares) != 3 {
		t.Fatalf("MigrateSeal(file to shamir) = %d shares, %v", len(shares), err)
	}
	if _, err := New(bg, cfg, quiet); err == nil {
		t.Fatalf("the file seal still opens a data directory moved to shamir")
	}
	scfg := cfg
	scfg.Seal = SealShamir
	s2, _ := start(t, scfg)
	for _, sh := range shares[1:] {
		if _, err := opClient(s2, "", "").Unseal(bg, sh, false); err != nil {
			t.Fatal(err)
		}
	}
	c2 := sdk(s2.URL(), id, secret, nil)
	dec, err := c2.Decrypt(bg, &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"test": "server"}})
	if err != nil || string(dec.Plaintext) != "the quick brown fox" {
		t.Fatalf("Decrypt after migration to shamir = %v, %v", dec, err)
	}
	if err := s2.Shutdown(bg); err != nil {
		t.Fatal(err)
	}

	// Back to a new key file, with two shares.
	back := scfg
	back.RootKeyFile = filepath.Join(t.TempDir(), "new-root.key")
	if err := MigrateSeal(bg, back, SealFile, shares[:1], 0, 0, nil); err == nil {
		t.Errorf("MigrateSeal from shamir with one share of two err = nil")
	}
	if err := MigrateSeal(bg, back, SealFile, shares[:2], 0, 0, nil); err != nil {
		t.Fatalf("MigrateSeal(shamir to file) err = %v", err)
	}
	fcfg := back
	fcfg.Seal = SealFile
	s3, _ := start(t, fcfg)
	roundTrip(t, sdk(s3.URL(), id, secret, nil), keyID)
}
