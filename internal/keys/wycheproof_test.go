package keys

import (
	"crypto/ed25519"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"

	"github.com/trent-kms/trent/internal/secret"
)

// Wycheproof vectors ship in the circl module (brought by the Go module
// proxy): Ed25519 and ML-DSA verification, negative cases included.

// TestWycheproofEd25519 runs Wycheproof's EdDSA verification vectors
// through Version.Verify (ED25519_SHA_512, RAW) of a key built from the
// vector's private key.
func TestWycheproofEd25519(t *testing.T) {
	t.Parallel()
	var f struct {
		TestGroups []struct {
			Key struct {
				Sk hexBytes `json:"sk"`
			} `json:"key"`
			Tests []struct {
				TcID   int      `json:"tcId"`
				Msg    hexBytes `json:"msg"`
				Sig    hexBytes `json:"sig"`
				Result string   `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	acvpGroups(t, filepath.Join(circlDir(t), "sign", "ed25519", "testdata", "wycheproof_Ed25519.json.gz"), &f)
	n, invalid := 0, 0
	for _, g := range f.TestGroups {
		der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(g.Key.Sk))
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVersion(ECCNISTEdwards25519, keyID, 1, secret.New(der), NewMaterialID(), time.Now(), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range g.Tests {
			err := v.Verify("ED25519_SHA_512", MessageRaw, tc.Msg, tc.Sig)
			if (err == nil) != (tc.Result == "valid") {
				t.Errorf("tc %d: Verify err = %v, Wycheproof says %s", tc.TcID, err, tc.Result)
			}
			n++
			if tc.Result == "invalid" {
				invalid++
			}
		}
	}
	if invalid == 0 {
		t.Fatal("no negative vectors")
	}
	t.Logf("%d Ed25519 vectors, %d invalid", n, invalid)
}

// TestWycheproofMLDSA runs Wycheproof's ML-DSA verification vectors (those
// without a context string: KMS signs with the empty context) through
// Version.Verify.
func TestWycheproofMLDSA(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(circlDir(t), "sign", "schemes", "testdata", "wycheproof")
	for _, tc := range []struct {
		spec Spec
		file string
	}{{MLDSA44, "mldsa_44_verify_test.json.gz"}, {MLDSA65, "mldsa_65_verify_test.json.gz"}, {MLDSA87, "mldsa_87_verify_test.json.gz"}} {
		t.Run(string(tc.spec), func(t *testing.T) {
			var f struct {
				TestGroups []struct {
					PublicKey hexBytes `json:"publicKey"`
					Tests     []struct {
						TcID   int      `json:"tcId"`
						Msg    hexBytes `json:"msg"`
						Ctx    hexBytes `json:"ctx"`
						Sig    hexBytes `json:"sig"`
						Result string   `json:"result"`
					} `json:"tests"`
				} `json:"testGroups"`
			}
			acvpGroups(t, filepath.Join(dir, tc.file), &f)
			n, invalid := 0, 0
			for _, g := range f.TestGroups {
				k, ok := mldsaPublic(tc.spec, g.PublicKey)
				for _, c := range g.Tests {
					if len(c.Ctx) != 0 {
						continue
					}
					n++
					if c.Result == "invalid" {
						invalid++
					}
					if !ok {
						if c.Result == "valid" {
							t.Errorf("tc %d: public key refused, Wycheproof says valid", c.TcID)
						}
						continue
					}
					v := &Version{Spec: tc.spec, priv: &private{mldsa: k}}
					err := v.Verify("ML_DSA_SHAKE_256", MessageRaw, c.Msg, c.Sig)
					if (err == nil) != (c.Result == "valid") {
						t.Errorf("tc %d: Verify err = %v, Wycheproof says %s", c.TcID, err, c.Result)
					}
				}
			}
			if invalid == 0 {
				t.Fatal("no negative vectors")
			}
			t.Logf("%d vectors, %d invalid", n, invalid)
		})
	}
}

// mldsaPublic builds a verify-only ML-DSA key from public key bytes.
func mldsaPublic(spec Spec, b []byte) (mldsaKey, bool) {
	switch spec {
	case MLDSA44:
		var pk mldsa44.PublicKey
		if pk.UnmarshalBinary(b) != nil {
			return nil, false
		}
		return mldsa44Key{pub: &pk}, true
	case MLDSA65:
		var pk mldsa65.PublicKey
		if pk.UnmarshalBinary(b) != nil {
			return nil, false
		}
		return mldsa65Key{pub: &pk}, true
	default:
		var pk mldsa87.PublicKey
		if pk.UnmarshalBinary(b) != nil {
			return nil, false
		}
		return mldsa87Key{pub: &pk}, true
	}
}
