package kms

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/awstest"
)

// opensslPath and openssl are awstest's (OpenSSL cross-checks of several
// packages).
func opensslPath(t testing.TB) string { t.Helper(); return awstest.OpenSSLPath(t) }

func openssl(t testing.TB, args ...string) []byte { t.Helper(); return awstest.OpenSSL(t, args...) }

// opensslFails runs openssl and reports whether it exited non-zero.
func opensslFails(t *testing.T, args ...string) bool {
	t.Helper()
	return exec.Command(opensslPath(t), args...).Run() != nil
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	return writeFile(t, dir, name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// genpkey makes a private key with openssl and returns it as PKCS #8 DER
// and the path of its PEM file.
func genpkey(t *testing.T, dir, name string, args ...string) ([]byte, string) {
	t.Helper()
	p := filepath.Join(dir, name+".pem")
	openssl(t, append(append([]string{"genpkey"}, args...), "-out", p)...)
	der := openssl(t, "pkcs8", "-topk8", "-nocrypt", "-in", p, "-outform", "DER")
	return der, p
}

func sum(alg string, msg []byte) []byte {
	switch {
	case strings.HasSuffix(alg, "SHA_384"):
		s := sha512.Sum384(msg)
		return s[:]
	case strings.HasSuffix(alg, "SHA_512"):
		s := sha512.Sum512(msg)
		return s[:]
	}
	s := sha256.Sum256(msg)
	return s[:]
}

func digestName(alg string) string {
	switch {
	case strings.HasSuffix(alg, "SHA_384"):
		return "sha384"
	case strings.HasSuffix(alg, "SHA_512"):
		return "sha512"
	}
	return "sha256"
}
