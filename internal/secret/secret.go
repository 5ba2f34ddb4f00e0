// Package secret holds key material in a type that cannot be printed,
// logged or marshalled, compares in constant time and can be wiped.
//
// Wiping is best effort: the garbage collector may have copied the bytes
// before, and objects derived from them (an AES key schedule, a parsed
// private key) keep their own copies. Keep lifetimes short and never put
// secret bytes in a string.
package secret

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Bytes is secret byte material. The zero value is empty. Copies of a
// Bytes share the same memory: Wipe on one wipes them all.
//
// The bytes sit behind a function value: fmt prints unexported struct
// fields by reflection without calling their methods (and follows
// pointers), but it prints a func as an address, so a Bytes nested in
// another struct never shows its contents.
type Bytes struct{ ref func() *box }

type box struct{ b []byte }

// New returns a Bytes that takes ownership of b: the caller must not use b
// afterwards except through the result.
func New(b []byte) Bytes {
	bx := &box{b}
	return Bytes{func() *box { return bx }}
}

func (s Bytes) box() *box {
	if s.ref == nil {
		return nil
	}
	return s.ref()
}

// Copy returns a Bytes holding a copy of b.
func Copy(b []byte) Bytes { return New(append(make([]byte, 0, len(b)), b...)) }

// Len returns the number of bytes.
func (s Bytes) Len() int { return len(s.Expose()) }

// IsZero reports whether s holds nothing (never set, or wiped).
func (s Bytes) IsZero() bool { return s.Len() == 0 }

// Expose returns the secret bytes themselves, not a copy. It is the one way
// out, meant for crypto primitives and the sealed storage record: callers
// must not modify or retain the slice, and never log it. Grep for Expose
// in review.
func (s Bytes) Expose() []byte {
	if bx := s.box(); bx != nil {
		return bx.b
	}
	return nil
}

// Equal reports whether s and o hold the same bytes, in time that depends
// only on their lengths.
func (s Bytes) Equal(o Bytes) bool {
	return subtle.ConstantTimeCompare(s.Expose(), o.Expose()) == 1
}

// Wipe zeroes the bytes (for every copy of s) and empties s.
func (s Bytes) Wipe() {
	if bx := s.box(); bx != nil {
		clear(bx.b)
		bx.b = nil
	}
}

const redacted = "secret.Bytes(REDACTED)"

// Format prints a placeholder for every verb (%v %s %x %d %#v ...).
func (s Bytes) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// String returns a placeholder.
func (s Bytes) String() string { return redacted }

// GoString returns a placeholder.
func (s Bytes) GoString() string { return redacted }

// LogValue keeps the bytes out of slog.
func (s Bytes) LogValue() slog.Value { return slog.StringValue("REDACTED") }

var errMarshal = errors.New("secret: refusing to marshal secret bytes")

// MarshalJSON refuses: secret bytes leave memory only through Expose.
func (Bytes) MarshalJSON() ([]byte, error) { return nil, errMarshal }

// MarshalText refuses (covers YAML, XML and every text encoder).
func (Bytes) MarshalText() ([]byte, error) { return nil, errMarshal }

// MarshalBinary refuses (covers gob).
func (Bytes) MarshalBinary() ([]byte, error) { return nil, errMarshal }
