package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
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
	if code, out := kmscheck(t, check, s.URL); code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "40 of 40 checks passed") {
		t.Errorf("kmscheck against trent: exit %d\n%s", code, out)
	}

	stub, err := tryStartCmd(t, exec.Command(buildTool(t, "./tools/kmsstub"), "-addr", "127.0.0.1:0"), []string{"kmsstub"})
	if err != nil {
		t.Fatalf("start kmsstub: %v\n%s", err, stub.log)
	}
	if code, out := kmscheck(t, check, stub.URL); code != 1 || strings.Count(out, "FAIL") < 20 {
		t.Errorf("kmscheck against the stub: exit %d, want 1 and most checks failing\n%s", code, out)
	}
}

// TestKMSCheckPostgres runs tools/kmscheck against a node of a two-node
// cluster on PostgreSQL, as its administrator: the same behaviours on the
// shared store (serializable transactions, the alias quota counted in
// storage, the change feed).
func TestKMSCheckPostgres(t *testing.T) {
	t.Parallel()
	check := buildTool(t, "./tools/kmscheck")
	c := startNodes(t, pgtest.URL(t), 2)
	code, out := kmscheck(t, check, c.s[1].URL, "AWS_ACCESS_KEY_ID="+c.creds.AccessKey, "AWS_SECRET_ACCESS_KEY="+c.creds.Secret)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "40 of 40 checks passed") {
		t.Errorf("kmscheck against a PostgreSQL node: exit %d\n%s", code, out)
	}
}

// kmscheck runs the kmscheck binary against url with the environment of a
// trent process plus env, and returns its exit status and output.
func kmscheck(t *testing.T, bin, url string, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "--endpoint", url)
	cmd.Env = append(serverEnv(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("kmscheck: %v", err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}
