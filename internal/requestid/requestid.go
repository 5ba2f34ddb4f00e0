// Package requestid makes the request ids of the API front doors.
package requestid

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// randBuf is crypto/rand output read ahead: one read serves 256 ids, since
// a read costs several times the rest of New and every request takes two
// ids (its request id and its audit event id). Ids are unique, not secret;
// the bytes are still cleared once used.
type randBuf struct {
	b   [4096]byte
	off int
}

var randPool = sync.Pool{New: func() any { return &randBuf{off: 4096} }}

// New returns a random (version 4) UUID in its canonical form, the shape of
// AWS request ids.
func New() string {
	r := randPool.Get().(*randBuf)
	if r.off+16 > len(r.b) {
		rand.Read(r.b[:])
		r.off = 0
	}
	var u [16]byte
	copy(u[:], r.b[r.off:])
	clear(r.b[r.off : r.off+16])
	r.off += 16
	randPool.Put(r)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
