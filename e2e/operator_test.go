package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// trentCmd runs a trent client command with env (AWS_* and TRENT_* of ours
// removed) and returns stdout, stderr and the exit code.
func trentCmd(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(trentBin, args...)
	cmd.Env = append(serverEnv(), env...)
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("trent %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestOperatorCLI drives the seal contract with the binary: trent server
// --seal shamir on an empty data directory, trent operator init --json,
// unseal (argument and standard input), status, seal, then trent backup and
// trent restore into a new data directory served with the same shares.
func TestOperatorCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, "server", "--seal", "shamir", "--data-dir", dir, "--addr", "127.0.0.1:0")
	ep := []string{"AWS_ENDPOINT_URL=" + s.URL}

	out, errs, code := trentCmd(t, ep, "", "operator", "status")
	if code != 0 || !strings.Contains(out, "not initialised") {
		t.Fatalf("operator status = %d %q %q", code, out, errs)
	}
	out, errs, code = trentCmd(t, ep, "", "operator", "init", "--shares", "3", "--threshold", "2", "--json")
	if code != 0 {
		t.Fatalf("operator init = %d %q", code, errs)
	}
	var in struct {
		Shares          []string `json:"shares"`
		AccessKeyID     string   `json:"access_key_id"`
		SecretAccessKey string   `json:"secret_access_key"`
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil || len(in.Shares) != 3 || in.AccessKeyID == "" || in.SecretAccessKey == "" {
		t.Fatalf("operator init --json = %q (%v), want one object with 3 shares and an access key", out, err)
	}
	admin := append([]string{"AWS_ACCESS_KEY_ID=" + in.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + in.SecretAccessKey, "AWS_REGION=us-east-1"}, ep...)
	c := s.client("us-east-1", in.AccessKeyID, in.SecretAccessKey)
	k, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("operator cli")})
	if err != nil {
		t.Fatal(err)
	}

	// Backup (administrator), then seal.
	bfile := filepath.Join(t.TempDir(), "trent.backup")
	if _, errs, code := trentCmd(t, ep, "", "backup", "-o", bfile); code == 0 {
		t.Errorf("backup without credentials succeeded: %q", errs)
	}
	if _, errs, code := trentCmd(t, admin, "", "backup", "-o", bfile); code != 0 || !strings.Contains(errs, "records") {
		t.Fatalf("backup = %d %q", code, errs)
	}
	if _, errs, code := trentCmd(t, admin, "", "backup", "-o", bfile); code != 1 || !strings.Contains(errs, bfile+" exists") || strings.Contains(errs, ".trent-backup") {
		t.Errorf("backup over an existing file = %d %q, want 1 naming the file, not a temporary one", code, errs)
	}
	if _, errs, code := trentCmd(t, ep, "", "operator", "seal"); code == 0 {
		t.Errorf("operator seal without credentials succeeded: %q", errs)
	}
	if out, errs, code := trentCmd(t, admin, "", "operator", "seal"); code != 0 || !strings.Contains(out, "sealed") {
		t.Fatalf("operator seal = %d %q %q", code, out, errs)
	}
	if _, err := c.ListKeys(ctx(t), &kms.ListKeysInput{}); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("ListKeys after seal err = %v, want sealed", err)
	}
	// IAM and STS calls are refused too, in the XML their SDKs parse.
	var ae smithy.APIError
	if _, err := s.iam(in.AccessKeyID, in.SecretAccessKey).ListUsers(ctx(t), &awsiam.ListUsersInput{}); !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || ae.ErrorMessage() != "Trent is sealed." {
		t.Errorf("IAM ListUsers after seal err = %v, want ServiceUnavailable: Trent is sealed.", err)
	}
	if _, err := s.sts(in.AccessKeyID, in.SecretAccessKey, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("STS GetCallerIdentity after seal err = %v, want ServiceUnavailable", err)
	}
	// A corrupted share is named; the progress is printed.
	bad := []byte(in.Shares[0])
	bad[5] = map[bool]byte{true: 'B', false: 'A'}[bad[5] == 'A']
	if _, errs, code := trentCmd(t, ep, "", "operator", "unseal", string(bad)); code != 1 || !strings.Contains(errs, "corrupted") {
		t.Errorf("operator unseal(corrupted) = %d %q, want 1 naming a corrupted share", code, errs)
	}
	if out, errs, code := trentCmd(t, ep, "", "operator", "unseal", in.Shares[0]); code != 0 || !strings.Contains(out, "1 of 2") {
		t.Fatalf("operator unseal(share 1) = %d %q %q", code, out, errs)
	}
	if out, errs, code := trentCmd(t, ep, in.Shares[2]+"\n", "operator", "unseal", "-"); code != 0 || !strings.Contains(out, "unsealed") {
		t.Fatalf("operator unseal(share 3 on stdin) = %d %q %q", code, out, errs)
	}
	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "operator cli" {
		t.Fatalf("Decrypt after unseal = %v, %v", dec, err)
	}
	if out, errs, code := trentCmd(t, admin, "", "operator", "rotate", "--wait"); code != 0 || !strings.Contains(out, "data key: 2") {
		t.Errorf("operator rotate --wait = %d %q %q", code, out, errs)
	}

	// Restore into a new data directory; the same shares unseal it.
	rdir := filepath.Join(t.TempDir(), "restored")
	if _, errs, code := trentCmd(t, nil, "", "restore", "--data-dir", rdir, bfile); code != 0 || !strings.Contains(errs, "--seal shamir") {
		t.Fatalf("restore = %d %q", code, errs)
	}
	if _, errs, code := trentCmd(t, nil, "", "restore", "--data-dir", rdir, bfile); code == 0 {
		t.Errorf("restore over an existing database succeeded: %q", errs)
	}
	raw, _ := os.ReadFile(bfile)
	raw[len(raw)/2] ^= 1
	badFile := filepath.Join(t.TempDir(), "bad.backup")
	os.WriteFile(badFile, raw, 0o600)
	if _, errs, code := trentCmd(t, nil, "", "restore", "--data-dir", filepath.Join(t.TempDir(), "x"), badFile); code != 1 || !strings.Contains(errs, "corrupted") {
		t.Errorf("restore(flipped byte) = %d %q, want a corrupted-backup error", code, errs)
	}
	r := startServer(t, "server", "--seal", "shamir", "--data-dir", rdir, "--addr", "127.0.0.1:0")
	rep := []string{"AWS_ENDPOINT_URL=" + r.URL}
	for _, sh := range in.Shares[1:] {
		if _, errs, code := trentCmd(t, rep, "", "operator", "unseal", sh); code != 0 {
			t.Fatalf("unseal the restored server = %d %q", code, errs)
		}
	}
	rc := r.client("us-east-1", in.AccessKeyID, in.SecretAccessKey)
	dec, err = rc.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: aws.String(*k.KeyMetadata.KeyId)})
	if err != nil || string(dec.Plaintext) != "operator cli" {
		t.Fatalf("Decrypt on the restored server = %v, %v", dec, err)
	}
}

// TestOperatorInitServicesFail: when init initialises the barrier but the
// services cannot start (here the audit log's directory is a file), trent
// operator init still prints the shares, names the failure and exits 1; once
// the cause is gone the shares unseal the server, and that unseal writes the
// first administrator's credentials to the data directory.
func TestOperatorInitServicesFail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "audit")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "server", "--seal", "shamir", "--data-dir", dir, "--addr", "127.0.0.1:0")
	ep := []string{"AWS_ENDPOINT_URL=" + s.URL}
	out, errs, code := trentCmd(t, ep, "", "operator", "init", "--shares", "3", "--threshold", "2")
	shares := regexp.MustCompile(`share \d: (\S+)`).FindAllStringSubmatch(out, -1)
	if code != 1 || len(shares) != 3 || !strings.Contains(errs, "did not start") || !strings.Contains(out, "not created yet") {
		t.Fatalf("operator init with the services failing = %d %q %q; want exit 1, the 3 shares and the failure", code, out, errs)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	for _, sh := range shares[:2] {
		if _, errs, code := trentCmd(t, ep, "", "operator", "unseal", sh[1]); code != 0 {
			t.Fatalf("operator unseal = %d %q", code, errs)
		}
	}
	cr := readCredentials(t, dir)
	if _, err := s.client("us-east-1", cr.AccessKey, cr.Secret).CreateKey(ctx(t), &kms.CreateKeyInput{}); err != nil {
		t.Fatalf("CreateKey with the credentials the unseal wrote: %v", err)
	}
}

// TestXKSCredentialSendsNothing: trent xks-credential only derives a secret
// from the configured access key; without one it says so and asks nobody,
// not even the EC2 instance metadata service of the default credential
// chain (whose credentials, temporary, it would refuse anyway).
func TestXKSCredentialSendsNothing(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	defer imds.Close()
	none := filepath.Join(t.TempDir(), "none")
	_, errs, code := trentCmd(t, []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL,
		"AWS_CONFIG_FILE=" + none, "AWS_SHARED_CREDENTIALS_FILE=" + none}, "", "xks-credential")
	if code != 1 || !strings.Contains(errs, "no AWS access key") {
		t.Fatalf("xks-credential without an access key = %d %q, want 1 and no AWS access key", code, errs)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("xks-credential made %d requests to the EC2 instance metadata service", n)
	}
}

// TestMigrateSealSharesUnwritten: trent operator migrate-seal --to shamir
// whose standard output cannot be written (a full disk: /dev/full) must not
// seal the data directory with shares nobody has: it fails and the data
// directory keeps its seal.
func TestMigrateSealSharesUnwritten(t *testing.T) {
	t.Parallel()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	dir := t.TempDir()
	stopClean(t, startEmbedded(t, dir))
	cmd := exec.Command(trentBin, "operator", "migrate-seal", "--data-dir", dir, "--to", "shamir", "--shares", "3", "--threshold", "2")
	cmd.Env = serverEnv()
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = full, &errb
	if err := cmd.Run(); err == nil {
		t.Errorf("migrate-seal with its shares unwritten exited 0; stderr:\n%s", &errb)
	}
	if !strings.Contains(errb.String(), "nothing changed") {
		t.Errorf("stderr does not say that nothing changed:\n%s", &errb)
	}
	s := startEmbedded(t, dir) // still the file seal
	creds := readCredentials(t, dir)
	newKey(t, s.client(devRegion, creds.AccessKey, creds.Secret), "after a failed migration")
}

// A secret shown once that cannot be written is an error: trent admin
// create-access-key and trent operator init say so and what to do, rather
// than exit 0; what to do is right for the storage, the embedded database
// or PostgreSQL.
func TestAdminSecretUnwritten(t *testing.T) {
	t.Parallel()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	for _, tc := range []struct {
		name  string
		env   func(t *testing.T) []string // of trent admin and the servers
		flags []string                    // of trent admin and the servers
		want  []string                    // in init's hint
		not   string                      // nor this
	}{
		{"bolt", func(*testing.T) []string { return nil }, nil,
			[]string{"delete trent.db in its data directory"}, "DROP TABLE"},
		{"postgres", func(t *testing.T) []string { return []string{"TRENT_POSTGRES_URL=" + pgtest.URL(t)} },
			[]string{"--storage", "postgres"}, []string{"stop every node", "DROP TABLE trent_records"}, "trent.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env(t)
			dir := t.TempDir()
			s, err := tryStartServerEnv(t, env, append([]string{"server", "--addr", "127.0.0.1:0", "--data-dir", dir}, tc.flags...)...)
			if err != nil {
				t.Fatalf("start: %v\n%s", err, s.log)
			}
			stopClean(t, s)
			cmd := exec.Command(trentBin, append([]string{"admin", "create-access-key", "--data-dir", dir}, tc.flags...)...)
			cmd.Env = append(serverEnv(), env...)
			var errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = full, &errb
			if err := cmd.Run(); err == nil {
				t.Errorf("create-access-key with its secret unwritten exited 0; stderr:\n%s", &errb)
			}
			if !strings.Contains(errb.String(), "delete-access-key") || !strings.Contains(errb.String(), "same flags") {
				t.Errorf("stderr does not say how to remove the key:\n%s", &errb)
			}

			// operator init alike: the shares are lost, and it says what to
			// do with this storage.
			env = tc.env(t) // an empty database
			s, err = tryStartServerEnv(t, env, append([]string{"server", "--seal", "shamir", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.flags...)...)
			if err != nil {
				t.Fatalf("start: %v\n%s", err, s.log)
			}
			cmd = exec.Command(trentBin, "operator", "init", "--shares", "3", "--threshold", "2")
			cmd.Env = append(serverEnv(), "AWS_ENDPOINT_URL="+s.URL)
			errb.Reset()
			cmd.Stdout, cmd.Stderr = full, &errb
			if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), "run init again") {
				t.Errorf("operator init with its shares unwritten: %v; stderr:\n%s", err, &errb)
			}
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("operator init's hint does not say %q:\n%s", w, &errb)
				}
			}
			if strings.Contains(errb.String(), tc.not) {
				t.Errorf("operator init's hint names %q, not of this storage:\n%s", tc.not, &errb)
			}
		})
	}
}
