package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildTool builds the command of the repository at dir (./tools/NAME) into
// the test's temporary directory and returns its path.
func buildTool(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	build := exec.Command("go", "build", "-o", bin, dir)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// TestKMSCheck runs tools/kmscheck, the behaviours of AWS KMS that
// emulators get wrong (docs/api-coverage.md), against a dev server: every
// check passes. Against the bare stub, which answers Encrypt and Decrypt
// only, the checks must fail: they can.
func TestKMSCheck(t *testing.T) {
	t.Parallel()
	check := buildTool(t, "./tools/kmscheck")
	s := startServer(t, "server", "--dev", "--addr", "127.0.0.1:0")
	cmd := exec.Command(check, "--endpoint", s.URL)
	cmd.Env = serverEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "FAIL") || !strings.Contains(string(out), "32 of 32 checks passed") {
		t.Errorf("kmscheck against trent: %v\n%s", err, out)
	}

	stub, err := tryStartCmd(t, exec.Command(buildTool(t, "./tools/kmsstub"), "-addr", "127.0.0.1:0"), []string{"kmsstub"})
	if err != nil {
		t.Fatalf("start kmsstub: %v\n%s", err, stub.log)
	}
	cmd = exec.Command(check, "--endpoint", stub.URL)
	cmd.Env = serverEnv()
	out, err = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || strings.Count(string(out), "FAIL") < 20 {
		t.Errorf("kmscheck against the stub: exit %d (%v), want 1 and most checks failing\n%s", code, err, out)
	}
}
