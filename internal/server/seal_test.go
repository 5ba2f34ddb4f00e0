package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
)

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	copyInto(t, src, dst)
	return dst
}

// copyInto copies the files of src into dst (mode 0600), recursively.
func copyInto(t *testing.T, src, dst string) {
	t.Helper()
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.IsDir() {
			sub := filepath.Join(dst, e.Name())
			if err := os.Mkdir(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			copyInto(t, filepath.Join(src, e.Name()), sub)
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLegacyDataDirectory opens a data directory written by release 6cb4e61
// (the single-level barrier: records sealed by root.key directly; made by
// testdata/legacy-v1's generator against that release): the first start
// migrates every record under the first data key, and every ciphertext made
// then still decrypts, before and after a restart.
func TestLegacyDataDirectory(t *testing.T) {
	t.Parallel()
	dir := copyDir(t, "testdata/legacy-v1")
	var expect []struct{ KeyID, Alias, Plaintext, Context, Ciphertext string }
	b, err := os.ReadFile(filepath.Join(dir, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &expect); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.DataDir = dir
	for round := range 2 {
		func() {
			s, _ := start(t, cfg)
			defer s.Shutdown(context.Background())
			id, secret, _ := readCredentials(t, filepath.Join(dir, CredentialsFile))
			c := sdk(s.URL(), id, secret, nil)
			for _, e := range expect {
				blob, _ := base64.StdEncoding.DecodeString(e.Ciphertext)
				dec, err := c.Decrypt(context.Background(), &awskms.DecryptInput{CiphertextBlob: blob,
					EncryptionContext: map[string]string{"n": e.Context}})
				if err != nil {
					t.Fatalf("round %d: Decrypt(legacy ciphertext of %s): %v", round, e.Alias, err)
				}
				if string(dec.Plaintext) != e.Plaintext || *dec.KeyId == "" {
					t.Errorf("round %d: Decrypt = %q, want %q", round, dec.Plaintext, e.Plaintext)
				}
			}
			roundTrip(t, c, expect[0].Alias)
		}()
	}
	// Every record is now in the two-level format.
	db, err := boltstore.Open(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(context.Background(), func(tx storage.Tx) error {
		es, err := tx.List("", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			if bytes.HasPrefix([]byte(e.Key), []byte("barrier/")) {
				continue
			}
			n++
			if e.Value[0] != 2 {
				t.Errorf("record %s has format %d, want 2", e.Key, e.Value[0])
			}
		}
		if n < len(expect) {
			t.Errorf("%d records, want at least %d", n, len(expect))
		}
		return nil
	})
}
