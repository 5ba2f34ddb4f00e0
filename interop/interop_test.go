package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/envelope"
)

// Dev-mode credentials and identity of `trent server --dev`.
const (
	devAccessKey = "AKIAIOSFODNN7EXAMPLE"
	devSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	devRegion    = "us-east-1"
	devAccount   = "111122223333"
)

// The plaintext sizes of the interop tests: empty, one byte, exactly one
// frame of the default 4096 bytes, one byte more, and 1 MiB (256 frames).
var sizes = []int{0, 1, 4096, 4097, 1 << 20}

// The suites: --suite of encrypt.js, and envelope's identifier.
var suites = []struct {
	node  string
	suite envelope.Suite
}{
	{"committing", envelope.SuiteAES256GCMHKDFSHA512CommitKey},
	{"signed", envelope.SuiteAES256GCMHKDFSHA512CommitKeyECDSAP384},
}

// trentBin is the binary built by TestMain; buildErr is set if that failed.
var (
	trentBin string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trent-interop-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop: temp dir:", err)
		os.Exit(1)
	}
	trentBin = filepath.Join(dir, "trent")
	build := exec.Command("go", "build", "-o", trentBin, "./cmd/trent")
	build.Dir = ".." // the repository root; tests run in interop/
	if out, err := build.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build ./cmd/trent: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needTrent(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// needNode skips the test when node or the installed SDK is missing, unless
// CI is set: CI runs `npm ci` here, so there a missing SDK is a failure.
func needNode(t *testing.T) {
	t.Helper()
	var missing string
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join("node_modules", "@aws-crypto", "client-node", "package.json")); err != nil {
		missing = "interop/node_modules lacks @aws-crypto/client-node (run `npm ci` in interop/)"
	}
	if missing == "" {
		return
	}
	if underCI() {
		t.Fatalf("%s, and CI=%s", missing, os.Getenv("CI"))
	}
	t.Skip(missing)
}

func underCI() bool {
	ci := os.Getenv("CI")
	return ci != "" && ci != "false" && ci != "0"
}

// needSlowBuild skips a test whose first step builds a tool through the Go
// module proxy (a minute or two the first time) unless CI is set or the
// variable env asks for it, and in -short mode.
func needSlowBuild(t *testing.T, env, what string) {
	t.Helper()
	if !underCI() && os.Getenv(env) == "" {
		t.Skipf("%s skipped: set %s=1 (CI runs it)", what, env)
	}
	if testing.Short() {
		t.Skipf("%s skipped in -short mode", what)
	}
}

// harness is a running dev server with a key, and the environment that
// points the aws-style tools (trent CLI, node scripts) at it.
type harness struct {
	t      *testing.T
	url    string
	client *kms.Client
	keyARN string
	env    []string
	dir    string
}

var listeningRE = regexp.MustCompile(`trent: listening on (https?://\S+)`)

func newHarness(t *testing.T) *harness {
	t.Helper()
	needTrent(t)
	h := &harness{t: t, dir: t.TempDir()}
	h.url = startDev(t)
	h.client = kms.New(kms.Options{
		Region:       devRegion,
		BaseEndpoint: aws.String(h.url),
		Credentials:  credentials.NewStaticCredentialsProvider(devAccessKey, devSecretKey, ""),
	})
	h.keyARN = h.createKey("interop")
	h.env = append(baseEnv(),
		"AWS_ENDPOINT_URL="+h.url,
		"AWS_REGION="+devRegion,
		"AWS_ACCESS_KEY_ID="+devAccessKey,
		"AWS_SECRET_ACCESS_KEY="+devSecretKey,
		// No shared config or credentials files and no instance metadata:
		// only the variables above count.
		"AWS_CONFIG_FILE="+filepath.Join(h.dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(h.dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	)
	return h
}

func (h *harness) createKey(desc string) string {
	h.t.Helper()
	out, err := h.client.CreateKey(ctxFor(h.t), &kms.CreateKeyInput{Description: aws.String(desc)})
	if err != nil {
		h.t.Fatalf("CreateKey: %v", err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	if !strings.HasPrefix(arn, "arn:aws:kms:"+devRegion+":"+devAccount+":key/") {
		h.t.Fatalf("CreateKey returned ARN %q", arn)
	}
	return arn
}

// baseEnv is our environment without AWS_* and TRENT_* variables.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "TRENT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func ctxFor(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// startDev runs `trent server --dev --addr 127.0.0.1:0` until the test ends
// and returns its URL.
func startDev(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(trentBin, "server", "--dev", "--addr", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	cmd.Env = baseEnv()
	// os/exec copies stderr into the pipe, and closes it at most WaitDelay
	// after trent exits, even if a child of it still holds stderr.
	stderr, stderrW := io.Pipe()
	cmd.Stderr = stderrW
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); stderrW.Close() }()
	var (
		mu   sync.Mutex
		log  strings.Builder
		urls = make(chan string, 1)
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				urls <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	serverLog := func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("trent server stderr:\n%s", serverLog())
		}
	})
	select {
	case u := <-urls:
		return u
	case <-done:
		t.Fatalf("trent server exited before listening:\n%s", serverLog())
	case <-time.After(30 * time.Second):
		t.Fatalf("trent server did not print its listening line within 30s:\n%s", serverLog())
	}
	return ""
}

// run runs a command with the harness's environment and returns its stdout,
// failing the test (with stderr) if it does not exit 0.
func (h *harness) run(name string, args ...string) []byte {
	h.t.Helper()
	out, err := h.try(name, args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// try is run returning the failure as an error.
func (h *harness) try(name string, args ...string) ([]byte, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %v\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

func (h *harness) node(script string, args ...string) []byte {
	h.t.Helper()
	return h.run("node", append([]string{script}, args...)...)
}

// contextArgs turns an encryption context into repeated --context flags, in
// a fixed order.
func contextArgs(ec map[string]string) []string {
	var args []string
	for _, k := range sortedKeys(ec) {
		args = append(args, "--context", k+"="+ec[k])
	}
	return args
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withoutReserved returns ec without the "aws-crypto-" keys the SDKs add.
func withoutReserved(ec map[string]string) map[string]string {
	out := maps.Clone(ec)
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(k, "aws-crypto-") })
	return out
}

func checkContext(t *testing.T, who string, got map[string]string, suite envelope.Suite, want map[string]string) {
	t.Helper()
	_, hasPub := got["aws-crypto-public-key"]
	if hasPub != suite.Signed() {
		t.Errorf("%s: aws-crypto-public-key present %v, want %v for %v", who, hasPub, suite.Signed(), suite)
	}
	if g := withoutReserved(got); !maps.Equal(g, want) {
		t.Errorf("%s: encryption context %q, want %q", who, g, want)
	}
}

func caseContext(name string) map[string]string {
	return map[string]string{"purpose": "trent-interop", "case": name, "tenant": "ünïcødé ☕"}
}

// nodeHeader is what decrypt.js --header-out writes.
type nodeHeader struct {
	Version           int               `json:"version"`
	SuiteID           int               `json:"suiteId"`
	FrameLength       int               `json:"frameLength"`
	EncryptionContext map[string]string `json:"encryptionContext"`
	EncryptedDataKeys []struct {
		ProviderID   string `json:"providerId"`
		ProviderInfo string `json:"providerInfo"`
	} `json:"encryptedDataKeys"`
}

// nodeDecrypt decrypts msgPath with decrypt.js and extra flags (keyring,
// context) and checks the plaintext and the header against want.
func (h *harness) nodeDecrypt(t *testing.T, msgPath string, want []byte, suite envelope.Suite, ec map[string]string, keyring ...string) {
	t.Helper()
	out := msgPath + ".node.out"
	hdrPath := msgPath + ".node.json"
	args := append([]string{"--header-out", hdrPath, "-o", out}, keyring...)
	args = append(args, contextArgs(ec)...)
	h.node("decrypt.js", append(args, msgPath)...)
	if got := readFile(t, out); !bytes.Equal(got, want) {
		t.Errorf("node decrypt: plaintext of %d bytes differs from the %d bytes encrypted", len(got), len(want))
	}
	var hd nodeHeader
	if err := json.Unmarshal(readFile(t, hdrPath), &hd); err != nil {
		t.Fatal(err)
	}
	if hd.Version != 2 || envelope.Suite(hd.SuiteID) != suite {
		t.Errorf("node decrypt: message version %d suite 0x%04x, want 2, %v", hd.Version, hd.SuiteID, suite)
	}
	checkContext(t, "node decrypt", hd.EncryptionContext, suite, ec)
	if len(hd.EncryptedDataKeys) != 1 || hd.EncryptedDataKeys[0].ProviderID != "aws-kms" || hd.EncryptedDataKeys[0].ProviderInfo != h.keyARN {
		t.Errorf("node decrypt: encrypted data keys %+v, want one aws-kms key %s", hd.EncryptedDataKeys, h.keyARN)
	}
}

// goDecrypt decrypts msg with envelope and kr, requiring ec.
func goDecrypt(t *testing.T, msg []byte, kr envelope.Keyring, ec map[string]string) ([]byte, *envelope.Reader) {
	t.Helper()
	r, err := envelope.Decrypt(ctxFor(t), bytes.NewReader(msg), kr, &envelope.DecryptOptions{EncryptionContext: ec})
	if err != nil {
		t.Fatalf("envelope.Decrypt: %v", err)
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("envelope read: %v", err)
	}
	return pt, r
}

// Messages of the official SDK for JavaScript, with a KMS keyring pointed at
// Trent, decrypt with envelope (KMS and discovery keyrings) and with
// `trent decrypt`.
func TestNodeEncryptTrentDecrypt(t *testing.T) {
	needNode(t)
	h := newHarness(t)
	strict, err := envelope.NewKMSKeyring(h.client, h.keyARN)
	if err != nil {
		t.Fatal(err)
	}
	discovery, err := envelope.NewKMSDiscoveryKeyring(h.client, &envelope.DiscoveryFilter{Partition: "aws", AccountIDs: []string{devAccount}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suites {
		for _, size := range sizes {
			name := fmt.Sprintf("node-%s-%d", s.node, size)
			t.Run(name, func(t *testing.T) {
				pt := randomBytes(t, size)
				ec := caseContext(name)
				in := writeFile(t, filepath.Join(h.dir, name+".pt"), pt)
				msgPath := filepath.Join(h.dir, name+".msg")
				h.node("encrypt.js", append(append([]string{"--key", h.keyARN, "--suite", s.node, "-o", msgPath}, contextArgs(ec)...), in)...)
				msg := readFile(t, msgPath)

				hd, err := envelope.ParseHeader(bytes.NewReader(msg), 0)
				if err != nil {
					t.Fatalf("ParseHeader: %v", err)
				}
				if hd.Version != 2 || hd.Suite != s.suite || hd.FrameLength != envelope.DefaultFrameSize {
					t.Errorf("header: version %d suite %v frame %d; want 2, %v, %d", hd.Version, hd.Suite, hd.FrameLength, s.suite, envelope.DefaultFrameSize)
				}

				got, r := goDecrypt(t, msg, strict, ec)
				if !bytes.Equal(got, pt) {
					t.Errorf("envelope: plaintext of %d bytes differs from the %d bytes node encrypted", len(got), len(pt))
				}
				checkContext(t, "envelope", r.EncryptionContext(), s.suite, ec)
				if size == 4097 {
					if got, _ := goDecrypt(t, msg, discovery, nil); !bytes.Equal(got, pt) {
						t.Errorf("envelope discovery keyring: plaintext differs")
					}
				}

				out := filepath.Join(h.dir, name+".cli.out")
				h.run(trentBin, append(append([]string{"decrypt", "--key", h.keyARN}, contextArgs(ec)...), "-o", out, msgPath)...)
				if got := readFile(t, out); !bytes.Equal(got, pt) {
					t.Errorf("trent decrypt: plaintext of %d bytes differs from the %d bytes node encrypted", len(got), len(pt))
				}
				if size == 4097 {
					// Without --key: discovery. Plaintext on standard output.
					got := h.run(trentBin, append(append([]string{"decrypt"}, contextArgs(ec)...), msgPath)...)
					if !bytes.Equal(got, pt) {
						t.Errorf("trent decrypt (discovery, stdout): plaintext differs")
					}
				}
			})
		}
	}

	// A version 1 (non-committing) message of the SDK: refused by envelope
	// and the CLI by default, read when non-committing messages are allowed.
	t.Run("v1-non-committing", func(t *testing.T) {
		name := "node-v1"
		pt := randomBytes(t, 5000)
		ec := caseContext(name)
		in := writeFile(t, filepath.Join(h.dir, name+".pt"), pt)
		msgPath := filepath.Join(h.dir, name+".msg")
		h.node("encrypt.js", append(append([]string{"--key", h.keyARN, "--suite", "v1-signed", "-o", msgPath}, contextArgs(ec)...), in)...)
		msg := readFile(t, msgPath)
		if hd, err := envelope.ParseHeader(bytes.NewReader(msg), 0); err != nil || hd.Version != 1 || hd.Suite != envelope.SuiteAES256GCMIV12Tag16HKDFSHA384ECDSAP384 {
			t.Fatalf("header of the v1 message: %+v, %v", hd, err)
		}
		if _, err := envelope.Decrypt(ctxFor(t), bytes.NewReader(msg), strict, nil); !errors.Is(err, envelope.ErrCommitmentPolicy) {
			t.Errorf("envelope.Decrypt of a v1 message by default: %v, want ErrCommitmentPolicy", err)
		}
		r, err := envelope.Decrypt(ctxFor(t), bytes.NewReader(msg), strict, &envelope.DecryptOptions{CommitmentPolicy: envelope.RequireEncryptAllowDecrypt, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("envelope.Decrypt of a v1 message, allowed: %v", err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("envelope read of a v1 message: %d bytes, %v", len(got), err)
		}
		out := filepath.Join(h.dir, name+".cli.out")
		if _, err := h.try(trentBin, "decrypt", "--key", h.keyARN, "-o", out, msgPath); err == nil {
			t.Errorf("trent decrypt of a v1 message without --allow-non-committing succeeded")
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused trent decrypt left %s (%v)", out, err)
		}
		h.run(trentBin, "decrypt", "--key", h.keyARN, "--allow-non-committing", "-o", out, msgPath)
		if got := readFile(t, out); !bytes.Equal(got, pt) {
			t.Errorf("trent decrypt --allow-non-committing: plaintext differs")
		}
	})

	// A required context pair the message lacks: envelope and the CLI fail
	// and the CLI writes nothing.
	t.Run("context-mismatch", func(t *testing.T) {
		name := "node-mismatch"
		in := writeFile(t, filepath.Join(h.dir, name+".pt"), []byte("attack at dawn"))
		msgPath := filepath.Join(h.dir, name+".msg")
		h.node("encrypt.js", append(append([]string{"--key", h.keyARN, "-o", msgPath}, contextArgs(caseContext(name))...), in)...)
		wrong := map[string]string{"purpose": "something-else"}
		_, err := envelope.Decrypt(ctxFor(t), bytes.NewReader(readFile(t, msgPath)), strict, &envelope.DecryptOptions{EncryptionContext: wrong})
		if !errors.Is(err, envelope.ErrContextMismatch) {
			t.Errorf("envelope.Decrypt with a wrong required context: %v, want ErrContextMismatch", err)
		}
		out := filepath.Join(h.dir, name+".cli.out")
		if _, err := h.try(trentBin, append(append([]string{"decrypt", "--key", h.keyARN}, contextArgs(wrong)...), "-o", out, msgPath)...); err == nil {
			t.Errorf("trent decrypt with a wrong required context succeeded")
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("trent decrypt with a wrong required context left %s (%v)", out, err)
		}
	})
}

// Messages of envelope and of `trent encrypt` decrypt with the official SDK
// for JavaScript (KMS keyring of the key, and discovery).
func TestTrentEncryptNodeDecrypt(t *testing.T) {
	needNode(t)
	h := newHarness(t)
	kr, err := envelope.NewKMSKeyring(h.client, h.keyARN)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suites {
		for _, size := range sizes {
			name := fmt.Sprintf("go-%s-%d", s.node, size)
			t.Run(name, func(t *testing.T) {
				pt := randomBytes(t, size)
				ec := caseContext(name)
				var buf bytes.Buffer
				w, err := envelope.Encrypt(ctxFor(t), &buf, kr, &envelope.EncryptOptions{Suite: s.suite, EncryptionContext: ec})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(pt); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				msgPath := writeFile(t, filepath.Join(h.dir, name+".msg"), buf.Bytes())
				h.nodeDecrypt(t, msgPath, pt, s.suite, ec, "--key", h.keyARN)
			})
		}
	}
	for _, s := range suites {
		var suiteFlag []string // trent encrypt writes the signed suite unless --unsigned
		if !s.suite.Signed() {
			suiteFlag = []string{"--unsigned"}
		}
		for _, size := range sizes {
			name := fmt.Sprintf("cli-%s-%d", s.node, size)
			t.Run(name, func(t *testing.T) {
				pt := randomBytes(t, size)
				ec := caseContext(name)
				in := writeFile(t, filepath.Join(h.dir, name+".pt"), pt)
				msgPath := filepath.Join(h.dir, name+".msg")
				args := append([]string{"encrypt", "--key", h.keyARN}, suiteFlag...)
				h.run(trentBin, append(append(args, contextArgs(ec)...), "-o", msgPath, in)...)
				hd, err := envelope.ParseHeader(bytes.NewReader(readFile(t, msgPath)), 0)
				if err != nil {
					t.Fatalf("ParseHeader of trent encrypt's output: %v", err)
				}
				if hd.Suite != s.suite {
					t.Errorf("trent encrypt %v wrote suite %v, want %v", suiteFlag, hd.Suite, s.suite)
				}
				h.nodeDecrypt(t, msgPath, pt, s.suite, ec, "--key", h.keyARN)
				if size == 4097 {
					h.nodeDecrypt(t, msgPath, pt, s.suite, ec, "--discovery")
				}
			})
		}
	}
}
