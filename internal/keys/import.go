package keys

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"hash"
	"sync"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/secret"
)

// Wrapping algorithms of GetParametersForImport that Trent unwraps.
const (
	WrapOAEPSHA1        = "RSAES_OAEP_SHA_1"
	WrapOAEPSHA256      = "RSAES_OAEP_SHA_256"
	WrapRSAAESKWPSHA1   = "RSA_AES_KEY_WRAP_SHA_1"
	WrapRSAAESKWPSHA256 = "RSA_AES_KEY_WRAP_SHA_256"
)

func wrapHash(alg string) func() hash.Hash {
	switch alg {
	case WrapOAEPSHA1, WrapRSAAESKWPSHA1:
		return sha1.New
	case WrapOAEPSHA256, WrapRSAAESKWPSHA256:
		return sha256.New
	}
	return nil
}

// Importable reports whether material of spec can be imported (origin
// EXTERNAL): symmetric, HMAC, RSA and ECC keys, as AWS allows.
func (s Spec) Importable() bool {
	i := specs[s]
	if i == nil {
		return false
	}
	switch i.family {
	case famSymmetric, famHMAC, famRSA, famNIST, famK256:
		return true
	}
	return false
}

// GenerateWrappingKey returns a fresh RSA wrapping key pair of spec
// (RSA_2048/3072/4096): the private key PKCS #8 DER, the public key DER
// SubjectPublicKeyInfo. Each pair is handed out once; after the first call
// of a spec, the next pair is generated ahead in the background (wrapping).
func GenerateWrappingKey(spec Spec) (secret.Bytes, []byte, error) {
	if rsaBits(spec) == 0 {
		return secret.Bytes{}, nil, kmserr.ErrUnsupportedOperation.With("WrappingKeySpec %s is not supported in this Region", spec)
	}
	return wrapping.take(spec)
}

// wrapping holds at most one wrapping key pair per spec, generated ahead of
// the next GetParametersForImport: RSA generation takes from tens of
// milliseconds (2048 bits) to more than a second (4096, on a loaded
// machine), and the operation runs under its KMS key's lock. Nothing is
// generated for a spec before its first call.
var wrapping = wrappingPool{ready: map[Spec]wrappingPair{}, filling: map[Spec]bool{}}

type wrappingPool struct {
	mu      sync.Mutex
	ready   map[Spec]wrappingPair
	filling map[Spec]bool
}

type wrappingPair struct {
	priv secret.Bytes
	pub  []byte
}

// take hands out the ready pair of spec, or generates one when there is
// none (first call, or calls faster than the background), then makes sure
// the next one is on its way.
func (p *wrappingPool) take(spec Spec) (secret.Bytes, []byte, error) {
	p.mu.Lock()
	w, ok := p.ready[spec]
	delete(p.ready, spec)
	p.mu.Unlock()
	if !ok {
		var err error
		if w.priv, w.pub, err = generatePair(spec); err != nil {
			return secret.Bytes{}, nil, err
		}
	}
	p.fill(spec)
	return w.priv, w.pub, nil
}

// fill starts generating the next pair of spec unless one is ready or
// already being generated.
func (p *wrappingPool) fill(spec Spec) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ready[spec]; ok || p.filling[spec] {
		return
	}
	p.filling[spec] = true
	go func() {
		priv, pub, err := generatePair(spec)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.filling[spec] = false
		if err == nil {
			p.ready[spec] = wrappingPair{priv, pub}
		}
	}()
}

// WrappingPublicKey returns the public key of a wrapping key.
func WrappingPublicKey(priv secret.Bytes) ([]byte, error) {
	k, err := x509.ParsePKCS8PrivateKey(priv.Expose())
	rk, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, ErrMaterial
	}
	return x509.MarshalPKIXPublicKey(&rk.PublicKey)
}

// Unwrap decrypts imported key material wrapped under the wrapping key
// priv with alg: RSAES-OAEP directly, or (RSA_AES_KEY_WRAP_*) an
// RSAES-OAEP-wrapped ephemeral AES-256 key followed by the material under
// AES Key Wrap with Padding (RFC 5649). Every failure is
// InvalidCiphertextException with an empty message.
func Unwrap(priv secret.Bytes, alg string, wrapped []byte) (secret.Bytes, error) {
	h := wrapHash(alg)
	k, err := x509.ParsePKCS8PrivateKey(priv.Expose())
	rk, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok || h == nil {
		return secret.Bytes{}, errInvalidCiphertext
	}
	switch alg {
	case WrapOAEPSHA1, WrapOAEPSHA256:
		m, err := rsa.DecryptOAEP(h(), nil, rk, wrapped, nil)
		if err != nil {
			return secret.Bytes{}, errInvalidCiphertext
		}
		return secret.New(m), nil
	}
	n := rk.Size()
	if len(wrapped) <= n {
		return secret.Bytes{}, errInvalidCiphertext
	}
	kek, err := rsa.DecryptOAEP(h(), nil, rk, wrapped[:n], nil)
	if err != nil || len(kek) != 32 {
		clear(kek)
		return secret.Bytes{}, errInvalidCiphertext
	}
	defer clear(kek)
	m, err := unwrapKWP(kek, wrapped[n:])
	if err != nil {
		return secret.Bytes{}, errInvalidCiphertext
	}
	return secret.New(m), nil
}

// ImportedMaterialID is the KeyMaterialId of imported material: the same
// for the same material in the same key (so a re-import is recognised),
// computed with the material as HMAC key so that it reveals nothing of it.
func ImportedMaterialID(material secret.Bytes, keyARN string) string {
	m := hmac.New(sha256.New, material.Expose())
	m.Write([]byte("trent kms imported key material id\x00" + keyARN))
	return hex.EncodeToString(m.Sum(nil))
}
