package kms

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/storage/boltstore"
)

// TestPersistenceOverBoltAndBarrier runs the service over the production
// stack (bbolt under the barrier): state survives a restart and no key
// material reaches the database file in the clear.
func TestPersistenceOverBoltAndBarrier(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trent.db")
	root := bytes.Repeat([]byte{0x42}, 32)
	open := func() (*Service, func()) {
		t.Helper()
		db, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		kr, err := keyring.NewFileKeyring(root)
		if err != nil {
			t.Fatal(err)
		}
		b, err := barrier.Open(bg, db, kr, "file")
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(bg, Config{Store: b})
		if err != nil {
			t.Fatal(err)
		}
		return s, func() { db.Close() }
	}
	s, closeDB := open()
	out, err := s.CreateKey(bg, caller, &CreateKeyInput{Description: "bolt", Tags: []Tag{{"k", "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	md := out.KeyMetadata
	if _, err := s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/bolt", TargetKeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateKeyOnDemand(bg, caller, &RotateKeyOnDemandInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	enc, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: "alias/bolt", Plaintext: []byte("durable")})
	if err != nil {
		t.Fatal(err)
	}
	var materials [][]byte
	for _, v := range s.getKey(scope{region, acct}, md.KeyId).versions {
		materials = append(materials, bytes.Clone(v.Material().Expose()))
	}
	before := snapshot(t, s)
	closeDB()

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range materials {
		if bytes.Contains(raw, m) {
			t.Errorf("material of version %d found in the clear in the database file", i+1)
		}
	}
	if bytes.Contains(raw, []byte(`"material"`)) {
		t.Error("key record JSON found in the clear in the database file")
	}

	s2, closeDB2 := open()
	defer closeDB2()
	if got := snapshot(t, s2); got != before {
		t.Errorf("state after restart differs:\nbefore %s\nafter  %s", before, got)
	}
	dec, err := s2.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "durable" {
		t.Errorf("Decrypt after restart = %v, %v", dec, err)
	}
}
