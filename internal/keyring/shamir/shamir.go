// Package shamir is the Shamir seal: a 256-bit unseal key split into N
// shares of which any T rebuild it (Shamir's secret sharing over GF(2^8),
// implemented here from the paper with constant-time, table-free field
// arithmetic). The unseal key wraps the root key as the file seal does
// (AES-256-GCM, keyring.FileKeyring); it exists only in memory, between the
// T-th share and the next seal.
//
// A share is text (URL-safe base64, no padding) of
//
//	format (1 byte, 0x01) | split id (8 bytes) | threshold (1) | index x (1) |
//	y (32 bytes) | checksum (4 bytes: SHA-256 of the preceding bytes, truncated)
//
// and the server keeps, in the clear, the split's public parameters: its id,
// T, N and a SHA-256 digest of each share. So every share is checked on its
// own when it is submitted, before any combination: a mistyped or corrupted
// share fails its checksum, a share of another initialisation has another
// split id, and a well-formed share that is not the one issued at its index
// fails its digest; each is refused with an error naming it. The digests
// reveal nothing usable: each share's y is 256 bits, uniformly random on
// its own.
package shamir

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/trent-kms/trent/internal/keyring"
)

const (
	shareFormat = 1
	idSize      = 8
	keySize     = keyring.RootKeySize
	sumSize     = 4
	shareSize   = 1 + idSize + 1 + 1 + keySize + sumSize
	// MaxShares is the largest N (indices are the non-zero bytes).
	MaxShares = 255
)

var (
	// ErrSealed is returned by Wrap and Unwrap until the threshold of shares
	// was submitted.
	ErrSealed = errors.New("shamir: sealed: submit unseal shares")
	// ErrParams is wrapped by Init's refusal of a share count or threshold.
	ErrParams = errors.New("shamir: invalid split")
	// ErrShare is wrapped by every refusal of a submitted share; the message
	// names the share and why.
	ErrShare = errors.New("shamir: share refused")
)

// Params are the public parameters of a split, stored in the clear.
type Params struct {
	ID        string   `json:"id"` // hex
	Threshold int      `json:"threshold"`
	Shares    int      `json:"shares"`
	Digests   []string `json:"digests"` // hex SHA-256 of each share, by index-1
}

// Progress is the state of an unseal.
type Progress struct {
	Submitted int  `json:"progress"`
	Threshold int  `json:"threshold"`
	Shares    int  `json:"shares"`
	Unsealed  bool `json:"unsealed"`
}

// Keyring is the Shamir seal. Until unsealed (by Submit reaching the
// threshold, or by Init), Wrap and Unwrap return ErrSealed. It is safe for
// concurrent use.
type Keyring struct {
	params Params
	id     [idSize]byte

	mu     sync.Mutex
	ys     map[byte][]byte      // submitted shares by index, wiped at combine and Close
	kr     *keyring.FileKeyring // nil until unsealed
	closed bool
}

var _ keyring.Keyring = (*Keyring)(nil)

// Init generates an unseal key, splits it into n shares with threshold t and
// returns the unsealed keyring, the shares (shown once: the caller hands
// them out and keeps no copy) and the public parameters to store.
func Init(n, t int) (*Keyring, []string, []byte, error) {
	if t < 2 || n < t || n > MaxShares {
		return nil, nil, nil, fmt.Errorf("%w: want 2 <= threshold <= shares <= %d, got threshold %d of %d shares", ErrParams, MaxShares, t, n)
	}
	var id [idSize]byte
	_, _ = rand.Read(id[:])
	var secret [keySize]byte
	defer clear(secret[:])
	_, _ = rand.Read(secret[:])
	ys := split(secret[:], n, t)
	shares := make([]string, n)
	p := Params{ID: hex.EncodeToString(id[:]), Threshold: t, Shares: n, Digests: make([]string, n)}
	for i, y := range ys {
		b := encode(id, byte(t), byte(i+1), y)
		shares[i] = base64.RawURLEncoding.EncodeToString(b)
		d := digest(b[:shareSize-sumSize])
		p.Digests[i] = hex.EncodeToString(d[:])
		clear(b)
		clear(y)
	}
	fk, err := keyring.NewFileKeyring(secret[:])
	if err != nil {
		return nil, nil, nil, err
	}
	params, err := json.Marshal(p)
	if err != nil {
		return nil, nil, nil, err
	}
	k := &Keyring{params: p, id: id, ys: map[byte][]byte{}, kr: fk}
	return k, shares, params, nil
}

func encode(id [idSize]byte, t, x byte, y []byte) []byte {
	b := make([]byte, 0, shareSize)
	b = append(b, shareFormat)
	b = append(b, id[:]...)
	b = append(b, t, x)
	b = append(b, y...)
	sum := sha256.Sum256(b)
	return append(b, sum[:sumSize]...)
}

// digest is what the server stores for each share.
func digest(share []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte("trent shamir share v1\x00"))
	h.Write(share)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// New returns a sealed keyring for the split described by params (from
// Init), waiting for shares.
func New(params []byte) (*Keyring, error) {
	var p Params
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, fmt.Errorf("shamir: parameters: %w", err)
	}
	id, err := hex.DecodeString(p.ID)
	if err != nil || len(id) != idSize || p.Threshold < 2 || p.Shares < p.Threshold || p.Shares > MaxShares || len(p.Digests) != p.Shares {
		return nil, errors.New("shamir: parameters: malformed")
	}
	k := &Keyring{params: p, ys: map[byte][]byte{}}
	copy(k.id[:], id)
	return k, nil
}

// Params returns the split's public parameters.
func (k *Keyring) Params() Params { return k.params }

// Progress reports how many distinct shares were accepted so far.
func (k *Keyring) Progress() Progress {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.progressLocked()
}

func (k *Keyring) progressLocked() Progress {
	return Progress{Submitted: len(k.ys), Threshold: k.params.Threshold, Shares: k.params.Shares, Unsealed: k.kr != nil}
}

// Submit checks one share and keeps it; at the threshold the unseal key is
// rebuilt and the keyring unsealed. A refused share (ErrShare, naming it)
// leaves the shares accepted so far in place; submitting the same share
// twice counts it once.
func (k *Keyring) Submit(share string) (Progress, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return Progress{}, keyring.ErrClosed
	}
	if k.kr != nil {
		return k.progressLocked(), nil
	}
	if len(share) > 2*shareSize {
		return k.progressLocked(), fmt.Errorf("%w: not a Trent unseal share (%d characters; a share is %d)", ErrShare, len(share), base64.RawURLEncoding.EncodedLen(shareSize))
	}
	b, err := base64.RawURLEncoding.DecodeString(share)
	defer clear(b)
	if err != nil || len(b) != shareSize || b[0] != shareFormat {
		return k.progressLocked(), fmt.Errorf("%w: not a Trent unseal share (bad encoding or length: truncated or mistyped?)", ErrShare)
	}
	x := b[1+idSize+1]
	sum := sha256.Sum256(b[:shareSize-sumSize])
	if subtle.ConstantTimeCompare(sum[:sumSize], b[shareSize-sumSize:]) != 1 {
		return k.progressLocked(), fmt.Errorf("%w: the share claiming index %d is corrupted (checksum mismatch)", ErrShare, x)
	}
	if subtle.ConstantTimeCompare(b[1:1+idSize], k.id[:]) != 1 {
		return k.progressLocked(), fmt.Errorf("%w: share %d belongs to another initialisation (split %x, this server's is %s)", ErrShare, x, b[1:1+idSize], k.params.ID)
	}
	if int(b[1+idSize]) != k.params.Threshold || x == 0 || int(x) > k.params.Shares {
		return k.progressLocked(), fmt.Errorf("%w: share %d does not fit this split (threshold %d of %d shares)", ErrShare, x, k.params.Threshold, k.params.Shares)
	}
	want, _ := hex.DecodeString(k.params.Digests[x-1])
	got := digest(b[:shareSize-sumSize])
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return k.progressLocked(), fmt.Errorf("%w: share %d is not the share issued as share %d (altered)", ErrShare, x, x)
	}
	if _, dup := k.ys[x]; !dup {
		y := make([]byte, keySize)
		copy(y, b[1+idSize+2:1+idSize+2+keySize])
		k.ys[x] = y
	}
	if len(k.ys) < k.params.Threshold {
		return k.progressLocked(), nil
	}
	xs := make([]byte, 0, len(k.ys))
	ys := make([][]byte, 0, len(k.ys))
	for x, y := range k.ys {
		xs = append(xs, x)
		ys = append(ys, y)
	}
	secret, err := combine(xs, ys)
	k.wipeSharesLocked()
	if err != nil {
		return k.progressLocked(), err
	}
	defer clear(secret)
	if k.kr, err = keyring.NewFileKeyring(secret); err != nil {
		return k.progressLocked(), err
	}
	return k.progressLocked(), nil
}

// Reset discards the shares submitted so far and the unseal key they rebuilt
// (an unseal that failed after the threshold): the keyring is sealed again
// and waits for T shares. Never call it on a keyring the barrier holds.
func (k *Keyring) Reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.wipeSharesLocked()
	if k.kr != nil {
		k.kr.Close()
		k.kr = nil
	}
}

func (k *Keyring) wipeSharesLocked() {
	for x, y := range k.ys {
		clear(y)
		delete(k.ys, x)
	}
}

func (k *Keyring) unsealed() (*keyring.FileKeyring, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, keyring.ErrClosed
	}
	if k.kr == nil {
		return nil, ErrSealed
	}
	return k.kr, nil
}

// Wrap encrypts plaintext under the unseal key (keyring.FileKeyring's format).
func (k *Keyring) Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	kr, err := k.unsealed()
	if err != nil {
		return nil, err
	}
	return kr.Wrap(ctx, plaintext, aad)
}

// Unwrap decrypts what Wrap made.
func (k *Keyring) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	kr, err := k.unsealed()
	if err != nil {
		return nil, err
	}
	return kr.Unwrap(ctx, wrapped, aad)
}

// Close wipes the unseal key and the submitted shares (best effort).
func (k *Keyring) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.wipeSharesLocked()
	if k.kr != nil {
		k.kr.Close()
		k.kr = nil
	}
	k.closed = true
	return nil
}

// Format, String and LogValue keep the submitted shares and the unseal key
// out of fmt and slog output.
func (*Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "shamir.Keyring(REDACTED)") }
func (*Keyring) String() string             { return "shamir.Keyring(REDACTED)" }
func (*Keyring) LogValue() slog.Value       { return slog.StringValue("REDACTED") }
