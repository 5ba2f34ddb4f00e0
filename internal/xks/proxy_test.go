package xks

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			t.Parallel()
			p := startProxy(t, useTLS)
			c := p.client("")
			for _, tc := range []struct {
				name string
				n    int
				aad  []byte
			}{
				{"empty", 0, nil},
				{"data key", 32, nil},
				{"data key with aad", 32, []byte("project=nile,department=marketing")},
				{"largest", 4300, bytes.Repeat([]byte{0xa5}, MaxAAD)},
			} {
				pt := make([]byte, tc.n)
				rand.Read(pt)
				s, err := c.Encrypt(t.Context(), testKeyID, testMD, pt, tc.aad)
				if err != nil {
					t.Fatalf("%s: Encrypt: %v", tc.name, err)
				}
				if len(s.Ciphertext) != tc.n || len(s.IV) != 12 || len(s.Tag) != TagSize || !bytes.Equal(s.Metadata, []byte{testVersion}) {
					t.Errorf("%s: Encrypt = ciphertext %d, IV %d, tag %d, metadata %x", tc.name, len(s.Ciphertext), len(s.IV), len(s.Tag), s.Metadata)
				}
				got, err := c.Decrypt(t.Context(), testKeyID, testMD, s, tc.aad)
				if err != nil {
					t.Fatalf("%s: Decrypt: %v", tc.name, err)
				}
				if !bytes.Equal(got, pt) {
					t.Errorf("%s: Decrypt = %x, want %x", tc.name, got, pt)
				}
			}
			caller := p.backend.lastCaller()
			if caller.Region != testRegion || caller.AccessKeyID != testAKID || caller.Principal.AccountID != testAccount {
				t.Errorf("Caller = %+v, want region %s, access key %s, account %s", caller, testRegion, testAKID, testAccount)
			}
		})
	}
}

func TestDecryptTampered(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	c := p.client("")
	pt := []byte("0123456789abcdef0123456789abcdef")
	aad := []byte("context")
	s, err := c.Encrypt(t.Context(), testKeyID, testMD, pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	for _, tc := range []struct {
		name  string
		keyID string
		s     Sealed
		aad   []byte
	}{
		{"wrong aad", testKeyID, *s, []byte("contexu")},
		{"no aad", testKeyID, *s, nil},
		{"aad as metadata", testKeyID, Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag, Metadata: aad}, nil},
		{"changed metadata", testKeyID, Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag, Metadata: []byte{testVersion, 0}}, aad},
		{"changed tag", testKeyID, Sealed{Ciphertext: s.Ciphertext, IV: s.IV, Tag: flip(s.Tag, 15), Metadata: s.Metadata}, aad},
		{"changed iv", testKeyID, Sealed{Ciphertext: s.Ciphertext, IV: flip(s.IV, 0), Tag: s.Tag, Metadata: s.Metadata}, aad},
		{"changed ciphertext", testKeyID, Sealed{Ciphertext: flip(s.Ciphertext, 7), IV: s.IV, Tag: s.Tag, Metadata: s.Metadata}, aad},
		{"truncated ciphertext", testKeyID, Sealed{Ciphertext: s.Ciphertext[1:], IV: s.IV, Tag: s.Tag, Metadata: s.Metadata}, aad},
		{"other key", "key-2", *s, aad},
	} {
		got, err := c.Decrypt(t.Context(), tc.keyID, testMD, &tc.s, tc.aad)
		if got != nil {
			t.Errorf("%s: Decrypt returned plaintext %x", tc.name, got)
		}
		wantError(t, tc.name+": Decrypt", err, "InvalidCiphertextException", http.StatusBadRequest)
		if !errors.Is(err, ErrInvalidCiphertext) {
			t.Errorf("%s: errors.Is(%v, ErrInvalidCiphertext) = false", tc.name, err)
		}
	}
}

func TestKeyMetadata(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	c := p.client("")
	km, err := c.KeyMetadata(t.Context(), testKeyID, testMD)
	if err != nil {
		t.Fatal(err)
	}
	want := &KeyMetadata{KeySpec: "AES_256", KeyUsage: []string{"ENCRYPT", "DECRYPT"}, KeyStatus: "ENABLED"}
	if d := cmp.Diff(want, km); d != "" {
		t.Errorf("KeyMetadata mismatch (-want +got):\n%s", d)
	}
	// kmsKeyArn is optional for GetKeyMetadata (CreateKey has none yet).
	md := *testMD
	md.KmsKeyArn = ""
	if _, err := c.KeyMetadata(t.Context(), testKeyID, &md); err != nil {
		t.Errorf("KeyMetadata without kmsKeyArn: %v", err)
	}
}

func TestKeyNotFound(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	c := p.client("")
	_, err := c.KeyMetadata(t.Context(), "no-such-key", testMD)
	wantError(t, "KeyMetadata", err, "KeyNotFoundException", http.StatusNotFound)
	_, err = c.Encrypt(t.Context(), "no-such-key", testMD, []byte("x"), nil)
	wantError(t, "Encrypt", err, "KeyNotFoundException", http.StatusNotFound)
	s := &Sealed{Ciphertext: []byte("x"), IV: make([]byte, 12), Tag: make([]byte, 16)}
	_, err = c.Decrypt(t.Context(), "no-such-key", testMD, s, nil)
	wantError(t, "Decrypt", err, "KeyNotFoundException", http.StatusNotFound)
	if !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("errors.Is(%v, ErrKeyNotFound) = false", err)
	}
}

func TestInternalErrorIsNotSent(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	_, err := p.client("").Encrypt(t.Context(), brokenKeyID, testMD, []byte("x"), nil)
	wantError(t, "Encrypt", err, "InternalException", http.StatusInternalServerError)
	if err != nil && strings.Contains(err.Error(), "1234") {
		t.Errorf("Encrypt err = %v: holds the backend's error text", err)
	}
}

func TestAuthenticationFailed(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	_, err := p.client("not-the-secret").KeyMetadata(t.Context(), testKeyID, testMD)
	wantError(t, "KeyMetadata with a wrong secret", err, "AuthenticationFailedException", http.StatusUnauthorized)
	_, err = p.client("not-the-secret").Health(t.Context(), testMD)
	wantError(t, "Health with a wrong secret", err, "AuthenticationFailedException", http.StatusUnauthorized)

	c := NewClient(Config{Endpoint: p.srv.URL, Path: testPath, Region: testRegion, AccessKeyID: "UNKNOWNAKID2345672345", Secret: testSecret, HTTPClient: p.srv.Client()})
	_, err = c.Encrypt(t.Context(), testKeyID, testMD, []byte("x"), nil)
	wantError(t, "Encrypt with an unknown access key", err, "AuthenticationFailedException", http.StatusUnauthorized)

	// Unsigned.
	status, body := p.post(t, http.MethodPost, testPath+"/health", `{"requestMetadata":{"kmsRequestId":"1","kmsOperation":"KmsHealthCheck"}}`, false)
	if status != http.StatusUnauthorized || !bytes.Contains(body, []byte(`"AuthenticationFailedException"`)) {
		t.Errorf("unsigned health = %d %s, want 401 AuthenticationFailedException", status, body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	for _, path := range []string{"/kms/xks/v1/health", testPath + "/health", testPath + "/keys/key-1/metadata", testPath + "/keys/key-1/encrypt", testPath + "/keys/key-1/decrypt"} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			status, _ := p.post(t, method, path, "", true)
			if status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", method, path, status)
			}
		}
	}
}

func TestInvalidURIPath(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	for _, path := range []string{
		testPath + "/",
		testPath + "/healthz",
		testPath + "/keys/key-1",
		testPath + "/keys/key-1/",
		testPath + "/keys/key-1/sign",
		testPath + "/keys/key-1/encrypt/more",
		testPath + "/keys",
		"/kms/xks/v2/health",
	} {
		status, body := p.post(t, http.MethodPost, path, `{}`, true)
		var e errorResponse
		if err := json.Unmarshal(body, &e); status != http.StatusNotFound || err != nil || e.ErrorName != "InvalidUriPathException" {
			t.Errorf("POST %s = %d %s, want 404 InvalidUriPathException", path, status, body)
		}
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	const md = `"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Alice","kmsKeyArn":"arn:aws:kms:us-east-2:123456789012:key/k","kmsOperation":"Decrypt","kmsRequestId":"r-1"}`
	enc := func(extra string) string {
		return `{` + md + `,"plaintext":"SGVsbG8gV29ybGQh","encryptionAlgorithm":"AES_GCM"` + extra + `}`
	}
	dec := func(iv, tag int, extra string) string {
		return fmt.Sprintf(`{%s,"ciphertext":"SGVsbG8=","encryptionAlgorithm":"AES_GCM","initializationVector":%q,"authenticationTag":%q%s}`, md, b64(iv), b64(tag), extra)
	}
	for _, tc := range []struct {
		name, op, key, body, msg string
	}{
		{"not json", "encrypt", testKeyID, `{`, "the request body is not a JSON object"},
		{"array", "encrypt", testKeyID, `[]`, "the request body is not a JSON object"},
		{"null", "metadata", testKeyID, `null`, "requestMetadata is required"},
		{"no metadata", "encrypt", testKeyID, `{"plaintext":"AA==","encryptionAlgorithm":"AES_GCM"}`, "requestMetadata is required"},
		{"no principal", "metadata", testKeyID, `{"requestMetadata":{"kmsOperation":"DescribeKey","kmsRequestId":"r"}}`, "requestMetadata.awsPrincipalArn is required"},
		{"no request id", "metadata", testKeyID, `{"requestMetadata":{"awsPrincipalArn":"a","kmsOperation":"DescribeKey"}}`, "requestMetadata.kmsRequestId is required"},
		{"no operation", "metadata", testKeyID, `{"requestMetadata":{"awsPrincipalArn":"a","kmsRequestId":"r"}}`, "requestMetadata.kmsOperation is required"},
		{"wrong type", "metadata", testKeyID, `{"requestMetadata":{"awsPrincipalArn":7}}`, "requestMetadata.awsPrincipalArn has the wrong JSON type"},
		{"no algorithm", "encrypt", testKeyID, `{` + md + `,"plaintext":"AA=="}`, "encryptionAlgorithm is required"},
		{"bad algorithm", "encrypt", testKeyID, `{` + md + `,"plaintext":"AA==","encryptionAlgorithm":"AES_CBC"}`, "encryptionAlgorithm must be AES_GCM"},
		{"no plaintext", "encrypt", testKeyID, `{` + md + `,"encryptionAlgorithm":"AES_GCM"}`, "plaintext is required"},
		{"bad base64", "encrypt", testKeyID, `{` + md + `,"plaintext":"SGVsbG8gV29ybGQh!","encryptionAlgorithm":"AES_GCM"}`, "plaintext is not valid Base64"},
		{"aad too long", "encrypt", testKeyID, enc(`,"additionalAuthenticatedData":"` + b64(MaxAAD+1) + `"`), "additionalAuthenticatedData must be at most 8192 bytes"},
		{"bad cdiv algorithm", "encrypt", testKeyID, enc(`,"ciphertextDataIntegrityValueAlgorithm":"SHA_1"`), "ciphertextDataIntegrityValueAlgorithm must be SHA_256"},
		{"iv of 8", "decrypt", testKeyID, dec(8, 16, ""), "initializationVector must be 12 or 16 bytes"},
		{"iv of 13", "decrypt", testKeyID, dec(13, 16, ""), "initializationVector must be 12 or 16 bytes"},
		{"iv of 24", "decrypt", testKeyID, dec(24, 16, ""), "initializationVector must be at most 16 bytes"},
		{"tag of 12", "decrypt", testKeyID, dec(12, 12, ""), "authenticationTag must be 16 bytes"},
		{"metadata of 21", "decrypt", testKeyID, dec(12, 16, `,"ciphertextMetadata":"`+b64(21)+`"`), "ciphertextMetadata must be at most 20 bytes"},
		{"aad too long on decrypt", "decrypt", testKeyID, dec(12, 16, `,"additionalAuthenticatedData":"`+b64(MaxAAD+1)+`"`), "additionalAuthenticatedData must be at most 8192 bytes"},
		{"no tag", "decrypt", testKeyID, `{` + md + `,"ciphertext":"AA==","encryptionAlgorithm":"AES_GCM","initializationVector":"` + b64(12) + `"}`, "authenticationTag is required"},
		{"key id too long", "metadata", strings.Repeat("k", MaxKeyID+1), `{` + md + `}`, "externalKeyId must be"},
		{"key id charset", "metadata", "key%21", `{` + md + `}`, "externalKeyId must be"},
		{"empty key id", "metadata", "", `{` + md + `}`, "externalKeyId must be"},
	} {
		status, body := p.post(t, http.MethodPost, testPath+"/keys/"+tc.key+"/"+tc.op, tc.body, true)
		var e errorResponse
		if err := json.Unmarshal(body, &e); status != http.StatusBadRequest || err != nil || e.ErrorName != "ValidationException" || !strings.HasPrefix(e.ErrorMessage, tc.msg) {
			t.Errorf("%s: POST %s = %d %s, want 400 ValidationException %q", tc.name, tc.op, status, body, tc.msg)
		}
	}
	// The longest valid key id and a 16-byte IV are fine; unknown members
	// are ignored.
	id := strings.Repeat("a", MaxKeyID)
	status, body := p.post(t, http.MethodPost, testPath+"/keys/"+id+"/metadata", `{`+md+`,"future":{"x":1}}`, true)
	if status != http.StatusNotFound || !bytes.Contains(body, []byte("KeyNotFoundException")) {
		t.Errorf("metadata of a %d-character key id = %d %s, want 404 KeyNotFoundException", MaxKeyID, status, body)
	}
	status, body = p.post(t, http.MethodPost, testPath+"/keys/"+testKeyID+"/decrypt", dec(16, 16, ""), true)
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte("InvalidCiphertextException")) {
		t.Errorf("decrypt with a 16-byte IV = %d %s, want 400 InvalidCiphertextException", status, body)
	}
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	status, body := p.post(t, http.MethodPost, testPath+"/keys/key-1/encrypt", strings.Repeat(" ", maxRequest+1), true)
	if status != http.StatusNotImplemented || !bytes.Contains(body, []byte("UnsupportedOperationException")) {
		t.Errorf("POST of %d bytes = %d %s, want 501 UnsupportedOperationException", maxRequest+1, status, body)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	p := startProxy(t, true)
	c := p.client("")
	md := &RequestMetadata{KmsRequestId: "1124f4d6-db54-4af4-ae30-c55a22a8abcd", KmsOperation: "KmsHealthCheck"}
	h, err := c.Health(t.Context(), md)
	if err != nil {
		t.Fatal(err)
	}
	want := &Health{
		XksProxyFleetSize: 1, XksProxyVendor: "Trent", XksProxyModel: "Trent", EkmVendor: "Trent",
		EkmFleetDetails: []EkmDetails{{Id: "trent", Model: "Trent", HealthStatus: HealthActive}},
	}
	if d := cmp.Diff(want, h); d != "" {
		t.Errorf("Health mismatch (-want +got):\n%s", d)
	}
	if !h.Available() {
		t.Errorf("Available() = false, want true")
	}
	// The body of a health check is not validated (the specification
	// gives GetHealthStatus no ValidationException).
	if status, body := p.post(t, http.MethodPost, testPath+"/health", `not json`, true); status != http.StatusOK {
		t.Errorf("health with a body that is not JSON = %d %s, want 200", status, body)
	}

	p.backend.mu.Lock()
	p.backend.healthErr = errors.New("hsm unreachable")
	p.backend.mu.Unlock()
	_, err = c.Health(t.Context(), md)
	wantError(t, "Health of a failing backend", err, "InternalException", http.StatusInternalServerError)

	p.backend.mu.Lock()
	p.backend.healthErr = ErrInvalidState.With("key store disabled")
	p.backend.mu.Unlock()
	_, err = c.Health(t.Context(), md)
	wantError(t, "Health of a disabled backend", err, "InvalidStateException", http.StatusBadRequest)
}

func TestIsProxyPath(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"/kms/xks/v1/health":               true,
		"/p/kms/xks/v1/keys/k/encrypt":     true,
		"/kms/xks/v1/":                     true,
		"/kms/xks/v1":                      false,
		"/":                                false,
		"/kms/xks/v2/health":               false,
		"/operator/kms/xks/v1x/keys/k/enc": false,
	} {
		if got := IsProxyPath(path); got != want {
			t.Errorf("IsProxyPath(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path  string
		op    operation
		keyID string
		ok    bool
	}{
		{"/kms/xks/v1/health", opHealth, "", true},
		{"/a/b-c/kms/xks/v1/keys/k.1_-/metadata", opMetadata, "k.1_-", true},
		{"/kms/xks/v1/keys/kms/xks/v1/health", opHealth, "", true}, // the prefix is free
		{"/kms/xks/v1/keys//encrypt", opEncrypt, "", true},         // then ValidationException
		{"/kms/xks/v1/keys/k/decrypt", opDecrypt, "k", true},
		{"/kms/xks/v1/keys/k/Decrypt", 0, "", false},
		{"/kms/xks/v1/health/", 0, "", false},
	} {
		op, keyID, ok := route(tc.path)
		if op != tc.op || keyID != tc.keyID || ok != tc.ok {
			t.Errorf("route(%q) = %v, %q, %v, want %v, %q, %v", tc.path, op, keyID, ok, tc.op, tc.keyID, tc.ok)
		}
	}
}

// TestRefused: every refusal that never reaches the backend goes through
// Handler.Refused before its answer, with the caller once the signature
// verified; a Refused that fails turns the answer into InternalException.
func TestRefused(t *testing.T) {
	t.Parallel()
	type seen struct {
		name   string
		caller bool
	}
	var mu sync.Mutex
	var got []seen
	var fail bool
	p := startProxy(t, false)
	h := p.srv.Config.Handler.(*Handler)
	h.Refused = func(_ *http.Request, c *Caller, e *Error) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seen{e.Name, c != nil && c.AccessKeyID == testAKID})
		if fail {
			return errors.New("audit log full")
		}
		return nil
	}
	p.post(t, http.MethodPost, testPath+"/nowhere", `{}`, true)
	p.post(t, http.MethodGet, testPath+"/health", ``, true)
	p.post(t, http.MethodPost, testPath+"/keys/key-1/metadata", `{}`, false)
	p.post(t, http.MethodPost, testPath+"/keys/key-1/encrypt", `{"requestMetadata":{}}`, true)
	if _, err := p.client("").KeyMetadata(t.Context(), testKeyID, testMD); err != nil {
		t.Fatal(err) // reaches the backend: no refusal
	}
	want := []seen{{"InvalidUriPathException", false}, {"MethodNotAllowed", false}, {"AuthenticationFailedException", false}, {"ValidationException", true}}
	mu.Lock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Refused saw %v, want %v", got, want)
	}
	fail = true
	mu.Unlock()
	status, body := p.post(t, http.MethodPost, testPath+"/keys/key-1/metadata", `{}`, false)
	if status != http.StatusInternalServerError || !bytes.Contains(body, []byte(`"InternalException"`)) {
		t.Errorf("a refusal that was not recorded = %d %s, want 500 InternalException", status, body)
	}
}
