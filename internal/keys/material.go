package keys

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/trent-kms/trent/internal/secret"
)

// family is how a spec's material is encoded and used.
type family int

const (
	famSymmetric family = iota + 1
	famHMAC
	famRSA
	famNIST // ECC_NIST_P256/384/521
	famK256 // ECC_SECG_P256K1
	famEd25519
	famMLDSA
	famMLKEM
)

// private is the parsed private part of an asymmetric or HMAC version: the
// objects the hot path uses, built once when the version is loaded.
type private struct {
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	ecdh    *ecdh.PrivateKey
	k256    *secp256k1.PrivateKey
	k256Pub *secp256k1.PublicKey
	ed25519 ed25519.PrivateKey
	mldsa   mldsaKey
	mlkem   mlkemKey
	public  []byte // DER SubjectPublicKeyInfo
}

// mldsaKey is one of circl's three ML-DSA private keys.
type mldsaKey interface {
	sign(msg []byte) []byte
	verify(msg, sig []byte) bool
}

// mlkemKey is an ML-KEM decapsulation key of any parameter set.
type mlkemKey interface {
	encapsulate() (shared, ciphertext []byte)
	decapsulate(ciphertext []byte) ([]byte, error)
	ciphertextSize() int
}

func curveOf(spec Spec) elliptic.Curve {
	switch spec {
	case ECCNISTP256:
		return elliptic.P256()
	case ECCNISTP384:
		return elliptic.P384()
	case ECCNISTP521:
		return elliptic.P521()
	}
	return nil
}

func rsaBits(spec Spec) int {
	switch spec {
	case RSA2048:
		return 2048
	case RSA3072:
		return 3072
	case RSA4096:
		return 4096
	}
	return 0
}

// hmacSize is the key size AWS generates for an HMAC spec (the digest
// size) and the range it imports.
func hmacSizes(spec Spec) (gen, minImport, maxImport int) {
	switch spec {
	case HMAC224:
		return 28, 28, 64
	case HMAC256:
		return 32, 32, 64
	case HMAC384:
		return 48, 48, 128
	case HMAC512:
		return 64, 64, 128
	}
	return 0, 0, 0
}

func mldsaOID(spec Spec) asn1.ObjectIdentifier {
	switch spec {
	case MLDSA44:
		return oidMLDSA44
	case MLDSA65:
		return oidMLDSA65
	case MLDSA87:
		return oidMLDSA87
	}
	return nil
}

func mlkemOID(spec Spec) asn1.ObjectIdentifier {
	switch spec {
	case MLKEM512:
		return oidMLKEM512
	case MLKEM768:
		return oidMLKEM768
	case MLKEM1024:
		return oidMLKEM1024
	}
	return nil
}

const (
	mldsaSeedSize = 32
	mlkemSeedSize = 64
)

// generateMaterial returns fresh material of spec in its storage encoding:
// 32 bytes (symmetric), the key (HMAC), PKCS #8 DER (asymmetric; ML-DSA and
// ML-KEM in the seed format).
func generateMaterial(spec Spec) (secret.Bytes, error) {
	i := specs[spec]
	if i == nil {
		return secret.Bytes{}, fmt.Errorf("keys: unknown key spec %s", spec)
	}
	switch i.family {
	case famSymmetric:
		b := make([]byte, SymmetricKeySize)
		rand.Read(b)
		return secret.New(b), nil
	case famHMAC:
		n, _, _ := hmacSizes(spec)
		b := make([]byte, n)
		rand.Read(b)
		return secret.New(b), nil
	case famRSA:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits(spec))
		if err != nil {
			return secret.Bytes{}, fmt.Errorf("keys: generate %s: %w", spec, err)
		}
		return marshalX509(k)
	case famNIST:
		k, err := ecdsa.GenerateKey(curveOf(spec), rand.Reader)
		if err != nil {
			return secret.Bytes{}, fmt.Errorf("keys: generate %s: %w", spec, err)
		}
		return marshalX509(k)
	case famK256:
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			return secret.Bytes{}, fmt.Errorf("keys: generate %s: %w", spec, err)
		}
		defer k.Zero()
		return secret.New(marshalK256(k)), nil
	case famEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return secret.Bytes{}, fmt.Errorf("keys: generate %s: %w", spec, err)
		}
		defer clear(k)
		return marshalX509(k)
	case famMLDSA:
		seed := make([]byte, mldsaSeedSize)
		rand.Read(seed)
		defer clear(seed)
		return secret.New(marshalPKCS8(pkix.AlgorithmIdentifier{Algorithm: mldsaOID(spec)}, seedPrivateKey(seed))), nil
	case famMLKEM:
		seed := make([]byte, mlkemSeedSize)
		rand.Read(seed)
		defer clear(seed)
		return secret.New(marshalPKCS8(pkix.AlgorithmIdentifier{Algorithm: mlkemOID(spec)}, seedPrivateKey(seed))), nil
	}
	return secret.Bytes{}, fmt.Errorf("keys: cannot generate key spec %s", spec)
}

func marshalX509(k any) (secret.Bytes, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return secret.Bytes{}, fmt.Errorf("keys: marshal private key: %w", err)
	}
	return secret.New(der), nil
}

func marshalK256(k *secp256k1.PrivateKey) []byte {
	pub := k.PubKey().SerializeUncompressed()
	d := k.Key.Bytes()
	defer clear(d[:])
	sec1, err := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: d[:], PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}})
	if err != nil {
		panic("keys: marshal secp256k1 key: " + err.Error())
	}
	defer clear(sec1)
	params, _ := asn1.Marshal(oidSecp256k1)
	return marshalPKCS8(pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}, sec1)
}

// parsePrivate parses material of spec (its storage encoding, which is
// also the import encoding of asymmetric keys). Errors are ErrMaterial.
func parsePrivate(spec Spec, m []byte) (*private, error) {
	i := specs[spec]
	switch i.family {
	case famRSA:
		k, err := x509.ParsePKCS8PrivateKey(m)
		rk, ok := k.(*rsa.PrivateKey)
		if err != nil || !ok || rk.N.BitLen() != rsaBits(spec) {
			return nil, ErrMaterial
		}
		pub, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
		if err != nil {
			return nil, ErrMaterial
		}
		return &private{rsa: rk, public: pub}, nil
	case famNIST:
		k, err := x509.ParsePKCS8PrivateKey(m)
		ek, ok := k.(*ecdsa.PrivateKey)
		if err != nil || !ok || ek.Curve != curveOf(spec) {
			return nil, ErrMaterial
		}
		pub, err := x509.MarshalPKIXPublicKey(&ek.PublicKey)
		if err != nil {
			return nil, ErrMaterial
		}
		dh, err := ek.ECDH()
		if err != nil {
			return nil, ErrMaterial
		}
		return &private{ec: ek, ecdh: dh, public: pub}, nil
	case famK256:
		p, err := parsePKCS8(m)
		if err != nil || !p.Algo.Algorithm.Equal(oidECPublicKey) {
			return nil, ErrMaterial
		}
		var curve asn1.ObjectIdentifier
		if rest, err := asn1.Unmarshal(p.Algo.Parameters.FullBytes, &curve); err != nil || len(rest) != 0 || !curve.Equal(oidSecp256k1) {
			return nil, ErrMaterial
		}
		var ecp ecPrivateKey
		if rest, err := asn1.Unmarshal(p.PrivateKey, &ecp); err != nil || len(rest) != 0 || ecp.Version != 1 || len(ecp.PrivateKey) != 32 {
			return nil, ErrMaterial
		}
		var s secp256k1.ModNScalar
		if overflow := s.SetByteSlice(ecp.PrivateKey); overflow || s.IsZero() {
			return nil, ErrMaterial
		}
		k := secp256k1.NewPrivateKey(&s)
		if len(ecp.PublicKey.Bytes) > 0 {
			if pk, err := secp256k1.ParsePubKey(ecp.PublicKey.Bytes); err != nil || !pk.IsEqual(k.PubKey()) {
				return nil, ErrMaterial
			}
		}
		pub := k.PubKey()
		return &private{k256: k, k256Pub: pub, public: k256SPKI(pub)}, nil
	case famEd25519:
		k, err := x509.ParsePKCS8PrivateKey(m)
		ek, ok := k.(ed25519.PrivateKey)
		if err != nil || !ok {
			return nil, ErrMaterial
		}
		pub, err := x509.MarshalPKIXPublicKey(ek.Public())
		if err != nil {
			return nil, ErrMaterial
		}
		return &private{ed25519: ek, public: pub}, nil
	case famMLDSA:
		seed, err := parseSeedPKCS8(m, mldsaOID(spec), mldsaSeedSize)
		if err != nil {
			return nil, err
		}
		k, pub := newMLDSA(spec, seed)
		return &private{mldsa: k, public: marshalSPKI(pkix.AlgorithmIdentifier{Algorithm: mldsaOID(spec)}, pub)}, nil
	case famMLKEM:
		seed, err := parseSeedPKCS8(m, mlkemOID(spec), mlkemSeedSize)
		if err != nil {
			return nil, err
		}
		k, pub, err := newMLKEM(spec, seed)
		if err != nil {
			return nil, ErrMaterial
		}
		return &private{mlkem: k, public: marshalSPKI(pkix.AlgorithmIdentifier{Algorithm: mlkemOID(spec)}, pub)}, nil
	}
	return nil, ErrMaterial
}

func parseSeedPKCS8(m []byte, oid asn1.ObjectIdentifier, n int) ([]byte, error) {
	p, err := parsePKCS8(m)
	if err != nil || !p.Algo.Algorithm.Equal(oid) || len(p.Algo.Parameters.FullBytes) != 0 {
		return nil, ErrMaterial
	}
	seed, err := parseSeedPrivateKey(p.PrivateKey, n)
	if err != nil {
		return nil, ErrMaterial
	}
	return seed, nil
}

func k256SPKI(pub *secp256k1.PublicKey) []byte {
	params, _ := asn1.Marshal(oidSecp256k1)
	return marshalSPKI(pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}, pub.SerializeUncompressed())
}

// ---- ML-DSA (circl) ----

type mldsa44Key struct {
	k   *mldsa44.PrivateKey
	pub *mldsa44.PublicKey
}
type mldsa65Key struct {
	k   *mldsa65.PrivateKey
	pub *mldsa65.PublicKey
}
type mldsa87Key struct {
	k   *mldsa87.PrivateKey
	pub *mldsa87.PublicKey
}

func (k mldsa44Key) sign(msg []byte) []byte {
	sig := make([]byte, mldsa44.SignatureSize)
	if err := mldsa44.SignTo(k.k, msg, nil, true, sig); err != nil {
		panic("keys: ML-DSA sign: " + err.Error())
	}
	return sig
}
func (k mldsa44Key) verify(msg, sig []byte) bool {
	return mldsa44.Verify(k.pub, msg, nil, sig)
}
func (k mldsa65Key) sign(msg []byte) []byte {
	sig := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(k.k, msg, nil, true, sig); err != nil {
		panic("keys: ML-DSA sign: " + err.Error())
	}
	return sig
}
func (k mldsa65Key) verify(msg, sig []byte) bool {
	return mldsa65.Verify(k.pub, msg, nil, sig)
}
func (k mldsa87Key) sign(msg []byte) []byte {
	sig := make([]byte, mldsa87.SignatureSize)
	if err := mldsa87.SignTo(k.k, msg, nil, true, sig); err != nil {
		panic("keys: ML-DSA sign: " + err.Error())
	}
	return sig
}
func (k mldsa87Key) verify(msg, sig []byte) bool {
	return mldsa87.Verify(k.pub, msg, nil, sig)
}

func newMLDSA(spec Spec, seed []byte) (mldsaKey, []byte) {
	switch spec {
	case MLDSA44:
		var s [mldsa44.SeedSize]byte
		copy(s[:], seed)
		pk, sk := mldsa44.NewKeyFromSeed(&s)
		clear(s[:])
		return mldsa44Key{sk, pk}, pk.Bytes()
	case MLDSA65:
		var s [mldsa65.SeedSize]byte
		copy(s[:], seed)
		pk, sk := mldsa65.NewKeyFromSeed(&s)
		clear(s[:])
		return mldsa65Key{sk, pk}, pk.Bytes()
	default:
		var s [mldsa87.SeedSize]byte
		copy(s[:], seed)
		pk, sk := mldsa87.NewKeyFromSeed(&s)
		clear(s[:])
		return mldsa87Key{sk, pk}, pk.Bytes()
	}
}

// ---- ML-KEM (crypto/mlkem; circl for ML-KEM-512) ----

type mlkem512Key struct{ k *mlkem512.PrivateKey }
type mlkem768Key struct{ k *mlkem.DecapsulationKey768 }
type mlkem1024Key struct{ k *mlkem.DecapsulationKey1024 }

func (k mlkem512Key) encapsulate() ([]byte, []byte) {
	ct, ss, err := mlkem512.Scheme().Encapsulate(k.k.Public())
	if err != nil {
		panic("keys: ML-KEM-512 encapsulate: " + err.Error())
	}
	return ss, ct
}
func (k mlkem512Key) decapsulate(ct []byte) ([]byte, error) {
	return mlkem512.Scheme().Decapsulate(k.k, ct)
}
func (mlkem512Key) ciphertextSize() int { return mlkem512.CiphertextSize }

func (k mlkem768Key) encapsulate() ([]byte, []byte) { return k.k.EncapsulationKey().Encapsulate() }
func (k mlkem768Key) decapsulate(ct []byte) ([]byte, error) {
	return k.k.Decapsulate(ct)
}
func (mlkem768Key) ciphertextSize() int { return mlkem.CiphertextSize768 }

func (k mlkem1024Key) encapsulate() ([]byte, []byte) { return k.k.EncapsulationKey().Encapsulate() }
func (k mlkem1024Key) decapsulate(ct []byte) ([]byte, error) {
	return k.k.Decapsulate(ct)
}
func (mlkem1024Key) ciphertextSize() int { return mlkem.CiphertextSize1024 }

func newMLKEM(spec Spec, seed []byte) (mlkemKey, []byte, error) {
	switch spec {
	case MLKEM512:
		pk, sk := mlkem512.NewKeyFromSeed(seed)
		pub, _ := pk.MarshalBinary()
		return mlkem512Key{sk}, pub, nil
	case MLKEM768:
		k, err := mlkem.NewDecapsulationKey768(seed)
		if err != nil {
			return nil, nil, err
		}
		return mlkem768Key{k}, k.EncapsulationKey().Bytes(), nil
	default:
		k, err := mlkem.NewDecapsulationKey1024(seed)
		if err != nil {
			return nil, nil, err
		}
		return mlkem1024Key{k}, k.EncapsulationKey().Bytes(), nil
	}
}

var _ crypto.Signer = ed25519.PrivateKey(nil)
