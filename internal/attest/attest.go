// Package attest verifies AWS Nitro Enclaves attestation documents and
// encrypts secrets for the enclave that presented one: what AWS KMS does
// with the Recipient parameter of Decrypt, GenerateDataKey,
// GenerateDataKeyPair, GenerateRandom and DeriveSharedSecret.
//
// An attestation document is a COSE_Sign1 (RFC 9052) message, CBOR
// encoded, signed with ES384 by the leaf certificate it carries; the
// certificate chains through its cabundle to the AWS Nitro Enclaves root
// (https://docs.aws.amazon.com/enclaves/latest/user/verify-root.html). Its
// payload names the enclave (module_id), its measurements (pcrs), and the
// RSA public key (public_key) that KMS encrypts the response's secret
// under.
//
// The document comes from the network: Verify parses it within fixed
// bounds before any signature check, and FuzzVerify holds it to that.
package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// ErrInvalid is the error of every document Verify refuses; the wrapped
// text says why, for logs (the client gets one message).
var ErrInvalid = errors.New("attest: invalid attestation document")

// Bounds of a document's members, as AWS's attestation process defines
// them (aws-nitro-enclaves-nsm-api docs/attestation_process.md, "3.2
// Syntactical validation"), and of the document itself (RecipientInfo's
// AttestationDocument: at most 262144 bytes).
const (
	MaxDocument   = 262144
	maxCert       = 1024
	maxCABundle   = 32
	maxPublicKey  = 1024
	maxUserData   = 512
	maxNonce      = 512
	maxPCRs       = 32
	minRSABits    = 2048
	maxRSABits    = 4096
	coseAlgES384  = -35
	coseHeaderAlg = 1
)

// RootG1PEM is the AWS Nitro Enclaves root certificate (Root-G1, from
// AWS_NitroEnclaves_Root-G1.zip), whose SHA-256 fingerprint AWS publishes:
// 64:1A:03:21:A3:E2:44:EF:E4:56:46:31:95:D6:06:31:7E:D7:CD:CC:3C:17:56:E0:98:93:F3:C6:8F:79:BB:5B
// (RootG1SHA256; TestRootG1Fingerprint checks it).
const RootG1PEM = `-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
`

// RootG1SHA256 is the published SHA-256 fingerprint of RootG1PEM's DER.
const RootG1SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"

// Roots returns the trust anchors of attestation documents: the AWS Nitro
// Enclaves root, unless replace, plus the certificates of the PEM file at
// path ("" for none).
func Roots(path string, replace bool) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !replace {
		block, _ := pem.Decode([]byte(RootG1PEM))
		sum := sha256.Sum256(block.Bytes)
		if hex.EncodeToString(sum[:]) != RootG1SHA256 {
			panic("attest: the AWS Nitro Enclaves root does not have its published fingerprint")
		}
		root, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			panic("attest: " + err.Error())
		}
		pool.AddCert(root)
	}
	if path == "" {
		if replace {
			return nil, errors.New("attest: no root certificates: replacing the AWS root needs a file of roots")
		}
		return pool, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("attest: roots: %w", err)
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("attest: roots: %s has no PEM certificate", path)
	}
	return pool, nil
}

// Document is what a verified attestation document says.
type Document struct {
	ModuleID  string
	Timestamp time.Time
	// PCRs are the platform configuration registers by index.
	PCRs      map[int][]byte
	PublicKey *rsa.PublicKey
}

// PCRHex is PCR i in lower-case hexadecimal, as KMS's condition keys
// (kms:RecipientAttestation:ImageSha384 is PCR0) and CloudTrail write it;
// "" when the document has no PCR i.
func (d *Document) PCRHex(i int) string {
	if v, ok := d.PCRs[i]; ok {
		return hex.EncodeToString(v)
	}
	return ""
}

// coseSign1 is COSE_Sign1 = [protected: bstr, unprotected: map,
// payload: bstr, signature: bstr].
type coseSign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

// payload is the attestation document proper.
type payload struct {
	ModuleID    string         `cbor:"module_id"`
	Digest      string         `cbor:"digest"`
	Timestamp   uint64         `cbor:"timestamp"`
	PCRs        map[int][]byte `cbor:"pcrs"`
	Certificate []byte         `cbor:"certificate"`
	CABundle    [][]byte       `cbor:"cabundle"`
	PublicKey   []byte         `cbor:"public_key"`
	UserData    []byte         `cbor:"user_data"`
	Nonce       []byte         `cbor:"nonce"`
}

var decMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  4,
		MaxArrayElements: maxCABundle,
		MaxMapPairs:      maxPCRs,
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic("attest: " + err.Error())
	}
	return m
}()

var encMode = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("attest: " + err.Error())
	}
	return m
}()

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Verify parses doc, checks its ES384 signature with its certificate and
// that certificate's chain (through the document's cabundle) to roots at
// time now, and returns what it attests. Every refusal wraps ErrInvalid.
func Verify(doc []byte, roots *x509.CertPool, now time.Time) (*Document, error) {
	if len(doc) == 0 || len(doc) > MaxDocument {
		return nil, invalid("size %d", len(doc))
	}
	// The NSM writes an untagged COSE_Sign1; accept its tag (18) too.
	if doc[0] == 0xd2 {
		doc = doc[1:]
	}
	var msg coseSign1
	if err := decMode.Unmarshal(doc, &msg); err != nil {
		return nil, invalid("COSE_Sign1: %v", err)
	}
	var protected map[int]int
	if err := decMode.Unmarshal(msg.Protected, &protected); err != nil {
		return nil, invalid("protected header: %v", err)
	}
	if alg, ok := protected[coseHeaderAlg]; !ok || alg != coseAlgES384 {
		return nil, invalid("algorithm %d, not ES384", alg)
	}
	var p payload
	if err := decMode.Unmarshal(msg.Payload, &p); err != nil {
		return nil, invalid("payload: %v", err)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(p.Certificate)
	if err != nil {
		return nil, invalid("certificate: %v", err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P384() {
		return nil, invalid("the certificate's key is not ECDSA P-384")
	}
	inter := x509.NewCertPool()
	for i, der := range p.CABundle {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, invalid("cabundle[%d]: %v", i, err)
		}
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, invalid("certificate chain: %v", err)
	}
	if !slices.ContainsFunc(chains, keyUsagesOK) {
		return nil, invalid("certificate chain: key usage: no digitalSignature on the certificate, or no keyCertSign on a CA")
	}
	// Sig_structure = ["Signature1", protected, external_aad, payload].
	tbs, err := encMode.Marshal([]any{"Signature1", msg.Protected, []byte{}, msg.Payload})
	if err != nil {
		return nil, invalid("Sig_structure: %v", err)
	}
	if len(msg.Signature) != 96 {
		return nil, invalid("signature of %d bytes, not 96", len(msg.Signature))
	}
	h := sha512.Sum384(tbs)
	r, s := new(big.Int).SetBytes(msg.Signature[:48]), new(big.Int).SetBytes(msg.Signature[48:])
	if !ecdsa.Verify(pub, h[:], r, s) {
		return nil, invalid("bad signature")
	}
	rsaPub, err := parseRSA(p.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Document{ModuleID: p.ModuleID, Timestamp: time.UnixMilli(int64(p.Timestamp)).UTC(), PCRs: p.PCRs,
		PublicKey: rsaPub}, nil
}

// keyUsagesOK reports whether chain (leaf first, trust anchor last) has the
// key usages AWS's attestation process requires (3.2.3.3): digitalSignature
// on the leaf, keyCertSign on each CA certificate after it. crypto/x509
// checks basic constraints and path lengths but not key usage. The trust
// anchor is the operator's choice, as RFC 5280 6.1 has it: its key usage
// counts only when it has the extension (the AWS root has keyCertSign).
func keyUsagesOK(chain []*x509.Certificate) bool {
	if chain[0].KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return false
	}
	for i, c := range chain[1:] {
		anchor := i == len(chain)-2
		if c.KeyUsage&x509.KeyUsageCertSign == 0 && (!anchor || c.KeyUsage != 0) {
			return false
		}
	}
	return true
}

// check is the syntactical validation of AWS's attestation process.
func (p *payload) check() error {
	switch {
	case p.ModuleID == "":
		return invalid("no module_id")
	case p.Digest != "SHA384":
		return invalid("digest %q, not SHA384", p.Digest)
	case p.Timestamp == 0 || p.Timestamp > 1<<53:
		return invalid("timestamp %d", p.Timestamp)
	case len(p.PCRs) == 0 || len(p.PCRs) > maxPCRs:
		return invalid("%d PCRs", len(p.PCRs))
	case len(p.Certificate) == 0 || len(p.Certificate) > maxCert:
		return invalid("certificate of %d bytes", len(p.Certificate))
	case len(p.CABundle) == 0 || len(p.CABundle) > maxCABundle:
		return invalid("cabundle of %d certificates", len(p.CABundle))
	case len(p.PublicKey) == 0 || len(p.PublicKey) > maxPublicKey:
		return invalid("public_key of %d bytes", len(p.PublicKey))
	case len(p.UserData) > maxUserData:
		return invalid("user_data of %d bytes", len(p.UserData))
	case len(p.Nonce) > maxNonce:
		return invalid("nonce of %d bytes", len(p.Nonce))
	}
	for i, v := range p.PCRs {
		if i < 0 || i >= maxPCRs {
			return invalid("PCR index %d", i)
		}
		if n := len(v); n != 32 && n != 48 && n != 64 {
			return invalid("PCR%d of %d bytes", i, n)
		}
	}
	for i, c := range p.CABundle {
		if len(c) == 0 || len(c) > maxCert {
			return invalid("cabundle[%d] of %d bytes", i, len(c))
		}
	}
	return nil
}

// parseRSA reads the enclave's public key: DER SubjectPublicKeyInfo (or
// PKCS #1), RSA of 2048 to 4096 bits.
func parseRSA(der []byte) (*rsa.PublicKey, error) {
	var pub *rsa.PublicKey
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		var ok bool
		if pub, ok = k.(*rsa.PublicKey); !ok {
			return nil, invalid("public_key is not RSA")
		}
	} else if pub, err = x509.ParsePKCS1PublicKey(der); err != nil {
		return nil, invalid("public_key: not a DER RSA public key")
	}
	if n := pub.N.BitLen(); n < minRSABits || n > maxRSABits {
		return nil, invalid("public_key of %d bits", n)
	}
	return pub, nil
}
