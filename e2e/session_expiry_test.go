package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
)

// TestAssumeRoleSessionExpires: credentials from `aws sts assume-role` work
// with the AWS CLI on KMS until they expire and are refused after, with
// ExpiredTokenException. The server's identity clock is moved forward across
// restarts (TRENT_TEST_CLOCK_OFFSET, honoured only by the binary TestMain
// builds with -tags trent_testclock), so the 900-second session need not be
// waited for; the token is verified from the data directory's token key, as
// any node or restart does.
func TestAssumeRoleSessionExpires(t *testing.T) {
	t.Parallel()
	cli := awsCLI()
	if cli == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("the aws CLI is missing (apt-get install awscli) and CI is set")
		}
		t.Skip("\n\n!!!!!!!! e2e: SKIPPING: no aws CLI (apt-get install awscli) !!!!!!!!\n")
	}
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	admin := readCredentials(t, dir)
	root := s.iam(admin.AccessKey, admin.Secret)
	// A user (the root may not assume roles) whom the role's trust policy names.
	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("ci")})
	must(t, err)
	uk, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("ci")})
	must(t, err)
	_, err = root.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("app"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + admin.Account + `:user/ci"},"Action":"sts:AssumeRole"}]}`)})
	must(t, err)
	_, err = root.PutRolePolicy(ctx(t), &awsiam.PutRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("kms"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`)})
	must(t, err)
	keyID := aws.ToString(newKey(t, s.client(devRegion, admin.AccessKey, admin.Secret), "session").KeyId)

	// aws runs the AWS CLI against srv with the given credentials.
	aws := func(srv *server, akid, secret, token string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx(t), cli, append([]string{"--endpoint-url", srv.URL, "--region", devRegion, "--output", "json"}, args...)...)
		cmd.Env = append(serverEnv(), "AWS_ACCESS_KEY_ID="+akid, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1")
		if token != "" {
			cmd.Env = append(cmd.Env, "AWS_SESSION_TOKEN="+token)
		}
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := aws(s, *uk.AccessKey.AccessKeyId, *uk.AccessKey.SecretAccessKey, "", "sts", "assume-role", "--role-arn", "arn:aws:iam::"+admin.Account+":role/app",
		"--role-session-name", "ci", "--duration-seconds", "900")
	if err != nil {
		t.Fatalf("aws sts assume-role: %v\n%s", err, out)
	}
	var ar struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
	}
	if err := json.Unmarshal([]byte(out), &ar); err != nil {
		t.Fatalf("assume-role output: %v\n%s", err, out)
	}
	cr := ar.Credentials
	exp, err := time.Parse(time.RFC3339, cr.Expiration)
	if left := time.Until(exp); err != nil || left > 901*time.Second || left < 800*time.Second {
		t.Fatalf("session Expiration %q (%v), want about 900 s from now", cr.Expiration, err)
	}
	encrypt := func(srv *server) (string, error) {
		return aws(srv, cr.AccessKeyId, cr.SecretAccessKey, cr.SessionToken, "kms", "encrypt", "--key-id", keyID,
			"--plaintext", "aGVsbG8=", "--query", "KeyId", "--output", "text")
	}
	if out, err := encrypt(s); err != nil || !strings.Contains(out, keyID) {
		t.Fatalf("kms encrypt with the fresh session: %v\n%s", err, out)
	}

	// restartAt restarts the server with its identity clock moved to the
	// session's expiry plus d.
	restartAt := func(d time.Duration) *server {
		t.Helper()
		stopClean(t, s)
		offset := time.Until(exp) + d
		s = startWithEnv(t, []string{"TRENT_TEST_CLOCK_OFFSET=" + offset.String()}, "server", "--data-dir", dir, "--addr", "127.0.0.1:0")
		return s
	}
	// Two minutes before the expiry: still valid. (The margin is the time
	// the AWS CLI may take to start and sign on a loaded CI machine: ten
	// seconds once ran out, 13 s between the restart and the request.)
	if out, err := encrypt(restartAt(-2 * time.Minute)); err != nil || !strings.Contains(out, keyID) {
		t.Fatalf("kms encrypt 2 minutes before the session expires: %v\n%s", err, out)
	}
	// Past it: refused, on KMS and on STS; long-term credentials still work.
	s = restartAt(time.Second)
	out, err = encrypt(s)
	if err == nil || !strings.Contains(out, "ExpiredTokenException") {
		t.Errorf("kms encrypt after the session expired: err %v, want ExpiredTokenException\n%s", err, out)
	}
	out, err = aws(s, cr.AccessKeyId, cr.SecretAccessKey, cr.SessionToken, "sts", "get-caller-identity")
	if err == nil || !strings.Contains(out, "ExpiredToken") {
		t.Errorf("sts get-caller-identity after the session expired: err %v, want ExpiredToken\n%s", err, out)
	}
	if out, err := aws(s, admin.AccessKey, admin.Secret, "", "kms", "encrypt", "--key-id", keyID, "--plaintext", "aGVsbG8="); err != nil {
		t.Errorf("the administrator's encrypt on the same server: %v\n%s", err, out)
	}
}
