package envelope

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

func mustRawAES(t testing.TB, name string) *RawAESKeyring {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := NewRawAESKeyring("trent-test", name, key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustEncrypt(t testing.TB, kr Keyring, pt []byte, opts *EncryptOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Encrypt(context.Background(), &buf, kr, opts)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func decryptAll(kr Keyring, msg []byte, opts *DecryptOptions) ([]byte, error) {
	r, err := Decrypt(context.Background(), bytes.NewReader(msg), kr, opts)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

var bothSuites = []Suite{SuiteAES256GCMHKDFSHA512CommitKey, SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384}

func TestRoundTripSmoke(t *testing.T) {
	kr := mustRawAES(t, "k1")
	for _, s := range bothSuites {
		pt := []byte("hello, world")
		msg := mustEncrypt(t, kr, pt, &EncryptOptions{Suite: s, EncryptionContext: map[string]string{"a": "b"}})
		got, err := decryptAll(kr, msg, nil)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%v: got %q, %v", s, got, err)
		}
	}
	_ = errors.Is
	_ = fmt.Sprint
	_ = iotest.TestReader
}
