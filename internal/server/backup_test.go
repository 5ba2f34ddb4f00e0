package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/backup"
	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/boltstore"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// made is one acknowledged result: a key and a ciphertext under it.
type made struct {
	keyID string
	blob  []byte
	pt    string
}

// load creates keys and encrypts under them until stop is closed,
// recording each acknowledged result.
func load(t *testing.T, c *awskms.Client, stop <-chan struct{}, workers int) (func() []made, *sync.WaitGroup) {
	var mu sync.Mutex
	var all []made
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k, err := c.CreateKey(bg, &awskms.CreateKeyInput{Description: aws.String(fmt.Sprintf("load %d-%d", w, i))})
				if err != nil {
					t.Errorf("CreateKey under load: %v", err)
					return
				}
				pt := fmt.Sprintf("plaintext %d-%d", w, i)
				e, err := c.Encrypt(bg, &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte(pt)})
				if err != nil {
					t.Errorf("Encrypt under load: %v", err)
					return
				}
				mu.Lock()
				all = append(all, made{*k.KeyMetadata.KeyId, e.CiphertextBlob, pt})
				mu.Unlock()
			}
		})
	}
	return func() []made { mu.Lock(); defer mu.Unlock(); return append([]made(nil), all...) }, &wg
}

func wantDecrypts(t *testing.T, c *awskms.Client, ms []made) {
	t.Helper()
	for _, m := range ms {
		dec, err := c.Decrypt(bg, &awskms.DecryptInput{CiphertextBlob: m.blob})
		if err != nil || string(dec.Plaintext) != m.pt || *dec.KeyId == "" {
			t.Fatalf("Decrypt(ciphertext under %s) = %v, %v, want %q", m.keyID, dec, err, m.pt)
		}
	}
}

// TestBackupUnderLoadAndRestore: a backup taken while writes go on holds
// everything acknowledged before it started; restored into an empty data
// directory it serves every ciphertext made before; it is useless without
// the seal; a flipped byte fails the restore, which leaves nothing.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	c := sdk(s.URL(), id, secret, nil)
	stop := make(chan struct{})
	acked, wg := load(t, c, stop, 3)
	for len(acked()) < 30 {
		if t.Failed() {
			t.FailNow()
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := acked() // acknowledged before the backup started
	var buf bytes.Buffer
	n, err := opClient(s, id, secret).Backup(bg, &buf)
	close(stop)
	wg.Wait()
	if err != nil || n == 0 {
		t.Fatalf("Backup() = %d bytes, %v", n, err)
	}
	if after := acked(); len(after) <= len(before) {
		t.Logf("no write was acknowledged during the backup (%d before, %d after)", len(before), len(after))
	}
	if _, err := (&OperatorClient{Endpoint: s.URL()}).Backup(bg, &bytes.Buffer{}); err == nil {
		t.Errorf("an unsigned backup request succeeded")
	}
	raw := buf.Bytes()
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(before[0].pt)) {
		t.Errorf("the backup holds a secret in the clear")
	}

	// A flipped byte anywhere is detected and nothing is restored.
	for _, i := range []int{0, 20, len(raw) / 3, len(raw) / 2, len(raw) - 70, len(raw) - 40} {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x04
		dst, _ := boltstore.Open(filepath.Join(t.TempDir(), "x.db"))
		if _, err := backup.Restore(bg, bytes.NewReader(bad), dst); !errors.Is(err, backup.ErrCorrupt) {
			t.Errorf("Restore(byte %d of %d flipped) err = %v, want ErrCorrupt", i, len(raw), err)
		}
		_ = dst.View(bg, func(tx storage.Tx) error {
			if es, _ := tx.List("", "", 1); len(es) != 0 {
				t.Errorf("a refused restore left records")
			}
			return nil
		})
		dst.Close()
	}
	if _, err := backup.Restore(bg, bytes.NewReader(raw[:len(raw)-1]), newMem()); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("Restore(truncated) err = %v, want ErrCorrupt", err)
	}

	// Restore into a new data directory; the backup alone does not open.
	rcfg := cfg
	rcfg.DataDir = t.TempDir()
	dst, err := boltstore.Open(filepath.Join(rcfg.DataDir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	h, err := backup.Restore(bg, bytes.NewReader(raw), dst)
	dst.Close()
	if err != nil || h.Seal != SealFile || h.Records == 0 || h.Extra["audit_seq"] == "" || len(h.Extra["audit_chain"]) != 64 {
		t.Fatalf("Restore() = %+v, %v", h, err)
	}
	if _, err := New(bg, rcfg, quiet); err == nil {
		t.Fatalf("the restored data directory opened without the seal's key file")
	}
	// A backup whose MAC was altered restores but does not unseal.
	forged := cfg
	forged.DataDir, forged.RootKeyFile = t.TempDir(), filepath.Join(cfg.DataDir, RootKeyFile)
	fdst, _ := boltstore.Open(filepath.Join(forged.DataDir, DBFile))
	bad := bytes.Clone(raw)
	bad[len(bad)-1] ^= 1
	_, err = backup.Restore(bg, bytes.NewReader(bad), fdst)
	fdst.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(bg, forged, quiet); !errors.Is(err, barrier.ErrBackupAuth) {
		t.Fatalf("New(restored backup with a bad MAC) err = %v, want ErrBackupAuth", err)
	}
	wrongKey := rcfg
	wrongKey.RootKeyFile = filepath.Join(t.TempDir(), "other.key")
	writeRootKey(wrongKey.RootKeyFile)
	if _, err := New(bg, wrongKey, quiet); !errors.Is(err, barrier.ErrRootKey) {
		t.Fatalf("the restored data directory with another key file err = %v, want ErrRootKey", err)
	}
	rcfg.RootKeyFile = filepath.Join(cfg.DataDir, RootKeyFile) // the seal
	r, _ := start(t, rcfg)
	rc := sdk(r.URL(), id, secret, nil)
	wantDecrypts(t, rc, before)
	for _, m := range before {
		if _, err := rc.DescribeKey(bg, &awskms.DescribeKeyInput{KeyId: aws.String(m.keyID)}); err != nil {
			t.Fatalf("DescribeKey(%s) on the restored server: %v", m.keyID, err)
		}
	}
	roundTrip(t, rc, before[0].keyID)
	// The restore is a fact of the first unseal only: a later one sees
	// the store as it is (a log cut while sealed is no restore).
	if !r.state.barrier.Restored() {
		t.Error("the first unseal of the restored store does not report the restore")
	}
	if err := r.Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Unseal(bg, ""); err != nil {
		t.Fatal(err)
	}
	if r.state.barrier.Restored() {
		t.Error("a later unseal reports the restore again")
	}
	// The restored server's audit log is a new chain beside a store that
	// held the old log's head: verify notes the restore, not tampering.
	if err := r.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	if rep := verifyLog(t, filepath.Join(rcfg.DataDir, AuditDir)); rep.Problem != nil || len(rep.Restores) != 1 {
		t.Errorf("Verify of the restored server's log = %+v, want no problem and one restore noted", rep)
	}
}

// TestRotationUnderLoad: data-key and root rotation while keys are created
// and used: nothing acknowledged is lost, every record ends on the new data
// key, and every ciphertext still decrypts after a restart.
func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	c := sdk(s.URL(), id, secret, nil)
	admin := opClient(s, id, secret)
	stop := make(chan struct{})
	acked, wg := load(t, c, stop, 3)
	for len(acked()) < 20 {
		if t.Failed() {
			t.FailNow()
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := admin.Rotate(bg, true); err != nil {
		t.Fatal(err)
	}
	for len(acked()) < 40 {
		if t.Failed() {
			t.FailNow()
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := admin.Rotate(bg, false); err != nil {
		t.Fatal(err)
	}
	waitRewrap(t, admin, 3)
	close(stop)
	wg.Wait()
	all := acked()
	wantDecrypts(t, c, all)
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	// Every record is sealed under data key 3.
	db, err := boltstore.Open(filepath.Join(cfg.DataDir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(bg, func(tx storage.Tx) error {
		es, _ := tx.List("", "", 0)
		for _, e := range es {
			if !bytes.HasPrefix([]byte(e.Key), []byte(barrier.Prefix)) && (e.Value[0] != 2 || e.Value[4] != 3) {
				t.Errorf("record %s is on data key %x, want 3", e.Key, e.Value[1:5])
			}
		}
		return nil
	})
	db.Close()
	s2, _ := start(t, cfg)
	wantDecrypts(t, sdk(s2.URL(), id, secret, nil), all)
	if code, _ := health(t, s2); code != http.StatusOK {
		t.Errorf("health after restart = %d", code)
	}
}

func newMem() storage.Store { return memstore.New() }
