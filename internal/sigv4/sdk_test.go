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
	want := Result{Principal: iam.RootPrincipal(testAccount, testAKID), Region: "ap-southeast-2", AccessKeyID: testAKID}
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
		code, msg                   string
	}{
		{"wrong secret", testAKID, "wrong-secret", "", "us-east-1", "InvalidSignatureException", kmserr.ErrInvalidSignature.Message},
		{"unknown key", "AKIANOTKNOWN00000000", testSecret, "", "us-east-1", "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"known key with session token", testAKID, testSecret, "FwoGZXIvYXdzEXAMPLE", "us-east-1", "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"invalid region", testAKID, testSecret, "", "mars-1", "InvalidSignatureException", "Credential should be scoped to a valid region, not 'mars-1'. "},
		// A client with an endpoint but no region signs with an empty one.
		{"no region", testAKID, testSecret, "", "", "InvalidSignatureException", "Credential should be scoped to a valid region, not ''. "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdkClient(srv.URL, tc.akid, tc.secret, tc.token, tc.region).ListKeys(ctx, &kms.ListKeysInput{})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || ae.ErrorMessage() != tc.msg {
				t.Fatalf("ListKeys error = %v, want API error %s %q", err, tc.code, tc.msg)
			}
		})
	}
}

// TestSDKClientDevMode: in dev mode an unknown key is admitted whatever it
// signs with, session token included.
func TestSDKClientDevMode(t *testing.T) {
	v := &Verifier{Creds: mapCreds{testAKID: testSecret}, Service: "kms",
		InsecureAcceptUnknown: func(id string) (iam.Principal, bool) { return iam.RootPrincipal("123456789012", id), true }}
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

// TestIAMServiceCredentials: the verifier with the real identity service:
// the first root key, a seeded key whose secret changes, and a key made
// Inactive, refused on the very next request.
func TestIAMServiceCredentials(t *testing.T) {
	ctx := context.Background()
	svc, err := iam.New(ctx, iam.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	_, admin, err := svc.OpenAccount(ctx, "210987654321", false, false)
	if err != nil || admin == nil {
		t.Fatalf("OpenAccount = %v, %v", admin, err)
	}
	v := &Verifier{Creds: svc, Service: "kms"}
	srv, last := kmsServer(t, v)
	if _, err := sdkClient(srv.URL, admin.AccessKeyID, admin.Secret.Reveal(), "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("ListKeys as the first administrator: %v", err)
	}
	if res := last.Load(); res.Principal != iam.RootPrincipal("210987654321", admin.AccessKeyID) {
		t.Fatalf("principal = %+v", res.Principal)
	}
	wantCode := func(err error, code string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != code {
			t.Fatalf("err = %v, want %s", err, code)
		}
	}
	// Replacing a key's secret takes effect at once (no stale cached signing key).
	seeded := iam.SeedAccessKey{ID: "AKIASEEDEDKEY0000001", Secret: "first-secret", AccountID: "210987654321"}
	if _, err := svc.ApplySeed(ctx, &iam.Seed{AccessKeys: []iam.SeedAccessKey{seeded}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sdkClient(srv.URL, seeded.ID, "first-secret", "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("seeded key: %v", err)
	}
	seeded.Secret = "rotated-secret"
	if _, err := svc.ApplySeed(ctx, &iam.Seed{AccessKeys: []iam.SeedAccessKey{seeded}}); err != nil {
		t.Fatal(err)
	}
	_, err = sdkClient(srv.URL, seeded.ID, "first-secret", "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{})
	wantCode(err, "InvalidSignatureException")
	if _, err := sdkClient(srv.URL, seeded.ID, "rotated-secret", "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	// Inactive, then deleted: refused on the next request.
	if err := svc.SetAccessKeyStatus(ctx, admin.AccessKeyID, iam.StatusInactive); err != nil {
		t.Fatal(err)
	}
	_, err = sdkClient(srv.URL, admin.AccessKeyID, admin.Secret.Reveal(), "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{})
	wantCode(err, "UnrecognizedClientException")
	if err := svc.SetAccessKeyStatus(ctx, admin.AccessKeyID, iam.StatusActive); err != nil {
		t.Fatal(err)
	}
	if _, err := sdkClient(srv.URL, admin.AccessKeyID, admin.Secret.Reveal(), "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("reactivated key: %v", err)
	}
	if err := svc.DeleteAccessKeyByID(ctx, admin.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	_, err = sdkClient(srv.URL, admin.AccessKeyID, admin.Secret.Reveal(), "", "us-east-1").ListKeys(ctx, &kms.ListKeysInput{})
	wantCode(err, "UnrecognizedClientException")
}

func BenchmarkVerifyIAMStore(b *testing.B) {
	ctx := context.Background()
	svc, err := iam.New(ctx, iam.Config{Store: memstore.New()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.ApplySeed(ctx, &iam.Seed{AccessKeys: []iam.SeedAccessKey{{ID: testAKID, Secret: testSecret, AccountID: testAccount}}}); err != nil {
		b.Fatal(err)
	}
	v := &Verifier{Creds: svc, Service: "kms", Now: func() time.Time { return testNow }}
	r, body := signedRequest(b, signOpts{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
