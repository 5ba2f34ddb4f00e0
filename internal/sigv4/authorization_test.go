package sigv4

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trent-kms/trent/internal/kmserr"
)

const sdkHeader = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/us-east-1/kms/aws4_request, " +
	"SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-date;x-amz-target, " +
	"Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"

func TestParseAuthorization(t *testing.T) {
	a, err := ParseAuthorization(sdkHeader)
	if err != nil {
		t.Fatal(err)
	}
	want := &Authorization{
		Algorithm: Algorithm, AccessKeyID: "AKIAIOSFODNN7EXAMPLE", Date: "20261123", Region: "us-east-1", Service: "kms",
		Terminator:    "aws4_request",
		SignedHeaders: []string{"amz-sdk-invocation-id", "amz-sdk-request", "content-length", "content-type", "host", "x-amz-date", "x-amz-target"},
		Signature:     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
	}
	if d := cmp.Diff(want, a); d != "" {
		t.Errorf("ParseAuthorization mismatch (-want +got):\n%s", d)
	}
	if a.String() != sdkHeader {
		t.Errorf("String() = %q, want %q", a.String(), sdkHeader)
	}
	// Spacing variants AWS accepts: no space after commas, extra spaces,
	// parameters in another order, unknown parameters.
	for _, h := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/us-east-1/kms/aws4_request,SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-date;x-amz-target,Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
		"  AWS4-HMAC-SHA256 Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b ,  Credential=AKIAIOSFODNN7EXAMPLE/20261123/us-east-1/kms/aws4_request,\tSignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-date;x-amz-target, Foo=bar,",
	} {
		b, err := ParseAuthorization(h)
		if err != nil {
			t.Errorf("ParseAuthorization(%q): %v", h, err)
			continue
		}
		if d := cmp.Diff(want, b); d != "" {
			t.Errorf("ParseAuthorization(%q) mismatch (-want +got):\n%s", h, d)
		}
	}
}

func TestParseAuthorizationErrors(t *testing.T) {
	const (
		cred = "Credential=AKID/20261123/us-east-1/kms/aws4_request"
		sh   = "SignedHeaders=host;x-amz-date"
		sig  = "Signature=abcd"
	)
	tests := []struct{ header, msg string }{
		{"", "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"AWS4-HMAC-SHA256", "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"Bearer abc.def", "Authorization header requires 'Credential' parameter."},
		{"Basic dXNlcjpwYXNz==", "Authorization header requires 'Credential' parameter."},
		{"AWS4-HMAC-SHA256 " + sh + ", " + sig, "Authorization header requires 'Credential' parameter."},
		{"AWS4-HMAC-SHA256 " + cred + ", " + sig, "Authorization header requires 'SignedHeaders' parameter."},
		{"AWS4-HMAC-SHA256 " + cred + ", " + sh, "Authorization header requires 'Signature' parameter."},
		{"AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=", "Authorization header requires 'Signature' parameter."},
		{"AWS4-HMAC-SHA512 " + cred + ", " + sh + ", " + sig, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'."},
		{"aws4-hmac-sha256 " + cred + ", " + sh + ", " + sig, "Authorization header requires 'Credential' parameter."},
		{"AWS4-HMAC-SHA256 Credential, " + sh + ", " + sig, "'Credential' not a valid key=value pair (missing equal-sign) in Authorization header."},
		{"AWS4-HMAC-SHA256 " + cred + ", " + cred + ", " + sh + ", " + sig, "Authorization header has more than one 'Credential' parameter."},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/kms, " + sh + ", " + sig, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKID/20261123/us-east-1/kms'."},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/kms/aws4_request/x, " + sh + ", " + sig, "Credential must have exactly 5 slash-delimited elements"},
		{"AWS4-HMAC-SHA256 Credential=/20261123/us-east-1/kms/aws4_request, " + sh + ", " + sig, "Credential must have exactly 5 slash-delimited elements"},
		{"AWS4-HMAC-SHA256 Credential=AKID//us-east-1/kms/aws4_request, " + sh + ", " + sig, "Credential must have exactly 5 slash-delimited elements"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/kms/aws5_request, " + sh + ", " + sig, "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, " + sig, "'SignedHeaders' must be a non-empty ';'-separated list of header names, got ''."},
		{"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, " + sig, "'SignedHeaders' must be a non-empty"},
		{"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;, " + sig, "'SignedHeaders' must be a non-empty"},
		{"AWS4-HMAC-SHA256 " + strings.Repeat("x", maxAuthorizationLen), "Authorization header is too long."},
	}
	for _, tc := range tests {
		a, err := ParseAuthorization(tc.header)
		if err == nil {
			t.Errorf("ParseAuthorization(%.60q) = %+v, want error", tc.header, a)
			continue
		}
		var e *kmserr.Error
		if !errors.As(err, &e) || e.Code != "IncompleteSignatureException" {
			t.Errorf("ParseAuthorization(%.60q) error = %v, want IncompleteSignatureException", tc.header, err)
			continue
		}
		if !strings.HasPrefix(e.Message, tc.msg) {
			t.Errorf("ParseAuthorization(%.60q) message = %q, want prefix %q", tc.header, e.Message, tc.msg)
		}
	}
}

func TestErrorEchoIsBounded(t *testing.T) {
	long := "AWS4-HMAC-SHA256 Credential=" + strings.Repeat("A", 5000) + ", SignedHeaders=host, Signature=ab"
	_, err := ParseAuthorization(long)
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error = %.100v (len %d), want a bounded error", err, len(err.Error()))
	}
}

// FuzzParseAuthorization: ParseAuthorization never panics, fails only with
// IncompleteSignatureException, and what it accepts round-trips through
// String. Verify never panics on the same header either.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		sdkHeader, "", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 ", "Bearer x", "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request,SignedHeaders=h,Signature=s",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host;x-amz-date, Signature=00,Signature=11",
		"AWS4-HMAC-SHA256 Credential==/=/=/=/aws4_request, SignedHeaders==;=, Signature==",
		"AWS4-HMAC-SHA256 ,,,, Credential=\x00/\xff/ / /aws4_request,SignedHeaders= ; ,Signature= x ",
		"AWS4-ECDSA-P256-SHA256 Credential=a/b/c/d/aws4_request",
	} {
		f.Add(s)
	}
	v := newVerifier()
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			var e *kmserr.Error
			if !errors.As(err, &e) || e.Code != "IncompleteSignatureException" {
				t.Fatalf("error %v, want IncompleteSignatureException", err)
			}
			if len(e.Message) > 512 {
				t.Fatalf("message of %d bytes", len(e.Message))
			}
		} else {
			b, err := ParseAuthorization(a.String())
			if err != nil {
				t.Fatalf("ParseAuthorization(%q) ok, but its String %q fails: %v", h, a.String(), err)
			}
			if d := cmp.Diff(a, b); d != "" {
				t.Fatalf("round trip mismatch (-first +second):\n%s", d)
			}
		}
		r := httptest.NewRequest(http.MethodPost, "http://kms.us-east-1.amazonaws.com/", nil)
		r.Header.Set("X-Amz-Date", "20261123T001000Z")
		r.Header.Set("Authorization", h)
		if h == "" {
			return
		}
		if _, err := v.Verify(r, []byte("{}")); err == nil {
			t.Fatalf("Verify accepted forged header %q", h)
		}
	})
}
