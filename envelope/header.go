package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"unicode/utf8"
)

// Header is the parsed header of a message.
type Header struct {
	// Version is the message format version, 1 or 2.
	Version byte
	// Suite is the algorithm suite.
	Suite Suite
	// MessageID is the random message identifier (16 bytes in version 1,
	// 32 in version 2).
	MessageID []byte
	// EncryptionContext is the encryption context stored in the header.
	EncryptionContext map[string]string
	// EncryptedDataKeys are the wrapped data keys, in header order.
	EncryptedDataKeys []EncryptedDataKey
	// Framed reports whether the body is framed (always true for messages
	// this package writes; old SDKs could write non-framed bodies, which
	// [Decrypt] reads up to [DecryptOptions.MaxFrameSize] bytes).
	Framed bool
	// FrameLength is the plaintext length of each regular frame (0 in a
	// non-framed message).
	FrameLength uint32
	// CommitKey is the key commitment of committing suites (version 2
	// "algorithm suite data"), nil otherwise.
	CommitKey []byte

	body    []byte // serialized header body, the header auth AAD
	authIV  []byte // v1 only
	authTag []byte
}

// ParseHeader reads and parses the header of a message from r, including
// the header authentication fields, and stops there. It does not verify
// anything that needs the data key (the authentication tag, the key
// commitment); use [Decrypt] for that. It never reads more than the header
// and accepts at most maxEncryptedDataKeys encrypted data keys (0: no
// limit). Errors wrap [ErrInvalidMessage], [ErrUnsupported] or
// [ErrTooManyEncryptedDataKeys].
func ParseHeader(r io.Reader, maxEncryptedDataKeys int) (*Header, error) {
	return parseHeader(r, maxEncryptedDataKeys)
}

// hdrReader reads header fields, keeping the bytes read (the header body is
// the AAD of the header authentication tag).
type hdrReader struct {
	r   io.Reader
	buf []byte
}

var errTruncatedHeader = fmt.Errorf("%w: truncated header", ErrInvalidMessage)

func (h *hdrReader) next(n int) ([]byte, error) {
	if len(h.buf)+n > maxHdrSize {
		return nil, fmt.Errorf("%w: header larger than %d bytes", ErrInvalidMessage, maxHdrSize)
	}
	start := len(h.buf)
	h.buf = slices.Grow(h.buf, n)[:start+n]
	if _, err := io.ReadFull(h.r, h.buf[start:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errTruncatedHeader
		}
		return nil, err
	}
	return h.buf[start : start+n : start+n], nil
}

func (h *hdrReader) u8() (byte, error) {
	b, err := h.next(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (h *hdrReader) u16() (int, error) {
	b, err := h.next(2)
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(b)), nil
}

func (h *hdrReader) u32() (uint32, error) {
	b, err := h.next(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

// vec reads a 2-byte length and that many bytes.
func (h *hdrReader) vec() ([]byte, error) {
	n, err := h.u16()
	if err != nil {
		return nil, err
	}
	return h.next(n)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}

func parseHeader(r io.Reader, maxEDKs int) (*Header, error) {
	h := &hdrReader{r: r, buf: make([]byte, 0, 1024)}
	hd := &Header{}
	v, err := h.u8()
	if err != nil {
		return nil, err
	}
	hd.Version = v
	switch v {
	case 1:
		t, err := h.u8()
		if err != nil {
			return nil, err
		}
		if t != typeCAED {
			return nil, invalid("unknown message type 0x%02x", t)
		}
	case 2:
	default:
		return nil, invalid("unknown message format version %d", v)
	}
	id, err := h.u16()
	if err != nil {
		return nil, err
	}
	hd.Suite = Suite(id)
	p := suiteParams(hd.Suite)
	if p == nil {
		return nil, invalid("unknown algorithm suite 0x%04x", id)
	}
	if p.version != v {
		return nil, invalid("algorithm suite %v in a version %d message", hd.Suite, v)
	}
	if hd.MessageID, err = h.next(p.msgIDLen); err != nil {
		return nil, err
	}
	aad, err := h.vec()
	if err != nil {
		return nil, err
	}
	if hd.EncryptionContext, err = parseContext(aad); err != nil {
		return nil, err
	}
	n, err := h.u16()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, invalid("no encrypted data keys")
	}
	if maxEDKs > 0 && n > maxEDKs {
		return nil, fmt.Errorf("%w: message has %d, limit is %d", ErrTooManyEncryptedDataKeys, n, maxEDKs)
	}
	hd.EncryptedDataKeys = make([]EncryptedDataKey, 0, min(n, 64))
	for range n {
		pid, err := h.vec()
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(pid) {
			return nil, invalid("key provider ID is not UTF-8")
		}
		info, err := h.vec()
		if err != nil {
			return nil, err
		}
		ct, err := h.vec()
		if err != nil {
			return nil, err
		}
		hd.EncryptedDataKeys = append(hd.EncryptedDataKeys, EncryptedDataKey{ProviderID: string(pid), ProviderInfo: info, Ciphertext: ct})
	}
	ctype, err := h.u8()
	if err != nil {
		return nil, err
	}
	switch ctype {
	case framed:
		hd.Framed = true
	case nonFramed:
	default:
		return nil, invalid("unknown content type 0x%02x", ctype)
	}
	if v == 1 {
		res, err := h.u32()
		if err != nil {
			return nil, err
		}
		if res != 0 {
			return nil, invalid("reserved field is not zero")
		}
		l, err := h.u8()
		if err != nil {
			return nil, err
		}
		if l != ivLen {
			return nil, invalid("IV length %d, want %d", l, ivLen)
		}
	}
	if hd.FrameLength, err = h.u32(); err != nil {
		return nil, err
	}
	if hd.Framed && hd.FrameLength == 0 {
		return nil, invalid("frame length 0 in a framed message")
	}
	if !hd.Framed && hd.FrameLength != 0 {
		return nil, invalid("frame length %d in a non-framed message", hd.FrameLength)
	}
	if p.commit {
		if hd.CommitKey, err = h.next(commitLen); err != nil {
			return nil, err
		}
	}
	bodyLen := len(h.buf)
	if v == 1 {
		if hd.authIV, err = h.next(ivLen); err != nil {
			return nil, err
		}
	}
	if hd.authTag, err = h.next(tagLen); err != nil {
		return nil, err
	}
	hd.body = h.buf[:bodyLen:bodyLen]
	return hd, nil
}

// marshalBody serializes a version 2 header body.
func (hd *Header) marshalBody() ([]byte, error) {
	ec, err := serializeContext(hd.EncryptionContext)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 256+len(ec))
	b = append(b, hd.Version)
	if hd.Version == 1 {
		b = append(b, typeCAED)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(hd.Suite))
	b = append(b, hd.MessageID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ec)))
	b = append(b, ec...)
	if len(hd.EncryptedDataKeys) == 0 || len(hd.EncryptedDataKeys) > 0xFFFF {
		return nil, fmt.Errorf("envelope: %d encrypted data keys, want 1 to 65535", len(hd.EncryptedDataKeys))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(hd.EncryptedDataKeys)))
	for _, e := range hd.EncryptedDataKeys {
		if len(e.ProviderID) > 0xFFFF || len(e.ProviderInfo) > 0xFFFF || len(e.Ciphertext) > 0xFFFF {
			return nil, errors.New("envelope: encrypted data key field longer than 65535 bytes")
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.ProviderID)))
		b = append(b, e.ProviderID...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.ProviderInfo)))
		b = append(b, e.ProviderInfo...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Ciphertext)))
		b = append(b, e.Ciphertext...)
	}
	if hd.Framed {
		b = append(b, framed)
	} else {
		b = append(b, nonFramed)
	}
	if hd.Version == 1 {
		b = append(b, 0, 0, 0, 0, ivLen)
	}
	b = binary.BigEndian.AppendUint32(b, hd.FrameLength)
	b = append(b, hd.CommitKey...)
	return b, nil
}

// serializeContext encodes an encryption context as the official SDKs do:
// empty for an empty context, else a 2-byte pair count and, sorted by key
// bytes, each key and value with a 2-byte length.
func serializeContext(ec map[string]string) ([]byte, error) {
	if len(ec) == 0 {
		return nil, nil
	}
	if len(ec) > 0xFFFF {
		return nil, errors.New("envelope: encryption context has too many pairs")
	}
	keys := slices.Sorted(maps.Keys(ec))
	size := 2
	for _, k := range keys {
		v := ec[k]
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, errors.New("envelope: encryption context is not valid UTF-8")
		}
		if len(k) > 0xFFFF || len(v) > 0xFFFF {
			return nil, errors.New("envelope: encryption context entry longer than 65535 bytes")
		}
		size += 4 + len(k) + len(v)
	}
	if size > 0xFFFF {
		return nil, errors.New("envelope: encryption context longer than 65535 bytes serialized")
	}
	b := make([]byte, 0, size)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ec)))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(ec[k])))
		b = append(b, ec[k]...)
	}
	return b, nil
}

// parseContext decodes the key-value pairs of a header AAD.
func parseContext(b []byte) (map[string]string, error) {
	ec := map[string]string{}
	if len(b) == 0 {
		return ec, nil
	}
	if len(b) < 2 {
		return nil, invalid("truncated encryption context")
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 {
		return nil, invalid("encryption context with zero pairs")
	}
	b = b[2:]
	str := func() (string, error) {
		if len(b) < 2 {
			return "", invalid("truncated encryption context")
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l {
			return "", invalid("truncated encryption context")
		}
		s := b[2 : 2+l]
		b = b[2+l:]
		if !utf8.Valid(s) {
			return "", invalid("encryption context is not UTF-8")
		}
		return string(s), nil
	}
	for range n {
		k, err := str()
		if err != nil {
			return nil, err
		}
		v, err := str()
		if err != nil {
			return nil, err
		}
		if _, dup := ec[k]; dup {
			return nil, invalid("duplicate encryption context key")
		}
		ec[k] = v
	}
	if len(b) != 0 {
		return nil, invalid("trailing bytes in encryption context")
	}
	return ec, nil
}
