package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunChecksBeforeWriting: a busy address or a bad seed file stops the
// start before a data directory, root key or credentials file is written.
func TestRunChecksBeforeWriting(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	badSeed := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(badSeed, []byte("keys: [{id: x, material: not-base64}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
		hint bool
	}{
		{"busy address", func(c *Config) { c.Addr = busy.Addr().String() }, "address already in use", true},
		{"bad seed", func(c *Config) { c.SeedFile = badSeed }, "server: seed:", false},
		{"missing TLS certificate", func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "/nonexistent.crt", "/nonexistent.key" }, "load TLS certificate", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.DataDir = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			tc.edit(&cfg)
			err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run err = %v, want %q", err, tc.want)
			}
			var h interface{ Hint() string }
			if tc.hint != errors.As(err, &h) {
				t.Errorf("Run err = %v: has a hint %v, want %v", err, !tc.hint, tc.hint)
			}
			if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data directory %s exists after a failed start (stat: %v)", cfg.DataDir, err)
			}
		})
	}
}

// TestRunSummary: the start-up summary names absolute paths, the account
// and the administrator, and an export block that points a shell at it.
func TestRunSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.DataDir = rel
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, slog.New(slog.DiscardHandler), pw)
		pw.Close()
	}()
	r := bufio.NewReader(pr)
	var out strings.Builder
	for !strings.Contains(out.String(), "aws kms create-key") {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("summary: %v after %q", err, out.String())
		}
		out.WriteString(line)
	}
	go io.Copy(io.Discard, r)
	abs := filepath.Join(dir, "data")
	creds, err := os.ReadFile(filepath.Join(abs, CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	_, keyID, _ := strings.Cut(strings.Split(string(creds), "\n")[1], " = ")
	for _, want := range []string{
		"trent: listening on http://127.0.0.1:",
		"trent: data directory: " + abs + "\n",
		"trent: root key (file seal): " + filepath.Join(abs, RootKeyFile) + ":",
		"trent: account 111122223333, administrator access key " + keyID + " (secret in " + filepath.Join(abs, CredentialsFile) + ")\n",
		"trent: memory: not locked (--mlock off)\n",
		"  export AWS_ENDPOINT_URL=http://127.0.0.1:",
		"  export AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(abs, CredentialsFile) + "\n",
		"  export AWS_DEFAULT_REGION=us-east-1\n",
		// With the flag: Debian 12's AWS CLI (2.9) ignores AWS_ENDPOINT_URL.
		"  aws kms create-key --description first --endpoint-url http://127.0.0.1:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "real seal") {
		t.Errorf("summary recommends a seal:\n%s", out.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestMlockOff(t *testing.T) {
	// Only "off" here: mlockall would lock this whole test process. The CLI
	// testscript runs "required" and "best-effort" where it is not permitted.
	if m, err := lockMemory(MlockOff, slog.New(slog.DiscardHandler)); err != nil || m != "not locked (--mlock off)" {
		t.Errorf("lockMemory(off) = %q, %v", m, err)
	}
}

// TestLeftoverTemporaryFilesRemoved: the temporary files of durable that a
// crash left (between their creation and their link into place) in the data
// directory and its audit directory are removed at start; other files are
// kept.
func TestLeftoverTemporaryFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	auditDir := filepath.Join(dir, AuditDir)
	if err := os.MkdirAll(filepath.Join(auditDir, ".kept.tmp-3"), 0o700); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{
		filepath.Join(dir, "."+CredentialsFile+".tmp-1234567"),
		filepath.Join(dir, "."+DBFile+".tmp-42"),
		filepath.Join(auditDir, ".public-key.pem.tmp-99"),
	}
	kept := []string{
		filepath.Join(dir, "notes.tmp-1"),
		filepath.Join(dir, ".notes.tmp-x1"),
		filepath.Join(auditDir, ".kept.tmp-3"),
	}
	for _, p := range leftovers {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range kept[:2] {
		if err := os.WriteFile(p, []byte("not ours"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	cfg.DataDir = dir
	_, logs := start(t, cfg)
	for _, p := range leftovers {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left after start (%v)", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v; want it kept", p, err)
		}
	}
	if !strings.Contains(logs.String(), "removed temporary files") {
		t.Errorf("no log line names the removed files:\n%s", logs)
	}
}
