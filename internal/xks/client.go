package xks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// ErrInvalidResponse is wrapped by every Client error for an answer that
// does not follow the specification: a body that is not the expected JSON,
// bad Base64, sizes out of bounds, a missing or wrong CDIV, or an error
// status without an {"errorName": ...} document. AWS KMS reports all of
// these as "cannot interpret the response from the external key store
// proxy".
var ErrInvalidResponse = errors.New("xks: invalid response from the proxy")

const (
	// maxResponse bounds the response body Client reads. The largest valid
	// answer (Decrypt of 4300 bytes, or Encrypt) is under 8 KiB.
	maxResponse = 64 << 10
	// defaultTimeout is the timeout of Client's own HTTP client. AWS KMS
	// gives a proxy 250 ms; a few seconds leaves room for a TLS handshake
	// over a slow link without letting a dead proxy hold a caller long.
	defaultTimeout = 5 * time.Second
)

// Config is how a Client reaches a proxy: the external key store's
// XksProxyUriEndpoint, XksProxyUriPath and XksProxyAuthenticationCredential.
type Config struct {
	Endpoint    string // XksProxyUriEndpoint: "https://host" or "https://host:port" (also "http://..." — used by tests on loopback)
	Path        string // XksProxyUriPath: "[/prefix]/kms/xks/v1"
	Region      string // SigV4 signing region (the KMS region of the key store)
	AccessKeyID string
	Secret      string
	HTTPClient  *http.Client // nil: a client of its own with a sane timeout (a few seconds)
}

// LogValue logs c without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("path", c.Path),
		slog.String("region", c.Region),
		slog.String("access_key_id", c.AccessKeyID),
	)
}

// Format prints c for every verb with its secret redacted.
func (c Config) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "xks.Config{Endpoint:%q Path:%q Region:%q AccessKeyID:%q Secret:REDACTED}", c.Endpoint, c.Path, c.Region, c.AccessKeyID)
}

// Client calls an XKS proxy, as a KMS does. It is safe for concurrent use.
//
// Errors: an *Error for the proxy's error answers (Status is the HTTP
// status it sent, Name its errorName, known or not); ErrInvalidResponse,
// wrapped, for an answer that does not follow the specification; transport
// errors (dial, TLS, timeouts, context) wrapped with %w so that errors.As
// finds net.Error, *tls.CertificateVerificationError and the like. Error
// texts never hold plaintext, AAD or the secret.
type Client struct {
	base   string // Endpoint + Path, without a trailing slash
	region string
	creds  aws.Credentials
	hc     *http.Client
	signer *v4.Signer
}

// transport is the connection pool of every Client without an HTTP client
// of its own: http.DefaultTransport's settings, with as many idle
// connections kept per proxy as a busy KMS has calls in flight
// (DefaultTransport keeps 2, so that concurrent calls would open and close
// a connection each: seven times the CPU per call at 32 concurrent
// Encrypts, measured).
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	t.MaxIdleConns = 1024
	return t
}()

// noRedirects keeps a Client at the proxy's own URI: a redirect is an
// answer the specification does not have (ErrInvalidResponse), never a
// request to wherever it points.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NewClient returns a Client for cfg. It does not contact the proxy.
func NewClient(cfg Config) *Client {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout, Transport: transport, CheckRedirect: noRedirects}
	}
	return &Client{
		base:   strings.TrimRight(cfg.Endpoint, "/") + "/" + strings.Trim(cfg.Path, "/"),
		region: cfg.Region,
		creds:  aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.Secret, Source: "xks"},
		hc:     hc,
		signer: v4.NewSigner(),
	}
}

// Health calls GetHealthStatus. md supplies kmsRequestId and kmsOperation
// (e.g. "KmsHealthCheck"); its other fields are not sent. The answer must
// hold 1 to MaxEkmFleet external key managers, each with a known
// healthStatus; use Health.Available to decide whether the store can serve.
func (c *Client) Health(ctx context.Context, md *RequestMetadata) (*Health, error) {
	var in healthRequest
	if md != nil {
		in.RequestMetadata = healthMetadata{KmsRequestId: md.KmsRequestId, KmsOperation: md.KmsOperation}
	}
	var h Health
	if err := c.call(ctx, "health", "/health", &in, &h); err != nil {
		return nil, err
	}
	if h.XksProxyFleetSize < 1 {
		return nil, fmt.Errorf("%w: health: xksProxyFleetSize %d", ErrInvalidResponse, h.XksProxyFleetSize)
	}
	if n := len(h.EkmFleetDetails); n < 1 || n > MaxEkmFleet {
		return nil, fmt.Errorf("%w: health: %d ekmFleetDetails entries, want 1 to %d", ErrInvalidResponse, n, MaxEkmFleet)
	}
	for _, e := range h.EkmFleetDetails {
		switch e.HealthStatus {
		case HealthActive, HealthDegraded, HealthUnavailable:
		default:
			return nil, fmt.Errorf("%w: health: healthStatus %q", ErrInvalidResponse, printable(e.HealthStatus, 32))
		}
	}
	return &h, nil
}

// KeyMetadata calls GetKeyMetadata for the external key keyID. The answer
// is returned as the proxy gave it (KMS decides whether AES_256, ENCRYPT,
// DECRYPT and ENABLED are there), its keySpec and keyUsage values clipped to
// 32 printable ASCII bytes; it must have a keySpec, at most ten keyUsage
// values and a keyStatus of ENABLED or DISABLED.
func (c *Client) KeyMetadata(ctx context.Context, keyID string, md *RequestMetadata) (*KeyMetadata, error) {
	if !ValidKeyID(keyID) {
		return nil, errInvalidKeyID
	}
	var km KeyMetadata
	if err := c.call(ctx, "metadata", keyPath(keyID, "metadata"), &metadataRequest{RequestMetadata: orEmpty(md)}, &km); err != nil {
		return nil, err
	}
	switch {
	case km.KeySpec == "":
		return nil, fmt.Errorf("%w: metadata: no keySpec", ErrInvalidResponse)
	case len(km.KeyUsage) > 10:
		return nil, fmt.Errorf("%w: metadata: %d keyUsage values, want at most 10", ErrInvalidResponse, len(km.KeyUsage))
	case km.KeyStatus != "ENABLED" && km.KeyStatus != "DISABLED":
		return nil, fmt.Errorf("%w: metadata: keyStatus %q", ErrInvalidResponse, printable(km.KeyStatus, 32))
	}
	// What KMS may repeat in a message to its caller: short and printable.
	km.KeySpec = printable(km.KeySpec, 32)
	for i, u := range km.KeyUsage {
		km.KeyUsage[i] = printable(u, 32)
	}
	return &km, nil
}

// Encrypt calls Encrypt with AES_GCM on plaintext, binding aad (at most
// MaxAAD bytes; nil or empty for none). It always asks for the CDIV and
// verifies it, with the sizes the specification fixes (IV, tag, metadata,
// a ciphertext as long as the plaintext): a Sealed that Encrypt returns is
// one the proxy vouched it can decrypt with the same aad.
func (c *Client) Encrypt(ctx context.Context, keyID string, md *RequestMetadata, plaintext, aad []byte) (*Sealed, error) {
	if !ValidKeyID(keyID) {
		return nil, errInvalidKeyID
	}
	if len(aad) > MaxAAD {
		return nil, fmt.Errorf("xks: encrypt: additional authenticated data of %d bytes, at most %d allowed", len(aad), MaxAAD)
	}
	in := &encryptRequest{
		RequestMetadata:                       orEmpty(md),
		AdditionalAuthenticatedData:           encode(aad),
		Plaintext:                             encode(plaintext),
		EncryptionAlgorithm:                   AlgorithmAESGCM,
		CiphertextDataIntegrityValueAlgorithm: CDIVSHA256,
	}
	var out encryptResponse
	if err := c.call(ctx, "encrypt", keyPath(keyID, "encrypt"), in, &out); err != nil {
		return nil, err
	}
	s, err := parseEncryptResponse(&out, len(plaintext))
	if err != nil {
		return nil, fmt.Errorf("%w: encrypt: %v", ErrInvalidResponse, err)
	}
	if out.CiphertextDataIntegrityValue == nil {
		return nil, fmt.Errorf("%w: encrypt: no ciphertextDataIntegrityValue", ErrInvalidResponse)
	}
	got, err := decode("ciphertextDataIntegrityValue", *out.CiphertextDataIntegrityValue, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypt: %v", ErrInvalidResponse, err)
	}
	want := cdiv(aad, s)
	if subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return nil, fmt.Errorf("%w: encrypt: ciphertextDataIntegrityValue does not match the answer", ErrInvalidResponse)
	}
	return s, nil
}

// parseEncryptResponse decodes and checks an Encrypt answer but its CDIV.
func parseEncryptResponse(out *encryptResponse, plaintextLen int) (*Sealed, error) {
	var s Sealed
	for _, f := range []struct {
		name     string
		v        *string
		dst      *[]byte
		max      int
		required bool
	}{
		{"ciphertext", out.Ciphertext, &s.Ciphertext, plaintextLen, true},
		{"initializationVector", out.InitializationVector, &s.IV, 16, true},
		{"authenticationTag", out.AuthenticationTag, &s.Tag, TagSize, true},
		{"ciphertextMetadata", out.CiphertextMetadata, &s.Metadata, MaxMetadata, false},
	} {
		if f.v == nil {
			if f.required {
				return nil, fmt.Errorf("no %s", f.name)
			}
			continue
		}
		b, err := decode(f.name, *f.v, f.max)
		if err != nil {
			return nil, err
		}
		*f.dst = b
	}
	if len(s.Ciphertext) != plaintextLen {
		return nil, fmt.Errorf("ciphertext of %d bytes for a plaintext of %d", len(s.Ciphertext), plaintextLen)
	}
	if err := checkSealed(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Decrypt calls Decrypt with AES_GCM on s, which must have the sizes the
// specification fixes, with the aad given to Encrypt. The plaintext must be
// as long as the ciphertext. A ciphertext, metadata, tag or aad that does
// not authenticate is the proxy's InvalidCiphertextException (an *Error).
func (c *Client) Decrypt(ctx context.Context, keyID string, md *RequestMetadata, s *Sealed, aad []byte) ([]byte, error) {
	if !ValidKeyID(keyID) {
		return nil, errInvalidKeyID
	}
	if len(aad) > MaxAAD {
		return nil, fmt.Errorf("xks: decrypt: additional authenticated data of %d bytes, at most %d allowed", len(aad), MaxAAD)
	}
	if err := checkSealed(s); err != nil {
		return nil, fmt.Errorf("xks: decrypt: %v", err)
	}
	in := &decryptRequest{
		RequestMetadata:             orEmpty(md),
		Ciphertext:                  encode(s.Ciphertext),
		CiphertextMetadata:          encode(s.Metadata),
		EncryptionAlgorithm:         AlgorithmAESGCM,
		AdditionalAuthenticatedData: encode(aad),
		AuthenticationTag:           encode(s.Tag),
		InitializationVector:        encode(s.IV),
	}
	var out decryptResponse
	if err := c.call(ctx, "decrypt", keyPath(keyID, "decrypt"), in, &out); err != nil {
		return nil, err
	}
	if out.Plaintext == nil {
		return nil, fmt.Errorf("%w: decrypt: no plaintext", ErrInvalidResponse)
	}
	pt, err := decode("plaintext", *out.Plaintext, len(s.Ciphertext))
	if err != nil {
		return nil, fmt.Errorf("%w: decrypt: %v", ErrInvalidResponse, err)
	}
	if len(pt) != len(s.Ciphertext) {
		clear(pt)
		return nil, fmt.Errorf("%w: decrypt: plaintext of %d bytes for a ciphertext of %d", ErrInvalidResponse, len(pt), len(s.Ciphertext))
	}
	return pt, nil
}

var errInvalidKeyID = errors.New("xks: invalid external key id: 1 to 128 characters among A-Z a-z 0-9 - . _")

func keyPath(keyID, op string) string { return "/keys/" + keyID + "/" + op }

func orEmpty(md *RequestMetadata) *RequestMetadata {
	if md == nil {
		return &RequestMetadata{}
	}
	return md
}

// call POSTs in as JSON to the proxy's path, signed, and decodes a 200
// answer into out. op names the call in errors.
func (c *Client) call(ctx context.Context, op, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("xks: %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("xks: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, c.creds, req, hex.EncodeToString(sum[:]), SigningService, c.region, time.Now()); err != nil {
		return fmt.Errorf("xks: %s: sign: %w", op, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("xks: %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("xks: %s: read response: %w", op, err)
	}
	if len(b) > maxResponse {
		return fmt.Errorf("%w: %s: HTTP %d with a body over %d bytes", ErrInvalidResponse, op, resp.StatusCode, maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return errorAnswer(op, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %s: body is not the expected JSON", ErrInvalidResponse, op)
	}
	return nil
}

// errorAnswer turns a non-200 answer into an *Error, or ErrInvalidResponse
// when it is not an error document (e.g. a web server that is no proxy).
func errorAnswer(op string, status int, b []byte) error {
	var e errorResponse
	if json.Unmarshal(b, &e) != nil || !validErrorName(e.ErrorName) {
		return fmt.Errorf("%w: %s: HTTP %d without an error document", ErrInvalidResponse, op, status)
	}
	return &Error{Status: status, Name: e.ErrorName, Message: printable(e.ErrorMessage, maxErrorMessage)}
}

// validErrorName accepts what an errorName can be: 1 to 64 ASCII letters.
func validErrorName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
