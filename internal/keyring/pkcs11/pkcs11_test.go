package pkcs11_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/keyringtest"
	"github.com/trent-kms/trent/internal/keyring/pkcs11"
	"github.com/trent-kms/trent/internal/keyring/pkcs11/softhsmtest"
)

func mustOpen(t *testing.T, cfg pkcs11.Config, create bool) *pkcs11.Keyring {
	t.Helper()
	kr, err := pkcs11.Open(cfg, create)
	if err != nil {
		t.Fatalf("Open(%s) err = %v", cfg.TokenLabel, err)
	}
	return kr
}

func TestConformance(t *testing.T) {
	cfg := softhsmtest.Token(t)
	mustOpen(t, cfg, true).Close() // generate the key once
	keyringtest.Run(t, func(t *testing.T) keyring.Keyring { return mustOpen(t, cfg, false) })
}

func TestKeyPersistsInToken(t *testing.T) {
	ctx := context.Background()
	cfg := softhsmtest.Token(t)
	otherCfg := softhsmtest.Token(t) // tokens are seen by modules initialised after they were made
	if _, err := pkcs11.Open(cfg, false); err == nil || !strings.Contains(err.Error(), "no AES key labelled") {
		t.Fatalf("Open(no key, create=false) err = %v, want no AES key", err)
	}
	a := mustOpen(t, cfg, true)
	w, err := a.Wrap(ctx, []byte("root key"), []byte("barrier/root"))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b := mustOpen(t, cfg, false) // a new session finds the same key
	defer b.Close()
	pt, err := b.Unwrap(ctx, w, []byte("barrier/root"))
	if err != nil || string(pt) != "root key" {
		t.Errorf("Unwrap in a new session = %q, %v", pt, err)
	}
	// Another token's key does not open it.
	other := mustOpen(t, otherCfg, true)
	defer other.Close()
	if _, err := other.Unwrap(ctx, w, []byte("barrier/root")); !errors.Is(err, keyring.ErrUnwrap) {
		t.Errorf("Unwrap under another token's key err = %v, want ErrUnwrap", err)
	}
}

func TestBadConfig(t *testing.T) {
	cfg := softhsmtest.Token(t)
	bad := cfg
	bad.PIN = "wrong-pin"
	if _, err := pkcs11.Open(bad, true); err == nil || !strings.Contains(err.Error(), "log in") {
		t.Errorf("Open(wrong PIN) err = %v, want a login error", err)
	}
	bad = cfg
	bad.TokenLabel = "no-such-token"
	if _, err := pkcs11.Open(bad, true); err == nil || !strings.Contains(err.Error(), "no token labelled") {
		t.Errorf("Open(unknown token) err = %v", err)
	}
	bad = cfg
	bad.Lib = "/nonexistent/libpkcs11.so"
	if _, err := pkcs11.Open(bad, true); err == nil {
		t.Errorf("Open(missing module) err = nil")
	}
	if err := (pkcs11.Config{}).Validate(); err == nil || strings.Count(err.Error(), "required") != 4 {
		t.Errorf("Validate(empty) = %v, want 4 missing fields", err)
	}
}

// TestConfigPINNotPrinted: the PIN stays out of fmt and of slog's text and
// JSON output (the server logs in either format).
func TestConfigPINNotPrinted(t *testing.T) {
	cfg := pkcs11.Config{Lib: "/lib.so", TokenLabel: "t", KeyLabel: "k", PIN: "pin-4711"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("seal", "pkcs11", cfg)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("seal", "pkcs11", cfg)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg)
	if strings.Contains(out, "pin-4711") || !strings.Contains(out, "t") {
		t.Errorf("the PIN is printed: %s", out)
	}
}
