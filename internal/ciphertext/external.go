package ciphertext

import "bytes"

// The CiphertextBlob of a key in an external key store (docs/ciphertext-
// format.md, "External key stores"): the key's own blob (format version 1),
// encrypted again by the external key store proxy with AES-GCM, which
// returns the ciphertext, the IV, the tag and metadata of its own:
//
//	offset  size  field
//	0       1     format version (0x02)
//	1       1     key id length L (1..MaxKeyIDLen)
//	2       L     key id
//	2+L     1     IV length V (12 or 16)
//	3+L     V     the proxy's IV
//	3+L+V   1     metadata length M (0..MaxExternalMetadata)
//	4+L+V   M     the proxy's ciphertextMetadata
//	4+L+V+M 16    the proxy's authentication tag
//	20+L+V+M n    the proxy's ciphertext (n >= 1): the version 1 blob
//
// The proxy's additional authenticated data is Header() (bytes 0..2+L).

const (
	// VersionExternal is the format of keys in an external key store.
	VersionExternal = 0x02
	// MaxExternalMetadata is the XKS proxy API's ciphertextMetadata limit.
	MaxExternalMetadata = 20
)

// External is a parsed blob of a key in an external key store.
type External struct {
	KeyID      string
	IV         []byte
	Metadata   []byte
	Tag        []byte
	Ciphertext []byte
}

// IsExternal reports whether data claims the external format (Parse and
// ParseExternal check the rest).
func IsExternal(data []byte) bool { return len(data) > 0 && data[0] == VersionExternal }

// Header returns the bytes that precede the IV: the proxy's AAD.
func (e *External) Header() []byte {
	h := make([]byte, 0, 2+len(e.KeyID))
	h = append(h, VersionExternal, byte(len(e.KeyID)))
	return append(h, e.KeyID...)
}

// Marshal encodes e. It panics on out-of-range fields, which the proxy
// client has checked (a programmer error).
func (e *External) Marshal() []byte {
	if len(e.KeyID) == 0 || len(e.KeyID) > MaxKeyIDLen || (len(e.IV) != 12 && len(e.IV) != 16) ||
		len(e.Metadata) > MaxExternalMetadata || len(e.Tag) != TagSize || len(e.Ciphertext) == 0 {
		panic("ciphertext: external blob field out of range")
	}
	var b bytes.Buffer
	b.Write(e.Header())
	b.WriteByte(byte(len(e.IV)))
	b.Write(e.IV)
	b.WriteByte(byte(len(e.Metadata)))
	b.Write(e.Metadata)
	b.Write(e.Tag)
	b.Write(e.Ciphertext)
	return b.Bytes()
}

// ParseExternal decodes a blob of the external format. The fields alias
// data.
func ParseExternal(data []byte) (*External, error) {
	if len(data) < 2 || len(data) > MaxBlobLen || data[0] != VersionExternal {
		return nil, ErrMalformed
	}
	l := int(data[1])
	if l == 0 || l > MaxKeyIDLen || len(data) < 2+l+1 || !validKeyID(data[2:2+l]) {
		return nil, ErrMalformed
	}
	e := &External{KeyID: string(data[2 : 2+l])}
	rest := data[2+l:]
	v := int(rest[0])
	if (v != 12 && v != 16) || len(rest) < 1+v+1 {
		return nil, ErrMalformed
	}
	e.IV, rest = rest[1:1+v], rest[1+v:]
	m := int(rest[0])
	if m > MaxExternalMetadata || len(rest) < 1+m+TagSize+1 {
		return nil, ErrMalformed
	}
	if m > 0 {
		e.Metadata = rest[1 : 1+m]
	}
	rest = rest[1+m:]
	e.Tag, e.Ciphertext = rest[:TagSize], rest[TagSize:]
	return e, nil
}
