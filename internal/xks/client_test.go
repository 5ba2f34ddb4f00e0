package xks

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// TestCDIVVector is the example of the specification's Appendix C.
func TestCDIVVector(t *testing.T) {
	t.Parallel()
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	aad := []byte("project=nile,department=marketing")
	s := &Sealed{
		Metadata:   []byte("key_version=1"),
		IV:         unhex("1c ca e5 47 0f 39 70 02 54 77 90 31"),
		Ciphertext: unhex("82 1c 64 2b 5b 71 78 33 67 de af 18"),
		Tag:        unhex("bc 1c 4d da 77 07 d6 81 24 47 c5 95 5e 99 b2 61"),
	}
	sum := cdiv(aad, s)
	if got, want := base64.StdEncoding.EncodeToString(sum[:]), "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="; got != want {
		t.Errorf("cdiv = %s, want %s", got, want)
	}
	// The wire values of the specification's Encrypt example.
	for got, want := range map[string]string{
		encode(s.Ciphertext): "ghxkK1txeDNn3q8Y",
		encode(s.IV):         "HMrlRw85cAJUd5Ax",
		encode(s.Tag):        "vBxN2ncH1oEkR8WVXpmyYQ==",
		encode(s.Metadata):   "a2V5X3ZlcnNpb249MQ==",
	} {
		if got != want {
			t.Errorf("encode = %s, want %s", got, want)
		}
	}
}

// fakeProxy answers every call with handle, after reading the request.
func fakeProxy(t *testing.T, handle func(w http.ResponseWriter, req map[string]any)) *Client {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("request body: %v", err)
		}
		handle(w, req)
	}))
	t.Cleanup(srv.Close)
	return NewClient(Config{Endpoint: srv.URL, Path: testPath, Region: testRegion, AccessKeyID: testAKID, Secret: testSecret, HTTPClient: srv.Client()})
}

func TestEncryptChecksAnswer(t *testing.T) {
	t.Parallel()
	plaintext := []byte("0123456789abcdef")
	aad := []byte("aad")
	good := &Sealed{Ciphertext: bytes.Repeat([]byte{1}, len(plaintext)), IV: bytes.Repeat([]byte{2}, 12), Tag: bytes.Repeat([]byte{3}, 16), Metadata: []byte{4}}
	answer := func(s *Sealed, aad []byte) map[string]any {
		sum := cdiv(aad, s)
		return map[string]any{
			"ciphertext":                   encode(s.Ciphertext),
			"initializationVector":         encode(s.IV),
			"authenticationTag":            encode(s.Tag),
			"ciphertextMetadata":           encode(s.Metadata),
			"ciphertextDataIntegrityValue": encode(sum[:]),
		}
	}
	with := func(f func(s *Sealed)) *Sealed {
		s := &Sealed{Ciphertext: bytes.Clone(good.Ciphertext), IV: bytes.Clone(good.IV), Tag: bytes.Clone(good.Tag), Metadata: bytes.Clone(good.Metadata)}
		f(s)
		return s
	}
	for _, tc := range []struct {
		name   string
		answer func() map[string]any
		ok     bool
	}{
		{"good", func() map[string]any { return answer(good, aad) }, true},
		{"good without metadata", func() map[string]any {
			s := with(func(s *Sealed) { s.Metadata = nil })
			a := answer(s, aad)
			delete(a, "ciphertextMetadata")
			return a
		}, true},
		{"good with a 16-byte IV", func() map[string]any { return answer(with(func(s *Sealed) { s.IV = make([]byte, 16) }), aad) }, true},
		{"wrong cdiv", func() map[string]any {
			a := answer(good, aad)
			a["ciphertextDataIntegrityValue"] = encode(make([]byte, 32))
			return a
		}, false},
		{"cdiv without aad", func() map[string]any { return answer(good, nil) }, false},
		{"cdiv of another ciphertext", func() map[string]any {
			a := answer(with(func(s *Sealed) { s.Ciphertext[0] ^= 1 }), aad)
			a["ciphertext"] = encode(good.Ciphertext)
			return a
		}, false},
		{"short cdiv", func() map[string]any {
			a := answer(good, aad)
			a["ciphertextDataIntegrityValue"] = a["ciphertextDataIntegrityValue"].(string)[:20] + "===="
			return a
		}, false},
		{"no cdiv", func() map[string]any { a := answer(good, aad); delete(a, "ciphertextDataIntegrityValue"); return a }, false},
		{"no tag", func() map[string]any { a := answer(good, aad); delete(a, "authenticationTag"); return a }, false},
		{"no iv", func() map[string]any { a := answer(good, aad); delete(a, "initializationVector"); return a }, false},
		{"no ciphertext", func() map[string]any { a := answer(good, aad); delete(a, "ciphertext"); return a }, false},
		{"null ciphertext", func() map[string]any { a := answer(good, aad); a["ciphertext"] = nil; return a }, false},
		{"iv of 8", func() map[string]any { return answer(with(func(s *Sealed) { s.IV = s.IV[:8] }), aad) }, false},
		{"tag of 12", func() map[string]any { return answer(with(func(s *Sealed) { s.Tag = s.Tag[:12] }), aad) }, false},
		{"metadata of 21", func() map[string]any { return answer(with(func(s *Sealed) { s.Metadata = make([]byte, 21) }), aad) }, false},
		{"ciphertext too short", func() map[string]any { return answer(with(func(s *Sealed) { s.Ciphertext = s.Ciphertext[1:] }), aad) }, false},
		{"ciphertext too long", func() map[string]any {
			return answer(with(func(s *Sealed) { s.Ciphertext = append(s.Ciphertext, 0) }), aad)
		}, false},
		{"bad base64", func() map[string]any { a := answer(good, aad); a["ciphertext"] = "!!!!"; return a }, false},
		{"wrong type", func() map[string]any { a := answer(good, aad); a["ciphertext"] = 12; return a }, false},
	} {
		c := fakeProxy(t, func(w http.ResponseWriter, req map[string]any) {
			if req["ciphertextDataIntegrityValueAlgorithm"] != "SHA_256" || req["encryptionAlgorithm"] != "AES_GCM" {
				t.Errorf("%s: request %v, want SHA_256 and AES_GCM", tc.name, req)
			}
			json.NewEncoder(w).Encode(tc.answer())
		})
		s, err := c.Encrypt(t.Context(), testKeyID, testMD, plaintext, aad)
		if tc.ok {
			if err != nil {
				t.Errorf("%s: Encrypt: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("%s: Encrypt = %v, %v, want ErrInvalidResponse", tc.name, s, err)
		}
	}
}

func TestDecryptChecksAnswer(t *testing.T) {
	t.Parallel()
	s := &Sealed{Ciphertext: []byte("12345678"), IV: make([]byte, 12), Tag: make([]byte, 16)}
	for _, tc := range []struct {
		name   string
		answer string
		ok     bool
	}{
		{"good", `{"plaintext":"` + encode([]byte("abcdefgh")) + `"}`, true},
		{"short", `{"plaintext":"` + encode([]byte("abcdefg")) + `"}`, false},
		{"long", `{"plaintext":"` + encode([]byte("abcdefghi")) + `"}`, false},
		{"missing", `{}`, false},
		{"not json", `plaintext`, false},
		{"bad base64", `{"plaintext":"YWJj*GVmZ2g="}`, false},
	} {
		c := fakeProxy(t, func(w http.ResponseWriter, req map[string]any) {
			if _, ok := req["ciphertextMetadata"]; ok {
				t.Errorf("%s: request has a ciphertextMetadata for a Sealed without one", tc.name)
			}
			io.WriteString(w, tc.answer)
		})
		pt, err := c.Decrypt(t.Context(), testKeyID, testMD, s, nil)
		if tc.ok != (err == nil) || tc.ok && string(pt) != "abcdefgh" {
			t.Errorf("%s: Decrypt = %q, %v", tc.name, pt, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("%s: Decrypt err = %v, want ErrInvalidResponse", tc.name, err)
		}
	}
}

func TestClientErrorAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		wantName    string // "" for ErrInvalidResponse
	}{
		{"plain 404", http.StatusNotFound, "text/plain", "404 page not found\n", ""},
		{"html 502", http.StatusBadGateway, "text/html", "<html>bad gateway</html>", ""},
		{"empty 500", http.StatusInternalServerError, "", "", ""},
		{"json without errorName", http.StatusBadRequest, "application/json", `{"message":"x"}`, ""},
		{"errorName not a name", http.StatusBadRequest, "application/json", `{"errorName":"a b\n"}`, ""},
		{"known", http.StatusTooManyRequests, "application/json", `{"errorName":"ThrottlingException"}`, "ThrottlingException"},
		{"unknown", http.StatusTeapot, "application/json", `{"errorName":"TeapotException","errorMessage":"short and stout"}`, "TeapotException"},
		{"200 is not an error", http.StatusAccepted, "application/json", `{"keySpec":"AES_256"}`, ""},
	} {
		c := fakeProxy(t, func(w http.ResponseWriter, _ map[string]any) {
			if tc.contentType != "" {
				w.Header().Set("Content-Type", tc.contentType)
			}
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		})
		_, err := c.KeyMetadata(t.Context(), testKeyID, testMD)
		if tc.wantName == "" {
			if !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
				t.Errorf("%s: KeyMetadata err = %v, want ErrInvalidResponse with HTTP %d", tc.name, err, tc.status)
			}
			continue
		}
		wantError(t, tc.name+": KeyMetadata", err, tc.wantName, tc.status)
	}

	// An errorMessage is kept printable and bounded.
	c := fakeProxy(t, func(w http.ResponseWriter, _ map[string]any) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"errorName": "ValidationException", "errorMessage": "bad\x1b[31m\n" + strings.Repeat("x", 1000)})
	})
	_, err := c.KeyMetadata(t.Context(), testKeyID, testMD)
	var e *Error
	if !errors.As(err, &e) || len(e.Message) > maxErrorMessage || strings.ContainsAny(e.Message, "\x1b\n") {
		t.Errorf("KeyMetadata err = %.80q, want a printable message of at most %d bytes", err, maxErrorMessage)
	}
}

func TestClientBodyLimit(t *testing.T) {
	t.Parallel()
	c := fakeProxy(t, func(w http.ResponseWriter, _ map[string]any) {
		io.WriteString(w, `{"keySpec":"AES_256","keyStatus":"ENABLED","x":"`+strings.Repeat("x", maxResponse)+`"}`)
	})
	if _, err := c.KeyMetadata(t.Context(), testKeyID, testMD); !errors.Is(err, ErrInvalidResponse) {
		t.Errorf("KeyMetadata of a %d-byte answer: err = %v, want ErrInvalidResponse", maxResponse, err)
	}
}

// TestClientMetadataPrintable: the keySpec and keyUsage a proxy answers,
// which KMS repeats to its caller when it refuses the key, come back short
// and printable whatever the proxy sent.
func TestClientMetadataPrintable(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("S", 4000) + `\u0001\u202e`
	c := fakeProxy(t, func(w http.ResponseWriter, _ map[string]any) {
		io.WriteString(w, `{"keySpec":"`+long+`","keyUsage":["`+long+`"],"keyStatus":"ENABLED"}`)
	})
	km, err := c.KeyMetadata(t.Context(), testKeyID, testMD)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append([]string{km.KeySpec}, km.KeyUsage...) {
		if len(v) > 32 || printable(v, 32) != v {
			t.Errorf("a %d-byte value %q", len(v), v)
		}
	}
}

func TestClientChecksMetadataAndHealth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, answer string }{
		{"no keySpec", `{"keyUsage":["ENCRYPT","DECRYPT"],"keyStatus":"ENABLED"}`},
		{"bad keyStatus", `{"keySpec":"AES_256","keyUsage":["ENCRYPT"],"keyStatus":"ON"}`},
		{"eleven usages", `{"keySpec":"AES_256","keyUsage":["A","B","C","D","E","F","G","H","I","J","K"],"keyStatus":"ENABLED"}`},
	} {
		c := fakeProxy(t, func(w http.ResponseWriter, _ map[string]any) { io.WriteString(w, tc.answer) })
		if _, err := c.KeyMetadata(t.Context(), testKeyID, testMD); !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("%s: KeyMetadata err = %v, want ErrInvalidResponse", tc.name, err)
		}
	}
	ekm := func(status string) string { return `{"id":"h","model":"m","healthStatus":"` + status + `"}` }
	health := func(size int, ekms ...string) string {
		return fmt.Sprintf(`{"xksProxyFleetSize":%d,"xksProxyVendor":"v","xksProxyModel":"m","ekmVendor":"e","ekmFleetDetails":[%s]}`, size, strings.Join(ekms, ","))
	}
	for _, tc := range []struct {
		name, answer string
		ok, avail    bool
	}{
		{"spec example", health(2, ekm("DEGRADED"), ekm("ACTIVE")), true, true},
		{"degraded", health(1, ekm("DEGRADED")), true, true},
		{"unavailable", health(1, ekm("UNAVAILABLE")), true, false},
		{"no ekm", health(1), false, false},
		{"eleven ekms", health(1, strings.Split(strings.Repeat(ekm("ACTIVE")+"|", 11), "|")[:11]...), false, false},
		{"unknown status", health(1, ekm("FINE")), false, false},
		{"no fleet size", `{"ekmFleetDetails":[` + ekm("ACTIVE") + `]}`, false, false},
	} {
		c := fakeProxy(t, func(w http.ResponseWriter, req map[string]any) {
			md, _ := req["requestMetadata"].(map[string]any)
			if len(md) != 2 || md["kmsOperation"] != "KmsHealthCheck" || md["kmsRequestId"] != "r-1" {
				t.Errorf("%s: health requestMetadata = %v, want kmsRequestId and kmsOperation only", tc.name, md)
			}
			io.WriteString(w, tc.answer)
		})
		h, err := c.Health(t.Context(), &RequestMetadata{KmsRequestId: "r-1", KmsOperation: "KmsHealthCheck", AwsPrincipalArn: "not sent"})
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("%s: Health err = %v, want ok %v or ErrInvalidResponse", tc.name, err, tc.ok)
		}
		if err == nil && h.Available() != tc.avail {
			t.Errorf("%s: Available() = %v, want %v", tc.name, h.Available(), tc.avail)
		}
	}
}

func TestClientLocalChecks(t *testing.T) {
	t.Parallel()
	c := fakeProxy(t, func(http.ResponseWriter, map[string]any) { t.Error("a request was sent") })
	ctx := t.Context()
	if _, err := c.KeyMetadata(ctx, "bad/id", testMD); err == nil {
		t.Error("KeyMetadata(bad/id) succeeded")
	}
	if _, err := c.Encrypt(ctx, testKeyID, testMD, []byte("x"), make([]byte, MaxAAD+1)); err == nil {
		t.Error("Encrypt with too long an AAD succeeded")
	}
	if _, err := c.Decrypt(ctx, testKeyID, testMD, &Sealed{IV: make([]byte, 8), Tag: make([]byte, 16)}, nil); err == nil {
		t.Error("Decrypt with an 8-byte IV succeeded")
	}
}

func TestClientTransportErrors(t *testing.T) {
	t.Parallel()
	// TLS: a proxy whose certificate the client does not trust.
	p := startProxy(t, true)
	c := NewClient(Config{Endpoint: p.srv.URL, Path: testPath, Region: testRegion, AccessKeyID: testAKID, Secret: testSecret})
	_, err := c.Health(t.Context(), testMD)
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) || errors.Is(err, ErrInvalidResponse) {
		t.Errorf("Health of an untrusted proxy: err = %v, want a *tls.CertificateVerificationError", err)
	}

	// Dial: nothing listens any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c = NewClient(Config{Endpoint: "http://" + addr, Path: APIPath, Region: testRegion, AccessKeyID: testAKID, Secret: testSecret})
	_, err = c.Health(t.Context(), testMD)
	var ne net.Error
	var xe *Error
	if !errors.As(err, &ne) || errors.As(err, &xe) || errors.Is(err, ErrInvalidResponse) {
		t.Errorf("Health of a closed port: err = %v, want a net.Error", err)
	}

	// Timeout.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	hc := srv.Client()
	hc.Timeout = 50 * time.Millisecond
	c = NewClient(Config{Endpoint: srv.URL, Path: APIPath, Region: testRegion, AccessKeyID: testAKID, Secret: testSecret, HTTPClient: hc})
	_, err = c.Health(t.Context(), testMD)
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Health of a proxy that does not answer: err = %v, want a net.Error timeout", err)
	}
}

func TestConfigRedactsSecret(t *testing.T) {
	t.Parallel()
	cfg := Config{Endpoint: "https://xks.example.com", Path: APIPath, AccessKeyID: testAKID, Secret: testSecret}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		if s := fmt.Sprintf(verb, cfg); strings.Contains(s, testSecret) || strings.Contains(s, hex.EncodeToString([]byte(testSecret))) {
			t.Errorf("Sprintf(%s, cfg) = %s: holds the secret", verb, s)
		}
	}
	if s := cfg.LogValue().String(); strings.Contains(s, testSecret) {
		t.Errorf("LogValue = %s: holds the secret", s)
	}
}

// FuzzDecodeRequest: the proxy's request decoding never panics, fails only
// with ValidationException and a printable message, and what it accepts
// holds the sizes the specification fixes.
func FuzzDecodeRequest(f *testing.F) {
	const md = `"requestMetadata":{"awsPrincipalArn":"arn:aws:iam::123456789012:user/Alice","kmsKeyArn":"arn:aws:kms:us-east-2:123456789012:key/k","kmsOperation":"Encrypt","kmsRequestId":"4112f4d6"}`
	for _, s := range []string{
		`{` + md + `}`,
		`{` + md + `,"additionalAuthenticatedData":"cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n","plaintext":"SGVsbG8gV29ybGQh","encryptionAlgorithm":"AES_GCM","ciphertextDataIntegrityValueAlgorithm":"SHA_256"}`,
		`{` + md + `,"additionalAuthenticatedData":"cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n","encryptionAlgorithm":"AES_GCM","ciphertext":"ghxkK1txeDNn3q8Y","ciphertextMetadata":"a2V5X3ZlcnNpb249MQ==","initializationVector":"HMrlRw85cAJUd5Ax","authenticationTag":"vBxN2ncH1oEkR8WVXpmyYQ=="}`,
		`{` + md + `,"ciphertext":"","encryptionAlgorithm":"AES_GCM","initializationVector":"AAAAAAAAAAAAAAAAAAAAAA==","authenticationTag":"AAAAAAAAAAAAAAAAAAAAAA=="}`,
		`{` + md + `,"plaintext":null,"encryptionAlgorithm":"AES_GCM"}`,
		`{"requestMetadata":null}`, `{"requestMetadata":{"awsPrincipalArn":1}}`, `null`, `[]`, `"x"`, ``, `{`,
		`{` + md + `,"plaintext":"\u0041A==","encryptionAlgorithm":"AES_GCM"}`,
		`{` + md + `,"plaintext":"AA==\n","encryptionAlgorithm":"AES_GCM"}`,
	} {
		for op := opMetadata; op <= opDecrypt; op++ {
			f.Add(uint8(op), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, opByte uint8, body []byte) {
		op := opMetadata + operation(opByte%3)
		req, err := decodeRequest(op, body)
		if err != nil {
			if err.Name != "ValidationException" || err.Status != http.StatusBadRequest {
				t.Fatalf("decodeRequest error %v, want ValidationException", err)
			}
			if err.Message == "" || len(err.Message) > maxErrorMessage || !utf8.ValidString(err.Message) || printable(err.Message, maxErrorMessage) != err.Message {
				t.Fatalf("decodeRequest message %q is not a short printable text", err.Message)
			}
			return
		}
		if req.md.AwsPrincipalArn == "" || req.md.KmsOperation == "" || req.md.KmsRequestId == "" {
			t.Fatalf("decodeRequest accepted metadata %+v", req.md)
		}
		if len(req.aad) > MaxAAD {
			t.Fatalf("decodeRequest accepted %d bytes of AAD", len(req.aad))
		}
		if op == opDecrypt {
			if err := checkSealed(&req.sealed); err != nil {
				t.Fatalf("decodeRequest accepted %v", err)
			}
		}
	})
}

// TestClientNoRedirects: a Client of its own HTTP client stays at the
// proxy's URI: a redirect is an invalid answer, and where it points is
// never asked.
func TestClientNoRedirects(t *testing.T) {
	t.Parallel()
	var hit atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
	t.Cleanup(elsewhere.Close)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(proxy.Close)
	c := NewClient(Config{Endpoint: proxy.URL, Path: testPath, Region: testRegion, AccessKeyID: testAKID, Secret: testSecret})
	if _, err := c.KeyMetadata(t.Context(), testKeyID, testMD); !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), "307") {
		t.Errorf("KeyMetadata answered by a redirect: err = %v, want ErrInvalidResponse with HTTP 307", err)
	}
	if hit.Load() {
		t.Error("the client followed the redirect")
	}
}
