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
// bounds before any signature check, and FuzzVerify holds it to that. It
// takes only what AWS's NSM writes: the COSE_Sign1 array of four, the
// protected header {1: -35}, an empty unprotected header, and a payload of
// the nine members that AWS's attestation process lists, each of its CBOR
// type. The payload map is of definite or indefinite length (the NSM
// writes both: documents of 2025 on are an indefinite-length map); nothing
// else in a document may be of indefinite length.
package attest

import (
	"bytes"
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
// payload: bstr, signature: bstr]. Its members are read raw and their CBOR
// types checked (bstr): the decoder would read an array of small integers
// into a []byte.
type coseSign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   cbor.RawMessage
	Unprotected cbor.RawMessage
	Payload     cbor.RawMessage
	Signature   cbor.RawMessage
}

// The NSM's headers: protected {1: -35} (ES384) in its one shortest
// encoding, unprotected {} (attestation_process.md, 3.1).
var (
	protectedES384   = []byte{0xa1, 0x01, 0x38, 0x22}
	unprotectedEmpty = []byte{0xa0}
)

// CBOR major types (RFC 8949, 3.1) and null.
const (
	cborUint  = 0
	cborBytes = 2
	cborText  = 3
	cborArray = 4
	cborMap   = 5
	cborNull  = 0xf6
)

// payload is the attestation document proper.
type payload struct {
	ModuleID    string
	Digest      string
	Timestamp   uint64
	PCRs        map[int][]byte
	Certificate []byte
	CABundle    [][]byte
	PublicKey   []byte
	UserData    []byte
	Nonce       []byte
}

// payloadFields are the members of an attestation document, all of them
// (attestation_process.md, 3.2.2.1): the first six mandatory, the others
// optional (absent or, as the NSM writes them, null).
var payloadFields = [...]string{"module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle",
	"public_key", "user_data", "nonce"}

// decMode decodes a document's parts: of definite length only.
// payloadMode decodes the payload's map alone, whose members parsePayload
// then decodes with decMode: the NSM writes that map of definite or of
// indefinite length (0xbf, documents of 2025 on), nothing else.
var decMode, payloadMode = newDecMode(cbor.IndefLengthForbidden), newDecMode(cbor.IndefLengthAllowed)

func newDecMode(indef cbor.IndefLengthMode) cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      indef,
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
}

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

// MaxClockSkew is how far ahead of the verifier's clock a document's
// timestamp may be (the NSM's clock and ours differ). It is our rule: AWS
// does not document how fresh KMS wants a document.
const MaxClockSkew = 5 * time.Minute

// Verify parses doc, checks its ES384 signature with its certificate and
// that certificate's chain (through the document's cabundle) to roots at
// time now, checks that its timestamp is within the certificate's validity
// and at most MaxClockSkew ahead of now, and returns what it attests. Every
// refusal wraps ErrInvalid.
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
	protected, err := bstr(msg.Protected, "protected header")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(protected, protectedES384) {
		return nil, invalid("protected header h'%x', not {1: -35} (ES384)", protected)
	}
	if !bytes.Equal(msg.Unprotected, unprotectedEmpty) {
		return nil, invalid("unprotected header %x, not {}", []byte(msg.Unprotected))
	}
	body, err := bstr(msg.Payload, "payload")
	if err != nil {
		return nil, err
	}
	signature, err := bstr(msg.Signature, "signature")
	if err != nil {
		return nil, err
	}
	p, err := parsePayload(body)
	if err != nil {
		return nil, err
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
	ts := time.UnixMilli(int64(p.Timestamp)).UTC()
	switch {
	case ts.Before(leaf.NotBefore) || ts.After(leaf.NotAfter):
		return nil, invalid("timestamp %v outside the certificate's validity (%v to %v)", ts, leaf.NotBefore, leaf.NotAfter)
	case ts.After(now.Add(MaxClockSkew)):
		return nil, invalid("timestamp %v ahead of the clock (%v) by more than %v", ts, now.UTC(), MaxClockSkew)
	}
	// Sig_structure = ["Signature1", protected, external_aad, payload].
	tbs, err := encMode.Marshal([]any{"Signature1", protected, []byte{}, body})
	if err != nil {
		return nil, invalid("Sig_structure: %v", err)
	}
	if len(signature) != 96 {
		return nil, invalid("signature of %d bytes, not 96", len(signature))
	}
	h := sha512.Sum384(tbs)
	r, s := new(big.Int).SetBytes(signature[:48]), new(big.Int).SetBytes(signature[48:])
	if !ecdsa.Verify(pub, h[:], r, s) {
		return nil, invalid("bad signature")
	}
	rsaPub, err := parseRSA(p.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Document{ModuleID: p.ModuleID, Timestamp: ts, PCRs: p.PCRs,
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

// bstr returns the contents of raw, a CBOR byte string.
func bstr(raw cbor.RawMessage, name string) ([]byte, error) {
	if len(raw) == 0 || raw[0]>>5 != cborBytes {
		return nil, invalid("%s is not a byte string", name)
	}
	var b []byte
	if err := decMode.Unmarshal(raw, &b); err != nil {
		return nil, invalid("%s: %v", name, err)
	}
	return b, nil
}

// parsePayload reads an attestation document's payload as AWS's
// attestation process specifies it (3.2.2.1, and the CBOR types of 3.2.2.2):
// a map of the nine payloadFields, no other; the mandatory ones not null;
// each member of its one CBOR type, checked before it is decoded, since
// the decoder is lenient (an array of small integers into a []byte, a
// field name in another case into a struct field). check then checks the
// values.
func parsePayload(body []byte) (*payload, error) {
	if len(body) == 0 || body[0]>>5 != cborMap {
		return nil, invalid("payload is not a map")
	}
	var m map[string]cbor.RawMessage
	if err := payloadMode.Unmarshal(body, &m); err != nil {
		return nil, invalid("payload: %v", err)
	}
	for name := range m {
		if !slices.Contains(payloadFields[:], name) {
			return nil, invalid("payload member %q", name)
		}
	}
	var p payload
	var pcrs map[int]cbor.RawMessage
	var cabundle []cbor.RawMessage
	for _, f := range []struct {
		name     string
		major    byte
		optional bool
		v        any
	}{
		{"module_id", cborText, false, &p.ModuleID},
		{"digest", cborText, false, &p.Digest},
		{"timestamp", cborUint, false, &p.Timestamp},
		{"pcrs", cborMap, false, &pcrs},
		{"certificate", cborBytes, false, &p.Certificate},
		{"cabundle", cborArray, false, &cabundle},
		{"public_key", cborBytes, true, &p.PublicKey},
		{"user_data", cborBytes, true, &p.UserData},
		{"nonce", cborBytes, true, &p.Nonce},
	} {
		raw, ok := m[f.name]
		switch {
		case (!ok || bytes.Equal(raw, []byte{cborNull})) && f.optional:
			continue
		case !ok:
			return nil, invalid("no %s", f.name)
		case raw[0]>>5 != f.major:
			return nil, invalid("%s of CBOR type %d, not %d", f.name, raw[0]>>5, f.major)
		}
		if err := decMode.Unmarshal(raw, f.v); err != nil {
			return nil, invalid("%s: %v", f.name, err)
		}
	}
	p.PCRs = make(map[int][]byte, len(pcrs))
	for i, raw := range pcrs {
		v, err := bstr(raw, fmt.Sprintf("PCR%d", i))
		if err != nil {
			return nil, err
		}
		p.PCRs[i] = v
	}
	for i, raw := range cabundle {
		c, err := bstr(raw, fmt.Sprintf("cabundle[%d]", i))
		if err != nil {
			return nil, err
		}
		p.CABundle = append(p.CABundle, c)
	}
	return &p, nil
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
