package envelope

import (
	"bufio"
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
)

// Reader decrypts a message. See the package documentation on releasing
// plaintext before the end: what Read returns is authenticated frame by
// frame, but the message as a whole only when Read returns [io.EOF].
type Reader struct {
	hd      *Header
	src     io.Reader
	srcErr  error  // sticky error (or io.EOF) of src
	raw     []byte // input buffer; frames are decrypted in place
	lo, hi  int    // unconsumed input is raw[lo:hi]
	aead    cipher.AEAD
	hash    *pipeHash // signed suites: over everything before the footer
	pub     *ecdsa.PublicKey
	pending []byte // released plaintext not yet returned, inside raw
	seq     uint32
	aad     []byte
	prefix  int
	iv      [ivLen]byte
	maxBody int // largest non-framed body read (MaxFrameSize)
	err     error
}

// readBufSize is the input buffer of a Reader (grown to hold one frame
// when frames are larger).
const readBufSize = 64 << 10

// Decrypt reads the header of a message from src, checks it against opts
// (commitment policy, encryption context, number of encrypted data keys),
// unwraps the data key with kr (or opts.Cache), and verifies the key
// commitment and the header authentication tag, all before it returns.
// opts may be nil.
//
// Errors wrap [ErrInvalidMessage], [ErrCommitmentPolicy],
// [ErrContextMismatch], [ErrTooManyEncryptedDataKeys], [ErrNoDecryptableKey]
// or [ErrUnsupported], or are I/O errors of src.
func Decrypt(ctx context.Context, src io.Reader, kr Keyring, opts *DecryptOptions) (*Reader, error) {
	if opts == nil {
		opts = &DecryptOptions{}
	}
	if kr == nil {
		return nil, errors.New("envelope: Decrypt needs a keyring")
	}
	maxFS := opts.MaxFrameSize
	if maxFS <= 0 {
		maxFS = DefaultMaxDecryptFrameSize
	}
	br := bufio.NewReaderSize(src, 4096)
	hd, err := parseHeader(br, opts.MaxEncryptedDataKeys)
	if err != nil {
		return nil, err
	}
	p := suiteParams(hd.Suite)
	if !p.commit && opts.CommitmentPolicy != RequireEncryptAllowDecrypt {
		return nil, fmt.Errorf("%w: message uses %v, policy is %v", ErrCommitmentPolicy, hd.Suite, opts.CommitmentPolicy)
	}
	if opts.Unsigned && p.curve != nil {
		return nil, fmt.Errorf("%w: message uses the signed suite %v and DecryptOptions.Unsigned is set", ErrUnsupported, hd.Suite)
	}
	if uint64(hd.FrameLength) > uint64(maxFS) {
		return nil, fmt.Errorf("%w: frame length %d exceeds the limit %d", ErrUnsupported, hd.FrameLength, maxFS)
	}
	for k, v := range opts.EncryptionContext {
		if got, ok := hd.EncryptionContext[k]; !ok || got != v {
			return nil, fmt.Errorf("%w: message lacks %q=%q", ErrContextMismatch, k, v)
		}
	}
	r := &Reader{hd: hd, src: src, maxBody: maxFS}
	pubB64, hasPub := hd.EncryptionContext[publicKeyContextKey]
	switch {
	case p.curve != nil && !hasPub:
		return nil, invalid("signed suite without %s in the encryption context", publicKeyContextKey)
	case p.curve == nil && hasPub:
		return nil, invalid("unsigned suite with %s in the encryption context", publicKeyContextKey)
	case p.curve != nil:
		raw, err := base64.StdEncoding.DecodeString(pubB64)
		if err != nil {
			return nil, invalid("bad %s: %v", publicKeyContextKey, err)
		}
		if r.pub, err = decompressPublicKey(p.curve, raw); err != nil {
			return nil, invalid("bad %s: %v", publicKeyContextKey, err)
		}
		warmCurve(p.curve)
	}

	unwrap := func(ctx context.Context) ([]byte, error) {
		m := &DecryptionMaterials{Suite: hd.Suite, EncryptionContext: maps.Clone(hd.EncryptionContext)}
		if err := kr.OnDecrypt(ctx, m, hd.EncryptedDataKeys); err != nil {
			if !errors.Is(err, ErrNoDecryptableKey) {
				err = fmt.Errorf("%w: %w", ErrNoDecryptableKey, err)
			}
			return nil, err
		}
		if len(m.DataKey) != p.keyLen {
			return nil, fmt.Errorf("envelope: keyring returned a data key of %d bytes, want %d", len(m.DataKey), p.keyLen)
		}
		return m.DataKey, nil
	}
	var dk []byte
	cached := opts.Cache != nil && cacheable(kr)
	if cached {
		dk, err = opts.Cache.dataKey(ctx, kr, hd.Suite, hd.EncryptionContext, hd.EncryptedDataKeys, unwrap)
	} else {
		dk, err = unwrap(ctx)
	}
	if err != nil {
		return nil, err
	}
	encKey, commitKey, err := deriveKeys(p, dk, hd.MessageID)
	if !cached {
		clear(dk)
	}
	if err != nil {
		return nil, err
	}
	if p.commit && subtle.ConstantTimeCompare(commitKey, hd.CommitKey) != 1 {
		clear(encKey)
		return nil, invalid("key commitment mismatch")
	}
	r.aead, err = newGCM(encKey)
	clear(encKey)
	if err != nil {
		return nil, err
	}
	iv := hd.authIV
	if iv == nil {
		iv = make([]byte, ivLen)
	}
	if _, err := r.aead.Open(nil, iv, hd.authTag, hd.body); err != nil {
		return nil, invalid("header authentication failed")
	}
	if r.pub != nil {
		r.hash = newPipeHash(p.sigHash)
		r.hash.Write(hd.body)
		r.hash.Write(hd.authIV)
		r.hash.Write(hd.authTag)
	}
	// The header reader may have read ahead: start the body buffer with
	// what it holds, and read src directly from now on.
	r.raw = make([]byte, max(readBufSize, br.Buffered()))
	r.hi, _ = br.Read(r.raw[:br.Buffered()])
	r.aad = make([]byte, 0, len(hd.MessageID)+len(aadSingleBlock)+12)
	r.aad = append(r.aad, hd.MessageID...)
	r.prefix = len(r.aad)
	return r, nil
}

// Header returns the message header. The caller must not modify it.
func (r *Reader) Header() *Header { return r.hd }

// EncryptionContext returns a copy of the message's encryption context
// (including reserved keys such as "aws-crypto-public-key").
func (r *Reader) EncryptionContext() map[string]string { return maps.Clone(r.hd.EncryptionContext) }

// Read reads plaintext. Each frame is authenticated before any of it is
// returned; Read returns io.EOF only after the final frame, the signature and
// the end of the input (no trailing data) have been verified. Errors are
// sticky.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.readFrame()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

var errTruncated = fmt.Errorf("%w: truncated message", ErrInvalidMessage)

// fill makes at least n unconsumed input bytes available in raw[lo:hi],
// moving or growing the buffer (which invalidates slices of it) and
// reading as much of src as fits.
func (r *Reader) fill(n int) error {
	if r.hi-r.lo >= n {
		return nil
	}
	if len(r.raw)-r.lo < n {
		if n > len(r.raw) {
			raw := make([]byte, n+readBufSize)
			copy(raw, r.raw[r.lo:r.hi])
			r.raw = raw
		} else {
			copy(r.raw, r.raw[r.lo:r.hi])
		}
		r.hi -= r.lo
		r.lo = 0
	}
	for r.hi-r.lo < n {
		if r.srcErr != nil {
			if r.srcErr == io.EOF {
				return errTruncated
			}
			return r.srcErr
		}
		m, err := r.src.Read(r.raw[r.hi:])
		r.hi += m
		if err != nil {
			r.srcErr = err
		} else if m == 0 {
			r.srcErr = io.ErrNoProgress
		}
	}
	return nil
}

// take reads len(dst) input bytes into dst: those buffered first, then
// src. Unlike fill, it never moves or writes r.raw.
func (r *Reader) take(dst []byte) error {
	k := copy(dst, r.raw[r.lo:r.hi])
	r.lo += k
	for k < len(dst) {
		if r.srcErr != nil {
			if r.srcErr == io.EOF {
				return errTruncated
			}
			return r.srcErr
		}
		m, err := r.src.Read(dst[k:])
		k += m
		if err != nil {
			r.srcErr = err
		} else if m == 0 {
			r.srcErr = io.ErrNoProgress
		}
	}
	return nil
}

// readFrame authenticates and decrypts the next frame in place and sets
// r.pending to its plaintext. After the final frame it also checks the
// signature and the end of input, and returns io.EOF (to be returned once
// r.pending is drained). The plaintext of a frame that fails is never
// released.
func (r *Reader) readFrame() error {
	if !r.hd.Framed {
		return r.readNonFramed()
	}
	// No frame count check: a regular frame numbered 2^32-1 (r.seq+1)
	// would read as the final frame, so a message ends by 2^32-1 frames.
	if err := r.fill(4); err != nil {
		return err
	}
	final := binary.BigEndian.Uint32(r.raw[r.lo:]) == seqNumEnd
	var hdrLen, n int
	content := aadFrame
	if final {
		if err := r.fill(finalHdrLen); err != nil {
			return err
		}
		h := r.raw[r.lo:]
		if binary.BigEndian.Uint32(h[4:]) != r.seq+1 {
			return invalid("frame out of order")
		}
		l := binary.BigEndian.Uint32(h[8+ivLen:])
		if l > r.hd.FrameLength {
			return invalid("final frame longer than the frame length")
		}
		hdrLen, n, content = finalHdrLen, int(l), aadFinalFrame
	} else {
		if binary.BigEndian.Uint32(r.raw[r.lo:]) != r.seq+1 {
			return invalid("frame out of order")
		}
		hdrLen, n = 4+ivLen, int(r.hd.FrameLength)
	}
	total := hdrLen + n + tagLen
	if err := r.fill(total); err != nil {
		return err
	}
	b := r.raw[r.lo : r.lo+total]
	r.seq++
	binary.BigEndian.PutUint32(r.iv[ivLen-4:], r.seq)
	ivOff := 4 // regular frame: sequence number, IV
	if final {
		ivOff = 8 // final frame: end marker, sequence number, IV, length
	}
	if subtle.ConstantTimeCompare(b[ivOff:ivOff+ivLen], r.iv[:]) != 1 {
		return invalid("frame IV does not match its sequence number")
	}
	if r.hash != nil {
		r.hash.Write(b)
	}
	r.aad = append(r.aad[:r.prefix], content...)
	r.aad = binary.BigEndian.AppendUint32(r.aad, r.seq)
	r.aad = binary.BigEndian.AppendUint64(r.aad, uint64(n))
	pt, err := r.aead.Open(b[hdrLen:hdrLen], r.iv[:], b[hdrLen:], r.aad)
	if err != nil {
		return invalid("frame %d authentication failed", r.seq)
	}
	r.lo += total
	if !final {
		r.pending = pt
		return nil
	}
	if err := r.finish(); err != nil {
		clear(pt)
		return err
	}
	r.pending = pt
	return io.EOF
}

// readNonFramed authenticates and decrypts a non-framed body (IV, 8-byte
// content length, content, tag), which it holds whole, at most
// maxBody bytes of content, and releases its plaintext only once finish has
// verified the rest, as for a final frame.
func (r *Reader) readNonFramed() error {
	const hdrLen = ivLen + 8
	if err := r.fill(hdrLen); err != nil {
		return err
	}
	l := binary.BigEndian.Uint64(r.raw[r.lo+ivLen:])
	if l > maxNonFramedLen {
		return invalid("non-framed content of %d bytes, more than 2^36-32", l)
	}
	if l > uint64(r.maxBody) {
		return fmt.Errorf("%w: non-framed content of %d bytes exceeds the limit %d", ErrUnsupported, l, r.maxBody)
	}
	total := hdrLen + int(l) + tagLen
	if err := r.fill(total); err != nil {
		return err
	}
	b := r.raw[r.lo : r.lo+total]
	r.seq = 1
	binary.BigEndian.PutUint32(r.iv[ivLen-4:], r.seq)
	if subtle.ConstantTimeCompare(b[:ivLen], r.iv[:]) != 1 {
		return invalid("body IV is not the IV of sequence number 1")
	}
	if r.hash != nil {
		r.hash.Write(b)
	}
	r.aad = append(r.aad[:r.prefix], aadSingleBlock...)
	r.aad = binary.BigEndian.AppendUint32(r.aad, r.seq)
	r.aad = binary.BigEndian.AppendUint64(r.aad, l)
	pt, err := r.aead.Open(b[hdrLen:hdrLen], r.iv[:], b[hdrLen:], r.aad)
	if err != nil {
		return invalid("body authentication failed")
	}
	r.lo += total
	if err := r.finish(); err != nil {
		clear(pt)
		return err
	}
	r.pending = pt
	return io.EOF
}

// finish checks the footer (signed suites) and that nothing follows. The
// final frame's plaintext is in r.raw: finish reads without moving it (fill
// could, and then read the footer over it).
func (r *Reader) finish() error {
	if r.pub != nil {
		var lb [2]byte
		if err := r.take(lb[:]); err != nil {
			return err
		}
		sig := make([]byte, binary.BigEndian.Uint16(lb[:]))
		if err := r.take(sig); err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(r.pub, r.hash.Sum(), sig) {
			return invalid("signature verification failed")
		}
	}
	if r.hi > r.lo {
		return invalid("trailing data after the message")
	}
	var one [1]byte
	for r.srcErr == nil {
		n, err := r.src.Read(one[:])
		if n > 0 {
			return invalid("trailing data after the message")
		}
		r.srcErr = err
	}
	if r.srcErr != io.EOF {
		return r.srcErr
	}
	return nil
}

// WriteTo writes the plaintext to w, frame by frame, without the copy Read
// makes; io.Copy uses it. The same caveat applies: the output is trusted
// only if WriteTo returns a nil error.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.pending) > 0 {
			n, err := w.Write(r.pending)
			total += int64(n)
			r.pending = r.pending[n:]
			if err != nil {
				return total, err
			}
		}
		if r.err != nil {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		r.err = r.readFrame()
	}
}

// warmed holds the curves whose base-point tables warmCurve has built.
var warmed sync.Map

// warmCurve builds, on another goroutine, the table of base-point multiples
// that crypto/ecdsa computes on a curve's first use (about 2 ms for P-384),
// so that the verification of a signed message does not wait for it at the
// end: it is built while the keyring calls KMS and the message streams.
// Once per curve and process (a key generation is the way the standard
// library offers to fill it).
func warmCurve(c elliptic.Curve) {
	if _, done := warmed.LoadOrStore(c, true); !done {
		go ecdsa.GenerateKey(c, rand.Reader)
	}
}
