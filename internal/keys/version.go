package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/ciphertext"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/secret"
)

// SymmetricKeySize is the size of SYMMETRIC_DEFAULT key material (AES-256).
const SymmetricKeySize = 32

// Version is one backing key of a KMS key: its material and where it came
// from. Rotation appends a version; a Version is shared by every snapshot
// of its key and only its counters change.
type Version struct {
	Num          uint32 // 1-based, the backing-key version in ciphertext blobs
	MaterialID   string // 64 lower-hex characters (AWS's KeyMaterialId)
	Created      time.Time
	RotationType string // "" for the initial material, AUTOMATIC or ON_DEMAND
	Spec         Spec

	// Encryptions counts encryptions under this version (symmetric keys).
	Encryptions atomic.Uint64
	// Flushed is the Encryptions value last written to storage. The owner
	// of the version changes it under its write lock (kms: the key's lock);
	// it is atomic because the owner also reads it without the lock, to find
	// the counters that changed.
	Flushed atomic.Uint64

	material secret.Bytes
	empty    bool        // built by NewEmptyVersion: never had material
	priv     *private    // asymmetric keys: the parsed private key
	mac      hash.Cloner // HMAC keys: the HMAC with its key's pads hashed (see Wipe)

	// SYMMETRIC_DEFAULT: the AEAD and the blob header for (key id, Num).
	aead     cipher.AEAD
	header   []byte
	aadEmpty []byte // header || EncodeContext(nil)
}

// ErrMaterial is returned by NewVersion for material that does not fit
// the spec. It says nothing about the material.
var ErrMaterial = errors.New("keys: key material does not fit the key spec")

// NewVersion builds backing-key version num of key keyID, of spec spec,
// from material (which it takes ownership of).
func NewVersion(spec Spec, keyID string, num uint32, material secret.Bytes, materialID string, created time.Time, rotType string) (*Version, error) {
	v := &Version{Num: num, MaterialID: materialID, Created: created, RotationType: rotType, Spec: spec, material: material}
	switch {
	case spec.Symmetric():
		if material.Len() != SymmetricKeySize {
			return nil, ErrMaterial
		}
		block, err := aes.NewCipher(material.Expose())
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		if v.aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		b := ciphertext.Blob{KeyID: keyID, Version: num}
		v.header = b.Header()
		v.aadEmpty = append(slices.Clip(v.header), ciphertext.EncodeContext(nil)...)
	case specs[spec] == nil || specs[spec].family == 0:
		return nil, fmt.Errorf("keys: key spec %s has no material", spec)
	case specs[spec].family == famHMAC:
		if _, lo, hi := hmacSizes(spec); material.Len() < lo || material.Len() > hi {
			return nil, ErrMaterial
		}
		m := hmac.New(macHashes[spec.Algorithms(GenerateVerifyMAC).MAC[0]], material.Expose())
		m.Reset() // keeps the hash states of the padded key, not the key
		v.mac = m.(hash.Cloner)
	default:
		p, err := parsePrivate(spec, material.Expose())
		if err != nil {
			return nil, err
		}
		v.priv = p
	}
	return v, nil
}

// GenerateVersion creates version num of key keyID with fresh random material.
func GenerateVersion(spec Spec, keyID string, num uint32, created time.Time, rotType string) (*Version, error) {
	m, err := generateMaterial(spec)
	if err != nil {
		return nil, err
	}
	return NewVersion(spec, keyID, num, m, NewMaterialID(), created, rotType)
}

// NewEmptyVersion returns version num of spec without material: the place
// of a version whose material was deleted (imported material, until it is
// imported again), keeping its number, material id and origin. It is for
// the record only: it must not be used for cryptography (Open refuses;
// what needs the material may panic), and callers keep its key out of
// every state that allows it.
func NewEmptyVersion(spec Spec, num uint32, materialID string, created time.Time, rotType string) *Version {
	return &Version{Num: num, MaterialID: materialID, Created: created, RotationType: rotType, Spec: spec, empty: true}
}

// HasMaterial reports whether v was built with material (not by
// NewEmptyVersion). Wipe does not change it.
func (v *Version) HasMaterial() bool { return !v.empty }

// NewMaterialID returns 64 lower-hex characters derived from random bytes
// only (never from key material).
func NewMaterialID() string {
	var r [32]byte
	rand.Read(r[:])
	sum := sha256.Sum256(r[:])
	return hex.EncodeToString(sum[:])
}

// Material returns the version's key material, for the storage record
// (sealed by the barrier) only.
func (v *Version) Material() secret.Bytes { return v.material }

// Wipe zeroes the version's material (best effort: see package secret).
// What the operations use (the AES key schedule, the parsed private key,
// the HMAC's hashed pads) is left to the garbage collector: a request that
// resolved the key before its material was deleted may still be using it,
// and gets the material's answer.
func (v *Version) Wipe() { v.material.Wipe() }

// errInvalidCiphertext is every authentication failure: one empty message
// whatever the cause, as AWS answers.
var errInvalidCiphertext = kmserr.ErrInvalidCiphertext

// Seal encrypts pt under a symmetric version and counts the encryption.
// The blob is built in one allocation:
// header || nonce || AES-GCM(pt, aad = header || EncodeContext(ec)).
func (v *Version) Seal(pt []byte, ec map[string]string) []byte {
	v.Encryptions.Add(1)
	h := v.header
	n := len(h) + ciphertext.NonceSize
	out := make([]byte, n, n+len(pt)+ciphertext.TagSize)
	copy(out, h)
	nonce := out[len(h):n]
	rand.Read(nonce)
	return v.aead.Seal(out, nonce, pt, v.aad(ec))
}

// Open decrypts a parsed blob that names v. Any failure is
// InvalidCiphertextException with an empty message.
func (v *Version) Open(b *ciphertext.Blob, ec map[string]string) ([]byte, error) {
	if v.aead == nil {
		return nil, errInvalidCiphertext
	}
	pt, err := v.aead.Open(nil, b.Nonce[:], b.Sealed, v.aad(ec))
	if err != nil {
		return nil, errInvalidCiphertext
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

func (v *Version) aad(ec map[string]string) []byte {
	if len(ec) == 0 {
		return v.aadEmpty
	}
	enc := ciphertext.EncodeContext(ec)
	aad := make([]byte, 0, len(v.header)+len(enc))
	return append(append(aad, v.header...), enc...)
}

// SealDetached encrypts pt under a symmetric version with AES-GCM, a fresh
// random nonce and the additional data aad, for a protocol that carries the
// nonce, ciphertext and tag apart (the XKS proxy API), and counts the
// encryption. It fails only for a version that is not symmetric.
func (v *Version) SealDetached(pt, aad []byte) (nonce, ct, tag []byte, err error) {
	if v.aead == nil {
		return nil, nil, nil, fmt.Errorf("keys: key spec %s has no AES-GCM key", v.Spec)
	}
	v.Encryptions.Add(1)
	nonce = make([]byte, ciphertext.NonceSize)
	rand.Read(nonce)
	out := v.aead.Seal(make([]byte, 0, len(pt)+ciphertext.TagSize), nonce, pt, aad)
	n := len(out) - ciphertext.TagSize
	return nonce, out[:n:n], out[n:], nil
}

// OpenDetached decrypts what SealDetached returned. Any failure (a nonce
// that is not ciphertext.NonceSize bytes, a tag that is not
// ciphertext.TagSize bytes, a version that is not symmetric, a failed
// authentication) is InvalidCiphertextException with an empty message.
func (v *Version) OpenDetached(nonce, ct, tag, aad []byte) ([]byte, error) {
	if v.aead == nil || len(nonce) != ciphertext.NonceSize || len(tag) != ciphertext.TagSize {
		return nil, errInvalidCiphertext
	}
	sealed := make([]byte, 0, len(ct)+len(tag))
	sealed = append(append(sealed, ct...), tag...)
	pt, err := v.aead.Open(sealed[:0], nonce, sealed, aad)
	if err != nil {
		clear(sealed)
		return nil, errInvalidCiphertext
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}
