package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// startWithEnv starts trent with extra environment variables (TRENT_*).
func startWithEnv(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	s, err := tryStartServerEnv(t, env, args...)
	if err != nil {
		t.Fatalf("start trent %s with %v: %v\nstderr:\n%s", strings.Join(args, " "), env, err, s.log)
	}
	return s
}

func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	creds := readCredentials(t, dir)
	c := s.client(devRegion, creds.AccessKey, creds.Secret)
	id := aws.ToString(newKey(t, c, "crash").KeyId)
	_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/crash"), TargetKeyId: aws.String(id)})
	must(t, err)
	blob := roundTrip(t, c, id, []byte("durable"), nil)
	_, err = c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	must(t, err)
	blob2 := roundTrip(t, c, id, []byte("durable 2"), nil)
	s.kill() // SIGKILL: no shutdown path runs

	s2 := startEmbedded(t, dir)
	c = s2.client(devRegion, creds.AccessKey, creds.Secret)
	decryptOK(t, c, blob, []byte("durable"), nil)
	decryptOK(t, c, blob2, []byte("durable 2"), nil)
	if got := aws.ToString(describe(t, c, "alias/crash").KeyId); got != id {
		t.Errorf("alias after crash names %q", got)
	}
}

func TestDataDirLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	start := time.Now()
	_, err := tryStartServer(t, "server", "--data-dir", dir, "--addr", "127.0.0.1:0")
	if err == nil {
		t.Fatal("a second server started on a data dir in use")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("second server took %v to give up", d)
	}
	// The first one is unharmed.
	creds := readCredentials(t, dir)
	newKey(t, s.client(devRegion, creds.AccessKey, creds.Secret), "still works")
}

func TestEnvAndConfigFile(t *testing.T) {
	t.Parallel()
	// Every flag also from TRENT_<FLAG>.
	dir := t.TempDir()
	s := startWithEnv(t, []string{"TRENT_DEV=true", "TRENT_ADDR=127.0.0.1:0", "TRENT_DATA_DIR=" + dir, "TRENT_ACCOUNT_ID=210987654321"}, "server")
	// With an explicit account id the dev credentials and unknown non-numeric
	// access keys belong to that account.
	md := newKey(t, s.dev(), "from env")
	if aws.ToString(md.AWSAccountId) != "210987654321" {
		t.Errorf("TRENT_ACCOUNT_ID not applied to the dev key: account %q", aws.ToString(md.AWSAccountId))
	}
	md2 := newKey(t, s.client(devRegion, "AKIDNOTNUMERIC000000", "x"), "default account")
	if aws.ToString(md2.AWSAccountId) != "210987654321" {
		t.Errorf("TRENT_ACCOUNT_ID not applied to unknown keys: account %q", aws.ToString(md2.AWSAccountId))
	}
	must(t, s.stop())
	if _, err := os.Stat(filepath.Join(dir, "trent.db")); err != nil {
		t.Errorf("TRENT_DATA_DIR not used: %v", err)
	}

	// --config FILE.
	cfgDir := t.TempDir()
	cfg := filepath.Join(cfgDir, "trent.yaml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf("version: v1\ndev: true\naddr: 127.0.0.1:0\naccount-id: \"210987654321\"\ndata-dir: %s\n", dir)), 0o600))
	s2 := startServer(t, "server", "--config", cfg)
	c := s2.dev()
	describe(t, c, aws.ToString(md.KeyId)) // same data dir as above
	must(t, s2.stop())

	// A flag beats the environment.
	s3 := startWithEnv(t, []string{"TRENT_ADDR=127.0.0.1:1"}, "server", "--dev", "--addr", "127.0.0.1:0")
	if strings.HasSuffix(s3.URL, ":1") {
		t.Errorf("TRENT_ADDR overrode --addr: %s", s3.URL)
	}
}

func TestBadStartup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badSeed := filepath.Join(dir, "bad-seed.yaml")
	must(t, os.WriteFile(badSeed, []byte("keys:\n  - id: not-a-uuid\n    material: '!!!'\n"), 0o600))
	badCfg := filepath.Join(dir, "bad.yaml")
	must(t, os.WriteFile(badCfg, []byte("version: v1\nno-such-setting: 1\n"), 0o600))
	for name, args := range map[string][]string{
		"bad seed":          {"server", "--dev", "--addr", "127.0.0.1:0", "--seed", badSeed},
		"missing seed":      {"server", "--dev", "--addr", "127.0.0.1:0", "--seed", filepath.Join(dir, "absent.yaml")},
		"unknown config":    {"server", "--config", badCfg},
		"plain http on lan": {"server", "--dev", "--addr", "0.0.0.0:0"},
		"tls cert only":     {"server", "--dev", "--addr", "127.0.0.1:0", "--tls-cert", badCfg},
		"unknown flag":      {"server", "--no-such-flag"},
	} {
		cmd := exec.Command(trentBin, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = serverEnv()
		done := make(chan error, 1)
		var out bytes.Buffer
		cmd.Stderr = &out
		cmd.WaitDelay = 5 * time.Second // a child left holding stderr cannot hang Wait
		must(t, cmd.Start())
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: trent exited 0", name)
			} else if !strings.Contains(out.String(), "trent: error:") {
				t.Errorf("%s: no 'trent: error:' line in:\n%s", name, out.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("%s: trent kept running:\n%s", name, out.String())
		}
	}

	out, err := exec.Command(trentBin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "trent ") {
		t.Errorf("trent version: %v %q", err, out)
	}
}

func TestWireEdgeCases(t *testing.T) {
	t.Parallel()
	s := startDev(t)

	// Credential scoped to another service.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	sum := sha256.Sum256([]byte("{}"))
	must(t, v4.NewSigner().SignHTTP(ctx(t), aws.Credentials{AccessKeyID: devAccessKey, SecretAccessKey: devSecretKey}, req, hex.EncodeToString(sum[:]), "s3", devRegion, time.Now()))
	if r := send(t, req); r.Status != http.StatusBadRequest || r.Type != "InvalidSignatureException" {
		t.Errorf("credential scoped to s3: %d %s, want 400 InvalidSignatureException", r.Status, r.Body)
	}

	// An oversized body is refused with a JSON error, not read to the end.
	big := `{"Plaintext":"` + strings.Repeat("A", 8<<20) + `","KeyId":"alias/x"}`
	r := signedCall(t, s, "TrentService.Encrypt", big, time.Now())
	if r.Status == http.StatusOK || r.Type == "" {
		t.Errorf("8 MiB body: %d %.200s", r.Status, r.Body)
	}

	// Bad base64 in a blob member.
	r = signedCall(t, s, "TrentService.Decrypt", `{"CiphertextBlob":"%%%not base64%%%"}`, time.Now())
	if r.Status != http.StatusBadRequest || (r.Type != "SerializationException" && r.Type != "ValidationException") {
		t.Errorf("bad base64: %d %s, want 400 SerializationException", r.Status, r.Body)
	}
	// Wrong type for a member.
	r = signedCall(t, s, "TrentService.GenerateRandom", `{"NumberOfBytes":"ten"}`, time.Now())
	if r.Status != http.StatusBadRequest || (r.Type != "SerializationException" && r.Type != "ValidationException") {
		t.Errorf("string for an integer: %d %s, want 400 SerializationException", r.Status, r.Body)
	}
	// Missing required member.
	r = signedCall(t, s, "TrentService.Encrypt", `{"Plaintext":"aGk="}`, time.Now())
	if r.Status != http.StatusBadRequest || r.Type != "ValidationException" {
		t.Errorf("Encrypt without KeyId: %d %s, want 400 ValidationException", r.Status, r.Body)
	}
	// Ops without output answer a JSON object.
	r = signedCall(t, s, "TrentService.GenerateRandom", `{"NumberOfBytes":8}`, time.Now())
	if r.Status != http.StatusOK || !bytes.HasPrefix(r.Body, []byte("{")) {
		t.Errorf("GenerateRandom: %d %s", r.Status, r.Body)
	}
}

func TestConcurrentCryptoAndRotation(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	id := aws.ToString(newKey(t, c, "concurrent").KeyId)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				pt := []byte(fmt.Sprintf("worker %d message %d", w, i))
				ec := map[string]string{"w": fmt.Sprint(w)}
				enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt, EncryptionContext: ec})
				if err != nil {
					errs <- err
					return
				}
				dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(dec.Plaintext, pt) {
					errs <- fmt.Errorf("worker %d: wrong plaintext", w)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 10 {
			if _, err := c.RotateKeyOnDemand(ctx(t), &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	lr, err := c.ListKeyRotations(ctx(t), &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	must(t, err)
	if len(lr.Rotations) != 10 {
		t.Errorf("%d rotations, want 10", len(lr.Rotations))
	}
	for _, r := range lr.Rotations {
		if r.RotationType != types.RotationTypeOnDemand {
			t.Errorf("rotation type %q", r.RotationType)
		}
	}
}

// TestFirstStartWriteFailureLeavesNoHalfFile: a first start that cannot
// write its files (a full disk; here a file size limit: 0, then 1000 bytes,
// which the small files fit in but not the database's first pages) fails,
// and the next start, with room again, serves: no file of the data
// directory is left empty or cut short by the failed one.
func TestFirstStartWriteFailureLeavesNoHalfFile(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit")
	}
	for _, limit := range []string{"0", "1000"} {
		t.Run(limit, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(prlimit, "--fsize="+limit, trentBin, "server", "--data-dir", dir, "--addr", "127.0.0.1:0")
			cmd.Env = serverEnv()
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("a first start that cannot write files exited 0:\n%s", out)
			}
			s := startEmbedded(t, dir)
			creds := readCredentials(t, dir)
			newKey(t, s.client(devRegion, creds.AccessKey, creds.Secret), "after a failed first start")
		})
	}
}
