package envelope

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseHeader checks that the header parser never panics, never reads
// past the header it reports, and that what it accepts from this package's
// writer survives a marshal round trip.
func FuzzParseHeader(f *testing.F) {
	kr, err := NewRawAESKeyring("fuzz", "k", bytes.Repeat([]byte{1}, 32))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range bothSuites {
		var buf bytes.Buffer
		w, err := Encrypt(context.Background(), &buf, kr, &EncryptOptions{Suite: s, EncryptionContext: map[string]string{"a": "b", "ü": "x"}})
		if err != nil {
			f.Fatal(err)
		}
		w.Write([]byte("hello"))
		w.Close()
		f.Add(buf.Bytes())
	}
	golden, _ := filepath.Glob("testdata/golden/*.bin")
	for _, g := range golden {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{2, 5, 0x78})
	f.Add([]byte{1, 0x80, 0x01, 0x78})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		hd, err := ParseHeader(r, 100)
		if err != nil {
			return
		}
		used := len(b) - r.Len()
		authLen := tagLen
		if hd.Version == 1 {
			authLen += ivLen
		}
		if used != len(hd.body)+authLen || !bytes.Equal(b[:len(hd.body)], hd.body) {
			t.Fatalf("parser consumed %d bytes, header body %d", used, len(hd.body))
		}
		if _, err := serializeContext(hd.EncryptionContext); err != nil {
			t.Fatalf("parsed context does not serialize: %v", err)
		}
		body, err := hd.marshalBody()
		if err != nil {
			t.Fatalf("marshalBody: %v", err)
		}
		// The context may be stored unsorted by a foreign writer; the
		// rest of the header must match byte for byte.
		if len(body) != len(hd.body) {
			t.Fatalf("re-marshalled header body has %d bytes, parsed %d", len(body), len(hd.body))
		}
	})
}
