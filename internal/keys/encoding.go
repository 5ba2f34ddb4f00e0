package keys

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
)

// Object identifiers of the key encodings that crypto/x509 does not know:
// secp256k1 (SEC 2), ML-DSA (FIPS 204) and ML-KEM (FIPS 203) as the LAMPS
// drafts assign them.
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidMLDSA44     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}
	oidMLDSA65     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}
	oidMLDSA87     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19}
	oidMLKEM512    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1}
	oidMLKEM768    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 2}
	oidMLKEM1024   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 3}
)

// pkcs8 is RFC 5208's PrivateKeyInfo.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// spki is RFC 5280's SubjectPublicKeyInfo.
type spki struct {
	Algo      pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// ecPrivateKey is SEC 1's ECPrivateKey.
type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	NamedCurve asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

var errEncoding = errors.New("keys: malformed key encoding")

// marshalSPKI encodes a public key of an algorithm crypto/x509 lacks.
func marshalSPKI(algo pkix.AlgorithmIdentifier, pub []byte) []byte {
	b, err := asn1.Marshal(spki{Algo: algo, PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}})
	if err != nil {
		panic("keys: marshal SubjectPublicKeyInfo: " + err.Error())
	}
	return b
}

// parseSPKI decodes a SubjectPublicKeyInfo with no trailing data.
func parseSPKI(der []byte) (*spki, error) {
	var s spki
	rest, err := asn1.Unmarshal(der, &s)
	if err != nil || len(rest) != 0 || s.PublicKey.BitLength != 8*len(s.PublicKey.Bytes) {
		return nil, errEncoding
	}
	return &s, nil
}

// marshalPKCS8 encodes a private key of an algorithm crypto/x509 lacks.
func marshalPKCS8(algo pkix.AlgorithmIdentifier, priv []byte) []byte {
	b, err := asn1.Marshal(pkcs8{Algo: algo, PrivateKey: priv})
	if err != nil {
		panic("keys: marshal PKCS #8: " + err.Error())
	}
	return b
}

// parsePKCS8 decodes a PrivateKeyInfo with no trailing data.
func parsePKCS8(der []byte) (*pkcs8, error) {
	var p pkcs8
	rest, err := asn1.Unmarshal(der, &p)
	if err != nil || len(rest) != 0 || (p.Version != 0 && p.Version != 1) {
		return nil, errEncoding
	}
	return &p, nil
}

// seedPrivateKey encodes an ML-DSA or ML-KEM private key in the seed
// format of the LAMPS drafts: the CHOICE's seed [0] IMPLICIT OCTET STRING.
func seedPrivateKey(seed []byte) []byte {
	b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: seed})
	if err != nil {
		panic("keys: marshal seed: " + err.Error())
	}
	return b
}

// parseSeedPrivateKey decodes the seed format (only) of size n.
func parseSeedPrivateKey(b []byte, n int) ([]byte, error) {
	var rv asn1.RawValue
	rest, err := asn1.Unmarshal(b, &rv)
	if err != nil || len(rest) != 0 || rv.Class != asn1.ClassContextSpecific || rv.Tag != 0 || rv.IsCompound || len(rv.Bytes) != n {
		return nil, errEncoding
	}
	return rv.Bytes, nil
}
