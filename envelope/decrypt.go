package envelope

import (
	"bufio"
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
)

// Reader decrypts a message. See the package documentation on releasing
// plaintext before the end: what Read returns is authenticated frame by
// frame, but the message as a whole only when Read returns [io.EOF].
type Reader struct {
	hd      *Header
	src     *bufio.Reader
	in      io.Reader // src, through the signature hash for signed suites
	aead    cipher.AEAD
	hash    hash.Hash
	pub     *ecdsa.PublicKey
	buf     []byte
	pending []byte
	seq     uint32
	aad     []byte
	prefix  int
	iv      [ivLen]byte
	fhdr    [finalHdrLen]byte
	err     error
}

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
	br, ok := src.(*bufio.Reader)
	if !ok || br.Size() < 4096 {
		br = bufio.NewReaderSize(src, 32<<10)
	}
	hd, err := parseHeader(br, opts.MaxEncryptedDataKeys)
	if err != nil {
		return nil, err
	}
	p := suiteParams(hd.Suite)
	if !p.commit && opts.CommitmentPolicy != RequireEncryptAllowDecrypt {
		return nil, fmt.Errorf("%w: message uses %v, policy is %v", ErrCommitmentPolicy, hd.Suite, opts.CommitmentPolicy)
	}
	if uint64(hd.FrameLength) > uint64(maxFS) {
		return nil, fmt.Errorf("%w: frame length %d exceeds the limit %d", ErrUnsupported, hd.FrameLength, maxFS)
	}
	for k, v := range opts.EncryptionContext {
		if got, ok := hd.EncryptionContext[k]; !ok || got != v {
			return nil, fmt.Errorf("%w: message lacks %q=%q", ErrContextMismatch, k, v)
		}
	}
	r := &Reader{hd: hd, src: br, in: br}
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
		r.hash = p.sigHash.New()
		r.hash.Write(hd.body)
		r.hash.Write(hd.authIV)
		r.hash.Write(hd.authTag)
		r.in = io.TeeReader(br, r.hash)
	}
	r.aad = make([]byte, 0, len(hd.MessageID)+len(aadFinalFrame)+12)
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

func (r *Reader) readFull(b []byte) error {
	if _, err := io.ReadFull(r.in, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errTruncated
		}
		return err
	}
	return nil
}

// readFrame reads, authenticates and decrypts the next frame into
// r.pending. After the final frame it also checks the signature and the end
// of input, and returns io.EOF (to be returned once r.pending is drained).
func (r *Reader) readFrame() error {
	if r.seq == seqNumEnd-1 {
		return invalid("too many frames")
	}
	h := r.fhdr[:]
	if err := r.readFull(h[:4]); err != nil {
		return err
	}
	final := binary.BigEndian.Uint32(h) == seqNumEnd
	var ivb []byte
	var n uint32
	content := aadFrame
	if final {
		if err := r.readFull(h[4:finalHdrLen]); err != nil {
			return err
		}
		ivb = h[8 : 8+ivLen]
		if binary.BigEndian.Uint32(h[4:]) != r.seq+1 {
			return invalid("frame out of order")
		}
		n = binary.BigEndian.Uint32(h[8+ivLen:])
		if n > r.hd.FrameLength {
			return invalid("final frame longer than the frame length")
		}
		content = aadFinalFrame
	} else {
		if binary.BigEndian.Uint32(h) != r.seq+1 {
			return invalid("frame out of order")
		}
		if err := r.readFull(h[4 : 4+ivLen]); err != nil {
			return err
		}
		ivb = h[4 : 4+ivLen]
		n = r.hd.FrameLength
	}
	r.seq++
	binary.BigEndian.PutUint32(r.iv[ivLen-4:], r.seq)
	if subtle.ConstantTimeCompare(ivb, r.iv[:]) != 1 {
		return invalid("frame IV does not match its sequence number")
	}
	need := int(n) + tagLen
	if cap(r.buf) < need {
		r.buf = make([]byte, need)
	}
	b := r.buf[:need]
	if err := r.readFull(b); err != nil {
		return err
	}
	r.aad = append(r.aad[:r.prefix], content...)
	r.aad = binary.BigEndian.AppendUint32(r.aad, r.seq)
	r.aad = binary.BigEndian.AppendUint64(r.aad, uint64(n))
	pt, err := r.aead.Open(b[:0], r.iv[:], b, r.aad)
	if err != nil {
		return invalid("frame %d authentication failed", r.seq)
	}
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

// finish checks the footer (signed suites) and that nothing follows.
func (r *Reader) finish() error {
	if r.pub != nil {
		var l [2]byte
		if _, err := io.ReadFull(r.src, l[:]); err != nil {
			return errTruncated
		}
		sig := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(r.src, sig); err != nil {
			return errTruncated
		}
		if !ecdsa.VerifyASN1(r.pub, r.hash.Sum(nil), sig) {
			return invalid("signature verification failed")
		}
	}
	var one [1]byte
	for {
		n, err := r.src.Read(one[:])
		if n > 0 {
			return invalid("trailing data after the message")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
