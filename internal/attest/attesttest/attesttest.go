// Package attesttest makes AWS Nitro Enclaves attestation documents for
// tests: a P-384 root and leaf of the test's own, an enclave with an RSA key
// pair and PCRs, COSE_Sign1 documents signed as the Nitro hypervisor signs
// them, and Open, a small decoder of the CMS envelopes KMS answers with
// (independent of attest.Seal: it is the test's check of it).
package attesttest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// CA is a test root and the leaf that signs documents (cabundle: [root]).
type CA struct {
	Root, Leaf       *x509.Certificate
	rootKey, leafKey *ecdsa.PrivateKey
}

// NewCA makes a root valid for a day around now and a leaf valid from
// notBefore to notAfter.
func NewCA(t testing.TB, notBefore, notAfter time.Time) *CA {
	t.Helper()
	ca := &CA{rootKey: newP384(t), leafKey: newP384(t)}
	now := time.Now()
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test.nitro-enclaves"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	ca.Root = createCert(t, root, root, &ca.rootKey.PublicKey, ca.rootKey)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "i-0123456789abcdef0-enc0123456789abcdef.test"},
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature}
	ca.Leaf = createCert(t, leaf, ca.Root, &ca.leafKey.PublicKey, ca.rootKey)
	return ca
}

// WithLeafKeyUsage is ca with its leaf issued again (same key, subject and
// validity) with key usage ku.
func (ca *CA) WithLeafKeyUsage(t testing.TB, ku x509.KeyUsage) *CA {
	t.Helper()
	leaf := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: ca.Leaf.Subject, NotBefore: ca.Leaf.NotBefore,
		NotAfter: ca.Leaf.NotAfter, BasicConstraintsValid: true, KeyUsage: ku}
	c := *ca
	c.Leaf = createCert(t, leaf, ca.Root, &ca.leafKey.PublicKey, ca.rootKey)
	return &c
}

// NewValidCA is NewCA with a leaf valid for an hour around now.
func NewValidCA(t testing.TB) *CA {
	return NewCA(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func newP384(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func createCert(t testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, priv *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RootPEM is the root certificate in PEM.
func (ca *CA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw})
}

// WriteRoot writes RootPEM to a file in a test directory and returns its path.
func (ca *CA) WriteRoot(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "attestation-roots.pem")
	if err := os.WriteFile(p, ca.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Enclave is an enclave: its RSA key pair and measurements.
type Enclave struct {
	Key      *rsa.PrivateKey
	ModuleID string
	PCRs     map[int][]byte
}

// NewEnclave makes an enclave whose PCR0 (image digest) is 48 bytes of
// image, and PCR1..4 and 8 other fixed values.
func NewEnclave(t testing.TB, image byte) *Enclave {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pcrs := map[int][]byte{}
	for _, i := range []int{0, 1, 2, 3, 4, 8} {
		pcrs[i] = bytes.Repeat([]byte{byte(i)}, 48)
	}
	pcrs[0] = bytes.Repeat([]byte{image}, 48)
	return &Enclave{Key: k, ModuleID: "i-0123456789abcdef0-enc0123456789abcdef", PCRs: pcrs}
}

// KeyPEM is the enclave's private key in PKCS #8 PEM (for openssl).
func (e *Enclave) KeyPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Payload is the attestation document payload of e, as the NSM writes it.
func (ca *CA) Payload(t testing.TB, e *Enclave) map[string]any {
	t.Helper()
	pub, err := x509.MarshalPKIXPublicKey(&e.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"module_id": e.ModuleID, "digest": "SHA384", "timestamp": uint64(time.Now().UnixMilli()),
		"pcrs": e.PCRs, "certificate": ca.Leaf.Raw, "cabundle": [][]byte{ca.Root.Raw},
		"public_key": pub, "user_data": nil, "nonce": nil,
	}
}

// Document is e's attestation document signed by ca's leaf.
func (ca *CA) Document(t testing.TB, e *Enclave) []byte {
	t.Helper()
	return ca.Sign(t, ca.Payload(t, e))
}

// ES384 is the protected header of the NSM's documents, {1: -35}
// (algorithm ES384), encoded.
var ES384 = []byte{0xa1, 0x01, 0x38, 0x22}

// Sign encodes payload and signs it as a COSE_Sign1 with ca's leaf key.
func (ca *CA) Sign(t testing.TB, payload map[string]any) []byte {
	t.Helper()
	return Encode(t, ca.SignCOSE(t, ES384, map[any]any{}, Encode(t, payload)))
}

// SignCOSE returns the members of a COSE_Sign1, [protected, unprotected,
// payload, signature], whose signature is ca's leaf's ES384 signature of
// protected and payload, whatever they hold: protected and payload are the
// contents of their byte strings (an encoded header and payload, signed as
// they are), unprotected any value. For documents that are malformed but
// signed: a test may change the members (their number, their types) before
// it encodes them with Encode.
func (ca *CA) SignCOSE(t testing.TB, protected []byte, unprotected any, payload []byte) []any {
	t.Helper()
	return []any{protected, unprotected, payload, ca.signature(t, protected, payload)}
}

// Tampered is a document whose payload is payload changed by change after
// ca signed it as it was.
func (ca *CA) Tampered(t testing.TB, payload map[string]any, change func(map[string]any)) []byte {
	t.Helper()
	sig := ca.signature(t, ES384, Encode(t, payload))
	change(payload)
	return Encode(t, []any{ES384, map[any]any{}, Encode(t, payload), sig})
}

func (ca *CA) signature(t testing.TB, protected, payload []byte) []byte {
	t.Helper()
	h := sha512.Sum384(Encode(t, []any{"Signature1", protected, []byte{}, payload}))
	r, s, err := ecdsa.Sign(rand.Reader, ca.leafKey, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 96)
	r.FillBytes(sig[:48])
	s.FillBytes(sig[48:])
	return sig
}

// Encode is v in CBOR: []byte a byte string, string a text string, nil
// null, a slice of another type an array, a map a map (in the deterministic
// order of RFC 8949's core encoding).
func Encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := encMode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var encMode = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("attesttest: " + err.Error())
	}
	return m
}()

// Open decrypts a CiphertextForRecipient with the enclave's key:
// RSAES-OAEP-SHA-256 for the content key, AES-256-CBC for the content. It
// reads the envelope as the Nitro Enclaves SDK's
// aws_cms_parse_enveloped_data does, which takes the CMS EnvelopedData only
// in the BER layout of KMS's answers: the ContentInfo, its [0], the
// EnvelopedData and the EncryptedContentInfo of indefinite length (the SDK
// steps over their headers), the RecipientInfos SET and the algorithm
// identifiers of definite length, the encrypted content a constructed [0]
// of OCTET STRINGs or a primitive [0].
func (e *Enclave) Open(cms []byte) ([]byte, error) {
	b := cms
	var err error
	// open consumes the header of a constructed element of indefinite
	// length (tag 0x80), or the end-of-contents octets (00 00).
	open := func(want ...byte) {
		if err == nil && !bytes.HasPrefix(b, want) {
			err = fmt.Errorf("offset %d: % x, want % x", len(cms)-len(b), b[:min(len(b), len(want))], want)
		}
		if err == nil {
			b = b[len(want):]
		}
	}
	// next decodes one element of definite length.
	next := func(v any, params string) {
		if err == nil {
			b, err = asn1.UnmarshalWithParams(b, v, params)
		}
	}
	var (
		contentType, dataType asn1.ObjectIdentifier
		version               int
		recipients            []struct {
			Version      int
			RID          asn1.RawValue
			Alg          pkix.AlgorithmIdentifier
			EncryptedKey []byte
		}
		contentAlg pkix.AlgorithmIdentifier
		ct         []byte
	)
	open(0x30, 0x80) // ContentInfo
	next(&contentType, "")
	open(0xa0, 0x80, 0x30, 0x80) // [0] EXPLICIT EnvelopedData
	next(&version, "")
	next(&recipients, "set")
	open(0x30, 0x80) // EncryptedContentInfo
	next(&dataType, "")
	next(&contentAlg, "")
	if err == nil && len(b) > 0 && b[0] == 0x80 { // [0] IMPLICIT OCTET STRING, primitive
		next(&ct, "tag:0")
	} else {
		open(0xa0, 0x80)
		for err == nil && len(b) > 0 && b[0] == 0x04 {
			var part []byte
			next(&part, "")
			ct = append(ct, part...)
		}
		open(0, 0)
	}
	open(0, 0, 0, 0, 0, 0, 0, 0) // EncryptedContentInfo, EnvelopedData, [0], ContentInfo
	switch {
	case err != nil:
		return nil, err
	case len(b) != 0:
		return nil, errors.New("trailing data")
	case !contentType.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}):
		return nil, errors.New("not EnvelopedData")
	case version != 2 || len(recipients) != 1 || recipients[0].Version != 2:
		return nil, errors.New("versions or recipients not as the Nitro Enclaves SDK expects")
	case !recipients[0].Alg.Algorithm.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}):
		return nil, errors.New("key encryption is not RSAES-OAEP")
	case !dataType.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}):
		return nil, errors.New("content is not data")
	case !contentAlg.Algorithm.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}):
		return nil, errors.New("content encryption is not AES-256-CBC")
	}
	var iv []byte
	if _, err := asn1.Unmarshal(contentAlg.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
		return nil, errors.New("bad IV")
	}
	key, err := rsa.DecryptOAEP(sha256.New(), nil, e.Key, recipients[0].EncryptedKey, nil)
	if err != nil {
		return nil, err
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, errors.New("content is not whole blocks")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize || !bytes.Equal(pt[len(pt)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("bad padding")
	}
	return pt[:len(pt)-pad], nil
}
