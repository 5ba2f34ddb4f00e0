package attest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// Object identifiers of the envelope (RFC 5652, RFC 4055, RFC 3565).
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidRSAESOAEP     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// keyTransRecipientInfo names its recipient by subjectKeyIdentifier
// (version 2), as the Nitro Enclaves SDK expects.
type keyTransRecipientInfo struct {
	Version                int
	SubjectKeyIdentifier   []byte `asn1:"tag:0"`
	KeyEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedKey           []byte
}

// rsaesOAEPParams is RSAES-OAEP-params with SHA-256 and MGF1-SHA-256 (the
// label is the default, empty).
type rsaesOAEPParams struct {
	HashFunc    pkix.AlgorithmIdentifier `asn1:"explicit,tag:0"`
	MaskGenFunc pkix.AlgorithmIdentifier `asn1:"explicit,tag:1"`
}

// Seal encrypts secret for the holder of pub as AWS KMS's
// CiphertextForRecipient: a CMS EnvelopedData (RFC 5652) whose content is
// encrypted with a fresh AES-256 key in CBC mode (PKCS #7 padding) and
// whose one KeyTransRecipientInfo carries that key encrypted with
// RSAES-OAEP (SHA-256, MGF1 with SHA-256).
//
// It is BER laid out as KMS lays it out, which is what the AWS Nitro
// Enclaves SDK's aws_cms_parse_enveloped_data reads (it steps into the
// ContentInfo, its [0], the EnvelopedData and the EncryptedContentInfo by
// their headers alone, so each must have the indefinite length, and it
// takes the encrypted content from a constructed [0] of OCTET STRINGs);
// everything else is DER. `openssl cms -decrypt` reads it too.
func Seal(pub *rsa.PublicKey, secret []byte) ([]byte, error) {
	key := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	defer clear(key)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(secret)%aes.BlockSize
	buf := make([]byte, len(secret)+pad)
	copy(buf, secret)
	for i := len(secret); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	ek, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, key, nil)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	var derErr error
	der := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if derErr == nil {
			derErr = err
		}
		return b
	}
	sha256ID := pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	params := der(rsaesOAEPParams{
		HashFunc:    sha256ID,
		MaskGenFunc: pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: der(sha256ID)}},
	})
	recipient := der(keyTransRecipientInfo{
		Version:                2,
		SubjectKeyIdentifier:   ski,
		KeyEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidRSAESOAEP, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedKey:           ek,
	})
	out := indefinite(0x30, // ContentInfo
		der(oidEnvelopedData),
		indefinite(0xa0, // [0] EXPLICIT
			indefinite(0x30, // EnvelopedData
				der(2), // version
				der(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: recipient}),
				indefinite(0x30, // EncryptedContentInfo
					der(oidData),
					der(pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: der(iv)}}),
					indefinite(0xa0, der(buf)))))) // [0] IMPLICIT encryptedContent
	if derErr != nil {
		return nil, fmt.Errorf("attest: %w", derErr)
	}
	return out, nil
}

// indefinite is the BER constructed element of tag holding parts, of
// indefinite length (X.690 8.1.3.6): tag, the length octet 0x80, the parts,
// and the end-of-contents octets 00 00.
func indefinite(tag byte, parts ...[]byte) []byte {
	out := []byte{tag, 0x80}
	for _, p := range parts {
		out = append(out, p...)
	}
	return append(out, 0, 0)
}

// subjectKeyID is RFC 5280's method (1): the SHA-1 of the
// subjectPublicKey bits.
func subjectKeyID(pub *rsa.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	sum := sha1.Sum(info.PublicKey.Bytes)
	return sum[:], nil
}
