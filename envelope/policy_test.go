package envelope

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"testing/iotest"
)

// encryptV1 writes a version 1 message of a non-committing suite, as the
// official SDKs did before key commitment (the package itself never does).
func encryptV1(t *testing.T, kr Keyring, s Suite, pt []byte, fs int, ec map[string]string) []byte {
	t.Helper()
	p := suiteParams(s)
	m, sign, err := newEncryptionMaterials(context.Background(), kr, p, ec)
	if err != nil {
		t.Fatal(err)
	}
	hd := &Header{Version: 1, Suite: s, MessageID: make([]byte, 16), EncryptionContext: m.EncryptionContext,
		EncryptedDataKeys: m.EncryptedDataKeys, Framed: true, FrameLength: uint32(fs)}
	rand.Read(hd.MessageID)
	key, _, err := deriveKeys(p, m.DataKey, hd.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := newGCM(key)
	if err != nil {
		t.Fatal(err)
	}
	body, err := hd.marshalBody()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := &writer{dst: &buf, aead: aead, frameSize: fs, frame: make([]byte, finalHdrLen+fs+tagLen), sign: sign}
	if sign != nil {
		w.hash = newPipeHash(p.sigHash)
	}
	w.aad = append(w.aad, hd.MessageID...)
	w.aadPrefix = len(w.aad)
	zero := make([]byte, ivLen)
	w.emit(body)
	w.emit(zero)
	w.emit(aead.Seal(nil, zero, nil, body))
	w.Write(pt)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCommitmentPolicyMatrix(t *testing.T) {
	kr := mustRawAES(t, "k1")
	pt := pattern(1000)
	ec := map[string]string{"purpose": "policy"}
	msgs := map[Suite][]byte{}
	for _, s := range bothSuites {
		msgs[s] = mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, FrameSize: 300, EncryptionContext: ec})
	}
	v1 := []Suite{0x0378, 0x0346, 0x0214, 0x0178, 0x0146, 0x0114, 0x0078, 0x0046, 0x0014}
	for _, s := range v1 {
		msgs[s] = encryptV1(t, kr, s, pt, 300, ec)
	}
	for s, msg := range msgs {
		for _, policy := range []CommitmentPolicy{RequireEncryptRequireDecrypt, RequireEncryptAllowDecrypt} {
			got, err := decryptAll(kr, msg, &DecryptOptions{CommitmentPolicy: policy})
			wantOK := s.Committing() || policy == RequireEncryptAllowDecrypt
			switch {
			case wantOK && (err != nil || !bytes.Equal(got, pt)):
				t.Errorf("%v under %v: err = %v", s, policy, err)
			case !wantOK && !errors.Is(err, ErrCommitmentPolicy):
				t.Errorf("%v under %v: err = %v, want ErrCommitmentPolicy", s, policy, err)
			}
		}
	}
	// Tampering with a v1 message is detected too.
	bad := bytes.Clone(msgs[0x0378])
	bad[len(bad)-30] ^= 1
	if _, err := decryptAll(kr, bad, &DecryptOptions{CommitmentPolicy: RequireEncryptAllowDecrypt}); err == nil {
		t.Error("tampered v1 message accepted")
	}
}

func TestMaxEncryptedDataKeys(t *testing.T) {
	a, b, c := mustRawAES(t, "a"), mustRawAES(t, "b"), mustRawAES(t, "c")
	multi := NewMultiKeyring(a, b, c)
	ctx := context.Background()
	if _, err := Encrypt(ctx, &bytes.Buffer{}, multi, &EncryptOptions{MaxEncryptedDataKeys: 2}); !errors.Is(err, ErrTooManyEncryptedDataKeys) {
		t.Errorf("Encrypt with 3 keys, limit 2: err = %v", err)
	}
	msg := mustEncrypt(t, multi, []byte("x"), &EncryptOptions{MaxEncryptedDataKeys: 3})
	if _, err := decryptAll(c, msg, &DecryptOptions{MaxEncryptedDataKeys: 2}); !errors.Is(err, ErrTooManyEncryptedDataKeys) {
		t.Errorf("Decrypt with 3 keys, limit 2: err = %v", err)
	}
	if _, err := decryptAll(c, msg, &DecryptOptions{MaxEncryptedDataKeys: 3}); err != nil {
		t.Errorf("Decrypt with 3 keys, limit 3: err = %v", err)
	}
}

func TestRawAESAndMultiKeyring(t *testing.T) {
	a, b := mustRawAES(t, "a"), mustRawAES(t, "b")
	stranger := mustRawAES(t, "a") // same name, other key
	ec := map[string]string{"tenant": "42"}
	msg := mustEncrypt(t, NewMultiKeyring(a, b), []byte("secret"), &EncryptOptions{EncryptionContext: ec})
	for name, kr := range map[string]Keyring{"a": a, "b": b, "multi(stranger,b)": NewMultiKeyring(stranger, b)} {
		if got, err := decryptAll(kr, msg, nil); err != nil || string(got) != "secret" {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
	if _, err := decryptAll(stranger, msg, nil); !errors.Is(err, ErrNoDecryptableKey) {
		t.Errorf("stranger: err = %v, want ErrNoDecryptableKey", err)
	}
	if _, err := decryptAll(a, msg, &DecryptOptions{EncryptionContext: map[string]string{"tenant": "43"}}); !errors.Is(err, ErrContextMismatch) {
		t.Errorf("wrong required context: err = %v, want ErrContextMismatch", err)
	}
	if _, err := decryptAll(a, msg, &DecryptOptions{EncryptionContext: map[string]string{"other": "x"}}); !errors.Is(err, ErrContextMismatch) {
		t.Errorf("missing required context: err = %v, want ErrContextMismatch", err)
	}
	if _, err := decryptAll(a, msg, &DecryptOptions{EncryptionContext: ec}); err != nil {
		t.Errorf("matching required context: err = %v", err)
	}
	if _, err := NewRawAESKeyring("aws-kms", "x", make([]byte, 32)); err == nil {
		t.Error("namespace aws-kms accepted")
	}
	if _, err := NewRawAESKeyring("ns", "x", make([]byte, 31)); err == nil {
		t.Error("31-byte key accepted")
	}
	for _, n := range []int{16, 24} {
		key := make([]byte, n)
		rand.Read(key)
		kr, err := NewRawAESKeyring("ns", "x", key)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := decryptAll(kr, mustEncrypt(t, kr, []byte("k"), nil), nil); err != nil || string(got) != "k" {
			t.Errorf("AES-%d wrapping key: %q, %v", n*8, got, err)
		}
	}
}

// TestRawAESProviderInfo checks the provider info layout of the official raw
// AES keyrings: key name, tag length in bits, IV length, IV.
func TestRawAESProviderInfo(t *testing.T) {
	kr := mustRawAES(t, "my-key")
	m := &EncryptionMaterials{Suite: DefaultSuite, EncryptionContext: map[string]string{"a": "b"}}
	if err := kr.OnEncrypt(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	e := m.EncryptedDataKeys[0]
	if e.ProviderID != "trent-test" || len(e.ProviderInfo) != len("my-key")+8+12 ||
		!bytes.Equal(e.ProviderInfo[:len("my-key")+8], append([]byte("my-key"), 0, 0, 0, 128, 0, 0, 0, 12)) ||
		len(e.Ciphertext) != 32+16 {
		t.Errorf("EDK = %q %x (%d-byte ciphertext)", e.ProviderID, e.ProviderInfo, len(e.Ciphertext))
	}
}

func TestDecryptChecks(t *testing.T) {
	kr := mustRawAES(t, "k1")
	msg := mustEncrypt(t, kr, pattern(5000), &EncryptOptions{Suite: SuiteAES256GCMHKDFSHA512CommitKey, FrameSize: 4096})
	if _, err := decryptAll(kr, msg, &DecryptOptions{MaxFrameSize: 4095}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("frame length above MaxFrameSize: err = %v, want ErrUnsupported", err)
	}
	if _, err := decryptAll(kr, msg, &DecryptOptions{MaxFrameSize: 4096}); err != nil {
		t.Errorf("frame length at MaxFrameSize: err = %v", err)
	}
	// An unsigned message must not carry a verification key, and a signed
	// one must (the header tag is valid: the writer put them there).
	withKey := encryptWithRawContext(t, kr, SuiteAES256GCMHKDFSHA512CommitKey, map[string]string{publicKeyContextKey: "AAAA"})
	if _, err := decryptAll(kr, withKey, nil); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("unsigned suite with a public key: err = %v, want ErrInvalidMessage", err)
	}
	withoutKey := encryptWithRawContext(t, kr, SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384, map[string]string{"a": "b"})
	if _, err := decryptAll(kr, withoutKey, nil); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("signed suite without a public key: err = %v, want ErrInvalidMessage", err)
	}
	// Frame size 1.
	one := mustEncrypt(t, kr, []byte("0123456789"), &EncryptOptions{FrameSize: 1})
	if got, err := decryptAll(kr, one, nil); err != nil || string(got) != "0123456789" {
		t.Errorf("frame size 1: %q, %v", got, err)
	}
}

// encryptWithRawContext writes a v2 message whose header carries exactly ec
// (bypassing the reserved-key checks of Encrypt).
func encryptWithRawContext(t *testing.T, kr Keyring, s Suite, ec map[string]string) []byte {
	t.Helper()
	p := suiteParams(s)
	m := &EncryptionMaterials{Suite: s, EncryptionContext: ec}
	if err := kr.OnEncrypt(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	hd := &Header{Version: 2, Suite: s, MessageID: make([]byte, 32), EncryptionContext: ec,
		EncryptedDataKeys: m.EncryptedDataKeys, Framed: true, FrameLength: 100}
	rand.Read(hd.MessageID)
	key, commit, _ := deriveKeys(p, m.DataKey, hd.MessageID)
	hd.CommitKey = commit
	aead, _ := newGCM(key)
	body, err := hd.marshalBody()
	if err != nil {
		t.Fatal(err)
	}
	return append(body, aead.Seal(nil, make([]byte, 12), nil, body)...)
}

func TestNames(t *testing.T) {
	for s, want := range map[Suite]string{
		0x0578: "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
		0x0478: "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
		0x0014: "ALG_AES_128_GCM_IV12_TAG16_NO_KDF",
		0x9999: "Suite(0x9999)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Suite(%#x).String() = %q, want %q", uint16(s), got, want)
		}
	}
	if !DefaultSuite.Signed() || !DefaultSuite.Committing() || SuiteAES256GCMHKDFSHA512CommitKey.Signed() || Suite(0x0378).Committing() {
		t.Error("Signed/Committing wrong")
	}
	if RequireEncryptAllowDecrypt.String() != "REQUIRE_ENCRYPT_ALLOW_DECRYPT" || RequireEncryptRequireDecrypt.String() != "REQUIRE_ENCRYPT_REQUIRE_DECRYPT" {
		t.Error("CommitmentPolicy.String wrong")
	}
}

// TestDecryptUnsigned checks the option the specification requires ("fail
// immediately after parsing the header if a signed algorithm suite is
// used"): signed messages fail before any key is unwrapped, unsigned ones
// decrypt.
func TestDecryptUnsigned(t *testing.T) {
	kr := mustRawAES(t, "k1")
	pt := pattern(1000)
	for _, s := range bothSuites {
		msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, FrameSize: 300})
		cr := &countingKeyring{Keyring: kr}
		got, err := decryptAll(cr, msg, &DecryptOptions{Unsigned: true})
		if s.Signed() {
			if !errors.Is(err, ErrUnsupported) || cr.decrypts != 0 {
				t.Errorf("%v: err = %v after %d unwraps, want ErrUnsupported before any", s, err, cr.decrypts)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%v: %v", s, err)
		}
	}
}

// countingKeyring counts the unwraps of the keyring it wraps.
type countingKeyring struct {
	Keyring
	decrypts int
}

func (c *countingKeyring) OnDecrypt(ctx context.Context, m *DecryptionMaterials, edks []EncryptedDataKey) error {
	c.decrypts++
	return c.Keyring.OnDecrypt(ctx, m, edks)
}

// encryptNonFramed writes a message with a non-framed body, as old SDKs
// could (the package itself never does).
func encryptNonFramed(t *testing.T, kr Keyring, s Suite, pt []byte) []byte {
	t.Helper()
	p := suiteParams(s)
	m, sign, err := newEncryptionMaterials(context.Background(), kr, p, map[string]string{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	hd := &Header{Version: p.version, Suite: s, MessageID: make([]byte, p.msgIDLen), EncryptionContext: m.EncryptionContext,
		EncryptedDataKeys: m.EncryptedDataKeys}
	rand.Read(hd.MessageID)
	key, commit, err := deriveKeys(p, m.DataKey, hd.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	hd.CommitKey = commit
	aead, _ := newGCM(key)
	body, err := hd.marshalBody()
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, ivLen)
	msg := bytes.Clone(body)
	if p.version == 1 {
		msg = append(msg, iv...)
	}
	msg = aead.Seal(msg, iv, nil, body)
	iv[ivLen-1] = 1
	aad := binary.BigEndian.AppendUint32(append(bytes.Clone(hd.MessageID), aadSingleBlock...), 1)
	aad = binary.BigEndian.AppendUint64(aad, uint64(len(pt)))
	msg = binary.BigEndian.AppendUint64(append(msg, iv...), uint64(len(pt)))
	msg = aead.Seal(msg, iv, pt, aad)
	if sign != nil {
		h := p.sigHash.New()
		h.Write(msg)
		sig, err := ecdsa.SignASN1(rand.Reader, sign, h.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		msg = binary.BigEndian.AppendUint16(msg, uint16(len(sig)))
		msg = append(msg, sig...)
	}
	return msg
}

// TestNonFramed checks that non-framed bodies, which the specification has
// Decrypt read, are read: authenticated whole, within MaxFrameSize and the
// format's 2^36-32 bytes, before any plaintext is released.
func TestNonFramed(t *testing.T) {
	kr := mustRawAES(t, "k1")
	pt := pattern(5000)
	allow := &DecryptOptions{CommitmentPolicy: RequireEncryptAllowDecrypt}
	for _, s := range append([]Suite{SuiteAES256GCMIV12Tag16HKDFSHA256, SuiteAES128GCMIV12Tag16HKDFSHA256ECDSAP256}, bothSuites...) {
		msg := encryptNonFramed(t, kr, s, pt)
		got, err := decryptAll(kr, msg, allow)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%v: %d bytes, %v", s, len(got), err)
		}
		r, err := Decrypt(context.Background(), iotest.OneByteReader(bytes.NewReader(msg)), kr, allow)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%v one byte at a time: %v", s, err)
		}
		if r.Header().Framed || r.Header().FrameLength != 0 {
			t.Errorf("%v: header says framed", s)
		}
		for i := len(msg) - 1; i > len(msg)-200; i -= 37 {
			b := bytes.Clone(msg)
			b[i] ^= 1
			if got, err := decryptAll(kr, b, allow); !errors.Is(err, ErrInvalidMessage) || len(got) != 0 {
				t.Errorf("%v: byte %d flipped: %d bytes released, err = %v", s, i, len(got), err)
			}
		}
		if _, err := decryptAll(kr, msg[:len(msg)-1], allow); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%v: truncated: err = %v", s, err)
		}
		if _, err := decryptAll(kr, append(bytes.Clone(msg), 0), allow); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%v: trailing byte: err = %v", s, err)
		}
		if _, err := decryptAll(kr, msg, &DecryptOptions{CommitmentPolicy: RequireEncryptAllowDecrypt, MaxFrameSize: len(pt) - 1}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v: body over MaxFrameSize: err = %v, want ErrUnsupported", s, err)
		}
	}
	// A content length over 2^36-32 is malformed, whatever the limit.
	msg := encryptNonFramed(t, kr, SuiteAES256GCMHKDFSHA512CommitKey, pt)
	hd, err := ParseHeader(bytes.NewReader(msg), 0)
	if err != nil {
		t.Fatal(err)
	}
	off := len(hd.body) + tagLen + ivLen
	binary.BigEndian.PutUint64(msg[off:], 1<<36-31)
	if _, err := decryptAll(kr, msg, &DecryptOptions{MaxFrameSize: math.MaxInt}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("content over 2^36-32: err = %v, want ErrInvalidMessage", err)
	}
}
