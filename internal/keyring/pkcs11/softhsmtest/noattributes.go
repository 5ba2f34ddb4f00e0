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

// CloseAllSessions fails: this build has no PKCS#11.
func CloseAllSessions(t testing.TB, _ pkcs11.Config) {
	t.Helper()
	t.Fatal("softhsmtest: built without PKCS#11")
}

// Logout fails: this build has no PKCS#11.
func Logout(t testing.TB, _ pkcs11.Config) {
	t.Helper()
	t.Fatal("softhsmtest: built without PKCS#11")
}

// LoggedIn fails: this build has no PKCS#11.
func LoggedIn(t testing.TB, _ pkcs11.Config) bool {
	t.Helper()
	t.Fatal("softhsmtest: built without PKCS#11")
	return false
}
