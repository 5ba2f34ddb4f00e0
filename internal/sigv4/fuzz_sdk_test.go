package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzVerifySDKSigned: any request the AWS SDK's own SigV4 signer signs —
// any path, query parameters, extra header and body — is accepted by
// Verify once it has crossed the wire (written by Go's client, read by Go's
// server), and Verify agrees with the SDK on the canonical request.
func FuzzVerifySDKSigned(f *testing.F) {
	for _, s := range []struct{ path, query, header, value, body string }{
		{"/", "", "", "", testBody},
		{"/a b/c", "Action=ListUsers&Version=2010-05-08", "Trace", "  a   b  ", ""},
		{"/%2F/é", "a=1&a=2&b=x+y&c=%E2%82%AC&=e", "Id", "x,y", "{}"},
		{"/x:y@z$!*'()", "k~=v-_.", "Empty", "", "body"},
	} {
		f.Add(s.path, s.query, s.header, s.value, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, path, query, header, value string, body []byte) {
		if strings.Contains("/"+path, "/.") { // dot segments: see TestAWSSuiteVectors
			return
		}
		u := &url.URL{Scheme: "https", Host: "kms.us-east-1.amazonaws.com", Path: path}
		if query != "" {
			q, err := url.ParseQuery(query)
			if err != nil {
				return
			}
			u.RawQuery = q.Encode() // as the SDK's serializers write a query
		}
		r, err := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
		if !validToken(header) || !validValue(value) {
			header, value = "", ""
		}
		if header != "" {
			r.Header.Add("X-Fuzz-"+header, value)
		}
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "kms", "us-east-1", testNow); err != nil {
			t.Fatalf("SignHTTP: %v", err)
		}
		var wire bytes.Buffer
		if err := r.Write(&wire); err != nil {
			return
		}
		sr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire.Bytes())))
		if err != nil {
			return // Go's server would not hand it to a handler
		}
		got, err := io.ReadAll(sr.Body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newVerifier().Verify(sr, got); err != nil {
			t.Fatalf("Verify rejects the SDK's signature of\n%s\n: %v", wire.Bytes(), err)
		}
	})
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// validValue reports whether s is a header value that crosses the wire
// unchanged: no control characters but tab.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
