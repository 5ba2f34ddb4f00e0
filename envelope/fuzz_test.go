package envelope

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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

// goldenStream is the plaintext of testdata/golden (manifest.json): every
// golden message holds its first n bytes.
func goldenStream(n int) []byte {
	var b []byte
	for i := uint32(0); len(b) < n; i++ {
		sum := sha256.Sum256(binary.BigEndian.AppendUint32([]byte("trent-golden-plaintext"), i))
		b = append(b, sum[:]...)
	}
	return b[:n]
}

// FuzzDecrypt decrypts any message (the input of `trent decrypt`) with the
// golden key. Every message under that key holds a prefix of goldenStream,
// so whatever Decrypt releases, before an error or not, must be one; Read
// and WriteTo must agree. Non-committing version 1 messages are allowed, to
// reach their parser too.
func FuzzDecrypt(f *testing.F) {
	key, _ := hex.DecodeString("18194c970de9ab276e3b64f653b741a189e0c6bf16220f28f22b4f255bbbe4d5")
	kr, err := NewRawAESKeyring("trent-golden", "golden-key-1", key)
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{"v2-0478-f1-n10", "v2-0478-f128-n129", "v2-0578-f128-n129", "v1-0378-f128-n1000", "v1-0178-f4096-n5000"} {
		b, err := os.ReadFile(filepath.Join("testdata/golden", name+".bin"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range bothSuites {
		for _, n := range []int{0, 3, 7} {
			f.Add(mustEncrypt(f, kr, goldenStream(n), &EncryptOptions{Suite: s, FrameSize: 3}))
		}
	}
	opts := &DecryptOptions{CommitmentPolicy: RequireEncryptAllowDecrypt, MaxEncryptedDataKeys: 3, MaxFrameSize: 1 << 16}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := readUntilError(kr, msg, opts)
		if !bytes.Equal(got, goldenStream(len(got))) {
			t.Fatalf("released %d bytes that are not the plaintext (err %v)", len(got), err)
		}
		var out bytes.Buffer
		var err2 error
		if r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, opts); err != nil {
			err2 = err
		} else {
			_, err2 = r.WriteTo(&out)
		}
		if (err == nil) != (err2 == nil) || err == nil && !bytes.Equal(got, out.Bytes()) {
			t.Fatalf("Read: %d bytes, %v; WriteTo: %d bytes, %v", len(got), err, out.Len(), err2)
		}
	})
}
