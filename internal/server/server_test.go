package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig() Config {
	cfg := Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.Mlock = MlockOff
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg
}

func devConfig() Config {
	cfg := testConfig()
	cfg.Dev = true
	cfg.DataDir = ""
	return cfg
}

// start runs a server for the test and shuts it down at cleanup.
func start(t *testing.T, cfg Config) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		s.Shutdown(context.Background())
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s, logs
}

func sdk(url, accessKey, secret string, hc *http.Client) *awskms.Client {
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{}}
	}
	return awskms.New(awskms.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		HTTPClient:       hc,
		RetryMaxAttempts: 1,
	})
}

// roundTrip creates a key (or uses keyID), encrypts and decrypts with it.
func roundTrip(t *testing.T, c *awskms.Client, keyID string) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	if keyID == "" {
		ck, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("server test")})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		keyID = *ck.KeyMetadata.KeyId
	}
	pt := []byte("the quick brown fox")
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: pt,
		EncryptionContext: map[string]string{"test": "server"}})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob,
		EncryptionContext: map[string]string{"test": "server"}})
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(dec.Plaintext, pt) {
		t.Fatalf("Decrypt = %q, want %q", dec.Plaintext, pt)
	}
	if *dec.KeyId != *enc.KeyId {
		t.Errorf("Decrypt KeyId = %q, Encrypt KeyId = %q", *dec.KeyId, *enc.KeyId)
	}
	return keyID, enc.CiphertextBlob
}

func get(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDevServerWithSDK(t *testing.T) {
	s, logs := start(t, devConfig())
	c := sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil)
	roundTrip(t, c, "")

	// Errors come back as typed SDK errors.
	_, err := c.DescribeKey(context.Background(), &awskms.DescribeKeyInput{KeyId: aws.String("alias/missing")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NotFoundException" {
		t.Errorf("DescribeKey(alias/missing) err = %v, want NotFoundException", err)
	}

	code, body := get(t, nil, s.URL()+"/health")
	if code != 200 || body != `{"status":"ok","sealed":false,"initialized":true,"storage":"ok","audit":"ok"}` {
		t.Errorf("GET /health = %d %s", code, body)
	}

	code, body = get(t, nil, s.URL()+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`trent_requests_total{operation="CreateKey",outcome="ok"} 1`,
		`trent_requests_total{operation="Encrypt",outcome="ok"} 1`,
		`trent_requests_total{operation="Decrypt",outcome="ok"} 1`,
		`trent_requests_total{operation="DescribeKey",outcome="NotFoundException"} 1`,
		`trent_request_duration_seconds_bucket{operation="Encrypt",le="+Inf"} 1`,
		`trent_requests_total{operation="ListAliases",outcome="ok"} 0`,
		"process_cpu_seconds_total ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(logs.String(), "INSECURE") {
		t.Errorf("dev mode did not log a loud warning: %s", logs)
	}
}

func TestDevAdmitsUnknownAccessKeys(t *testing.T) {
	s, _ := start(t, devConfig())
	ctx := context.Background()
	// A 12-digit access key id names the account.
	c := sdk(s.URL(), "123456789012", "any secret at all", nil)
	ck, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey as unknown key: %v", err)
	}
	if !strings.Contains(*ck.KeyMetadata.Arn, ":123456789012:key/") {
		t.Errorf("key ARN = %s, want account 123456789012", *ck.KeyMetadata.Arn)
	}
	// Other unknown ids are the default account's administrator.
	c2 := sdk(s.URL(), "AKIAUNKNOWNEXAMPLE00", "whatever", nil)
	ck2, err := c2.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey as unknown key: %v", err)
	}
	if !strings.Contains(*ck2.KeyMetadata.Arn, ":"+DevAccountID+":key/") {
		t.Errorf("key ARN = %s, want account %s", *ck2.KeyMetadata.Arn, DevAccountID)
	}
	// The documentation key is still checked: a wrong secret fails.
	bad := sdk(s.URL(), DevAccessKeyID, "wrong", nil)
	_, err = bad.ListKeys(ctx, &awskms.ListKeysInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("ListKeys with a wrong secret err = %v, want InvalidSignatureException", err)
	}
}

func TestNonDevRejectsUnknownAccessKeys(t *testing.T) {
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	s, _ := start(t, cfg)
	_, err := sdk(s.URL(), "123456789012", "x", nil).ListKeys(context.Background(), &awskms.ListKeysInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" {
		t.Errorf("ListKeys with an unknown key err = %v, want UnrecognizedClientException", err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM := selfSignedCert(t, dir)
	cfg := devConfig()
	cfg.TLSCertFile = filepath.Join(dir, "tls.crt")
	cfg.TLSKeyFile = filepath.Join(dir, "tls.key")
	s, _ := start(t, cfg)
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL() = %q, want https://127.0.0.1:PORT", s.URL())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	roundTrip(t, sdk(s.URL(), DevAccessKeyID, DevSecretKey, hc), "")
	if code, _ := get(t, hc, s.URL()+"/health"); code != 200 {
		t.Errorf("GET /health over TLS = %d", code)
	}

	// TLS 1.1 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(s.URL() + "/health"); err == nil {
		resp.Body.Close()
		t.Error("TLS 1.1 client connected")
	}
	// Plain HTTP on the TLS port does not get an answer from the API.
	if resp, err := http.Get(strings.Replace(s.URL(), "https://", "http://", 1) + "/health"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP request served on the TLS port")
		}
		resp.Body.Close()
	}
}

func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	first := selfSignedCert(t, dir)
	cfg := devConfig()
	cfg.TLSCertFile = filepath.Join(dir, "tls.crt")
	cfg.TLSKeyFile = filepath.Join(dir, "tls.key")
	s, _ := start(t, cfg)
	served := func() []byte {
		t.Helper()
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("tls.Dial: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	der := func(p []byte) []byte { b, _ := pem.Decode(p); return b.Bytes }
	if !bytes.Equal(served(), der(first)) {
		t.Fatal("server does not serve the first certificate")
	}
	second := selfSignedCert(t, dir) // overwrites the files
	if !bytes.Equal(served(), der(first)) {
		t.Error("certificate changed before ReloadTLS")
	}
	if err := s.ReloadTLS(); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	if !bytes.Equal(served(), der(second)) {
		t.Error("ReloadTLS did not switch to the new certificate")
	}
	os.WriteFile(cfg.TLSKeyFile, []byte("garbage"), 0o600)
	if err := s.ReloadTLS(); err == nil {
		t.Error("ReloadTLS with a broken key file err = nil")
	}
	if !bytes.Equal(served(), der(second)) {
		t.Error("a failed reload dropped the current certificate")
	}
}

// TestTLSExpiredCertWarns: a certificate that has expired (or is not valid
// yet), which every client that verifies it refuses, is named in a warning
// with its validity, at start and at a reload, rather than served silently.
func TestTLSExpiredCertWarns(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	cfg := devConfig()
	cfg.TLSCertFile = filepath.Join(dir, "tls.crt")
	cfg.TLSKeyFile = filepath.Join(dir, "tls.key")
	s, logs := start(t, cfg)
	if !strings.Contains(logs.String(), "the TLS certificate is not valid now") || !strings.Contains(logs.String(), "not_after=") {
		t.Errorf("start with an expired certificate logged:\n%s", logs)
	}
	writeCert(t, dir, time.Now().Add(time.Hour), time.Now().Add(48*time.Hour))
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "the TLS certificate is not valid now"); n != 2 {
		t.Errorf("reload of a certificate not valid yet: %d warnings in all, want 2:\n%s", n, logs)
	}
	selfSignedCert(t, dir)
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "the TLS certificate is not valid now"); n != 2 {
		t.Errorf("reload of a valid certificate warned:\n%s", logs)
	}
}

func TestTLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.TLSCertFile = filepath.Join(dir, "missing.crt")
	cfg.TLSKeyFile = filepath.Join(dir, "missing.key")
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "load TLS certificate") {
		t.Fatalf("New with missing TLS files err = %v", err)
	}
	if _, err := os.Stat(cfg.DataDir); err == nil {
		t.Error("data directory created although the TLS files were bad")
	}
}

func selfSignedCert(t *testing.T, dir string) []byte {
	t.Helper()
	return writeCert(t, dir, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// writeCert writes dir/tls.crt and dir/tls.key, a self-signed certificate
// for 127.0.0.1 valid from notBefore to notAfter, and returns the
// certificate (PEM).
func writeCert(t *testing.T, dir string, notBefore, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "trent test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

func TestRefusesPlainHTTPOnNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080", "example.com:80"} {
		cfg := devConfig()
		cfg.Addr = addr
		_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "refusing plain HTTP") {
			t.Errorf("New(addr %s) err = %v, want a refusal of plain HTTP", addr, err)
		}
	}
	cfg := devConfig()
	cfg.Addr = "0.0.0.0:0"
	cfg.InsecureHTTP = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate with --insecure-http = %v, want nil", err)
	}
	cfg.InsecureHTTP = false
	cfg.TLSCertFile, cfg.TLSKeyFile = "c", "k"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate with TLS = %v, want nil", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:80": true, "localhost:0": true, "LOCALHOST:1": true,
		"0.0.0.0:80": false, ":80": false, "[::]:80": false, "10.0.0.1:80": false, "example.com:80": false,
		"127.0.0.1": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestValidateReportsAll(t *testing.T) {
	cfg := Default()
	cfg.Addr = "nope"
	cfg.AccountID = "12"
	cfg.Region = "moon"
	cfg.TLSCertFile = "x"
	err := cfg.Validate()
	for _, want := range []string{"want HOST:PORT", "not 12 digits", "not an AWS region name", "go together"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
}

// TestGracefulShutdown sends a request whose body is still arriving when
// Shutdown starts: the request must complete, new connections must be
// refused, and Shutdown must return once the response is written.
func TestGracefulShutdown(t *testing.T) {
	logs := &syncBuffer{}
	s, err := New(context.Background(), devConfig(), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	keyID, _ := roundTrip(t, sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil), "")

	body := []byte(`{"KeyId":"` + keyID + `","Plaintext":"aW4gZmxpZ2h0"}`)
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: DevAccessKeyID, SecretAccessKey: DevSecretKey},
		req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if err := req.Write(&raw); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	split := raw.Len() - 10
	if _, err := conn.Write(raw.Bytes()[:split]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the handler is now waiting for the rest of the body

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}

	if _, err := conn.Write(raw.Bytes()[split:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct{ CiphertextBlob []byte }
	if resp.StatusCode != 200 || json.Unmarshal(rb, &out) != nil || len(out.CiphertextBlob) == 0 {
		t.Errorf("in-flight Encrypt = %d %s, want 200 with a ciphertext", resp.StatusCode, rb)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the in-flight request finished")
	}
	if !strings.Contains(logs.String(), "storage closed") {
		t.Errorf("storage not closed at shutdown: %s", logs)
	}
}

// readCredentials parses <data-dir>/credentials.
func readCredentials(t *testing.T, path string) (id, secret, account string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials mode = %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	if lines[0] != "[default]" {
		t.Errorf("credentials first line = %q, want [default]", lines[0])
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "aws_access_key_id = "):
			id = strings.TrimPrefix(l, "aws_access_key_id = ")
		case strings.HasPrefix(l, "aws_secret_access_key = "):
			secret = strings.TrimPrefix(l, "aws_secret_access_key = ")
		case strings.HasPrefix(l, "# account "):
			account = strings.TrimPrefix(l, "# account ")
		}
	}
	if id == "" || secret == "" || account == "" {
		t.Fatalf("credentials file incomplete:\n%s", b)
	}
	return id, secret, account
}

func TestRestartKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = dir

	s1, logs1 := start(t, cfg)
	id, secret, account := readCredentials(t, filepath.Join(dir, CredentialsFile))
	if account != DevAccountID { // a new data directory without --account-id
		t.Errorf("credentials account = %s, want %s", account, DevAccountID)
	}
	if strings.Contains(logs1.String(), secret) {
		t.Error("the administrator's secret was logged")
	}
	if !strings.Contains(logs1.String(), filepath.Join(dir, CredentialsFile)) {
		t.Error("the credentials path was not logged")
	}
	for _, f := range []string{DBFile, RootKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f == RootKeyFile && fi.Mode().Perm() != 0o600 {
			t.Errorf("root key mode = %v, want 0600", fi.Mode().Perm())
		}
	}
	c1 := sdk(s1.URL(), id, secret, nil)
	keyID, blob := roundTrip(t, c1, "")
	if err := s1.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	s2, _ := start(t, cfg)
	id2, secret2, _ := readCredentials(t, filepath.Join(dir, CredentialsFile))
	if id2 != id || secret2 != secret {
		t.Error("credentials changed across restart")
	}
	c2 := sdk(s2.URL(), id, secret, nil)
	dec, err := c2.Decrypt(context.Background(), &awskms.DecryptInput{CiphertextBlob: blob,
		EncryptionContext: map[string]string{"test": "server"}})
	if err != nil {
		t.Fatalf("Decrypt after restart: %v", err)
	}
	if string(dec.Plaintext) != "the quick brown fox" {
		t.Errorf("Decrypt after restart = %q", dec.Plaintext)
	}
	roundTrip(t, c2, keyID)

	// The database is sealed: the key material is not in the file in the clear,
	// and a wrong root key cannot open it.
	if err := s2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	cfg.RootKeyFile = other
	s3, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		s3.Shutdown(context.Background())
		t.Fatal("New with a missing root key file succeeded over an existing data directory")
	}
	if !strings.Contains(err.Error(), "not found") {
		t.Errorf("New with a missing root key file: err = %v, want a not-found explanation", err)
	}
	if fileExists(other) {
		t.Error("a new root key file was minted for a data directory sealed with another key")
	}
	if err := writeRootKey(other); err != nil {
		t.Fatal(err)
	}
	if s4, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		s4.Shutdown(context.Background())
		t.Error("New with a different root key succeeded over the same data directory")
	}
}

// writeRootKey writes a fresh random 32-byte root key file (mode 0600).
func writeRootKey(path string) error {
	b := make([]byte, 32)
	rand.Read(b)
	return os.WriteFile(path, b, 0o600)
}

func TestSeed(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.yaml")
	err := os.WriteFile(seed, []byte(`
keys:
  - id: 11111111-2222-3333-4444-555555555555
    description: seeded
    material: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    aliases: [alias/app]
    tags: {team: x}
access_keys:
  - id: AKIASEEDEXAMPLE00001
    secret: seeded/secret/EXAMPLE
    account: "111122223333"
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.SeedFile = seed
	for round := range 2 { // the second start re-applies the seed: idempotent
		func() {
			s, _ := start(t, cfg)
			defer s.Shutdown(context.Background())
			c := sdk(s.URL(), "AKIASEEDEXAMPLE00001", "seeded/secret/EXAMPLE", nil)
			dk, err := c.DescribeKey(context.Background(), &awskms.DescribeKeyInput{KeyId: aws.String("alias/app")})
			if err != nil {
				t.Fatalf("round %d: DescribeKey(alias/app): %v", round, err)
			}
			if *dk.KeyMetadata.KeyId != "11111111-2222-3333-4444-555555555555" || *dk.KeyMetadata.Description != "seeded" {
				t.Errorf("round %d: seeded key = %s %q", round, *dk.KeyMetadata.KeyId, *dk.KeyMetadata.Description)
			}
			roundTrip(t, c, "alias/app")
			lk, err := c.ListKeys(context.Background(), &awskms.ListKeysInput{})
			if err != nil || len(lk.Keys) != 1 {
				t.Errorf("round %d: ListKeys = %v, %v; want exactly the seeded key", round, lk, err)
			}
		}()
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("keys:\n  - description: no id\n"), 0o600)
	cfg.SeedFile = bad
	if _, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "missing id") {
		t.Errorf("New with a bad seed err = %v, want missing id", err)
	}
}

func TestHealthReportsStorageFailure(t *testing.T) {
	s, _ := start(t, devConfig())
	s.state.store.Close() // storage gone under the running server
	code, body := get(t, nil, s.URL()+"/health")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"storage":"error"`) {
		t.Errorf("GET /health with closed storage = %d %s, want 503", code, body)
	}
}

func TestRunPrintsListeningLine(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, devConfig(), slog.New(slog.DiscardHandler), pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the listening line: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "trent: listening on http://")
	if !ok || strings.HasSuffix(addr, ":0") {
		t.Fatalf("line = %q, want trent: listening on http://127.0.0.1:PORT", line)
	}
	if code, _ := get(t, nil, "http://"+addr+"/health"); code != 200 {
		t.Errorf("GET /health = %d", code)
	}
	go io.Copy(io.Discard, pr)
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
