package kms

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/ciphertext"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/xks"
)

// The proxy of these tests is Trent's own (xks.Handler over the XKS backend
// of a second Service), over real HTTP with real SigV4: the service under
// test calls it as it would call any XKS proxy.

const (
	proxyAccessKey = "XKSPROXYACCESSKEY234567"                      // ^[A-Z2-7]+$, 23 chars
	proxySecret    = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=" // 44 chars
)

// proxyCreds is the proxy's credential store: one access key, whose secret
// a test may change (as an operator rotating it).
type proxyCreds struct {
	mu     sync.Mutex
	secret string
}

func (p *proxyCreds) Credential(id, token string) (string, *iam.Principal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id != proxyAccessKey || token != "" {
		return "", nil, iam.ErrUnknownCredential
	}
	pr := iam.RootPrincipal(acct, id)
	return p.secret, &pr, nil
}

func (p *proxyCreds) set(secret string) {
	p.mu.Lock()
	p.secret = secret
	p.mu.Unlock()
}

type testProxy struct {
	url   string
	env   *env // the proxy's keys
	creds *proxyCreds
	hang  atomic.Bool // set: the proxy answers nothing until the caller gives up
}

func newTestProxy(t *testing.T) *testProxy {
	t.Helper()
	p := &testProxy{env: newEnv(t), creds: &proxyCreds{secret: proxySecret}}
	h := &xks.Handler{Verifier: &sigv4.Verifier{Creds: p.creds, Service: xks.SigningService}, Backend: p.env.s.XKSBackend(), Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.hang.Load() {
			io.Copy(io.Discard, r.Body) // then the server sees the caller hang up
			<-r.Context().Done()
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// externalKey makes a key behind the proxy: the external key of a test.
func (p *testProxy) externalKey(t *testing.T) string {
	return p.env.createKey(caller).KeyId
}

func (p *testProxy) storeInput(name string) *CreateCustomKeyStoreInput {
	return &CreateCustomKeyStoreInput{
		CustomKeyStoreName: name, CustomKeyStoreType: storeTypeExternal, XksProxyConnectivity: connectivityPublic,
		XksProxyUriEndpoint: p.url, XksProxyUriPath: "/example/kms/xks/v1",
		XksProxyAuthenticationCredential: &XksProxyAuthenticationCredential{AccessKeyId: proxyAccessKey, RawSecretAccessKey: proxySecret},
	}
}

func describeStore(t *testing.T, s *Service, id string) CustomKeyStoresListEntry {
	t.Helper()
	out, err := s.DescribeCustomKeyStores(context.Background(), caller, &DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
	if err != nil || len(out.CustomKeyStores) != 1 {
		t.Fatalf("DescribeCustomKeyStores(%s) = %+v, %v", id, out, err)
	}
	return out.CustomKeyStores[0]
}

func TestCustomKeyStoreValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := newTestProxy(t)
	sealed := newTestProxy(t) // InternalException: the specification's table says XksProxyInvalidResponseException
	sealed.env.s.Wipe()
	bg := context.Background()
	mod := func(f func(in *CreateCustomKeyStoreInput)) *CreateCustomKeyStoreInput {
		in := p.storeInput("store")
		f(in)
		return in
	}
	for _, tc := range []struct {
		name      string
		in        *CreateCustomKeyStoreInput
		code, in2 string
	}{
		{"no name", mod(func(in *CreateCustomKeyStoreInput) { in.CustomKeyStoreName = "" }), "ValidationException", "Value null at 'customKeyStoreName'"},
		{"CloudHSM without a cluster", &CreateCustomKeyStoreInput{CustomKeyStoreName: "h"}, "ValidationException", "CloudHsmClusterId is required"},
		{"CloudHSM cluster the server does not name", &CreateCustomKeyStoreInput{CustomKeyStoreName: "h", CloudHsmClusterId: "cluster-abcdefghijk",
			TrustAnchorCertificate: "x", KeyStorePassword: "1234567"}, "CloudHsmClusterNotFoundException", "cluster-abcdefghijk"},
		{"bad cluster id", &CreateCustomKeyStoreInput{CustomKeyStoreName: "h", CloudHsmClusterId: "cluster-1111111111111"}, "ValidationException", "cloudHsmClusterId"},
		{"bad type", mod(func(in *CreateCustomKeyStoreInput) { in.CustomKeyStoreType = "OTHER" }), "ValidationException", "enum value set"},
		{"ftp endpoint", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyUriEndpoint = "ftp://example.com" }), "ValidationException", "xksProxyUriEndpoint"},
		{"http not loopback", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyUriEndpoint = "http://example.com" }), "ValidationException", "xksProxyUriEndpoint"},
		{"http to a name like a loopback address", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyUriEndpoint = "http://127.0.0.1.example.com" }), "ValidationException", "xksProxyUriEndpoint"},
		{"endpoint with path", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyUriEndpoint = "https://example.com/x" }), "ValidationException", "xksProxyUriEndpoint"},
		{"bad path", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyUriPath = "/kms/xks/v1/extra" }), "ValidationException", "xksProxyUriPath"},
		{"short secret", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyAuthenticationCredential.RawSecretAccessKey = "short" }), "ValidationException", "rawSecretAccessKey' failed to satisfy constraint: Member must have length greater than or equal to 43"},
		{"lowercase access key", mod(func(in *CreateCustomKeyStoreInput) {
			in.XksProxyAuthenticationCredential.AccessKeyId = strings.ToLower(proxyAccessKey)
		}), "ValidationException", "accessKeyId"},
		{"no connectivity", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyConnectivity = "" }), "ValidationException", "XksProxyConnectivity is required"},
		{"VPC", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyConnectivity = connectivityVPC }), "UnsupportedOperationException", "VPC"},
		{"VPC endpoint service of the eu partition", mod(func(in *CreateCustomKeyStoreInput) {
			in.XksProxyConnectivity, in.XksProxyVpcEndpointServiceName = connectivityVPC, "eu.amazonaws.vpce.eu-central-1.vpce-svc-0123456789abcdef0"
		}), "UnsupportedOperationException", "VPC"},
		{"no credential", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyAuthenticationCredential = nil }), "ValidationException", "XksProxyAuthenticationCredential is required"},
		{"wrong secret", mod(func(in *CreateCustomKeyStoreInput) {
			in.XksProxyAuthenticationCredential.RawSecretAccessKey = strings.Repeat("A", 44)
		}), "XksProxyIncorrectAuthenticationCredentialException", "*"},
		{"not a proxy path", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyUriPath = "/kms/xks/v2" }), "XksProxyInvalidConfigurationException", "*"},
		{"unreachable", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyUriEndpoint = "http://127.0.0.1:1" }), "XksProxyUriUnreachableException", "*"},
		{"proxy's key manager failing", mod(func(in *CreateCustomKeyStoreInput) { in.XksProxyUriEndpoint = sealed.url }), "XksProxyInvalidResponseException", "*"},
	} {
		_, err := e.s.CreateCustomKeyStore(bg, caller, tc.in)
		if tc.in2 == "*" {
			wantErr(t, err, tc.code, "*")
			continue
		}
		wantErr(t, err, tc.code, "*")
		if !strings.Contains(err.Error(), tc.in2) {
			t.Errorf("%s: %v, want a message with %q", tc.name, err, tc.in2)
		}
		if strings.Contains(err.Error(), proxySecret) {
			t.Errorf("%s: the message repeats the secret", tc.name)
		}
	}
	out, err := e.s.DescribeCustomKeyStores(bg, caller, &DescribeCustomKeyStoresInput{})
	if err != nil || len(out.CustomKeyStores) != 0 {
		t.Fatalf("a failed create left a store: %+v, %v", out, err)
	}
}

// newStoreEnv is a service with a store "store" (DISCONNECTED) whose proxy
// is newTestProxy's; it returns the store's id.
func newStoreEnv(t *testing.T) (*env, *testProxy, string) {
	t.Helper()
	e, p := newEnv(t), newTestProxy(t)
	cs, err := e.s.CreateCustomKeyStore(context.Background(), caller, p.storeInput("store"))
	if err != nil {
		t.Fatal(err)
	}
	return e, p, cs.CustomKeyStoreId
}

func TestCustomKeyStoreLifecycle(t *testing.T) {
	t.Parallel()
	e, p, id := newStoreEnv(t)
	bg := context.Background()
	if len(id) != 21 || !strings.HasPrefix(id, "cks-") {
		t.Errorf("CustomKeyStoreId = %q, want cks- and 17 hex digits", id)
	}
	got := describeStore(t, e.s, id)
	if got.ConnectionState != stateDisconnected || got.CustomKeyStoreType != storeTypeExternal || got.CustomKeyStoreName != "store" ||
		got.XksProxyConfiguration == nil || got.XksProxyConfiguration.AccessKeyId != proxyAccessKey ||
		got.XksProxyConfiguration.UriEndpoint != p.url || got.XksProxyConfiguration.UriPath != "/example/kms/xks/v1" {
		t.Errorf("new store = %+v", got)
	}
	_, err := e.s.CreateCustomKeyStore(bg, caller, p.storeInput("store"))
	wantErr(t, err, "CustomKeyStoreNameInUseException", "*")
	_, err = e.s.CreateCustomKeyStore(bg, caller, p.storeInput("other"))
	wantErr(t, err, "XksProxyUriInUseException", "*")
	if out, err := e.s.DescribeCustomKeyStores(bg, caller, &DescribeCustomKeyStoresInput{CustomKeyStoreName: "store"}); err != nil || len(out.CustomKeyStores) != 1 {
		t.Errorf("by name: %+v, %v", out, err)
	}
	_, err = e.s.DescribeCustomKeyStores(bg, caller, &DescribeCustomKeyStoresInput{CustomKeyStoreId: "cks-00000000000000000"})
	wantErr(t, err, "CustomKeyStoreNotFoundException", "Custom key store cks-00000000000000000 does not exist.")

	ext := p.externalKey(t)
	xksKey := func(xksID string) (*CreateKeyOutput, error) {
		return e.s.CreateKey(bg, caller, &CreateKeyInput{Origin: originExternalStore, CustomKeyStoreId: id, XksKeyId: xksID})
	}
	_, err = xksKey(ext)
	wantErr(t, err, "CustomKeyStoreInvalidStateException", "*")

	if _, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	if st := describeStore(t, e.s, id).ConnectionState; st != stateConnected {
		t.Fatalf("after Connect: %s", st)
	}
	_, err = xksKey("no-such-key")
	wantErr(t, err, "XksKeyNotFoundException", "*")
	_, err = e.s.CreateKey(bg, caller, &CreateKeyInput{Origin: originExternalStore, CustomKeyStoreId: id, XksKeyId: ext, KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC"})
	wantErr(t, err, "UnsupportedOperationException", "*")
	_, err = e.s.CreateKey(bg, caller, &CreateKeyInput{CustomKeyStoreId: id, XksKeyId: ext})
	wantErr(t, err, "ValidationException", "Origin must be EXTERNAL_KEY_STORE for a key in custom key store "+id+".")
	out, err := xksKey(ext)
	if err != nil {
		t.Fatal(err)
	}
	m := out.KeyMetadata
	if m.Origin != originExternalStore || m.CustomKeyStoreId != id || m.XksKeyConfiguration == nil || m.XksKeyConfiguration.Id != ext || m.KeyState != stateEnabled {
		t.Errorf("KeyMetadata = %+v", m)
	}
	_, err = xksKey(ext)
	wantErr(t, err, "XksKeyAlreadyInUseException", "*")

	// Double encryption: Trent's blob inside the proxy's.
	ec := map[string]string{"app": "xks"}
	blob := e.encrypt(m.KeyId, []byte("hello"), ec)
	if !ciphertext.IsExternal(blob) {
		t.Fatalf("blob format %#x, want the external format", blob[0])
	}
	dec, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "hello" || dec.KeyId != m.Arn {
		t.Fatalf("Decrypt = %+v, %v", dec, err)
	}
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"app": "other"}})
	wantErr(t, err, "InvalidCiphertextException", "")
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 1
		if _, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: bad, EncryptionContext: ec}); err == nil {
			t.Fatalf("a blob changed at byte %d decrypts", i)
		}
	}
	// The inner blob, which the proxy sees, is no ciphertext of the key.
	pe, _ := ciphertext.ParseExternal(blob)
	inner, err := p.env.s.XKSDecrypt(bg, XKSCaller(&xks.Caller{Principal: iam.RootPrincipal(acct, proxyAccessKey), Region: region}), ext,
		&xks.Sealed{Ciphertext: pe.Ciphertext, IV: pe.IV, Tag: pe.Tag, Metadata: pe.Metadata}, pe.Header())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: inner, EncryptionContext: ec})
	wantErr(t, err, "InvalidCiphertextException", "")

	dk, err := e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: "AES_256"})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: dk.CiphertextBlob}); err != nil || !bytes.Equal(d.Plaintext, dk.Plaintext) {
		t.Fatalf("data key: %v", err)
	}
	plain := e.createKey(caller)
	re, err := e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec, DestinationKeyId: plain.KeyId})
	if err != nil || ciphertext.IsExternal(re.CiphertextBlob) {
		t.Fatalf("ReEncrypt to a key of Trent's: %v", err)
	}
	back, err := e.s.ReEncrypt(bg, caller, &ReEncryptInput{CiphertextBlob: re.CiphertextBlob, DestinationKeyId: m.KeyId})
	if err != nil || !ciphertext.IsExternal(back.CiphertextBlob) {
		t.Fatalf("ReEncrypt back: %v", err)
	}
	if d, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: back.CiphertextBlob}); err != nil || string(d.Plaintext) != "hello" {
		t.Fatalf("after two ReEncrypts: %v", err)
	}
	_, err = e.s.EnableKeyRotation(bg, caller, &EnableKeyRotationInput{KeyId: m.KeyId})
	wantErr(t, err, "UnsupportedOperationException", "*")
	_, err = e.s.GenerateRandom(bg, caller, &GenerateRandomInput{NumberOfBytes: ptr(int32(8)), CustomKeyStoreId: id})
	wantErr(t, err, "UnsupportedOperationException", "*")

	// The external key, disabled behind the proxy, cuts the key off.
	if _, err := p.env.s.DisableKey(bg, caller, &DisableKeyInput{KeyId: ext}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	wantErr(t, err, "KMSInvalidStateException", "*")
	if _, err := p.env.s.EnableKey(bg, caller, &EnableKeyInput{KeyId: ext}); err != nil {
		t.Fatal(err)
	}

	// Connected: the name, the URI path and the credential change (checked
	// with the proxy), the endpoint does not; nothing is deleted.
	if _, err := e.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, NewCustomKeyStoreName: "renamed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, XksProxyUriPath: "/kms/xks/v1"}); err != nil {
		t.Fatal(err)
	}
	if d, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, EncryptionContext: ec}); err != nil || string(d.Plaintext) != "hello" {
		t.Fatalf("Decrypt through the new path: %v", err)
	}
	_, err = e.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, XksProxyUriPath: "/kms/xks/v2"})
	wantErr(t, err, "XksProxyInvalidConfigurationException", "*") // checked with the proxy, not applied
	_, err = e.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, XksProxyUriEndpoint: "http://localhost:1"})
	wantErr(t, err, "CustomKeyStoreInvalidStateException", "*")
	_, err = e.s.DeleteCustomKeyStore(bg, caller, &DeleteCustomKeyStoreInput{CustomKeyStoreId: id})
	wantErr(t, err, "CustomKeyStoreInvalidStateException", "*")

	// Disconnected: the key is Unavailable.
	if _, err := e.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id})
	wantErr(t, err, "CustomKeyStoreInvalidStateException", "*")
	if d, err := e.s.DescribeKey(bg, caller, &DescribeKeyInput{KeyId: m.KeyId}); err != nil || d.KeyMetadata.KeyState != "Unavailable" || d.KeyMetadata.Enabled {
		t.Errorf("DescribeKey while disconnected = %+v, %v", d, err)
	}
	_, err = e.s.Encrypt(bg, caller, &EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException", "*")
	_, err = e.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, XksProxyUriEndpoint: "http://localhost:1"})
	wantErr(t, err, "XksProxyUriUnreachableException", "*") // disconnected: checked with the proxy
	if got := describeStore(t, e.s, id); got.CustomKeyStoreName != "renamed" || got.XksProxyConfiguration.UriPath != "/kms/xks/v1" ||
		got.XksProxyConfiguration.UriEndpoint != p.url {
		t.Errorf("after updates: %+v", got)
	}
	_, err = e.s.DeleteCustomKeyStore(bg, caller, &DeleteCustomKeyStoreInput{CustomKeyStoreId: id})
	wantErr(t, err, "CustomKeyStoreHasCMKsException", "*")

	// A restart keeps the store (connected again) and the key.
	if _, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	s2 := e.reopen()
	if d, err := s2.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, EncryptionContext: ec}); err != nil || string(d.Plaintext) != "hello" {
		t.Fatalf("after a restart: %v", err)
	}

	// Deleted keys leave the store empty: it can go.
	if _, err := e.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.DeleteCustomKeyStore(bg, caller, &DeleteCustomKeyStoreInput{CustomKeyStoreId: id})
	wantErr(t, err, "CustomKeyStoreHasCMKsException", "*")
	e.clock.Advance(8 * 24 * time.Hour)
	if err := e.s.Tick(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DeleteCustomKeyStore(bg, caller, &DeleteCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
	wantErr(t, err, "CustomKeyStoreNotFoundException", "*")
}

// TestCustomKeyStoreConnectFails: a proxy that refuses the credential makes
// the connection FAILED with INVALID_CREDENTIALS; such a store must be
// disconnected before it connects again.
func TestCustomKeyStoreConnectFails(t *testing.T) {
	t.Parallel()
	e, p, id := newStoreEnv(t)
	bg := context.Background()
	p.creds.set(strings.Repeat("B", 44)) // the proxy's operator rotated the secret
	if _, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	if got := describeStore(t, e.s, id); got.ConnectionState != stateFailed || got.ConnectionErrorCode != "INVALID_CREDENTIALS" {
		t.Fatalf("store = %+v, want FAILED with INVALID_CREDENTIALS", got)
	}
	_, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
	wantErr(t, err, "CustomKeyStoreInvalidStateException", "*")
	if _, err := e.s.DisconnectCustomKeyStore(bg, caller, &DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id,
		XksProxyAuthenticationCredential: &XksProxyAuthenticationCredential{AccessKeyId: proxyAccessKey, RawSecretAccessKey: proxySecret}})
	wantErr(t, err, "XksProxyIncorrectAuthenticationCredentialException", "*")
	if _, err := e.s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id,
		XksProxyAuthenticationCredential: &XksProxyAuthenticationCredential{AccessKeyId: proxyAccessKey, RawSecretAccessKey: strings.Repeat("B", 44)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	if got := describeStore(t, e.s, id); got.ConnectionState != stateConnected || got.ConnectionErrorCode != "" {
		t.Fatalf("store = %+v, want CONNECTED", got)
	}
}

// TestCustomKeyStoreCreateKeyProxyErrors: CreateKey answers a proxy's
// failure as the XKS proxy API specification's table of KMS exceptions
// says: an external key that is not enabled (InvalidStateException) or not
// for encryption (InvalidKeyUsageException) is
// XksKeyInvalidConfigurationException, a proxy that refuses the credential
// (AuthenticationFailedException) CustomKeyStoreInvalidStateException.
func TestCustomKeyStoreCreateKeyProxyErrors(t *testing.T) {
	t.Parallel()
	e, p, id := newStoreEnv(t)
	bg := context.Background()
	if _, err := e.s.ConnectCustomKeyStore(bg, caller, &ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	xksKey := func(xksID string) error {
		_, err := e.s.CreateKey(bg, caller, &CreateKeyInput{Origin: originExternalStore, CustomKeyStoreId: id, XksKeyId: xksID})
		return err
	}
	pending := p.externalKey(t)
	if _, err := p.env.s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: pending, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, xksKey(pending), "XksKeyInvalidConfigurationException", "*")
	mac, err := p.env.s.CreateKey(bg, caller, &CreateKeyInput{KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC"})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, xksKey(mac.KeyMetadata.KeyId), "XksKeyInvalidConfigurationException", "*")
	ext := p.externalKey(t)
	p.creds.set(strings.Repeat("B", 44)) // the proxy's operator rotated the secret
	wantErr(t, xksKey(ext), "CustomKeyStoreInvalidStateException", "*")
}

// TestCustomKeyStoreProxyTimeout: a proxy that does not answer in time
// makes a cryptographic operation KMSInvalidStateException, as every other
// failure of the proxy (the XKS proxy API specification's table: "AWS KMS
// encounters a socket timeout"). The proxy never answers, so the call
// always times out: after the service's timeout for proxies, here 1 s.
func TestCustomKeyStoreProxyTimeout(t *testing.T) {
	t.Parallel()
	e, p, id := newStoreEnv(t)
	e.s.xksHTTP = &http.Client{Timeout: time.Second}
	k := connectedKey(t, e, p, id)
	p.hang.Store(true)
	_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException", "*")
}

// TestCustomKeyStoreChangedOuterCiphertext: a ciphertext whose outer layer
// (the proxy's) was changed is refused by the proxy with
// InvalidCiphertextException, which Decrypt answers as
// KMSInvalidStateException (the XKS proxy API specification's table of KMS
// exceptions); a wrong encryption context, bound by the inner layer, stays
// InvalidCiphertextException.
func TestCustomKeyStoreChangedOuterCiphertext(t *testing.T) {
	t.Parallel()
	e, p, id := newStoreEnv(t)
	k := connectedKey(t, e, p, id)
	ec := map[string]string{"app": "xks"}
	blob := e.encrypt(k.KeyId, []byte("hello"), ec)
	_, err := e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"app": "other"}})
	wantErr(t, err, "InvalidCiphertextException", "")
	pe, err := ciphertext.ParseExternal(blob)
	if err != nil {
		t.Fatal(err)
	}
	pe.Ciphertext[0] ^= 1
	_, err = e.s.Decrypt(bg, caller, &DecryptInput{CiphertextBlob: pe.Marshal(), EncryptionContext: ec})
	wantErr(t, err, "KMSInvalidStateException", "*")
}

func TestCustomKeyStoreQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := newTestProxy(t)
	bg := context.Background()
	for i := range maxKeyStores + 1 {
		in := p.storeInput("store" + string(rune('a'+i)))
		in.XksProxyUriPath = "/p" + string(rune('a'+i)) + "/kms/xks/v1"
		_, err := e.s.CreateCustomKeyStore(bg, caller, in)
		if i < maxKeyStores && err != nil {
			t.Fatal(err)
		}
		if i == maxKeyStores {
			wantErr(t, err, "LimitExceededException", "*")
		}
	}
	out, err := e.s.DescribeCustomKeyStores(bg, caller, &DescribeCustomKeyStoresInput{Limit: ptr(int32(4))})
	if err != nil || len(out.CustomKeyStores) != 4 || !out.Truncated {
		t.Fatalf("page 1: %+v, %v", out, err)
	}
	seen := 4
	for out.Truncated {
		if out, err = e.s.DescribeCustomKeyStores(bg, caller, &DescribeCustomKeyStoresInput{Limit: ptr(int32(4)), Marker: out.NextMarker}); err != nil {
			t.Fatal(err)
		}
		seen += len(out.CustomKeyStores)
	}
	if seen != maxKeyStores {
		t.Errorf("pages listed %d stores, want %d", seen, maxKeyStores)
	}
	// Another account sees none of them.
	other, err := e.s.DescribeCustomKeyStores(bg, callerIn(region, "444455556666"), &DescribeCustomKeyStoresInput{})
	if err != nil || len(other.CustomKeyStores) != 0 {
		t.Errorf("another account: %+v, %v", other, err)
	}
}

// viewCounter counts the read transactions of a store.
type viewCounter struct {
	storage.Store
	views atomic.Int64
}

func (v *viewCounter) View(ctx context.Context, fn func(storage.Tx) error) error {
	v.views.Add(1)
	return v.Store.View(ctx, fn)
}

// TestCustomKeyStoreNoStorageOnCrypto: a key's cryptographic operations
// find its store in memory, after a restart (Reload) and after a change of
// the store (refreshed by the change itself).
func TestCustomKeyStoreNoStorageOnCrypto(t *testing.T) {
	t.Parallel()
	e, p, id := newStoreEnv(t)
	k := connectedKey(t, e, p, id)
	vc := &viewCounter{Store: e.store}
	s, err := New(bg, Config{Store: vc, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	encrypt := func(what string) {
		t.Helper()
		before := vc.views.Load()
		if _, err := s.Encrypt(bg, caller, &EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatalf("Encrypt %s: %v", what, err)
		}
		if n := vc.views.Load() - before; n != 0 {
			t.Errorf("Encrypt %s read storage %d times", what, n)
		}
	}
	encrypt("after a restart")
	if _, err := s.UpdateCustomKeyStore(bg, caller, &UpdateCustomKeyStoreInput{CustomKeyStoreId: id, XksProxyUriPath: "/kms/xks/v1"}); err != nil {
		t.Fatal(err)
	}
	encrypt("after UpdateCustomKeyStore")
	if err := s.Apply(bg, []string{keyStorePath(scope{region, acct}, id)}); err != nil {
		t.Fatal(err)
	}
	encrypt("after another node's change")
}

// TestCustomKeyStoreNoDataKeyPairs: AWS does not generate data key pairs
// under a key in a custom key store (Developer Guide, "KMS keys in external
// key stores": GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext
// are not supported): UnsupportedOperationException, the exception the
// model gives both operations, with or without DryRun.
func TestCustomKeyStoreNoDataKeyPairs(t *testing.T) {
	t.Parallel()
	e, k, _ := storeKey(t)
	for _, dryRun := range []bool{false, true} {
		_, err := e.s.GenerateDataKeyPair(bg, caller, &GenerateDataKeyPairInput{KeyId: k.KeyId, KeyPairSpec: "ECC_NIST_P256", DryRun: dryRun})
		wantErr(t, err, "UnsupportedOperationException", "")
		_, err = e.s.GenerateDataKeyPairWithoutPlaintext(bg, caller, &GenerateDataKeyPairWithoutPlaintextInput{KeyId: k.Arn, KeyPairSpec: "RSA_2048", DryRun: dryRun})
		wantErr(t, err, "UnsupportedOperationException", "")
	}
	// The data keys of GenerateDataKey stay available.
	if _, err := e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: k.KeyId, KeySpec: "AES_256"}); err != nil {
		t.Errorf("GenerateDataKey err = %v", err)
	}
}
