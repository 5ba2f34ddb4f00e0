package interop

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestSOPS runs SOPS (github.com/getsops/sops, the release pinned in
// interop/sops/go.mod, a module of its own) against a dev server: a file
// encrypted with a key ARN and an encryption context, and with an alias
// ARN, decrypts; a changed encryption context in the file does not; `sops
// rotate` makes a new data key under the same KMS key. Its first build
// downloads and compiles many modules (about a minute), so it runs under CI
// (or with TRENT_TEST_SOPS=1) and is skipped otherwise.
func TestSOPS(t *testing.T) {
	needSlowBuild(t, "TRENT_TEST_SOPS", "SOPS interop")
	t.Parallel()
	sops := filepath.Join(t.TempDir(), "sops")
	build := exec.Command("go", "build", "-o", sops, "github.com/getsops/sops/v3/cmd/sops")
	build.Dir = "sops"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build sops (interop/sops): %v\n%s", err, out)
	}
	h := newHarness(t)
	if _, err := h.client.CreateAlias(ctxFor(t), &kms.CreateAliasInput{AliasName: aws.String("alias/sops"), TargetKeyId: aws.String(h.keyARN)}); err != nil {
		t.Fatal(err)
	}
	aliasARN := "arn:aws:kms:" + devRegion + ":" + devAccount + ":alias/sops"
	plain := filepath.Join(h.dir, "secrets.yaml")
	if err := os.WriteFile(plain, []byte("db:\n  password: hunter2\n  user: app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	decrypt := func(path string) ([]byte, error) {
		return h.try(sops, "--disable-version-check", "--decrypt", path)
	}
	for name, key := range map[string]string{"key ARN": h.keyARN, "alias ARN": aliasARN} {
		enc := filepath.Join(h.dir, strings.ReplaceAll(name, " ", "-")+".enc.yaml")
		out := h.run(sops, "--disable-version-check", "--encrypt", "--kms", key, "--encryption-context", "env:prod,app:web", plain)
		if bytes.Contains(out, []byte("hunter2")) || !bytes.Contains(out, []byte("ENC[AES256_GCM,")) || !bytes.Contains(out, []byte(key)) {
			t.Fatalf("%s: sops --encrypt wrote:\n%s", name, out)
		}
		if err := os.WriteFile(enc, out, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := decrypt(enc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Contains(got, []byte("password: hunter2")) || !bytes.Contains(got, []byte("user: app")) {
			t.Fatalf("%s: sops --decrypt wrote:\n%s", name, got)
		}

		// The data key is bound to the encryption context: the file with
		// another context does not decrypt.
		changed := bytes.Replace(out, []byte("env: prod"), []byte("env: dev"), 1)
		if bytes.Equal(changed, out) {
			t.Fatalf("%s: no `env: prod` in the encrypted file:\n%s", name, out)
		}
		bad := filepath.Join(h.dir, "changed-context.enc.yaml")
		if err := os.WriteFile(bad, changed, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := decrypt(bad); err == nil || !strings.Contains(err.Error(), "InvalidCiphertextException") {
			t.Errorf("%s: decrypt with a changed encryption context: %v, want InvalidCiphertextException", name, err)
		}

		h.run(sops, "--disable-version-check", "rotate", "--in-place", enc)
		rotated, err := os.ReadFile(enc)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(rotated, out) {
			t.Errorf("%s: sops rotate left the file as it was", name)
		}
		if got, err := decrypt(enc); err != nil || !bytes.Contains(got, []byte("password: hunter2")) {
			t.Errorf("%s: decrypt after rotate: %v\n%s", name, err, got)
		}
	}
}
