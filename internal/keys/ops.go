package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"hash"
	"slices"

	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/secret"
)

// Message types of Sign and Verify.
const (
	MessageRaw        = "RAW"
	MessageDigest     = "DIGEST"
	MessageExternalMu = "EXTERNAL_MU"
)

type scheme int

const (
	schemePKCS1 scheme = iota + 1
	schemePSS
	schemeECDSA
	schemeEd25519
	schemeEd25519ph
	schemeMLDSA
)

// signingAlgs are the signing algorithms: the hash (of RAW messages, and
// the length of DIGEST ones) and the scheme.
var signingAlgs = map[string]struct {
	hash   crypto.Hash
	scheme scheme
}{
	"RSASSA_PKCS1_V1_5_SHA_256": {crypto.SHA256, schemePKCS1},
	"RSASSA_PKCS1_V1_5_SHA_384": {crypto.SHA384, schemePKCS1},
	"RSASSA_PKCS1_V1_5_SHA_512": {crypto.SHA512, schemePKCS1},
	"RSASSA_PSS_SHA_256":        {crypto.SHA256, schemePSS},
	"RSASSA_PSS_SHA_384":        {crypto.SHA384, schemePSS},
	"RSASSA_PSS_SHA_512":        {crypto.SHA512, schemePSS},
	"ECDSA_SHA_256":             {crypto.SHA256, schemeECDSA},
	"ECDSA_SHA_384":             {crypto.SHA384, schemeECDSA},
	"ECDSA_SHA_512":             {crypto.SHA512, schemeECDSA},
	"ED25519_SHA_512":           {crypto.SHA512, schemeEd25519},
	"ED25519_PH_SHA_512":        {crypto.SHA512, schemeEd25519ph},
	"ML_DSA_SHAKE_256":          {0, schemeMLDSA},
}

var oaepHashes = map[string]func() hash.Hash{
	"RSAES_OAEP_SHA_1":   sha1.New,
	"RSAES_OAEP_SHA_256": sha256.New,
}

var macHashes = map[string]func() hash.Hash{
	"HMAC_SHA_224": sha256.New224,
	"HMAC_SHA_256": sha256.New,
	"HMAC_SHA_384": sha512.New384,
	"HMAC_SHA_512": sha512.New,
}

// checkAlgorithm: alg must be one of the spec's algorithms for its usage.
func (v *Version) checkAlgorithm(list []string, alg string) error {
	if !slices.Contains(list, alg) {
		return kmserr.ErrInvalidKeyUsage.With("Algorithm %s is incompatible with key spec %s.", alg, v.Spec)
	}
	return nil
}

// PublicKey returns the DER SubjectPublicKeyInfo of an asymmetric version
// (nil for symmetric and HMAC keys).
func (v *Version) PublicKey() []byte {
	if v.priv == nil {
		return nil
	}
	return v.priv.public
}

// toBeSigned returns what the scheme signs: the digest for hash-then-sign
// schemes, the message for Ed25519 and ML-DSA.
func (v *Version) toBeSigned(alg, messageType string, msg []byte) (scheme, crypto.Hash, []byte, error) {
	if err := v.checkAlgorithm(v.Spec.Algorithms(SignVerify).Signing, alg); err != nil {
		return 0, 0, nil, err
	}
	a := signingAlgs[alg]
	if messageType == "" {
		messageType = MessageRaw
	}
	switch a.scheme {
	case schemeMLDSA:
		switch messageType {
		case MessageRaw:
			return a.scheme, 0, msg, nil
		case MessageExternalMu:
			return 0, 0, nil, kmserr.ErrUnsupportedOperation.With("MessageType EXTERNAL_MU is not supported by this server.")
		}
		return 0, 0, nil, v.errMessageType(messageType)
	case schemeEd25519:
		if messageType != MessageRaw {
			return 0, 0, nil, errAlgMessageType(alg, messageType)
		}
		return a.scheme, 0, msg, nil
	case schemeEd25519ph:
		if messageType != MessageDigest {
			return 0, 0, nil, errAlgMessageType(alg, messageType)
		}
		if len(msg) != a.hash.Size() {
			return 0, 0, nil, kmserr.ErrValidation.With("Digest is invalid length for algorithm %s.", alg)
		}
		// KMS applies the SHA-512 prehash of Ed25519ph to the digest given.
		d := sha512.Sum512(msg)
		return a.scheme, a.hash, d[:], nil
	}
	switch messageType {
	case MessageRaw:
		h := a.hash.New()
		h.Write(msg)
		return a.scheme, a.hash, h.Sum(nil), nil
	case MessageDigest:
		if len(msg) != a.hash.Size() {
			return 0, 0, nil, kmserr.ErrValidation.With("Digest is invalid length for algorithm %s.", alg)
		}
		return a.scheme, a.hash, msg, nil
	}
	return 0, 0, nil, v.errMessageType(messageType)
}

// errMessageType is AWS's answer to a message type the key cannot sign
// (recorded for ML-DSA and DIGEST; used for the specs of no other record).
func (v *Version) errMessageType(mt string) error {
	return kmserr.ErrValidation.With("Message type %s is incompatible with key spec %s.", mt, v.Spec)
}

// errAlgMessageType is AWS's answer to a message type an Ed25519 algorithm
// does not take (recorded for DIGEST with ED25519_SHA_512 and RAW with
// ED25519_PH_SHA_512): it names the algorithm, not the key spec.
func errAlgMessageType(alg, mt string) error {
	return kmserr.ErrValidation.With("Message type %s is incompatible with algorithm %s.", mt, alg)
}

// CheckSign runs every check of Sign and Verify (algorithm, message type,
// digest length) without signing (for DryRun).
func (v *Version) CheckSign(alg, messageType string, msg []byte) error {
	if v.priv == nil {
		return kmserr.ErrInvalidKeyUsage.With("Algorithm %s is incompatible with key spec %s.", alg, v.Spec)
	}
	_, _, _, err := v.toBeSigned(alg, messageType, msg)
	return err
}

// Sign signs msg (a message, or a digest when messageType is DIGEST) with
// alg, which must be a signing algorithm of the version's spec. ECDSA
// signatures are DER (RFC 3279), RSA ones PKCS #1 (PSS with a salt as long
// as the digest), Ed25519 and ML-DSA ones raw.
func (v *Version) Sign(alg, messageType string, msg []byte) ([]byte, error) {
	if v.priv == nil {
		return nil, kmserr.ErrInvalidKeyUsage.With("Algorithm %s is incompatible with key spec %s.", alg, v.Spec)
	}
	sch, h, tbs, err := v.toBeSigned(alg, messageType, msg)
	if err != nil {
		return nil, err
	}
	p := v.priv
	switch sch {
	case schemePKCS1:
		return rsa.SignPKCS1v15(nil, p.rsa, h, tbs)
	case schemePSS:
		return rsa.SignPSS(rand.Reader, p.rsa, h, tbs, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case schemeECDSA:
		if p.k256 != nil {
			return secpecdsa.Sign(p.k256, tbs).Serialize(), nil
		}
		return ecdsa.SignASN1(rand.Reader, p.ec, tbs)
	case schemeEd25519:
		return ed25519.Sign(p.ed25519, tbs), nil
	case schemeEd25519ph:
		return p.ed25519.Sign(nil, tbs, &ed25519.Options{Hash: crypto.SHA512})
	case schemeMLDSA:
		return p.mldsa.sign(tbs), nil
	}
	return nil, kmserr.ErrInternal
}

// Verify checks sig over msg; a signature that does not verify is
// KMSInvalidSignatureException (never a false result).
func (v *Version) Verify(alg, messageType string, msg, sig []byte) error {
	if v.priv == nil {
		return kmserr.ErrInvalidKeyUsage.With("Algorithm %s is incompatible with key spec %s.", alg, v.Spec)
	}
	sch, h, tbs, err := v.toBeSigned(alg, messageType, msg)
	if err != nil {
		return err
	}
	p := v.priv
	ok := false
	switch sch {
	case schemePKCS1:
		ok = rsa.VerifyPKCS1v15(&p.rsa.PublicKey, h, tbs, sig) == nil
	case schemePSS:
		ok = rsa.VerifyPSS(&p.rsa.PublicKey, h, tbs, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case schemeECDSA:
		if p.k256Pub != nil {
			s, err := secpecdsa.ParseDERSignature(sig)
			ok = err == nil && s.Verify(tbs, p.k256Pub)
		} else {
			ok = ecdsa.VerifyASN1(&p.ec.PublicKey, tbs, sig)
		}
	case schemeEd25519:
		ok = ed25519.Verify(p.ed25519.Public().(ed25519.PublicKey), tbs, sig)
	case schemeEd25519ph:
		ok = ed25519.VerifyWithOptions(p.ed25519.Public().(ed25519.PublicKey), tbs, sig, &ed25519.Options{Hash: crypto.SHA512}) == nil
	case schemeMLDSA:
		ok = p.mldsa.verify(tbs, sig)
	}
	if !ok {
		return kmserr.ErrKMSInvalidSignature
	}
	return nil
}

// MaxPlaintext returns the largest plaintext alg can encrypt under an RSA
// version (k - 2*hLen - 2 bytes, RFC 8017 section 7.1.1).
func (v *Version) MaxPlaintext(alg string) int {
	h, ok := oaepHashes[alg]
	if !ok || v.priv == nil || v.priv.rsa == nil {
		return 0
	}
	return v.priv.rsa.Size() - 2*h().Size() - 2
}

// Encrypt encrypts pt with RSAES-OAEP (alg names the hash of both OAEP and
// MGF1; the label is empty), as AWS does: the result is the raw OAEP output.
func (v *Version) Encrypt(alg string, pt []byte) ([]byte, error) {
	if err := v.checkAlgorithm(v.Spec.Algorithms(EncryptDecrypt).Encryption, alg); err != nil {
		return nil, err
	}
	if v.priv == nil || v.priv.rsa == nil {
		return nil, kmserr.ErrInvalidKeyUsage.With("Algorithm %s is incompatible with key spec %s.", alg, v.Spec)
	}
	if n := v.MaxPlaintext(alg); len(pt) > n {
		return nil, kmserr.ErrValidation.With("Algorithm %s and key spec %s cannot encrypt data larger than %d bytes.", alg, v.Spec, n)
	}
	return rsa.EncryptOAEP(oaepHashes[alg](), rand.Reader, &v.priv.rsa.PublicKey, pt, nil)
}

// Decrypt decrypts RSAES-OAEP ciphertext; any failure is
// InvalidCiphertextException with an empty message.
func (v *Version) Decrypt(alg string, ct []byte) ([]byte, error) {
	if err := v.checkAlgorithm(v.Spec.Algorithms(EncryptDecrypt).Encryption, alg); err != nil {
		return nil, err
	}
	if v.priv == nil || v.priv.rsa == nil {
		return nil, kmserr.ErrInvalidKeyUsage.With("Algorithm %s is incompatible with key spec %s.", alg, v.Spec)
	}
	pt, err := rsa.DecryptOAEP(oaepHashes[alg](), nil, v.priv.rsa, ct, nil)
	if err != nil {
		return nil, errInvalidCiphertext
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// MAC returns HMAC(key, msg) (RFC 2104) with the hash alg names.
func (v *Version) MAC(alg string, msg []byte) ([]byte, error) {
	if err := v.checkAlgorithm(v.Spec.Algorithms(GenerateVerifyMAC).MAC, alg); err != nil {
		return nil, err
	}
	m, err := v.mac.Clone()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	m.Write(msg)
	return m.Sum(nil), nil
}

// VerifyMAC compares mac with HMAC(key, msg) in constant time; a mismatch
// is KMSInvalidMacException.
func (v *Version) VerifyMAC(alg string, msg, mac []byte) error {
	want, err := v.MAC(alg, msg)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(want, mac) != 1 {
		return kmserr.ErrKMSInvalidMac
	}
	return nil
}

// DeriveSharedSecret returns the raw ECDH shared secret (the x-coordinate
// Z, no KDF) of the version's private key and peer, a DER
// SubjectPublicKeyInfo on the same curve.
func (v *Version) DeriveSharedSecret(peer []byte) ([]byte, error) {
	if v.priv == nil || v.priv.ecdh == nil {
		return nil, kmserr.ErrInvalidKeyUsage.With("Algorithm ECDH is incompatible with key spec %s.", v.Spec)
	}
	pub, err := x509.ParsePKIXPublicKey(peer)
	if err != nil {
		return nil, kmserr.ErrValidation // AWS's answer has no message
	}
	ep, ok := pub.(*ecdsa.PublicKey)
	if !ok || ep.Curve != v.priv.ec.Curve {
		return nil, kmserr.ErrValidation.With("The public key must be on the curve of key spec %s.", v.Spec)
	}
	dp, err := ep.ECDH()
	if err != nil {
		return nil, kmserr.ErrValidation.With("The public key must be on the curve of key spec %s.", v.Spec)
	}
	z, err := v.priv.ecdh.ECDH(dp)
	if err != nil {
		return nil, kmserr.ErrValidation.With("The public key must be on the curve of key spec %s.", v.Spec)
	}
	return z, nil
}

// Encapsulate returns a fresh 32-byte shared secret and its ML-KEM
// ciphertext under the version's encapsulation key.
func (v *Version) Encapsulate() (shared, ct []byte, err error) {
	if v.priv == nil || v.priv.mlkem == nil {
		return nil, nil, kmserr.ErrInvalidKeyUsage.With("Algorithm ML_KEM is incompatible with key spec %s.", v.Spec)
	}
	shared, ct = v.priv.mlkem.encapsulate()
	return shared, ct, nil
}

// Decapsulate recovers the shared secret of an ML-KEM ciphertext. A
// ciphertext of the right size never fails (implicit rejection returns a
// pseudo-random secret); one of another size is InvalidCiphertextException.
func (v *Version) Decapsulate(ct []byte) ([]byte, error) {
	if v.priv == nil || v.priv.mlkem == nil {
		return nil, kmserr.ErrInvalidKeyUsage.With("Algorithm ML_KEM is incompatible with key spec %s.", v.Spec)
	}
	if len(ct) != v.priv.mlkem.ciphertextSize() {
		return nil, errInvalidCiphertext
	}
	ss, err := v.priv.mlkem.decapsulate(ct)
	if err != nil {
		return nil, errInvalidCiphertext
	}
	return ss, nil
}

// GenerateKeyPair returns a fresh key pair of a DataKeyPairSpec: the
// private key as PKCS #8 DER (ML-KEM in the seed format) and the public
// key as DER SubjectPublicKeyInfo.
func GenerateKeyPair(spec Spec) (secret.Bytes, []byte, error) {
	if !spec.DataKeyPair() || !spec.Supported() {
		return secret.Bytes{}, nil, kmserr.ErrUnsupportedOperation.With("KeyPairSpec %s is not supported in this Region", spec)
	}
	return generatePair(spec)
}

// generatePair returns fresh private key material of spec and its public key.
func generatePair(spec Spec) (secret.Bytes, []byte, error) {
	m, err := generateMaterial(spec)
	if err != nil {
		return secret.Bytes{}, nil, err
	}
	p, err := parsePrivate(spec, m.Expose())
	if err != nil {
		m.Wipe()
		return secret.Bytes{}, nil, err
	}
	return m, p.public, nil
}
