package sigv4

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// kmsServer answers every request with {} after Verify, or with the AWS JSON
// error Verify returned. It records the last Result.
func kmsServer(t *testing.T, v *Verifier) (*httptest.Server, *atomic.Pointer[Result]) {
	t.Helper()
	var last atomic.Pointer[Result]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		res, err := v.Verify(r, body)
		if err != nil {
			var e *kmserr.Error
			if !errors.As(err, &e) {
				t.Errorf("Verify returned %T, want *kmserr.Error", err)
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(e.Status)
			json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
			return
		}
		last.Store(res)
		io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	return srv, &last
}

func sdkClient(url, akid, secret, token, region string) *kms.Client {
	cfg := aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, token),
		RetryMaxAttempts: 1,
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(url) })
}

// TestSDKClient drives the verifier with the real KMS client of the AWS SDK
// for Go v2, proving compatibility with what the SDK really sends.
func TestSDKClient(t *testing.T) {
	v := &Verifier{Creds: mapCreds{testAKID: testSecret}, Service: "kms"} // real clock
	srv, last := kmsServer(t, v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := sdkClient(srv.URL, testAKID, testSecret, "", "ap-southeast-2")
	if _, err := c.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	res := last.Load()
	want := Result{Principal: iam.AdminPrincipal(testAccount, testAKID), Region: "ap-southeast-2", AccessKeyID: testAKID}
	if res == nil || *res != want {
		t.Fatalf("Result = %+v, want %+v", res, want)
	}
	// An operation with a body of binary blobs.
	if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/app"), Plaintext: []byte("secret \x00\xff data"),
		EncryptionContext: map[string]string{"purpose": "a b  c", "ünïcode": "välue"}}); err != nil {
		t.Fatalf("Encrypt: %v", err)
	}

	tests := []struct {
		name                        string
		akid, secret, token, region string
		code                        string
	}{
		{"wrong secret", testAKID, "wrong-secret", "", "us-east-1", "InvalidSignatureException"},
		{"unknown key", "AKIANOTKNOWN00000000", testSecret, "", "us-east-1", "UnrecognizedClientException"},
		{"known key with session token", testAKID, testSecret, "FwoGZXIvYXdzEXAMPLE", "us-east-1", "UnrecognizedClientException"},
		{"invalid region", testAKID, testSecret, "", "mars-1", "IncompleteSignatureException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdkClient(srv.URL, tc.akid, tc.secret, tc.token, tc.region).ListKeys(ctx, &kms.ListKeysInput{})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("ListKeys error = %v, want API error %s", err, tc.code)
			}
		})
	}
}

// TestSDKClientDevMode: in dev mode an unknown key is admitted whatever it
// signs with, session token included.
func TestSDKClientDevMode(t *testing.T) {
	v := &Verifier{Creds: mapCreds{testAKID: testSecret}, Service: "kms",
		InsecureAcceptUnknown: func(id string) (iam.Principal, bool) { return iam.AdminPrincipal("123456789012", id), true }}
	srv, last := kmsServer(t, v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := sdkClient(srv.URL, "AKIAANYTHING00000000", "whatever", "session-token", "us-west-2")
	if _, err := c.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if res := last.Load(); res == nil || res.Principal.AccountID != "123456789012" || res.SessionToken != "session-token" || res.Region != "us-west-2" {
		t.Fatalf("Result = %+v", res)
	}
}

// TestIAMStoreCredentials: the verifier with the real access-key store,
// keys from EnsureAdmin and Put.
func TestIAMStoreCredentials(t *testing.T) {
	ctx := context.Background()
	store, err := iam.NewStore(ctx, memstore.New())
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := store.EnsureAdmin(ctx, "210987654321")
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Creds: store, Service: "kms"}
	srv, last := kmsServer(t, v)
	if _, err := sdkClient(srv.URL, admin.ID, admin.Secret, "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("ListKeys as the generated admin: %v", err)
	}
	if res := last.Load(); res.Principal != iam.AdminPrincipal("210987654321", admin.ID) {
		t.Fatalf("principal = %+v", res.Principal)
	}
	// Replacing the secret takes effect at once (no stale cached signing key).
	if err := store.Put(ctx, iam.AccessKey{ID: admin.ID, Secret: "rotated-secret", AccountID: admin.AccountID}); err != nil {
		t.Fatal(err)
	}
	_, err = sdkClient(srv.URL, admin.ID, admin.Secret, "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("old secret after rotation: %v, want InvalidSignatureException", err)
	}
	if _, err := sdkClient(srv.URL, admin.ID, "rotated-secret", "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("new secret: %v", err)
	}
}

func BenchmarkVerifyIAMStore(b *testing.B) {
	ctx := context.Background()
	store, err := iam.NewStore(ctx, memstore.New())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Put(ctx, iam.AccessKey{ID: testAKID, Secret: testSecret, AccountID: testAccount}); err != nil {
		b.Fatal(err)
	}
	v := &Verifier{Creds: store, Service: "kms", Now: func() time.Time { return testNow }}
	r, body := signedRequest(b, signOpts{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
