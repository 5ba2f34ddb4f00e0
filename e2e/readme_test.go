package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// outputBuffer collects a process's output while the test reads it.
type outputBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *outputBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *outputBuffer) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// readmeBlocks returns the fenced code blocks of README.md that follow a
// line "<!-- README test: NAME -->", by NAME.
func readmeBlocks(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	marker := regexp.MustCompile(`^<!-- README test: (\S+) -->$`)
	sc := bufio.NewScanner(bytes.NewReader(data))
	name, in := "", false
	var b strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case in && line == "```":
			blocks[name], name, in = b.String(), "", false
			b.Reset()
		case in:
			b.WriteString(line + "\n")
		case name != "" && strings.HasPrefix(line, "```"):
			in = true
		case marker.MatchString(line):
			name = marker.FindStringSubmatch(line)[1]
		}
	}
	for _, n := range []string{"start", "tour", "seed.yaml", "seed"} {
		if blocks[n] == "" {
			t.Fatalf("README.md has no block marked <!-- README test: %s -->", n)
		}
	}
	return blocks
}

// readmeShell runs script with bash -euo pipefail in dir. `go run
// ./cmd/trent` and `trent` are the binary under test (built from this tree
// by TestMain); the environment is ours without TRENT_* and AWS_*, plus env.
func readmeShell(ctx context.Context, dir, script string, env ...string) *exec.Cmd {
	bin := filepath.Join(dir, ".bin")
	os.MkdirAll(bin, 0o755)
	os.Symlink(trentBin, filepath.Join(bin, "trent"))
	os.Symlink(awsCLI(), filepath.Join(bin, "aws"))
	prelude := "set -euo pipefail\n" +
		`go() { if [ "$1" = run ] && [ "$2" = ./cmd/trent ]; then shift 2; trent "$@"; else command go "$@"; fi; }` + "\n"
	cmd := exec.CommandContext(ctx, "bash", "-c", prelude+script)
	cmd.Dir = dir
	cmd.Env = append(serverEnv(), env...)
	for i, kv := range cmd.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			cmd.Env[i] = "PATH=" + bin + ":" + v
		}
	}
	cmd.Env = append(cmd.Env, "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_CONFIG_FILE="+filepath.Join(dir, "aws-config"))
	return cmd
}

// startReadmeServer runs a README block that starts the server, in the
// background, on a free port (TRENT_ADDR, which the README leaves unset),
// and returns its URL once it has printed its summary.
func startReadmeServer(t *testing.T, ctx context.Context, dir, script string, env ...string) string {
	t.Helper()
	var out outputBuffer
	cmd := readmeShell(ctx, dir, script, append(env, "TRENT_ADDR=127.0.0.1:0", "TRENT_MLOCK=off")...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// bash and the server in a group of their own: an interrupt reaches both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	interrupt := func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.Cancel = interrupt
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		interrupt()
		<-done
	})
	re := regexp.MustCompile(`trent: listening on (http://\S+)`)
	deadline := time.After(60 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "export AWS_DEFAULT_REGION=") {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("README server block exited: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("README server block: no summary within 60s:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestReadme runs the README's quick start, tour and seed example as they
// are written, on fresh directories, with the AWS CLI: two substitutions
// only, both stated by readmeShell and startReadmeServer (the binary under
// test for `go run ./cmd/trent`, a free port for 127.0.0.1:8080).
func TestReadme(t *testing.T) {
	t.Parallel()
	if awsCLI() == "" {
		msg := "e2e: SKIPPING the README test: no aws CLI (apt-get install awscli)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; CI is set, so this is a failure")
		}
		t.Skip("\n\n!!!!!!!! " + msg + " !!!!!!!!\n")
	}
	blocks := readmeBlocks(t)
	// Each subtest's deadline starts when it runs: parallel tests may wait
	// long for their turn on a busy machine.
	subCtx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("start and tour", func(t *testing.T) {
		t.Parallel()
		ctx := subCtx(t)
		dir := t.TempDir()
		url := startReadmeServer(t, ctx, dir, blocks["start"])
		tour := strings.ReplaceAll(blocks["tour"], "http://127.0.0.1:8080", url)
		out, err := readmeShell(ctx, dir, tour).CombinedOutput()
		if err != nil {
			t.Fatalf("README tour: %v\n%s", err, out)
		}
		for _, want := range []string{"hello", "InvalidCiphertextException", "refused, as it should be"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("README tour output lacks %q:\n%s", want, out)
			}
		}
		if bytes.Contains(out, []byte("DisabledException")) {
			t.Errorf("README tour hit a disabled key:\n%s", out)
		}
		// The tour leaves the key enabled.
		setup, _, _ := strings.Cut(tour, "\n\n") // the export lines and kms()
		state, err := readmeShell(ctx, dir, setup+"\nkms describe-key --key-id alias/demo --query KeyMetadata.KeyState --output text\n").Output()
		if err != nil || !bytes.HasSuffix(bytes.TrimSpace(state), []byte("Enabled")) {
			t.Errorf("key state after the tour = %q, %v", state, err)
		}
	})

	t.Run("seed", func(t *testing.T) {
		t.Parallel()
		ctx := subCtx(t)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "seed.yaml"), []byte(blocks["seed.yaml"]), 0o600); err != nil {
			t.Fatal(err)
		}
		url := startReadmeServer(t, ctx, dir, blocks["seed"])
		out, err := readmeShell(ctx, dir, "aws kms --endpoint-url "+url+" describe-key --key-id alias/app --query KeyMetadata.KeyId --output text",
			"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			"AWS_DEFAULT_REGION=us-east-1").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "11111111-2222-3333-4444-555555555555" {
			t.Errorf("seeded alias/app = %q, %v", out, err)
		}
	})
}
