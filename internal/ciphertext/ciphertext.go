// Package ciphertext is the CiphertextBlob format of Trent's symmetric keys:
// versioned, self-describing (key id and backing-key version), parsed with hard
// bounds before any allocation. docs/ciphertext-format.md describes the bytes.
//
//	offset  size  field
//	0       1     format version (0x01)
//	1       1     key id length L (1..MaxKeyIDLen)
//	2       L     key id (ASCII: a UUID or mrk-<32 hex>)
//	2+L     4     backing-key version, big-endian uint32
//	6+L     12    AES-GCM nonce
//	18+L    n     AES-256-GCM ciphertext and 16-byte tag (n >= 16)
//
// The additional data of the AEAD is Header() (bytes 0..6+L) followed by
// EncodeContext(encryption context), so neither the key reference nor the
// context can be changed without the tag failing.
package ciphertext

import (
	"encoding/binary"
	"errors"
	"sort"
)

const (
	// Version1 is the only format version so far.
	Version1 = 0x01
	// MaxKeyIDLen bounds the key id field.
	MaxKeyIDLen = 64
	// NonceSize is the AES-GCM nonce length.
	NonceSize = 12
	// TagSize is the AES-GCM tag length.
	TagSize = 16
	// MaxBlobLen is AWS's CiphertextType maximum.
	MaxBlobLen = 6144
)

// ErrMalformed is returned by Parse for any input that is not a well-formed
// blob. It says nothing about which part failed.
var ErrMalformed = errors.New("ciphertext: malformed blob")

// Blob is a parsed CiphertextBlob.
type Blob struct {
	KeyID   string
	Version uint32 // backing-key version, 1-based
	Nonce   [NonceSize]byte
	Sealed  []byte // ciphertext || tag
}

// Header returns the bytes that precede the nonce; they are part of the AAD.
func (b *Blob) Header() []byte {
	h := make([]byte, 0, 2+len(b.KeyID)+4)
	h = append(h, Version1, byte(len(b.KeyID)))
	h = append(h, b.KeyID...)
	return binary.BigEndian.AppendUint32(h, b.Version)
}

// Marshal encodes b. It panics if KeyID is empty or longer than MaxKeyIDLen,
// which is a programmer error.
func (b *Blob) Marshal() []byte {
	if len(b.KeyID) == 0 || len(b.KeyID) > MaxKeyIDLen {
		panic("ciphertext: key id length out of range")
	}
	out := b.Header()
	out = append(out, b.Nonce[:]...)
	return append(out, b.Sealed...)
}

// KeyIDOf returns the key id a blob of either format names, without
// checking the rest.
func KeyIDOf(data []byte) (string, bool) {
	if len(data) < 2 || len(data) > MaxBlobLen || (data[0] != Version1 && data[0] != VersionExternal) {
		return "", false
	}
	l := int(data[1])
	if l == 0 || l > MaxKeyIDLen || len(data) < 2+l || !validKeyID(data[2:2+l]) {
		return "", false
	}
	return string(data[2 : 2+l]), true
}

func validKeyID(id []byte) bool {
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// Parse decodes a blob. The returned Blob's Sealed aliases data.
func Parse(data []byte) (*Blob, error) {
	if len(data) < 2 || len(data) > MaxBlobLen || data[0] != Version1 {
		return nil, ErrMalformed
	}
	l := int(data[1])
	if l == 0 || l > MaxKeyIDLen || len(data) < 2+l+4+NonceSize+TagSize {
		return nil, ErrMalformed
	}
	id := data[2 : 2+l]
	if !validKeyID(id) {
		return nil, ErrMalformed
	}
	b := &Blob{KeyID: string(id), Version: binary.BigEndian.Uint32(data[2+l:])}
	if b.Version == 0 {
		return nil, ErrMalformed
	}
	copy(b.Nonce[:], data[6+l:])
	b.Sealed = data[6+l+NonceSize:]
	return b, nil
}

// EncodeContext returns the canonical encoding of an encryption context:
// a big-endian uint16 pair count, then for each pair in byte order of keys a
// uint16 length-prefixed key and a uint16 length-prefixed value. An empty or
// nil context encodes as two zero bytes. Lengths above 65535 are impossible
// because request bodies are bounded far below that; EncodeContext panics on
// them as a broken invariant.
func EncodeContext(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	n := 2
	for k, v := range ctx {
		keys = append(keys, k)
		n += 4 + len(k) + len(v)
	}
	sort.Strings(keys)
	out := make([]byte, 0, n)
	out = binary.BigEndian.AppendUint16(out, uint16(checkLen(len(keys))))
	for _, k := range keys {
		v := ctx[k]
		out = binary.BigEndian.AppendUint16(out, uint16(checkLen(len(k))))
		out = append(out, k...)
		out = binary.BigEndian.AppendUint16(out, uint16(checkLen(len(v))))
		out = append(out, v...)
	}
	return out
}

func checkLen(n int) int {
	if n > 0xFFFF {
		panic("ciphertext: encryption context field too long")
	}
	return n
}
