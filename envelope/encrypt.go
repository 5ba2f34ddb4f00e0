package envelope

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
)

// Encrypt writes the header of a new message to dst and returns a writer
// for its plaintext. The data key comes from kr (or opts.Cache); ctx is used
// only for the keyring. Close writes the final frame and, for signed suites,
// the signature; it does not close dst. The writer buffers one frame and
// makes one dst.Write per frame (wrap dst in a [bufio.Writer] if writes are
// costly); errors are sticky. opts may be nil.
func Encrypt(ctx context.Context, dst io.Writer, kr Keyring, opts *EncryptOptions) (io.WriteCloser, error) {
	if opts == nil {
		opts = &EncryptOptions{}
	}
	if kr == nil {
		return nil, errors.New("envelope: Encrypt needs a keyring")
	}
	s := opts.Suite
	if s == 0 {
		s = DefaultSuite
	}
	p := suiteParams(s)
	if p == nil {
		return nil, fmt.Errorf("envelope: unknown algorithm suite 0x%04x", uint16(s))
	}
	if !p.commit {
		return nil, fmt.Errorf("%w: %v is not key committing", ErrCommitmentPolicy, s)
	}
	fs := opts.FrameSize
	if fs == 0 {
		fs = DefaultFrameSize
	}
	if fs < 1 || fs > MaxFrameSize {
		return nil, fmt.Errorf("envelope: frame size %d out of range 1..%d", fs, MaxFrameSize)
	}
	for k := range opts.EncryptionContext {
		if strings.HasPrefix(k, reservedPrefix) {
			return nil, fmt.Errorf("envelope: encryption context key %q is reserved", k)
		}
	}
	if opts.MaxPlaintextLength < 0 {
		return nil, errors.New("envelope: negative MaxPlaintextLength")
	}

	fresh := func(ctx context.Context) (*EncryptionMaterials, *ecdsa.PrivateKey, error) {
		return newEncryptionMaterials(ctx, kr, p, opts.EncryptionContext)
	}
	var (
		m      *EncryptionMaterials
		sign   *ecdsa.PrivateKey
		err    error
		cached bool
	)
	if opts.Cache != nil && opts.MaxPlaintextLength > 0 && cacheable(kr) {
		m, sign, err = opts.Cache.encMaterials(ctx, kr, s, opts.EncryptionContext, uint64(opts.MaxPlaintextLength), fresh)
		cached = true
	} else {
		m, sign, err = fresh(ctx)
	}
	if err != nil {
		return nil, err
	}
	if opts.MaxEncryptedDataKeys > 0 && len(m.EncryptedDataKeys) > opts.MaxEncryptedDataKeys {
		return nil, fmt.Errorf("%w: keyring produced %d, limit is %d", ErrTooManyEncryptedDataKeys, len(m.EncryptedDataKeys), opts.MaxEncryptedDataKeys)
	}

	hd := &Header{
		Version:           2,
		Suite:             s,
		MessageID:         make([]byte, p.msgIDLen),
		EncryptionContext: m.EncryptionContext,
		EncryptedDataKeys: m.EncryptedDataKeys,
		Framed:            true,
		FrameLength:       uint32(fs),
	}
	rand.Read(hd.MessageID)
	encKey, commitKey, err := deriveKeys(p, m.DataKey, hd.MessageID)
	if !cached {
		clear(m.DataKey)
	}
	if err != nil {
		return nil, err
	}
	hd.CommitKey = commitKey
	aead, err := newGCM(encKey)
	clear(encKey)
	if err != nil {
		return nil, err
	}
	body, err := hd.marshalBody()
	if err != nil {
		return nil, err
	}
	w := &writer{
		dst:       dst,
		aead:      aead,
		frameSize: fs,
		limit:     opts.MaxPlaintextLength,
		sign:      sign,
		frame:     make([]byte, finalHdrLen+fs+tagLen),
	}
	if sign != nil {
		w.hash = newPipeHash(p.sigHash)
	}
	w.aad = make([]byte, 0, len(hd.MessageID)+len(aadFinalFrame)+12)
	w.aad = append(w.aad, hd.MessageID...)
	w.aadPrefix = len(w.aad)
	var zeroIV [ivLen]byte
	tag := aead.Seal(nil, zeroIV[:], nil, body)
	w.emit(body)
	w.emit(tag)
	if w.err != nil {
		return nil, w.err
	}
	return w, nil
}

// newEncryptionMaterials makes the signing key (signed suites), adds its
// public half to the context and asks the keyring for the data key.
func newEncryptionMaterials(ctx context.Context, kr Keyring, p *suite, userEC map[string]string) (*EncryptionMaterials, *ecdsa.PrivateKey, error) {
	ec := maps.Clone(userEC)
	if ec == nil {
		ec = map[string]string{}
	}
	var sign *ecdsa.PrivateKey
	if p.curve != nil {
		var err error
		sign, err = ecdsa.GenerateKey(p.curve, rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		pub, err := compressPublicKey(&sign.PublicKey)
		if err != nil {
			return nil, nil, err
		}
		ec[publicKeyContextKey] = base64.StdEncoding.EncodeToString(pub)
	}
	if _, err := serializeContext(ec); err != nil {
		return nil, nil, err
	}
	m := &EncryptionMaterials{Suite: p.id, EncryptionContext: ec}
	if err := kr.OnEncrypt(ctx, m); err != nil {
		return nil, nil, err
	}
	if len(m.DataKey) != p.keyLen {
		return nil, nil, fmt.Errorf("envelope: keyring produced a data key of %d bytes, want %d", len(m.DataKey), p.keyLen)
	}
	if len(m.EncryptedDataKeys) == 0 {
		return nil, nil, errors.New("envelope: keyring produced no encrypted data key")
	}
	return m, sign, nil
}

// deriveKeys derives the message's encryption key and, for committing
// suites, its commitment key from the data key.
func deriveKeys(p *suite, dataKey, msgID []byte) (encKey, commitKey []byte, err error) {
	if len(dataKey) != p.keyLen {
		return nil, nil, fmt.Errorf("envelope: data key of %d bytes, want %d", len(dataKey), p.keyLen)
	}
	switch {
	case p.commit:
		prk, err := hkdf.Extract(p.kdf, dataKey, msgID)
		if err != nil {
			return nil, nil, err
		}
		defer clear(prk)
		info := string([]byte{byte(p.id >> 8), byte(p.id)}) + "DERIVEKEY"
		if encKey, err = hkdf.Expand(p.kdf, prk, info, p.keyLen); err != nil {
			return nil, nil, err
		}
		if commitKey, err = hkdf.Expand(p.kdf, prk, "COMMITKEY", commitLen); err != nil {
			return nil, nil, err
		}
		return encKey, commitKey, nil
	case p.kdf != nil:
		info := string([]byte{byte(p.id >> 8), byte(p.id)}) + string(msgID)
		encKey, err = hkdf.Key(p.kdf, dataKey, nil, info, p.keyLen)
		return encKey, nil, err
	default:
		return append([]byte(nil), dataKey...), nil, nil
	}
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// compressPublicKey encodes pub as a compressed point (SEC 1, 2.3.3).
func compressPublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	u, err := pub.Bytes()
	if err != nil {
		return nil, err
	}
	n := (len(u) - 1) / 2
	out := make([]byte, 1+n)
	out[0] = 2 | u[len(u)-1]&1
	copy(out[1:], u[1:1+n])
	return out, nil
}

// decompressPublicKey parses a compressed point on curve.
func decompressPublicKey(curve elliptic.Curve, b []byte) (*ecdsa.PublicKey, error) {
	x, y := elliptic.UnmarshalCompressed(curve, b)
	if x == nil {
		return nil, errors.New("invalid compressed public key")
	}
	n := (curve.Params().BitSize + 7) / 8
	u := make([]byte, 1+2*n)
	u[0] = 4
	x.FillBytes(u[1 : 1+n])
	y.FillBytes(u[1+n:])
	return ecdsa.ParseUncompressedPublicKey(curve, u)
}

// Frame layout in writer.frame: the final frame header is 24 bytes
// (FFFFFFFF, sequence number, IV, content length); a regular frame header is
// the last 16 of them (sequence number, IV), so the content always starts at
// finalHdrLen and a regular frame is sent from offset 8.
const (
	finalHdrLen   = 4 + 4 + ivLen + 4
	regularHdrOff = finalHdrLen - 4 - ivLen
)

type writer struct {
	dst       io.Writer
	aead      cipher.AEAD
	frameSize int
	frame     []byte // finalHdrLen + frameSize + tagLen
	n         int    // plaintext bytes buffered at frame[finalHdrLen:]
	seq       uint32
	aad       []byte
	aadPrefix int
	iv        [ivLen]byte
	limit     int64 // MaxPlaintextLength, 0: none
	written   int64
	hash      *pipeHash // signed suites
	sign      *ecdsa.PrivateKey
	err       error
	closed    bool
}

var errClosed = errors.New("envelope: write to closed message writer")

func (w *writer) emit(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.dst.Write(b); err != nil {
		w.err = err
		return
	}
	if w.hash != nil {
		w.hash.Write(b)
	}
}

// Write encrypts p. Full frames are written to dst once more data follows
// them (the last frame, written by Close, is the final frame).
func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errClosed
	}
	if w.limit > 0 && int64(len(p)) > w.limit-w.written {
		w.err = fmt.Errorf("envelope: plaintext longer than MaxPlaintextLength %d", w.limit)
		return 0, w.err
	}
	total := len(p)
	for len(p) > 0 {
		if w.n == w.frameSize {
			w.sealRegular(w.frame[finalHdrLen : finalHdrLen+w.frameSize])
			w.n = 0
		} else if w.n == 0 && len(p) > w.frameSize {
			// Seal straight from p: the frame is full and not the last.
			w.sealRegular(p[:w.frameSize])
			p = p[w.frameSize:]
			w.written += int64(w.frameSize)
			continue
		}
		if w.err != nil {
			break
		}
		c := copy(w.frame[finalHdrLen+w.n:finalHdrLen+w.frameSize], p)
		w.n += c
		p = p[c:]
		w.written += int64(c)
	}
	if w.err != nil {
		return total - len(p), w.err
	}
	return total, nil
}

func (w *writer) nextIV(content string, n int) []byte {
	w.seq++
	binary.BigEndian.PutUint32(w.iv[ivLen-4:], w.seq)
	w.aad = append(w.aad[:w.aadPrefix], content...)
	w.aad = binary.BigEndian.AppendUint32(w.aad, w.seq)
	w.aad = binary.BigEndian.AppendUint64(w.aad, uint64(n))
	return w.iv[:]
}

// sealRegular encrypts pt (frameSize bytes, either in place in w.frame or
// elsewhere) into w.frame and writes the regular frame.
func (w *writer) sealRegular(pt []byte) {
	if w.err != nil {
		return
	}
	// Sequence number 2^32-1 (the last frame a message may have) is left
	// to the final frame: a regular frame numbered so would read as one.
	if w.seq == seqNumEnd-1 {
		w.err = errors.New("envelope: message too long (2^32-1 frames)")
		return
	}
	iv := w.nextIV(aadFrame, len(pt))
	f := w.frame
	binary.BigEndian.PutUint32(f[regularHdrOff:], w.seq)
	copy(f[regularHdrOff+4:], iv)
	w.aead.Seal(f[finalHdrLen:finalHdrLen], iv, pt, w.aad)
	w.emit(f[regularHdrOff : finalHdrLen+w.frameSize+tagLen])
}

// Close writes the final frame and the signature. It does not close the
// underlying writer.
func (w *writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	iv := w.nextIV(aadFinalFrame, w.n)
	f := w.frame
	binary.BigEndian.PutUint32(f[0:], seqNumEnd)
	binary.BigEndian.PutUint32(f[4:], w.seq)
	copy(f[8:], iv)
	binary.BigEndian.PutUint32(f[8+ivLen:], uint32(w.n))
	w.aead.Seal(f[finalHdrLen:finalHdrLen], iv, f[finalHdrLen:finalHdrLen+w.n], w.aad)
	w.emit(f[:finalHdrLen+w.n+tagLen])
	clear(w.frame)
	if w.err != nil {
		return w.err
	}
	if w.sign != nil {
		sig, err := ecdsa.SignASN1(rand.Reader, w.sign, w.hash.Sum())
		if err != nil {
			w.err = err
			return err
		}
		footer := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(sig)), uint16(len(sig)))
		footer = append(footer, sig...)
		if _, err := w.dst.Write(footer); err != nil {
			w.err = err
			return err
		}
	}
	return nil
}
