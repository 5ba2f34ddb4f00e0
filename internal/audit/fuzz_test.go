package audit

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseLine: the line parser used by verify, query and Open never
// panics, and what it accepts re-serializes to the same bytes.
func FuzzParseLine(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(Options{Dir: dir, Signer: testSigner()})
	if err != nil {
		f.Fatal(err)
	}
	l.Record(t0ctx, encryptEvent(1))
	l.Close()
	segs, _ := listSegments(dir)
	data, _ := os.ReadFile(filepath.Join(dir, segs[0].name))
	ls, _ := splitLines(data)
	for _, b := range ls {
		f.Add(b)
	}
	f.Add([]byte(`{,"trent":{"seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000"}}`))
	f.Add([]byte(`{"a":1,"trent":{"seq":01,"prev":"00"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ln, err := ParseLine(b)
		if err != nil {
			return
		}
		out := appendTrailer(append([]byte(nil), ln.Body...), ln.Node, ln.Seq, &ln.Prev)
		if string(out[:len(out)-1]) != string(b) {
			t.Fatalf("ParseLine(%q) accepted a line that does not re-serialize: %q", b, out)
		}
	})
}

// FuzzVerifySegment: verify never panics on any segment content, and a
// segment that is not the log's own is never reported clean unless it
// parses as a chain.
func FuzzVerifySegment(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(Options{Dir: dir, Signer: testSigner()})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		l.Record(t0ctx, encryptEvent(i))
	}
	l.Close()
	segs, _ := listSegments(dir)
	data, _ := os.ReadFile(filepath.Join(dir, segs[0].name))
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte("\n\n{}\n"))
	pub := &testSigner().PublicKey
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Report{}
		v := verifier{r: r, pub: pub, fp: Fingerprint(pub)}
		v.segment(segment{name: segmentName(1), first: 1}, data, true)
		if r.Problem == nil && r.Records+r.Digests > 0 && r.FirstSeq != 1 {
			t.Fatalf("a log that does not start at seq 1 verified: %+v", r)
		}
	})
}

// FuzzParsePublicKeyPEM: any public key file (trent audit verify) either
// does not parse, or gives an ECDSA key that crypto/x509 reads from the
// file's first PEM block too, and that PublicKeyPEM writes back as a file
// that parses to the same key.
func FuzzParsePublicKeyPEM(f *testing.F) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		k, _ := ecdsa.GenerateKey(c, rand.Reader)
		b, err := PublicKeyPEM(&k.PublicKey)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(append([]byte("junk\n"), b...))
	}
	ek, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(ek)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePublicKeyPEM(b)
		if err != nil {
			return
		}
		blk, _ := pem.Decode(b)
		ref, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil || !k.Equal(ref) {
			t.Fatalf("crypto/x509 reads %v (%v), ParsePublicKeyPEM %v", ref, err, k)
		}
		out, err := PublicKeyPEM(k)
		if err != nil {
			t.Fatalf("PublicKeyPEM of a parsed key: %v", err)
		}
		again, err := ParsePublicKeyPEM(out)
		if err != nil || !again.Equal(k) {
			t.Fatalf("round trip: %v, %v", again, err)
		}
	})
}
