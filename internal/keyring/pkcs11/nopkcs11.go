//go:build !cgo || nopkcs11

package pkcs11

import (
	"context"
	"errors"

	"github.com/trent-kms/trent/internal/keyring"
)

// Supported reports whether this build has the PKCS#11 seal.
const Supported = false

// ErrUnsupported is returned by Open in builds without cgo or with the
// nopkcs11 tag.
var ErrUnsupported = errors.New("keyring: pkcs11 unsupported: built without cgo (or with the nopkcs11 tag)")

// Keyring is absent from this build.
type Keyring struct{}

var _ keyring.Keyring = (*Keyring)(nil)

// Open returns ErrUnsupported.
func Open(Config, bool) (*Keyring, error) { return nil, ErrUnsupported }

func (*Keyring) Wrap(context.Context, []byte, []byte) ([]byte, error)   { return nil, ErrUnsupported }
func (*Keyring) Unwrap(context.Context, []byte, []byte) ([]byte, error) { return nil, ErrUnsupported }
func (*Keyring) Close() error                                           { return nil }

// Token is absent from this build.
type Token struct{}

// OpenToken returns ErrUnsupported.
func OpenToken(string, string, string) (*Token, error) { return nil, ErrUnsupported }

func (*Token) GenerateKey(context.Context, string) error { return ErrUnsupported }
func (*Token) DestroyKey(context.Context, string) error  { return ErrUnsupported }
func (*Token) Seal(context.Context, string, []byte, []byte) ([]byte, []byte, error) {
	return nil, nil, ErrUnsupported
}
func (*Token) Open(context.Context, string, []byte, []byte, []byte) ([]byte, error) {
	return nil, ErrUnsupported
}
func (*Token) Random(context.Context, int) ([]byte, error) { return nil, ErrUnsupported }
func (*Token) Close() error                                { return nil }

// TokenPresent returns ErrUnsupported.
func TokenPresent(string, string) error { return ErrUnsupported }

// HoldModule returns ErrUnsupported.
func HoldModule(string) (func(), error) { return nil, ErrUnsupported }

func (*Token) HasKey(context.Context, string) bool   { return false }
func (*Token) FindKey(context.Context, string) error { return ErrUnsupported }
func (*Token) LoginRefused() error                   { return nil }
