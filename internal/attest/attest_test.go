package attest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/attest"
	"github.com/trent-kms/trent/internal/attest/attesttest"
	"github.com/trent-kms/trent/internal/awstest"
)

// TestRootG1Fingerprint: the embedded AWS Nitro Enclaves root has the
// SHA-256 fingerprint AWS publishes (verify-root.html).
func TestRootG1Fingerprint(t *testing.T) {
	block, _ := pem.Decode([]byte(attest.RootG1PEM))
	sum := sha256.Sum256(block.Bytes)
	const published = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
	if got := hex.EncodeToString(sum[:]); got != published || attest.RootG1SHA256 != published {
		t.Fatalf("fingerprint %s", got)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil || c.Subject.CommonName != "aws.nitro-enclaves" {
		t.Fatalf("root: %v %v", c.Subject, err)
	}
	if _, err := attest.Roots("", false); err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Roots("", true); err == nil {
		t.Fatal("Roots replacing the AWS root with no file: no error")
	}
}

func roots(t *testing.T, ca *attesttest.CA, replace bool) *x509.CertPool {
	t.Helper()
	p, err := attest.Roots(ca.WriteRoot(t), replace)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerify(t *testing.T) {
	ca := attesttest.NewValidCA(t)
	e := attesttest.NewEnclave(t, 0xab)
	doc, err := attest.Verify(ca.Document(t, e), roots(t, ca, false), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if doc.ModuleID != e.ModuleID || doc.PCRHex(0) != hex.EncodeToString(e.PCRs[0]) || doc.PCRHex(8) == "" ||
		doc.PCRHex(5) != "" || !doc.PublicKey.Equal(&e.Key.PublicKey) {
		t.Fatalf("document %+v", doc)
	}
	// The tagged form (COSE_Sign1 tag 18) reads the same.
	if _, err := attest.Verify(append([]byte{0xd2}, ca.Document(t, e)...), roots(t, ca, true), time.Now()); err != nil {
		t.Fatalf("tagged: %v", err)
	}
}

// TestVerifyRefuses: what KMS must not trust.
func TestVerifyRefuses(t *testing.T) {
	ca := attesttest.NewValidCA(t)
	pool := roots(t, ca, false)
	e := attesttest.NewEnclave(t, 1)
	now := time.Now()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPub, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	with := func(change func(map[string]any)) []byte {
		p := ca.Payload(t, e)
		change(p)
		return ca.Sign(t, p)
	}
	good := ca.Document(t, e)
	for name, doc := range map[string][]byte{
		"untrusted CA":   attesttest.NewValidCA(t).Document(t, e),
		"expired leaf":   attesttest.NewCA(t, now.Add(-3*time.Hour), now.Add(-time.Hour)).Document(t, e),
		"leaf no digSig": ca.WithLeafKeyUsage(t, x509.KeyUsageKeyEncipherment).Document(t, e),
		"leaf no KU":     ca.WithLeafKeyUsage(t, 0).Document(t, e),
		"tampered PCR0":  ca.Tampered(t, ca.Payload(t, e), func(p map[string]any) { p["pcrs"] = map[int][]byte{0: bytes.Repeat([]byte{2}, 48)} }),
		"tampered key":   ca.Tampered(t, ca.Payload(t, e), func(p map[string]any) { p["module_id"] = "i-other" }),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(bytes.Clone(good), 0),
		"empty":          nil,
		"no public key":  with(func(p map[string]any) { delete(p, "public_key") }),
		"EC public key":  with(func(p map[string]any) { p["public_key"] = ecPub }),
		"SHA256 digest":  with(func(p map[string]any) { p["digest"] = "SHA256" }),
		"short PCR":      with(func(p map[string]any) { p["pcrs"] = map[int][]byte{0: {1, 2, 3}} }),
		"no module_id":   with(func(p map[string]any) { p["module_id"] = "" }),
		"no cabundle":    with(func(p map[string]any) { p["cabundle"] = [][]byte{} }),
		"big user_data":  with(func(p map[string]any) { p["user_data"] = make([]byte, 513) }),
		"not CBOR":       []byte("hello"),
		"oversized":      make([]byte, attest.MaxDocument+1),
	} {
		if _, err := attest.Verify(doc, pool, now); !errors.Is(err, attest.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	// Only the configured roots count: replacing the AWS root with another
	// CA's refuses this CA's documents.
	if _, err := attest.Verify(good, roots(t, attesttest.NewValidCA(t), true), now); !errors.Is(err, attest.ErrInvalid) {
		t.Errorf("document of a CA not among the roots: %v", err)
	}
	// The AWS root alone refuses the test CA.
	aws, _ := attest.Roots("", false)
	if _, err := attest.Verify(good, aws, now); !errors.Is(err, attest.ErrInvalid) {
		t.Errorf("test CA under the AWS root: %v", err)
	}
}

// TestSeal: the envelope opens with the Go decoder of attesttest (which
// reads it as the Nitro Enclaves SDK does: in KMS's BER layout only) and
// with `openssl cms -decrypt`.
func TestSeal(t *testing.T) {
	e := attesttest.NewEnclave(t, 1)
	for _, n := range []int{0, 1, 15, 16, 17, 1024} {
		secret := make([]byte, n)
		rand.Read(secret)
		ct, err := attest.Seal(&e.Key.PublicKey, secret)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Open(ct)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("%d bytes: Open = %x, %v", n, got, err)
		}
		if n == 0 {
			continue // openssl writes nothing either way
		}
		dir := t.TempDir()
		in, key := filepath.Join(dir, "ct.der"), filepath.Join(dir, "key.pem")
		must(t, os.WriteFile(in, ct, 0o600))
		must(t, os.WriteFile(key, e.KeyPEM(t), 0o600))
		if got := awstest.OpenSSL(t, "cms", "-decrypt", "-inform", "DER", "-in", in, "-inkey", key); !bytes.Equal(got, secret) {
			t.Fatalf("%d bytes: openssl cms -decrypt = %x", n, got)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzVerify: no document, however malformed, panics the parser or is
// accepted without the signature of a trusted CA. The seeds run as a test:
// testdata/fuzz/FuzzVerify holds a document of attesttest's (a test CA's:
// only the AWS root is trusted here) whole, tagged, truncated and
// tampered, made once so that no fuzzing worker generates RSA keys.
func FuzzVerify(f *testing.F) {
	f.Add([]byte{0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Add([]byte{0x9f, 0x9f, 0x9f, 0xff, 0xff, 0xff})
	f.Add([]byte{0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x40})
	p, err := attest.Roots("", false)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, doc []byte) {
		if d, err := attest.Verify(doc, p, now); err == nil || d != nil || !errors.Is(err, attest.ErrInvalid) {
			t.Fatalf("Verify = %v, %v", d, err)
		}
	})
}
