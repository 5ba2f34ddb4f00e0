package envelope

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// RawAESKeyring wraps data keys with a local AES-GCM key, byte compatible
// with the raw AES keyrings of the official SDKs: the provider ID is the key
// namespace, the provider info is the key name followed by the tag length in
// bits (4 bytes), the IV length (4 bytes) and the IV, and the wrapping AAD is
// the serialized encryption context.
type RawAESKeyring struct {
	namespace string
	name      string
	aead      cipher.AEAD
}

var _ Keyring = (*RawAESKeyring)(nil)

// NewRawAESKeyring returns a keyring wrapping with key (16, 24 or 32 bytes,
// from a secure random source), identified in messages by namespace and
// name. The namespace must not start with "aws-kms". The key is copied.
func NewRawAESKeyring(namespace, name string, key []byte) (*RawAESKeyring, error) {
	if namespace == "" || name == "" {
		return nil, errors.New("envelope: raw AES keyring needs a key namespace and name")
	}
	if strings.HasPrefix(namespace, kmsProviderID) {
		return nil, fmt.Errorf("envelope: key namespace must not start with %q", kmsProviderID)
	}
	if len(namespace) > 0xFFFF || len(name) > 0xFFFF-8-ivLen {
		return nil, errors.New("envelope: key namespace or name too long")
	}
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("envelope: raw AES wrapping key must be 16, 24 or 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(bytes.Clone(key))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &RawAESKeyring{namespace: namespace, name: name, aead: aead}, nil
}

// OnEncrypt implements [Keyring].
func (k *RawAESKeyring) OnEncrypt(_ context.Context, m *EncryptionMaterials) error {
	p := suiteParams(m.Suite)
	if p == nil {
		return fmt.Errorf("envelope: unknown suite %v", m.Suite)
	}
	if m.DataKey == nil {
		m.DataKey = make([]byte, p.keyLen)
		rand.Read(m.DataKey)
	}
	aad, err := serializeContext(m.EncryptionContext)
	if err != nil {
		return err
	}
	info := make([]byte, 0, len(k.name)+8+ivLen)
	info = append(info, k.name...)
	info = binary.BigEndian.AppendUint32(info, tagLen*8)
	info = binary.BigEndian.AppendUint32(info, ivLen)
	iv := make([]byte, ivLen)
	rand.Read(iv)
	info = append(info, iv...)
	ct := k.aead.Seal(nil, iv, m.DataKey, aad)
	m.EncryptedDataKeys = append(m.EncryptedDataKeys, EncryptedDataKey{ProviderID: k.namespace, ProviderInfo: info, Ciphertext: ct})
	return nil
}

// OnDecrypt implements [Keyring].
func (k *RawAESKeyring) OnDecrypt(_ context.Context, m *DecryptionMaterials, edks []EncryptedDataKey) error {
	if m.DataKey != nil {
		return errors.New("envelope: decryption materials already hold a data key")
	}
	p := suiteParams(m.Suite)
	if p == nil {
		return fmt.Errorf("envelope: unknown suite %v", m.Suite)
	}
	aad, err := serializeContext(m.EncryptionContext)
	if err != nil {
		return err
	}
	for _, e := range edks {
		if e.ProviderID != k.namespace {
			continue
		}
		info := e.ProviderInfo
		if len(info) != len(k.name)+8+ivLen || string(info[:len(k.name)]) != k.name {
			continue
		}
		rest := info[len(k.name):]
		if binary.BigEndian.Uint32(rest) != tagLen*8 || binary.BigEndian.Uint32(rest[4:]) != ivLen {
			continue
		}
		if len(e.Ciphertext) != p.keyLen+tagLen {
			continue
		}
		dk, err := k.aead.Open(nil, rest[8:], e.Ciphertext, aad)
		if err != nil {
			continue
		}
		m.DataKey = dk
		return nil
	}
	return fmt.Errorf("%w: raw AES keyring %s/%s", ErrNoDecryptableKey, k.namespace, k.name)
}
