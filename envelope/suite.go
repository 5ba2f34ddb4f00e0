package envelope

import (
	"crypto"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
)

// suite holds the parameters of an algorithm suite.
type suite struct {
	id       Suite
	name     string
	version  byte             // message format version
	keyLen   int              // data key and encryption key length
	kdf      func() hash.Hash // nil: identity KDF
	commit   bool             // key commitment (v2)
	curve    elliptic.Curve   // nil: unsigned
	sigHash  crypto.Hash      // hash of the signature
	msgIDLen int
}

var suites = map[Suite]*suite{
	0x0578: {id: 0x0578, name: "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", version: 2, keyLen: 32, kdf: sha512.New, commit: true, curve: elliptic.P384(), sigHash: crypto.SHA384, msgIDLen: 32},
	0x0478: {id: 0x0478, name: "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY", version: 2, keyLen: 32, kdf: sha512.New, commit: true, msgIDLen: 32},
	0x0378: {id: 0x0378, name: "ALG_AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", version: 1, keyLen: 32, kdf: sha512.New384, curve: elliptic.P384(), sigHash: crypto.SHA384, msgIDLen: 16},
	0x0346: {id: 0x0346, name: "ALG_AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", version: 1, keyLen: 24, kdf: sha512.New384, curve: elliptic.P384(), sigHash: crypto.SHA384, msgIDLen: 16},
	0x0214: {id: 0x0214, name: "ALG_AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256", version: 1, keyLen: 16, kdf: sha256.New, curve: elliptic.P256(), sigHash: crypto.SHA256, msgIDLen: 16},
	0x0178: {id: 0x0178, name: "ALG_AES_256_GCM_IV12_TAG16_HKDF_SHA256", version: 1, keyLen: 32, kdf: sha256.New, msgIDLen: 16},
	0x0146: {id: 0x0146, name: "ALG_AES_192_GCM_IV12_TAG16_HKDF_SHA256", version: 1, keyLen: 24, kdf: sha256.New, msgIDLen: 16},
	0x0114: {id: 0x0114, name: "ALG_AES_128_GCM_IV12_TAG16_HKDF_SHA256", version: 1, keyLen: 16, kdf: sha256.New, msgIDLen: 16},
	0x0078: {id: 0x0078, name: "ALG_AES_256_GCM_IV12_TAG16_NO_KDF", version: 1, keyLen: 32, msgIDLen: 16},
	0x0046: {id: 0x0046, name: "ALG_AES_192_GCM_IV12_TAG16_NO_KDF", version: 1, keyLen: 24, msgIDLen: 16},
	0x0014: {id: 0x0014, name: "ALG_AES_128_GCM_IV12_TAG16_NO_KDF", version: 1, keyLen: 16, msgIDLen: 16},
}

func suiteParams(s Suite) *suite { return suites[s] }

const (
	ivLen      = 12
	tagLen     = 16
	commitLen  = 32 // algorithm suite data of committing suites
	seqNumEnd  = 0xFFFFFFFF
	typeCAED   = 0x80 // v1 header type: customer authenticated encrypted data
	framed     = 0x02
	nonFramed  = 0x01
	maxHdrSize = 16 << 20 // hard cap on the header bytes a Reader buffers
	// maxNonFramedLen bounds the content of a non-framed body
	// (message-body.md: 2^36 - 32 bytes, the limit of AES-GCM).
	maxNonFramedLen = 1<<36 - 32
)

// Body AAD content strings (message-body-aad.md).
const (
	aadFrame       = "AWSKMSEncryptionClient Frame"
	aadFinalFrame  = "AWSKMSEncryptionClient Final Frame"
	aadSingleBlock = "AWSKMSEncryptionClient Single Block"
)
