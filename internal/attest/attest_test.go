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
	"strings"
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
	// The optional members, user_data and nonce, may be absent, null (as the
	// NSM writes them when it has none) or byte strings, empty too.
	for name, change := range map[string]func(map[string]any){
		"absent":  func(p map[string]any) { delete(p, "user_data"); delete(p, "nonce") },
		"null":    func(p map[string]any) { p["user_data"], p["nonce"] = nil, nil },
		"empty":   func(p map[string]any) { p["user_data"], p["nonce"] = []byte{}, []byte{} },
		"present": func(p map[string]any) { p["user_data"], p["nonce"] = []byte("user"), make([]byte, 512) },
	} {
		p := ca.Payload(t, e)
		change(p)
		if _, err := attest.Verify(ca.Sign(t, p), roots(t, ca, true), time.Now()); err != nil {
			t.Errorf("user_data and nonce %s: %v", name, err)
		}
	}
}

// malformed returns documents that ca signs but that are not attestation
// documents as AWS's NSM writes them (attestation_process.md, 3.1 and
// 3.2.2): the COSE_Sign1 array, its headers, the payload's members and
// their CBOR types.
func malformed(t testing.TB, ca *attesttest.CA, e *attesttest.Enclave) map[string][]byte {
	t.Helper()
	enc := func(v any) []byte { return attesttest.Encode(t, v) }
	ints := func(b []byte) []int { // a byte string as an array of integers
		a := make([]int, len(b))
		for i, c := range b {
			a[i] = int(c)
		}
		return a
	}
	good := enc(ca.Payload(t, e))
	cose := func(change func([]any) []any) []byte {
		return enc(change(ca.SignCOSE(t, attesttest.ES384, map[any]any{}, good)))
	}
	headers := func(protected []byte, unprotected any) []byte {
		return enc(ca.SignCOSE(t, protected, unprotected, good))
	}
	with := func(change func(map[any]any)) []byte {
		p := map[any]any{}
		for k, v := range ca.Payload(t, e) {
			p[k] = v
		}
		change(p)
		return enc(ca.SignCOSE(t, attesttest.ES384, map[any]any{}, enc(p)))
	}
	docs := map[string][]byte{
		"COSE of 3":               cose(func(m []any) []any { return m[:3] }),
		"COSE of 5":               cose(func(m []any) []any { return append(m, []byte{}) }),
		"COSE map":                cose(func(m []any) []any { return []any{map[int]any{0: m[0], 1: m[1], 2: m[2], 3: m[3]}} }),
		"protected as ints":       cose(func(m []any) []any { m[0] = ints(m[0].([]byte)); return m }),
		"protected unwrapped":     cose(func(m []any) []any { m[0] = map[int]int{1: -35}; return m }),
		"payload as ints":         cose(func(m []any) []any { m[2] = ints(m[2].([]byte)); return m }),
		"payload unwrapped":       cose(func(m []any) []any { m[2] = ca.Payload(t, e); return m }),
		"signature as ints":       cose(func(m []any) []any { m[3] = ints(m[3].([]byte)); return m }),
		"protected with kid":      headers(enc(map[int]any{1: -35, 4: []byte("kid")}), map[any]any{}),
		"protected ES256":         headers(enc(map[int]any{1: -7}), map[any]any{}),
		"protected empty map":     headers(enc(map[int]any{}), map[any]any{}),
		"protected empty":         headers([]byte{}, map[any]any{}),
		"protected not shortest":  headers([]byte{0xa1, 0x18, 0x01, 0x38, 0x22}, map[any]any{}),
		"protected alg text":      headers(enc(map[any]any{"1": -35}), map[any]any{}),
		"unprotected with kid":    headers(attesttest.ES384, map[int]any{4: []byte("kid")}),
		"unprotected with alg":    headers(attesttest.ES384, map[int]any{1: -35}),
		"unprotected null":        headers(attesttest.ES384, nil),
		"unprotected bstr":        headers(attesttest.ES384, []byte{}),
		"unprotected array":       headers(attesttest.ES384, []any{}),
		"payload array":           enc(ca.SignCOSE(t, attesttest.ES384, map[any]any{}, enc([]any{"module_id", e.ModuleID}))),
		"payload empty map":       enc(ca.SignCOSE(t, attesttest.ES384, map[any]any{}, enc(map[any]any{}))),
		"payload trailing byte":   enc(ca.SignCOSE(t, attesttest.ES384, map[any]any{}, append(bytes.Clone(good), 0xf6))),
		"extra member":            with(func(p map[any]any) { p["extra"] = []byte{} }),
		"extra null member":       with(func(p map[any]any) { p["instance_id"] = nil }),
		"integer member name":     with(func(p map[any]any) { p[1] = "x" }),
		"bstr member name":        with(func(p map[any]any) { delete(p, "nonce"); p[[5]byte{'n', 'o', 'n', 'c', 'e'}] = nil }),
		"member name in capitals": with(func(p map[any]any) { p["MODULE_ID"] = p["module_id"]; delete(p, "module_id") }),
		"module_id bstr":          with(func(p map[any]any) { p["module_id"] = []byte(e.ModuleID) }),
		"digest bstr":             with(func(p map[any]any) { p["digest"] = []byte("SHA384") }),
		"timestamp text":          with(func(p map[any]any) { p["timestamp"] = "1700000000000" }),
		"timestamp negative":      with(func(p map[any]any) { p["timestamp"] = -1 }),
		"timestamp float":         with(func(p map[any]any) { p["timestamp"] = 1.7e12 }),
		"timestamp zero":          with(func(p map[any]any) { p["timestamp"] = 0 }),
		"pcrs array":              with(func(p map[any]any) { p["pcrs"] = [][]byte{e.PCRs[0]} }),
		"pcr index text":          with(func(p map[any]any) { p["pcrs"] = map[string][]byte{"0": e.PCRs[0]} }),
		"pcr index negative":      with(func(p map[any]any) { p["pcrs"] = map[int][]byte{-1: e.PCRs[0]} }),
		"pcr index 32":            with(func(p map[any]any) { p["pcrs"] = map[int][]byte{32: e.PCRs[0]} }),
		"pcr as ints":             with(func(p map[any]any) { p["pcrs"] = map[int]any{0: ints(e.PCRs[0])} }),
		"pcr text":                with(func(p map[any]any) { p["pcrs"] = map[int]any{0: string(e.PCRs[0])} }),
		"pcr null":                with(func(p map[any]any) { p["pcrs"] = map[int]any{0: e.PCRs[0], 1: nil} }),
		"certificate as ints":     with(func(p map[any]any) { p["certificate"] = ints(ca.Leaf.Raw) }),
		"cabundle bstr":           with(func(p map[any]any) { p["cabundle"] = ca.Root.Raw }),
		"cabundle entry as ints":  with(func(p map[any]any) { p["cabundle"] = []any{ints(ca.Root.Raw)} }),
		"cabundle entry null":     with(func(p map[any]any) { p["cabundle"] = []any{ca.Root.Raw, nil} }),
		"public_key text":         with(func(p map[any]any) { p["public_key"] = string(p["public_key"].([]byte)) }),
		"public_key as ints":      with(func(p map[any]any) { p["public_key"] = ints(p["public_key"].([]byte)) }),
		"public_key null":         with(func(p map[any]any) { p["public_key"] = nil }),
		"user_data text":          with(func(p map[any]any) { p["user_data"] = "user" }),
		"user_data as ints":       with(func(p map[any]any) { p["user_data"] = []int{1, 2} }),
		"user_data false":         with(func(p map[any]any) { p["user_data"] = false }),
		"nonce as ints":           with(func(p map[any]any) { p["nonce"] = []int{1, 2} }),
		"nonce map":               with(func(p map[any]any) { p["nonce"] = map[int]int{} }),
		"big nonce":               with(func(p map[any]any) { p["nonce"] = make([]byte, 513) }),
		"duplicate member":        duplicateNonce(t, ca, e),
		"tagged twice":            append([]byte{0xd2, 0xd2}, ca.Document(t, e)...),
		"tagged payload":          enc(ca.SignCOSE(t, attesttest.ES384, map[any]any{}, append([]byte{0xd8, 0x18}, good...))),
	}
	for _, name := range []string{"module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle"} {
		docs["no "+name] = with(func(p map[any]any) { delete(p, name) })
		docs["null "+name] = with(func(p map[any]any) { p[name] = nil })
	}
	return docs
}

// duplicateNonce is e's document with a second nonce member.
func duplicateNonce(t testing.TB, ca *attesttest.CA, e *attesttest.Enclave) []byte {
	t.Helper()
	p := attesttest.Encode(t, ca.Payload(t, e))
	if p[0] != 0xa9 { // a map of 9 members
		t.Fatalf("payload starts with %x", p[0])
	}
	p = append([]byte{0xaa}, p[1:]...)
	p = append(p, attesttest.Encode(t, "nonce")...)
	p = append(p, 0x40)
	return attesttest.Encode(t, ca.SignCOSE(t, attesttest.ES384, map[any]any{}, p))
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
	for name, doc := range malformed(t, ca, e) {
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

// TestVerifyTimestamp: a document's timestamp must fall within its
// certificate's validity and be at most 5 minutes ahead of the verifier's
// clock; an older document of a certificate still valid is taken (AWS does
// not document how fresh KMS wants one).
func TestVerifyTimestamp(t *testing.T) {
	now := time.Now()
	ca := attesttest.NewCA(t, now.Add(-time.Hour), now.Add(time.Hour))
	endsSoon := attesttest.NewCA(t, now.Add(-time.Hour), now.Add(time.Minute))
	e := attesttest.NewEnclave(t, 1)
	pool := roots(t, ca, true)
	pool.AddCert(endsSoon.Root)
	for _, tc := range []struct {
		name string
		ca   *attesttest.CA
		ts   time.Time
		ok   bool
	}{
		{"now", ca, now, true},
		{"an hour old, the certificate's start", ca, ca.Leaf.NotBefore, true},
		{"4 minutes ahead", ca, now.Add(4 * time.Minute), true},
		{"5 minutes ahead", ca, now.Add(5 * time.Minute), true},
		{"before the certificate", ca, ca.Leaf.NotBefore.Add(-time.Millisecond), false},
		{"5 minutes and 1 ms ahead", ca, now.Add(5*time.Minute + time.Millisecond), false},
		{"a day ahead", ca, now.Add(24 * time.Hour), false},
		{"at the certificate's end", endsSoon, endsSoon.Leaf.NotAfter, true},
		{"after the certificate", endsSoon, endsSoon.Leaf.NotAfter.Add(time.Millisecond), false},
		{"1970", ca, time.UnixMilli(1), false},
	} {
		p := tc.ca.Payload(t, e)
		p["timestamp"] = uint64(tc.ts.UnixMilli())
		d, err := attest.Verify(tc.ca.Sign(t, p), pool, now)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && !errors.Is(err, attest.ErrInvalid):
			t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
		case tc.ok && !d.Timestamp.Equal(tc.ts.Truncate(time.Millisecond)):
			t.Errorf("%s: Timestamp %v, want %v", tc.name, d.Timestamp, tc.ts)
		}
	}
}

// TestVerifyNSMDocument: documents of real NSMs (published in public
// repositories): one of 2024-12-20 (us-east-1), whose payload is a map of
// definite length, and one of 2026-02-02 (us-east-2), an indefinite-length
// map, as the NSM writes them now. Each passes every check of Verify
// (syntax, chain to the AWS root, key usages, timestamp, signature) up to
// its public_key, a 5-byte placeholder that no Recipient could use; with
// one bit of its signature changed, the signature fails.
func TestVerifyNSMDocument(t *testing.T) {
	pool, err := attest.Roots("", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		at   time.Time // its timestamp
	}{
		{"nsm-2024-12-20.cbor", time.UnixMilli(1734653634557)},
		{"nsm-2026-02-02.cbor", time.UnixMilli(1770065027502)},
	} {
		doc, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		const last = "public_key: not a DER RSA public key"
		if _, err := attest.Verify(doc, pool, tc.at); !errors.Is(err, attest.ErrInvalid) || !strings.HasSuffix(err.Error(), last) {
			t.Errorf("Verify(%s) = %v, want the refusal of its public_key alone (%q)", tc.file, err, last)
		}
		bad := bytes.Clone(doc)
		bad[len(bad)-1] ^= 1
		if _, err := attest.Verify(bad, pool, tc.at); !errors.Is(err, attest.ErrInvalid) || !strings.HasSuffix(err.Error(), "bad signature") {
			t.Errorf("Verify(%s, signature changed) = %v, want bad signature", tc.file, err)
		}
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
// tampered, and some of malformed's signed documents, made once so that no
// fuzzing worker generates RSA keys.
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
