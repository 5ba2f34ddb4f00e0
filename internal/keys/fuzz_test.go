package keys

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

// FuzzParsePrivate: imported material (PKCS #8 of every asymmetric family,
// HMAC keys) never panics the parser, and what parses has a public key.
func FuzzParsePrivate(f *testing.F) {
	for _, spec := range []Spec{RSA2048, ECCNISTP256, ECCSECGP256K1, ECCNISTEdwards25519, MLDSA44, MLKEM512} {
		m, err := generateMaterial(spec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(spec), m.Expose())
	}
	f.Add(string(HMAC256), make([]byte, 32))
	f.Fuzz(func(t *testing.T, spec string, m []byte) {
		s := Spec(spec)
		if !s.Supported() || s.Symmetric() {
			return
		}
		if specs[s].family == famHMAC {
			return
		}
		p, err := parsePrivate(s, m)
		if err == nil && len(p.public) == 0 {
			t.Errorf("parsePrivate(%s) without a public key", s)
		}
	})
}

// FuzzDeriveSharedSecret: any peer public key from the network gives a
// secret or an error, never a panic.
func FuzzDeriveSharedSecret(f *testing.F) {
	v, err := GenerateVersion(ECCNISTP256, keyID, 1, time.Now(), "")
	if err != nil {
		f.Fatal(err)
	}
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
	f.Add(der)
	f.Add(v.PublicKey())
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, pub []byte) {
		z, err := v.DeriveSharedSecret(pub)
		if err == nil && len(z) != 32 {
			t.Errorf("shared secret of %d bytes", len(z))
		}
	})
}
