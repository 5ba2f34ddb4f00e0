package keys

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// errUnwrap is every key-unwrap failure (no detail about which check failed).
var errUnwrap = errors.New("keys: key unwrap failed")

// kwpIV is the alternative initial value of RFC 5649 section 3.
var kwpIV = [4]byte{0xA6, 0x59, 0x59, 0xA6}

// maxWrapped bounds what unwrapKWP reads: AWS's CiphertextType maximum.
const maxWrapped = 6144

// unwrapKWP is AES Key Wrap with Padding unwrapping (RFC 5649, section 4.2),
// built on crypto/aes: the unwrapping of RFC 3394 section 2.2.2 (index
// based), then the check of the alternative initial value, the message
// length indicator and the zero padding. Every failure is the same error.
func unwrapKWP(kek, c []byte) ([]byte, error) {
	if len(c)%8 != 0 || len(c) < 16 || len(c) > maxWrapped {
		return nil, errUnwrap
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, errUnwrap
	}
	n := len(c)/8 - 1
	var a [8]byte
	r := make([]byte, 8*n)
	var b [16]byte
	if n == 1 {
		block.Decrypt(b[:], c)
		copy(a[:], b[:8])
		copy(r, b[8:])
	} else {
		copy(a[:], c[:8])
		copy(r, c[8:])
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				t := uint64(n*j + i)
				binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
				copy(b[8:], r[8*(i-1):8*i])
				block.Decrypt(b[:], b[:])
				copy(a[:], b[:8])
				copy(r[8*(i-1):8*i], b[8:])
			}
		}
	}
	clear(b[:])
	ok := subtle.ConstantTimeCompare(a[:4], kwpIV[:])
	mli := int(binary.BigEndian.Uint32(a[4:]))
	if ok != 1 || mli <= 8*(n-1) || mli > 8*n {
		clear(r)
		return nil, errUnwrap
	}
	var pad byte
	for _, x := range r[mli:] {
		pad |= x
	}
	if pad != 0 {
		clear(r)
		return nil, errUnwrap
	}
	return r[:mli], nil
}
