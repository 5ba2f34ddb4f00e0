package envelope

import (
	"context"
	"errors"
	"fmt"
)

// EncryptedDataKey is a data key wrapped by a keyring, as stored in the
// message header.
type EncryptedDataKey struct {
	// ProviderID names the kind of keyring: "aws-kms" for KMS keyrings,
	// the key namespace for raw AES keyrings.
	ProviderID string
	// ProviderInfo identifies the wrapping key: the key ARN for KMS, the
	// key name, tag length, IV length and IV for raw AES.
	ProviderInfo []byte
	// Ciphertext is the wrapped data key.
	Ciphertext []byte
}

// EncryptionMaterials is what a [Keyring] works on when a message is
// written.
type EncryptionMaterials struct {
	// Suite is the algorithm suite of the message.
	Suite Suite
	// EncryptionContext is the full context of the message, including the
	// reserved "aws-crypto-public-key" of signed suites. Keyrings must not
	// modify it.
	EncryptionContext map[string]string
	// DataKey is the plaintext data key, of the suite's key length. A
	// keyring that finds it nil generates it (and wraps it); otherwise it
	// wraps the key present.
	DataKey []byte
	// EncryptedDataKeys collects the wrapped data keys; keyrings append.
	EncryptedDataKeys []EncryptedDataKey
}

// DecryptionMaterials is what a [Keyring] works on when a message is read.
type DecryptionMaterials struct {
	// Suite is the algorithm suite of the message.
	Suite Suite
	// EncryptionContext is the context stored in the message header.
	EncryptionContext map[string]string
	// DataKey is set by the keyring that unwrapped one of the encrypted
	// data keys.
	DataKey []byte
}

// Keyring generates, wraps and unwraps data keys. The keyrings of this
// package are safe for concurrent use; so must be any Keyring passed to
// Encrypt and Decrypt from several goroutines.
type Keyring interface {
	// OnEncrypt generates m.DataKey if it is nil, then wraps it and
	// appends the result to m.EncryptedDataKeys.
	OnEncrypt(ctx context.Context, m *EncryptionMaterials) error
	// OnDecrypt tries the encrypted data keys it recognises, in order, and
	// sets m.DataKey from the first one it can unwrap. It returns an error
	// (wrapping [ErrNoDecryptableKey] when none was its own or none could
	// be unwrapped) and leaves m unchanged if it unwraps none. It must not
	// be called with m.DataKey already set.
	OnDecrypt(ctx context.Context, m *DecryptionMaterials, edks []EncryptedDataKey) error
}

// MultiKeyring combines keyrings: on encryption the generator (if any)
// produces and wraps the data key and every child wraps it too, so a message
// can be opened with any of them; on decryption each keyring is tried in turn
// until one unwraps the data key.
type MultiKeyring struct {
	generator Keyring
	children  []Keyring
}

var _ Keyring = (*MultiKeyring)(nil)

// NewMultiKeyring returns a keyring combining generator (may be nil, then
// the data key must come from elsewhere and encryption with only children
// fails) and children.
func NewMultiKeyring(generator Keyring, children ...Keyring) *MultiKeyring {
	return &MultiKeyring{generator: generator, children: append([]Keyring(nil), children...)}
}

// OnEncrypt implements [Keyring].
func (k *MultiKeyring) OnEncrypt(ctx context.Context, m *EncryptionMaterials) error {
	if k.generator != nil {
		if err := k.generator.OnEncrypt(ctx, m); err != nil {
			return err
		}
	} else if m.DataKey == nil {
		return errors.New("envelope: multi-keyring without generator has no data key to wrap")
	}
	for _, c := range k.children {
		if err := c.OnEncrypt(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// OnDecrypt implements [Keyring].
func (k *MultiKeyring) OnDecrypt(ctx context.Context, m *DecryptionMaterials, edks []EncryptedDataKey) error {
	var errs []error
	all := k.children
	if k.generator != nil {
		all = append([]Keyring{k.generator}, k.children...)
	}
	for _, c := range all {
		err := c.OnDecrypt(ctx, m, edks)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: %w", ErrNoDecryptableKey, errors.Join(errs...))
}
