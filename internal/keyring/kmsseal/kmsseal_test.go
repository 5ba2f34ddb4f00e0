package kmsseal_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trent-kms/trent/internal/keyring"
	"github.com/trent-kms/trent/internal/keyring/keyringtest"
	"github.com/trent-kms/trent/internal/keyring/kmsseal"
	"github.com/trent-kms/trent/internal/server"
)

// TestConformance runs the keyring suite against a Trent dev server as the
// KMS (real HTTP, real SigV4).
func TestConformance(t *testing.T) {
	ctx := context.Background()
	s := devServer(t)
	t.Setenv("AWS_ACCESS_KEY_ID", server.DevAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", server.DevSecretKey)
	c := awskms.New(awskms.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(server.DevAccessKeyID, server.DevSecretKey, "")})
	k, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(t *testing.T, keyID string) *kmsseal.Keyring {
		kr, err := kmsseal.New(ctx, kmsseal.Config{Endpoint: s.URL(), Region: "us-east-1", KeyID: keyID})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	keyringtest.Run(t, func(t *testing.T) keyring.Keyring { return open(t, *k.KeyMetadata.KeyId) })

	w, err := open(t, *k.KeyMetadata.KeyId).Wrap(ctx, []byte("root"), []byte("barrier/root"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, *other.KeyMetadata.KeyId).Unwrap(ctx, w, []byte("barrier/root")); !errors.Is(err, keyring.ErrUnwrap) {
		t.Errorf("Unwrap with another KMS key err = %v, want ErrUnwrap", err)
	}
	if _, err := c.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = open(t, *k.KeyMetadata.KeyId).Unwrap(ctx, w, []byte("barrier/root"))
	if err == nil || errors.Is(err, keyring.ErrUnwrap) {
		t.Errorf("Unwrap with a disabled key err = %v, want a KMS error that is not ErrUnwrap", err)
	}
}

// devServer starts a Trent dev server to be the KMS.
func devServer(t *testing.T) *server.Server {
	t.Helper()
	cfg := server.Default()
	cfg.Dev, cfg.DataDir = true, ""
	return startServer(t, cfg)
}

// startServer starts a Trent server of cfg on a free loopback port, shut
// down when the test ends.
func startServer(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	ctx := context.Background()
	cfg.Addr, cfg.Mlock = "127.0.0.1:0", server.MlockOff
	s, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(ctx) })
	return s
}

// TestCredentialsFile: the credentials file is read as the AWS CLI and SDKs
// read it, inline comments, quotes and spacing included, not as the raw text
// after "=" (which made a secret with a "; comment" after it a wrong secret).
func TestCredentialsFile(t *testing.T) {
	ctx := context.Background()
	s := devServer(t)
	path := filepath.Join(t.TempDir(), "credentials")
	// The dev server admits unknown access keys unchecked: the id must be
	// read right for the secret to be checked at all.
	file := "# the seal's KMS\n[default]\naws_access_key_id = " + server.DevAccessKeyID + "\n" +
		"aws_secret_access_key\t=\t" + server.DevSecretKey + " ; dev secret\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	c := awskms.New(awskms.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(server.DevAccessKeyID, server.DevSecretKey, "")})
	k, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := kmsseal.New(ctx, kmsseal.Config{Endpoint: s.URL(), Region: "us-east-1", KeyID: *k.KeyMetadata.KeyId, CredentialsFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Wrap(ctx, []byte("root"), []byte("barrier/root")); err != nil {
		t.Fatalf("Wrap with the credentials of the file: %v", err)
	}
	if _, err := kmsseal.New(ctx, kmsseal.Config{Region: "us-east-1", KeyID: "k", CredentialsFile: path + ".missing"}); err == nil {
		t.Error("New with a missing credentials file: no error")
	}
}

// TestKMSThatNeverAnswers: a KMS that takes the request and never answers
// makes Unwrap fail after the call timeout, not hang (the unseal holds the
// seal lock meanwhile).
func TestKMSThatNeverAnswers(t *testing.T) {
	defer kmsseal.SetCallTimeout(300 * time.Millisecond)()
	stop := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(stop)
	t.Setenv("AWS_ACCESS_KEY_ID", server.DevAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", server.DevSecretKey)
	kr, err := kmsseal.New(context.Background(), kmsseal.Config{Endpoint: hung.URL, Region: "us-east-1", KeyID: "alias/seal"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := kr.Unwrap(context.Background(), []byte{1, 2, 3}, []byte("barrier/root"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, keyring.ErrUnwrap) {
			t.Errorf("Unwrap through a KMS that never answers: %v, want a timeout error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Unwrap through a KMS that never answers is still waiting after 20 s")
	}
}

// TestCredentialsFileSession: temporary credentials in the credentials
// file (aws_session_token with the key id and secret, as `aws configure`
// and credential helpers write an STS session) are used whole: the
// session token goes with each request (X-Amz-Security-Token), without
// which KMS refuses the session's key id. The KMS is a Trent server (not
// dev) whose role the seal's user assumes.
func TestCredentialsFileSession(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := server.Default()
	cfg.DataDir = dir
	s := startServer(t, cfg)
	admin, err := config.LoadSharedConfigProfile(ctx, "default", func(o *config.LoadSharedConfigOptions) {
		o.CredentialsFiles, o.ConfigFiles = []string{filepath.Join(dir, server.CredentialsFile)}, []string{}
	})
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := func(id, secret, token string) aws.Config {
		return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()),
			Credentials: credentials.NewStaticCredentialsProvider(id, secret, token)}
	}
	root := awsiam.NewFromConfig(awsCfg(admin.Credentials.AccessKeyID, admin.Credentials.SecretAccessKey, ""))
	if _, err := root.CreateUser(ctx, &awsiam.CreateUserInput{UserName: aws.String("unsealer")}); err != nil {
		t.Fatal(err)
	}
	uk, err := root.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("unsealer")})
	if err != nil {
		t.Fatal(err)
	}
	user, err := root.GetUser(ctx, &awsiam.GetUserInput{UserName: aws.String("unsealer")})
	if err != nil {
		t.Fatal(err)
	}
	account := strings.Split(aws.ToString(user.User.Arn), ":")[4]
	_, err = root.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("seal"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` +
			aws.ToString(user.User.Arn) + `"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = root.PutRolePolicy(ctx, &awsiam.PutRolePolicyInput{RoleName: aws.String("seal"), PolicyName: aws.String("seal"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	k, err := awskms.NewFromConfig(awsCfg(admin.Credentials.AccessKeyID, admin.Credentials.SecretAccessKey, "")).CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	ar, err := sts.NewFromConfig(awsCfg(aws.ToString(uk.AccessKey.AccessKeyId), aws.ToString(uk.AccessKey.SecretAccessKey), "")).AssumeRole(ctx,
		&sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + account + ":role/seal"), RoleSessionName: aws.String("unseal")})
	if err != nil {
		t.Fatal(err)
	}
	c := ar.Credentials
	path := filepath.Join(t.TempDir(), "credentials")
	file := "[default]\naws_access_key_id = " + aws.ToString(c.AccessKeyId) + "\naws_secret_access_key = " + aws.ToString(c.SecretAccessKey) +
		"\naws_session_token = " + aws.ToString(c.SessionToken) + "\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	kr, err := kmsseal.New(ctx, kmsseal.Config{Endpoint: s.URL(), Region: "us-east-1", KeyID: *k.KeyMetadata.KeyId, CredentialsFile: path})
	if err != nil {
		t.Fatal(err)
	}
	w, err := kr.Wrap(ctx, []byte("root"), []byte("barrier/root"))
	if err != nil {
		t.Fatalf("Wrap with the session of the credentials file: %v", err)
	}
	if got, err := kr.Unwrap(ctx, w, []byte("barrier/root")); err != nil || string(got) != "root" {
		t.Fatalf("Unwrap with the session of the credentials file = %q, %v", got, err)
	}
}
