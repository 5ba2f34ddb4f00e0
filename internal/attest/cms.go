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

// contentInfo is CMS's ContentInfo holding an EnvelopedData.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     envelopedData `asn1:"explicit,tag:0"`
}

type envelopedData struct {
	Version              int
	RecipientInfos       []keyTransRecipientInfo `asn1:"set"`
	EncryptedContentInfo encryptedContentInfo
}

// keyTransRecipientInfo names its recipient by subjectKeyIdentifier
// (version 2), as the Nitro Enclaves SDK expects.
type keyTransRecipientInfo struct {
	Version                int
	SubjectKeyIdentifier   []byte `asn1:"tag:0"`
	KeyEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedKey           []byte
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           []byte `asn1:"tag:0"`
}

// rsaesOAEPParams is RSAES-OAEP-params with SHA-256 and MGF1-SHA-256 (the
// label is the default, empty).
type rsaesOAEPParams struct {
	HashFunc    pkix.AlgorithmIdentifier `asn1:"explicit,tag:0"`
	MaskGenFunc pkix.AlgorithmIdentifier `asn1:"explicit,tag:1"`
}

// Seal encrypts secret for the holder of pub as AWS KMS's
// CiphertextForRecipient: a DER CMS EnvelopedData (RFC 5652) whose content
// is encrypted with a fresh AES-256 key in CBC mode (PKCS #7 padding) and
// whose one KeyTransRecipientInfo carries that key encrypted with
// RSAES-OAEP (SHA-256, MGF1 with SHA-256). This is the structure the AWS
// Nitro Enclaves SDK (aws_cms_parse_enveloped_data) and `openssl cms
// -decrypt` read.
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
	sha256ID := pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	mgf, err := asn1.Marshal(sha256ID)
	if err != nil {
		return nil, err
	}
	params, err := asn1.Marshal(rsaesOAEPParams{
		HashFunc:    sha256ID,
		MaskGenFunc: pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: mgf}},
	})
	if err != nil {
		return nil, err
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{
		ContentType: oidEnvelopedData,
		Content: envelopedData{
			Version: 2,
			RecipientInfos: []keyTransRecipientInfo{{
				Version:                2,
				SubjectKeyIdentifier:   ski,
				KeyEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidRSAESOAEP, Parameters: asn1.RawValue{FullBytes: params}},
				EncryptedKey:           ek,
			}},
			EncryptedContentInfo: encryptedContentInfo{
				ContentType:                oidData,
				ContentEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
				EncryptedContent:           buf,
			},
		},
	})
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
