package xks

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/sigv4"
)

const (
	testAKID    = "MUBSXM6K3KMXHN6RRCXI7TWQH4"
	testSecret  = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"
	testRegion  = "us-east-2"
	testAccount = "111122223333"
	testPath    = "/keystores/ks-1" + APIPath
	testKeyID   = "key-1"
	brokenKeyID = "broken"
	// brokenText is the text of the broken key's internal error, which
	// must never reach the client.
	brokenText = "hsm slot 3: pin 1234 rejected"
)

var testMD = &RequestMetadata{
	AwsPrincipalArn: "arn:aws:iam::123456789012:user/Alice",
	KmsKeyArn:       "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	KmsOperation:    "Encrypt",
	KmsRequestId:    "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
}

// testCreds is the proxy's one SigV4 credential.
type testCreds struct{}

func (testCreds) Credential(id, token string) (string, *iam.Principal, error) {
	if id != testAKID || token != "" {
		return "", nil, iam.ErrUnknownCredential
	}
	p := iam.RootPrincipal(testAccount, id)
	return testSecret, &p, nil
}

// testBackend does AES-256-GCM with xks.AAD under a key per external key
// id. Its ciphertextMetadata is one version byte.
type testBackend struct {
	keys map[string]cipher.AEAD

	mu        sync.Mutex
	healthErr error
	callers   []Caller
}

const testVersion = 1

var _ Backend = (*testBackend)(nil)

func newTestBackend(t *testing.T) *testBackend {
	t.Helper()
	b := &testBackend{keys: map[string]cipher.AEAD{}}
	for _, id := range []string{testKeyID, "key-2"} {
		key := make([]byte, 32)
		rand.Read(key)
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			t.Fatal(err)
		}
		b.keys[id] = gcm
	}
	return b
}

func (b *testBackend) key(c *Caller, keyID string) (cipher.AEAD, error) {
	b.mu.Lock()
	b.callers = append(b.callers, *c)
	b.mu.Unlock()
	if keyID == brokenKeyID {
		return nil, errors.New(brokenText)
	}
	k, ok := b.keys[keyID]
	if !ok {
		return nil, ErrKeyNotFound.With("no such external key")
	}
	return k, nil
}

func (b *testBackend) Health(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.healthErr
}

func (b *testBackend) KeyMetadata(_ context.Context, c *Caller, keyID string, _ *RequestMetadata) (*KeyMetadata, error) {
	if _, err := b.key(c, keyID); err != nil {
		return nil, err
	}
	return &KeyMetadata{KeySpec: "AES_256", KeyUsage: []string{"ENCRYPT", "DECRYPT"}, KeyStatus: "ENABLED"}, nil
}

func (b *testBackend) Encrypt(_ context.Context, c *Caller, keyID string, _ *RequestMetadata, plaintext, aad []byte) (*Sealed, error) {
	k, err := b.key(c, keyID)
	if err != nil {
		return nil, err
	}
	s := &Sealed{IV: make([]byte, 12), Metadata: []byte{testVersion}}
	rand.Read(s.IV)
	out := k.Seal(nil, s.IV, plaintext, AAD(aad, s.Metadata))
	s.Ciphertext, s.Tag = out[:len(plaintext)], out[len(plaintext):]
	return s, nil
}

func (b *testBackend) Decrypt(_ context.Context, c *Caller, keyID string, _ *RequestMetadata, s *Sealed, aad []byte) ([]byte, error) {
	k, err := b.key(c, keyID)
	if err != nil {
		return nil, err
	}
	if len(s.Metadata) != 1 || s.Metadata[0] != testVersion || len(s.IV) != 12 {
		return nil, ErrInvalidCiphertext.With("the ciphertext is invalid")
	}
	pt, err := k.Open(nil, s.IV, append(bytes.Clone(s.Ciphertext), s.Tag...), AAD(aad, s.Metadata))
	if err != nil {
		return nil, ErrInvalidCiphertext.With("the ciphertext is invalid")
	}
	return pt, nil
}

func (b *testBackend) lastCaller() Caller {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.callers[len(b.callers)-1]
}

// proxy is a Handler over a testBackend behind a real HTTP(S) server.
type proxy struct {
	srv     *httptest.Server
	backend *testBackend
}

func startProxy(t *testing.T, useTLS bool) *proxy {
	t.Helper()
	b := newTestBackend(t)
	h := &Handler{
		Verifier: &sigv4.Verifier{Creds: testCreds{}, Service: SigningService},
		Backend:  b,
		Log:      slog.New(slog.DiscardHandler),
	}
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return &proxy{srv: srv, backend: b}
}

// client returns a Client of p signing with secret ("" for the right one).
func (p *proxy) client(secret string) *Client {
	if secret == "" {
		secret = testSecret
	}
	return NewClient(Config{
		Endpoint: p.srv.URL, Path: testPath, Region: testRegion,
		AccessKeyID: testAKID, Secret: secret, HTTPClient: p.srv.Client(),
	})
}

// post sends body to path of p with method, signed when sign is set, and
// returns the status and the answer.
func (p *proxy) post(t *testing.T, method, path, body string, sign bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, p.srv.URL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sign {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), SigningService, testRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := p.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, buf.Bytes()
}

// wantError checks that err is an *Error named name with status.
func wantError(t *testing.T, what string, err error, name string, status int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s err = %v, want *Error %s", what, err, name)
		return
	}
	if e.Name != name || e.Status != status {
		t.Errorf("%s err = %s (HTTP %d), want %s (HTTP %d)", what, e.Name, e.Status, name, status)
	}
}
