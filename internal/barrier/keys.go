package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// keySize is the size of the root key and of every data key (AES-256).
const keySize = 32

// aesKey is key material with its AES-GCM instance. It refuses to be
// printed, logged or marshalled; wipe clears the bytes (best effort: the AES
// key schedule inside crypto/aes cannot be reached, only dropped).
type aesKey struct {
	b    [keySize]byte
	aead cipher.AEAD
}

func (*aesKey) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, "barrier.key(REDACTED)") }
func (*aesKey) String() string               { return "barrier.key(REDACTED)" }
func (*aesKey) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (*aesKey) MarshalJSON() ([]byte, error) { return nil, errRefuseMarshal }
func (*aesKey) MarshalText() ([]byte, error) { return nil, errRefuseMarshal }

var errRefuseMarshal = errors.New("barrier: refusing to marshal key material")

// newAESKey copies b (keySize bytes) into a fresh key.
func newAESKey(b []byte) *aesKey {
	if len(b) != keySize {
		panic("barrier: internal error: key of the wrong size")
	}
	k := new(aesKey)
	copy(k.b[:], b)
	block, err := aes.NewCipher(k.b[:])
	if err != nil {
		panic("barrier: internal error: " + err.Error())
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		panic("barrier: internal error: " + err.Error())
	}
	return k
}

func generateAESKey() *aesKey {
	var b [keySize]byte
	defer clear(b[:])
	_, _ = rand.Read(b[:])
	return newAESKey(b[:])
}

// wipe clears the key bytes. The AES-GCM instance is left to the garbage
// collector with the last reference: a reader that loaded it before a seal
// may still be finishing with it.
func (k *aesKey) wipe() {
	if k != nil {
		clear(k.b[:])
	}
}

// dek is one version of the data-encryption key.
type dek struct {
	version uint32
	created time.Time
	key     *aesKey
}

// dekRing is an immutable set of data-key versions; current seals new
// records. A change builds a new ring (copy-on-write), so readers take no
// lock.
type dekRing struct {
	current uint32
	keys    map[uint32]*dek
	// raw is the stored (encrypted) keyring record this ring was read from
	// or written as; nil for a ring not stored yet.
	raw []byte
}

func (r *dekRing) cur() *dek { return r.keys[r.current] }

// versions returns the versions held, ascending.
func (r *dekRing) versions() []uint32 {
	vs := make([]uint32, 0, len(r.keys))
	for v := range r.keys {
		vs = append(vs, v)
	}
	for i := 1; i < len(vs); i++ { // tiny: insertion sort
		for j := i; j > 0 && vs[j] < vs[j-1]; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
	return vs
}

// with returns a copy of r holding d too, made current when current is set.
func (r *dekRing) with(d *dek, current bool) *dekRing {
	n := &dekRing{current: r.current, keys: make(map[uint32]*dek, len(r.keys)+1)}
	for v, k := range r.keys {
		n.keys[v] = k
	}
	n.keys[d.version] = d
	if current {
		n.current = d.version
	}
	return n
}

// without returns a copy of r without the versions in drop (never current).
func (r *dekRing) without(drop map[uint32]bool) *dekRing {
	n := &dekRing{current: r.current, keys: make(map[uint32]*dek, len(r.keys))}
	for v, k := range r.keys {
		if !drop[v] || v == r.current {
			n.keys[v] = k
		}
	}
	return n
}

// Keyring plaintext encoding (inside the root-key envelope):
//
//	format (1 byte, 0x01) | current (uint32) | count (uint32) |
//	count × ( version (uint32) | created (int64 Unix seconds) | key (32 bytes) )
//
// big-endian throughout. At most maxDEKs versions.
const (
	ringFormat = 1
	ringEntry  = 4 + 8 + keySize
	maxDEKs    = 1 << 16
)

// marshal returns the plaintext encoding of r; the caller wipes it.
func (r *dekRing) marshal() []byte {
	vs := r.versions()
	b := make([]byte, 0, 9+len(vs)*ringEntry)
	b = append(b, ringFormat)
	b = binary.BigEndian.AppendUint32(b, r.current)
	b = binary.BigEndian.AppendUint32(b, uint32(len(vs)))
	for _, v := range vs {
		d := r.keys[v]
		b = binary.BigEndian.AppendUint32(b, v)
		b = binary.BigEndian.AppendUint64(b, uint64(d.created.Unix()))
		b = append(b, d.key.b[:]...)
	}
	return b
}

var errRingFormat = errors.New("barrier: data keyring: malformed")

func parseRing(b []byte) (*dekRing, error) {
	if len(b) < 9 || b[0] != ringFormat {
		return nil, errRingFormat
	}
	cur := binary.BigEndian.Uint32(b[1:])
	n := binary.BigEndian.Uint32(b[5:])
	b = b[9:]
	if n == 0 || n > maxDEKs || uint64(len(b)) != uint64(n)*ringEntry {
		return nil, errRingFormat
	}
	r := &dekRing{current: cur, keys: make(map[uint32]*dek, n)}
	for range n {
		v := binary.BigEndian.Uint32(b)
		created := time.Unix(int64(binary.BigEndian.Uint64(b[4:])), 0).UTC()
		if _, dup := r.keys[v]; dup || v == 0 {
			r.wipe()
			return nil, errRingFormat
		}
		r.keys[v] = &dek{version: v, created: created, key: newAESKey(b[12:ringEntry])}
		b = b[ringEntry:]
	}
	if r.keys[cur] == nil {
		r.wipe()
		return nil, errRingFormat
	}
	return r, nil
}

func (r *dekRing) wipe() {
	if r == nil {
		return
	}
	for _, d := range r.keys {
		d.key.wipe()
	}
}

// sealWith encrypts pt under k: format byte | nonce | GCM(pt), with additional
// data format byte || ad.
func sealWith(k *aesKey, format byte, pt, ad []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(pt)+tagSize)
	out[0] = format
	_, _ = rand.Read(out[1:])
	return k.aead.Seal(out, out[1:1+nonceSize], pt, append([]byte{format}, ad...))
}

func openWith(k *aesKey, format byte, ct, ad []byte) ([]byte, bool) {
	if len(ct) < 1+nonceSize+tagSize || ct[0] != format {
		return nil, false
	}
	pt, err := k.aead.Open(nil, ct[1:1+nonceSize], ct[1+nonceSize:], append([]byte{format}, ad...))
	return pt, err == nil
}
