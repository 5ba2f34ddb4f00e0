package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/pkcs11"
	"github.com/trent-kms/trent/internal/keyring/pkcs11/softhsmtest"
)

// countingSeal counts the calls that reach the real seal keyring.
type countingSeal struct {
	keyring.Keyring
	wraps, unwraps *atomic.Int64
}

func (c countingSeal) Wrap(ctx context.Context, pt, aad []byte) ([]byte, error) {
	c.wraps.Add(1)
	return c.Keyring.Wrap(ctx, pt, aad)
}

func (c countingSeal) Unwrap(ctx context.Context, w, aad []byte) ([]byte, error) {
	c.unwraps.Add(1)
	return c.Keyring.Unwrap(ctx, w, aad)
}

// seedMaterial is a KMS key's material, given by a seed file so that the
// raw files can be searched for it.
var seedMaterial = bytes.Repeat([]byte{0x5e, 0xa1, 0x3d, 0x77}, 8)

func writeSeed(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seed.yaml")
	body := "keys:\n  - id: 0a1b2c3d-0000-4000-8000-000000000001\n    aliases: [alias/seeded]\n    material: \"" +
		base64.StdEncoding.EncodeToString(seedMaterial) + "\"\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantNoSecretsIn searches every file under dir for the secrets in their
// raw, hex and base64 forms.
func wantNoSecretsIn(t *testing.T, dir string, secrets ...[]byte) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			for _, form := range [][]byte{s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s))} {
				if bytes.Contains(b, form) {
					t.Errorf("%s holds key material in the clear", p)
				}
			}
		}
		return nil
	})
}

// TestPKCS11EndToEnd: a server sealed by an AES key in SoftHSM2 initialises,
// restarts and auto-unseals, serving Encrypt/Decrypt; the HSM is called
// once per unseal (and once at initialisation), never per request or
// record; the data directory holds no key material and does not open with
// another token.
func TestPKCS11EndToEnd(t *testing.T) {
	t.Parallel()
	tok := softhsmtest.Token(t)
	otherTok := softhsmtest.Token(t)
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(softhsmtest.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var wraps, unwraps atomic.Int64
	cfg := testConfig()
	cfg.DataDir, cfg.Seal, cfg.SeedFile = t.TempDir(), SealPKCS11, writeSeed(t)
	cfg.PKCS11 = PKCS11Config{Lib: tok.Lib, TokenLabel: tok.TokenLabel, KeyLabel: tok.KeyLabel, PINFile: pinFile}
	cfg.SealHook = func(kr keyring.Keyring) keyring.Keyring {
		return countingSeal{Keyring: kr, wraps: &wraps, unwraps: &unwraps}
	}

	s, _ := start(t, cfg)
	if w, u := wraps.Load(), unwraps.Load(); w != 1 || u != 0 {
		t.Errorf("initialisation called the HSM: Wrap %d, Unwrap %d times, want 1, 0", w, u)
	}
	id, secret, _ := readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	c := sdk(s.URL(), id, secret, nil)
	keyID, blob := roundTrip(t, c, "")
	_, seededBlob := roundTrip(t, c, "alias/seeded")
	for range 50 {
		roundTrip(t, c, keyID)
	}
	if w, u := wraps.Load(), unwraps.Load(); w != 1 || u != 0 {
		t.Errorf("after 52 keys and requests the HSM saw Wrap %d, Unwrap %d calls, want 1, 0", w, u)
	}
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}

	// Restart: auto-unseal with one HSM call.
	s2, _ := start(t, cfg)
	if w, u := wraps.Load(), unwraps.Load(); w != 1 || u != 1 {
		t.Errorf("restart: HSM Wrap %d, Unwrap %d calls, want 1, 1", w, u)
	}
	c2 := sdk(s2.URL(), id, secret, nil)
	for _, b := range [][]byte{blob, seededBlob} {
		dec, err := c2.Decrypt(bg, &awskms.DecryptInput{CiphertextBlob: b, EncryptionContext: map[string]string{"test": "server"}})
		if err != nil || string(dec.Plaintext) != "the quick brown fox" {
			t.Fatalf("Decrypt after restart = %v, %v", dec, err)
		}
	}
	for range 20 {
		roundTrip(t, c2, keyID)
	}
	if u := unwraps.Load(); u != 1 {
		t.Errorf("requests after the restart called the HSM's Unwrap: %d calls, want 1", u)
	}
	if err := s2.Shutdown(bg); err != nil {
		t.Fatal(err)
	}

	// The data directory alone reveals nothing and opens with no other token.
	wantNoSecretsIn(t, cfg.DataDir, seedMaterial)
	other := cfg
	other.DataDir = copyDir(t, cfg.DataDir)
	other.PKCS11.TokenLabel, other.SealHook = otherTok.TokenLabel, nil
	other.AutoUnsealRetry = time.Hour
	if _, err := New(bg, other, quiet); err == nil || !strings.Contains(err.Error(), "no AES key labelled") {
		t.Fatalf("New with a token without the key err = %v, want no AES key", err)
	}
	otherTok.PIN = softhsmtest.PIN
	kr, err := pkcs11.Open(otherTok, true) // a key of the same label, but another key
	if err != nil {
		t.Fatal(err)
	}
	kr.Close()
	s3, _ := start(t, other) // the seal does not open the root key: sealed
	if code, h := health(t, s3); code != http.StatusServiceUnavailable || !h.Sealed {
		t.Errorf("health with another token = %d %+v, want 503 sealed", code, h)
	}
	wantSealedAPI(t, sdk(s3.URL(), id, secret, nil))
}

// TestKMSAutoUnseal: a server sealed by a key of another Trent unseals
// through it, and stays sealed while that Trent is down or the key is
// disabled, unsealing by itself once it is back.
func TestKMSAutoUnseal(t *testing.T) {
	t.Parallel()
	// The first Trent, on a port it can get back after a restart.
	aCfg := testConfig()
	aCfg.DataDir = t.TempDir()
	a, _ := start(t, aCfg)
	aCfg.Addr = a.Addr().String()
	aCreds := filepath.Join(aCfg.DataDir, CredentialsFile)
	aid, asecret, _ := readCredentials(t, aCreds)
	ac := sdk(a.URL(), aid, asecret, nil)
	k, err := ac.CreateKey(bg, &awskms.CreateKeyInput{Description: aws.String("seal of the second Trent")})
	if err != nil {
		t.Fatal(err)
	}

	var wraps, unwraps atomic.Int64
	bCfg := testConfig()
	bCfg.DataDir, bCfg.Seal = t.TempDir(), SealKMS
	bCfg.SealKMS = KMSSealConfig{Endpoint: a.URL(), Region: "us-east-1", KeyID: *k.KeyMetadata.Arn, CredentialsFile: aCreds}
	bCfg.AutoUnsealRetry = 50 * time.Millisecond
	bCfg.SealHook = func(kr keyring.Keyring) keyring.Keyring {
		return countingSeal{Keyring: kr, wraps: &wraps, unwraps: &unwraps}
	}
	b, _ := start(t, bCfg)
	bid, bsecret, _ := readCredentials(t, filepath.Join(bCfg.DataDir, CredentialsFile))
	bc := sdk(b.URL(), bid, bsecret, nil)
	keyID, blob := roundTrip(t, bc, "")
	if err := b.Shutdown(bg); err != nil {
		t.Fatal(err)
	}

	// Key disabled: the second Trent starts sealed, then unseals by itself
	// once the key is enabled again.
	if _, err := ac.DisableKey(bg, &awskms.DisableKeyInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	b2, logs := start(t, bCfg)
	if code, h := health(t, b2); code != http.StatusServiceUnavailable || !h.Sealed || !h.Initialized {
		t.Fatalf("health with the seal key disabled = %d %+v, want 503 sealed", code, h)
	}
	b2c := sdk(b2.URL(), bid, bsecret, nil)
	wantSealedAPI(t, b2c)
	time.Sleep(200 * time.Millisecond) // several retries, all refused
	if code, _ := health(t, b2); code != http.StatusServiceUnavailable {
		t.Fatalf("unsealed while the seal key is disabled")
	}
	if !bytes.Contains([]byte(logs.String()), []byte("DisabledException")) {
		t.Errorf("the log does not say why the auto-unseal failed:\n%s", logs.String())
	}
	if _, err := ac.EnableKey(bg, &awskms.EnableKeyInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, b2)
	dec, err := b2c.Decrypt(bg, &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"test": "server"}})
	if err != nil || string(dec.Plaintext) != "the quick brown fox" {
		t.Fatalf("Decrypt after auto-unseal = %v, %v", dec, err)
	}
	if err := b2.Shutdown(bg); err != nil {
		t.Fatal(err)
	}

	// The first Trent down: sealed; back up: unsealed.
	if err := a.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	b3, _ := start(t, bCfg)
	if code, h := health(t, b3); code != http.StatusServiceUnavailable || !h.Sealed {
		t.Fatalf("health with the first Trent down = %d %+v, want 503 sealed", code, h)
	}
	wantSealedAPI(t, sdk(b3.URL(), bid, bsecret, nil))
	startAt(t, aCfg)
	waitHealthy(t, b3)
	roundTrip(t, sdk(b3.URL(), bid, bsecret, nil), keyID)
	if w := wraps.Load(); w != 1 {
		t.Errorf("KMS Encrypt calls = %d, want 1 (initialisation)", w)
	}
}

// startAt starts cfg on its fixed address, retrying while the port is
// still held by the previous listener.
func startAt(t *testing.T, cfg Config) *Server {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err == nil {
			ln.Close()
			s, _ := start(t, cfg)
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("address %s stayed busy", cfg.Addr)
	return nil
}

func waitHealthy(t *testing.T, s *Server) {
	t.Helper()
	for range 400 {
		if code, _ := health(t, s); code == http.StatusOK {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the server did not unseal")
}
