package keys

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/trent-kms/trent/internal/secret"
)

// The Wycheproof vectors (C2SP/wycheproof, pinned as Tink pins it) are
// fetched at test time through the Go module proxy, as Go's own crypto
// tests fetch theirs; nothing is committed. Offline the tests skip loudly;
// under CI=true they fail.
const wycheproofModule = "github.com/C2SP/wycheproof@v0.0.0-20240408230514-cd27d6419bed"

var wycheproofOnce = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", wycheproofModule).Output()
	if err != nil {
		return "", err
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", os.ErrNotExist
	}
	return filepath.Join(m.Dir, "testvectors_v1"), nil
})

func wycheproof(t *testing.T, file string, v any) {
	t.Helper()
	dir, err := wycheproofOnce()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go mod download %s: %v", wycheproofModule, err)
		}
		t.Skipf("SKIPPED: Wycheproof vectors not reachable (go mod download %s: %v)", wycheproofModule, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

type wpTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Key     hexBytes `json:"key"`
	Msg     hexBytes `json:"msg"`
	Ct      hexBytes `json:"ct"`
	Sig     hexBytes `json:"sig"`
	Tag     hexBytes `json:"tag"`
	Label   hexBytes `json:"label"`
	Public  hexBytes `json:"public"`
	Private hexBytes `json:"private"`
	Shared  hexBytes `json:"shared"`
	Result  string   `json:"result"`
}

type wpFile struct {
	TestGroups []struct {
		KeySize         int      `json:"keySize"`
		TagSize         int      `json:"tagSize"`
		PublicKeyDer    hexBytes `json:"publicKeyDer"`
		PrivateKeyPkcs8 hexBytes `json:"privateKeyPkcs8"`
		Tests           []wpTest `json:"tests"`
	} `json:"testGroups"`
}

// check compares an outcome with Wycheproof's verdict ("acceptable" may go
// either way) and counts the negative vectors run.
func wpCheck(t *testing.T, file string, tc wpTest, ok bool, invalid *int) {
	t.Helper()
	if tc.Result == "invalid" {
		*invalid++
	}
	if tc.Result != "acceptable" && ok != (tc.Result == "valid") {
		t.Errorf("%s tc %d (%s): ok = %v, Wycheproof says %s", file, tc.TcID, tc.Comment, ok, tc.Result)
	}
}

func wpDone(t *testing.T, file string, invalid int) {
	t.Helper()
	if invalid == 0 {
		t.Fatalf("%s: no negative vectors ran", file)
	}
	t.Logf("%s: %d negative vectors", file, invalid)
}

func TestWycheproofKWP(t *testing.T) {
	t.Parallel()
	var f wpFile
	wycheproof(t, "aes_kwp_test.json", &f)
	invalid := 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			pt, err := unwrapKWP(tc.Key, tc.Ct)
			wpCheck(t, "aes_kwp", tc, err == nil && string(pt) == string(tc.Msg), &invalid)
		}
	}
	wpDone(t, "aes_kwp", invalid)
}

// TestWycheproofECDH: DeriveSharedSecret with Wycheproof's private keys and
// peer public keys (invalid points, wrong curves, bad encodings refused).
func TestWycheproofECDH(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file string
		spec Spec
	}{{"ecdh_secp256r1_test.json", ECCNISTP256}, {"ecdh_secp384r1_test.json", ECCNISTP384}, {"ecdh_secp521r1_test.json", ECCNISTP521}} {
		var f wpFile
		wycheproof(t, c.file, &f)
		invalid := 0
		for _, g := range f.TestGroups {
			for _, tc := range g.Tests {
				d := tc.Private
				for len(d) > 0 && d[0] == 0 {
					d = d[1:]
				}
				size := (curveOf(c.spec).Params().BitSize + 7) / 8
				if len(d) > size {
					t.Fatalf("tc %d: private key too long", tc.TcID)
				}
				k, err := ecdsa.ParseRawPrivateKey(curveOf(c.spec), append(make([]byte, size-len(d)), d...))
				if err != nil {
					t.Fatalf("tc %d: %v", tc.TcID, err)
				}
				der, _ := x509.MarshalPKCS8PrivateKey(k)
				v, err := NewVersion(c.spec, keyID, 1, secret.New(der), NewMaterialID(), time.Now(), "")
				if err != nil {
					t.Fatal(err)
				}
				z, err := v.DeriveSharedSecret(tc.Public)
				wpCheck(t, c.file, tc, err == nil && string(z) == string(tc.Shared), &invalid)
			}
		}
		wpDone(t, c.file, invalid)
	}
}

// verifyOnly builds a version that can verify (not sign) with public key der.
func verifyOnly(t *testing.T, spec Spec, der []byte) *Version {
	t.Helper()
	p := &private{}
	if spec == ECCSECGP256K1 {
		s, err := parseSPKI(der)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := secp256k1.ParsePubKey(s.PublicKey.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		p.k256Pub = pk
	} else {
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		switch pub := pub.(type) {
		case *ecdsa.PublicKey:
			p.ec = &ecdsa.PrivateKey{PublicKey: *pub}
		case *rsa.PublicKey:
			p.rsa = &rsa.PrivateKey{PublicKey: *pub}
		}
	}
	return &Version{Spec: spec, priv: p}
}

// TestWycheproofSignatures: Version.Verify (RAW) against Wycheproof's
// ECDSA (DER), RSASSA-PKCS1-v1_5 and RSASSA-PSS (salt 32) vectors.
func TestWycheproofSignatures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file, alg string
		spec      Spec
	}{
		{"ecdsa_secp256r1_sha256_test.json", "ECDSA_SHA_256", ECCNISTP256},
		{"ecdsa_secp384r1_sha384_test.json", "ECDSA_SHA_384", ECCNISTP384},
		{"ecdsa_secp521r1_sha512_test.json", "ECDSA_SHA_512", ECCNISTP521},
		{"ecdsa_secp256k1_sha256_test.json", "ECDSA_SHA_256", ECCSECGP256K1},
		{"rsa_signature_2048_sha256_test.json", "RSASSA_PKCS1_V1_5_SHA_256", RSA2048},
		{"rsa_pss_2048_sha256_mgf1_32_test.json", "RSASSA_PSS_SHA_256", RSA2048},
	} {
		var f wpFile
		wycheproof(t, c.file, &f)
		invalid := 0
		for _, g := range f.TestGroups {
			v := verifyOnly(t, c.spec, g.PublicKeyDer)
			for _, tc := range g.Tests {
				err := v.Verify(c.alg, MessageRaw, tc.Msg, tc.Sig)
				wpCheck(t, c.file, tc, err == nil, &invalid)
			}
		}
		wpDone(t, c.file, invalid)
	}
}

// TestWycheproofOAEP: Version.Decrypt with Wycheproof's RSA-OAEP vectors
// (empty label only: KMS uses none).
func TestWycheproofOAEP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ file, alg string }{
		{"rsa_oaep_2048_sha1_mgf1sha1_test.json", "RSAES_OAEP_SHA_1"},
		{"rsa_oaep_2048_sha256_mgf1sha256_test.json", "RSAES_OAEP_SHA_256"},
	} {
		var f wpFile
		wycheproof(t, c.file, &f)
		invalid := 0
		for _, g := range f.TestGroups {
			v, err := NewVersion(RSA2048, keyID, 1, secret.Copy(g.PrivateKeyPkcs8), NewMaterialID(), time.Now(), "")
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range g.Tests {
				if len(tc.Label) != 0 {
					continue
				}
				pt, err := v.Decrypt(c.alg, tc.Ct)
				wpCheck(t, c.file, tc, err == nil && string(pt) == string(tc.Msg), &invalid)
			}
		}
		wpDone(t, c.file, invalid)
	}
}

// TestWycheproofHMAC: VerifyMAC with Wycheproof's HMAC-SHA256 vectors
// whose keys an HMAC_256 key can hold (32..64 bytes) and whose tags are
// full length (KMS compares whole MACs).
func TestWycheproofHMAC(t *testing.T) {
	t.Parallel()
	var f wpFile
	wycheproof(t, "hmac_sha256_test.json", &f)
	invalid := 0
	for _, g := range f.TestGroups {
		if g.TagSize != 256 || g.KeySize < 256 || g.KeySize > 512 {
			continue
		}
		for _, tc := range g.Tests {
			v, err := NewVersion(HMAC256, keyID, 1, secret.Copy(tc.Key), NewMaterialID(), time.Now(), "")
			if err != nil {
				t.Fatalf("tc %d: %v", tc.TcID, err)
			}
			wpCheck(t, "hmac_sha256", tc, v.VerifyMAC("HMAC_SHA_256", tc.Msg, tc.Tag) == nil, &invalid)
		}
	}
	wpDone(t, "hmac_sha256", invalid)
}
