// Package keyring is the root of trust: it wraps and unwraps data under a root
// key that never reaches disk in the clear. The file seal (this package's
// FileKeyring) is for development and the embedded default; HSM, Shamir and
// KMS seals (packages shamir, pkcs11, kmsseal) sit behind the same
// interface, each passing keyringtest.Run.
package keyring

import "context"

// MinMaxPlaintext is the largest plaintext every Keyring must wrap: seals
// wrap keys (the barrier's 32-byte root key), and a KMS seal is bound by
// the 4096-byte plaintext limit of the KMS Encrypt API.
const MinMaxPlaintext = 4000

// Keyring wraps secrets under the root of trust.
type Keyring interface {
	// Wrap encrypts plaintext under the root key. aad binds the result to its
	// storage location and must be passed unchanged to Unwrap.
	Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	// Unwrap reverses Wrap. A wrong aad, wrong root key, truncated or
	// modified input fails with ErrUnwrap and returns no plaintext. The
	// result is a fresh slice the caller may wipe.
	Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error)
	// Close wipes the root key (best effort); Wrap and Unwrap fail after it.
	// Closing twice returns nil.
	Close() error
}
