// Package keys is the key-spec seam of Trent: which key specs exist, which
// key usages and algorithms each allows, and the key material of each
// backing-key version with the cryptography it does. Adding a key spec
// touches this package only: a row of the spec table and its material.
//
// Key material is held in [secret.Bytes] and leaves memory only as the
// storage record (which the barrier seals). Objects derived from material
// (an AES key schedule, a parsed private key) cannot be wiped reliably:
// see [secret] for what wiping promises.
package keys

import "slices"

// Spec is an AWS KeySpec ("SYMMETRIC_DEFAULT", "RSA_2048", ...).
type Spec string

// Usage is an AWS KeyUsage ("ENCRYPT_DECRYPT", "SIGN_VERIFY", ...).
type Usage string

// Key specs, as AWS names them.
const (
	SymmetricDefault    Spec = "SYMMETRIC_DEFAULT"
	RSA2048             Spec = "RSA_2048"
	RSA3072             Spec = "RSA_3072"
	RSA4096             Spec = "RSA_4096"
	ECCNISTP256         Spec = "ECC_NIST_P256"
	ECCNISTP384         Spec = "ECC_NIST_P384"
	ECCNISTP521         Spec = "ECC_NIST_P521"
	ECCSECGP256K1       Spec = "ECC_SECG_P256K1"
	ECCNISTEdwards25519 Spec = "ECC_NIST_EDWARDS25519"
	HMAC224             Spec = "HMAC_224"
	HMAC256             Spec = "HMAC_256"
	HMAC384             Spec = "HMAC_384"
	HMAC512             Spec = "HMAC_512"
	SM2                 Spec = "SM2"
	MLDSA44             Spec = "ML_DSA_44"
	MLDSA65             Spec = "ML_DSA_65"
	MLDSA87             Spec = "ML_DSA_87"
	MLKEM512            Spec = "ML_KEM_512"
	MLKEM768            Spec = "ML_KEM_768"
	MLKEM1024           Spec = "ML_KEM_1024"
)

// Key usages, as AWS names them.
const (
	EncryptDecrypt         Usage = "ENCRYPT_DECRYPT"
	SignVerify             Usage = "SIGN_VERIFY"
	GenerateVerifyMAC      Usage = "GENERATE_VERIFY_MAC"
	KeyAgreement           Usage = "KEY_AGREEMENT"
	EncapsulateDecapsulate Usage = "ENCAPSULATE_DECAPSULATE"
)

// AlgSymmetricDefault is the encryption algorithm of SYMMETRIC_DEFAULT keys.
const AlgSymmetricDefault = "SYMMETRIC_DEFAULT"

// Algorithms are the algorithm lists of DescribeKey and GetPublicKey for
// one (spec, usage): at most one list is non-empty.
type Algorithms struct {
	Encryption    []string
	Signing       []string
	MAC           []string
	KeyAgreement  []string
	Encapsulation []string
}

// specInfo is one row of the spec table.
type specInfo struct {
	usages      map[Usage]Algorithms // the usages the spec allows, with their algorithms
	family      family               // how material is encoded and used; 0: not supported (SM2)
	symmetric   bool                 // SYMMETRIC_DEFAULT: Trent's ciphertext format
	dataKeyPair bool                 // a DataKeyPairSpec
}

var (
	rsaUsages = map[Usage]Algorithms{
		EncryptDecrypt: {Encryption: []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}},
		SignVerify: {Signing: []string{"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
			"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}},
	}
	ecdhUsage   = Algorithms{KeyAgreement: []string{"ECDH"}}
	mlkemUsages = map[Usage]Algorithms{EncapsulateDecapsulate: {Encapsulation: []string{"ML_KEM"}}}
	mldsaUsages = map[Usage]Algorithms{SignVerify: {Signing: []string{"ML_DSA_SHAKE_256"}}}
)

func hmacUsages(alg string) map[Usage]Algorithms {
	return map[Usage]Algorithms{GenerateVerifyMAC: {MAC: []string{alg}}}
}

// specs is the spec table.
var specs = map[Spec]*specInfo{
	SymmetricDefault: {family: famSymmetric, usages: map[Usage]Algorithms{EncryptDecrypt: {Encryption: []string{AlgSymmetricDefault}}}, symmetric: true},
	RSA2048:          {family: famRSA, usages: rsaUsages, dataKeyPair: true},
	RSA3072:          {family: famRSA, usages: rsaUsages, dataKeyPair: true},
	RSA4096:          {family: famRSA, usages: rsaUsages, dataKeyPair: true},
	ECCNISTP256:      {family: famNIST, usages: map[Usage]Algorithms{SignVerify: {Signing: []string{"ECDSA_SHA_256"}}, KeyAgreement: ecdhUsage}, dataKeyPair: true},
	ECCNISTP384:      {family: famNIST, usages: map[Usage]Algorithms{SignVerify: {Signing: []string{"ECDSA_SHA_384"}}, KeyAgreement: ecdhUsage}, dataKeyPair: true},
	ECCNISTP521:      {family: famNIST, usages: map[Usage]Algorithms{SignVerify: {Signing: []string{"ECDSA_SHA_512"}}, KeyAgreement: ecdhUsage}, dataKeyPair: true},
	ECCSECGP256K1:    {family: famK256, usages: map[Usage]Algorithms{SignVerify: {Signing: []string{"ECDSA_SHA_256"}}}, dataKeyPair: true},
	ECCNISTEdwards25519: {family: famEd25519, usages: map[Usage]Algorithms{SignVerify: {Signing: []string{"ED25519_SHA_512", "ED25519_PH_SHA_512"}}},
		dataKeyPair: true},
	HMAC224:   {family: famHMAC, usages: hmacUsages("HMAC_SHA_224")},
	HMAC256:   {family: famHMAC, usages: hmacUsages("HMAC_SHA_256")},
	HMAC384:   {family: famHMAC, usages: hmacUsages("HMAC_SHA_384")},
	HMAC512:   {family: famHMAC, usages: hmacUsages("HMAC_SHA_512")},
	SM2:       {usages: map[Usage]Algorithms{EncryptDecrypt: {Encryption: []string{"SM2PKE"}}, SignVerify: {Signing: []string{"SM2DSA"}}, KeyAgreement: ecdhUsage}, dataKeyPair: true},
	MLDSA44:   {family: famMLDSA, usages: mldsaUsages},
	MLDSA65:   {family: famMLDSA, usages: mldsaUsages},
	MLDSA87:   {family: famMLDSA, usages: mldsaUsages},
	MLKEM512:  {family: famMLKEM, usages: mlkemUsages, dataKeyPair: true},
	MLKEM768:  {family: famMLKEM, usages: mlkemUsages, dataKeyPair: true},
	MLKEM1024: {family: famMLKEM, usages: mlkemUsages, dataKeyPair: true},
}

// Known reports whether s is a key spec AWS has.
func (s Spec) Known() bool { return specs[s] != nil }

// Supported reports whether Trent can create keys of spec s (all but SM2:
// no well-kept Go implementation of SM2 exists).
func (s Spec) Supported() bool { i := specs[s]; return i != nil && i.family != 0 }

// Symmetric reports whether s is SYMMETRIC_DEFAULT (Trent's ciphertext
// format, rotation, data keys).
func (s Spec) Symmetric() bool { i := specs[s]; return i != nil && i.symmetric }

// Asymmetric reports whether s is a public-key spec (RSA, ECC, SM2, ML-DSA,
// ML-KEM): neither SYMMETRIC_DEFAULT nor HMAC, which AWS counts as symmetric.
func (s Spec) Asymmetric() bool {
	i := specs[s]
	return i != nil && !i.symmetric && i.family != famHMAC
}

// Allows reports whether keys of spec s may have usage u.
func (s Spec) Allows(u Usage) bool {
	i := specs[s]
	if i == nil {
		return false
	}
	_, ok := i.usages[u]
	return ok
}

// Usages returns the usages spec s allows, sorted.
func (s Spec) Usages() []Usage {
	i := specs[s]
	if i == nil {
		return nil
	}
	out := make([]Usage, 0, len(i.usages))
	for u := range i.usages {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Algorithms returns the algorithm lists of a key of spec s and usage u
// (zero when the pair is not allowed). The slices are shared: do not
// modify them.
func (s Spec) Algorithms(u Usage) Algorithms {
	if i := specs[s]; i != nil {
		return i.usages[u]
	}
	return Algorithms{}
}

// DataKeyPair reports whether s is a DataKeyPairSpec.
func (s Spec) DataKeyPair() bool { i := specs[s]; return i != nil && i.dataKeyPair }
