//go:build !cgo || nopkcs11

package softhsmtest

import (
	"testing"

	"github.com/trent-kms/trent/internal/keyring/pkcs11"
)

// Attributes are absent from this build (Token skips first).
type Attributes struct {
	Sensitive, Extractable, Token bool
	ValueLen                      int
	ValueErr                      error
}

// KeyAttributes fails: this build has no PKCS#11.
func KeyAttributes(t testing.TB, _ pkcs11.Config, _ string) (Attributes, bool) {
	t.Helper()
	t.Fatal("softhsmtest: built without PKCS#11")
	return Attributes{}, false
}

// SetPIN fails: this build has no PKCS#11.
func SetPIN(t testing.TB, _ pkcs11.Config, _, _ string) {
	t.Helper()
	t.Fatal("softhsmtest: built without PKCS#11")
}
