package awstest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// OpenSSLPath finds the openssl binary: a test that needs it skips loudly
// without it, and fails under CI=true (.ci/run installs it).
func OpenSSLPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not found; .ci/run installs it")
		}
		t.Skip("SKIPPED: openssl not found (install the openssl package): OpenSSL cross-checks not run")
	}
	return p
}

// OpenSSL runs openssl with args and returns its standard output.
func OpenSSL(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(OpenSSLPath(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}
