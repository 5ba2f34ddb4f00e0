package interop

import (
	"os/exec"
	"strings"
	"testing"
)

// The official AWS Encryption SDK for Go (Dafny-generated, with the Material
// Providers Library) decrypts every golden message and every message of
// envelope, and envelope decrypts its messages: interop/esdk-go, a module of
// its own so that trent's go.mod does not depend on the SDK. Its first build
// downloads and compiles many modules (a minute or two), so it runs under CI
// (or with TRENT_TEST_ESDK_GO=1) and is skipped otherwise.
func TestOfficialGoEncryptionSDK(t *testing.T) {
	needSlowBuild(t, "TRENT_TEST_ESDK_GO", "official Go AWS Encryption SDK cross-check")
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = "esdk-go"
	out, err := cmd.CombinedOutput()
	t.Logf("esdk-go:\n%s", out)
	if err != nil {
		t.Fatalf("go run ./interop/esdk-go: %v", err)
	}
	if !strings.Contains(string(out), "total failures 0") {
		t.Fatal("esdk-go did not report zero failures")
	}
}
