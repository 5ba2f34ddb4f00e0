package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestDefaultPageSizes checks AWS's default Limit of the list operations:
// ListKeys 100, ListAliases 50.
func TestDefaultPageSizes(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.dev()
	var ids []string
	for i := range 101 {
		ids = append(ids, aws.ToString(newKey(t, c, fmt.Sprint("bulk ", i)).KeyId))
	}
	out, err := c.ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if len(out.Keys) != 100 || !out.Truncated || out.NextMarker == nil {
		t.Fatalf("ListKeys default page: %d keys truncated=%v, want 100, true", len(out.Keys), out.Truncated)
	}
	rest, err := c.ListKeys(ctx(t), &kms.ListKeysInput{Marker: out.NextMarker})
	must(t, err)
	if len(rest.Keys) != 1 || rest.Truncated {
		t.Errorf("ListKeys second page: %d keys truncated=%v, want 1, false", len(rest.Keys), rest.Truncated)
	}
	full, err := c.ListKeys(ctx(t), &kms.ListKeysInput{Limit: aws.Int32(1000)})
	must(t, err)
	if len(full.Keys) != 101 || full.Truncated {
		t.Errorf("ListKeys Limit 1000: %d keys truncated=%v", len(full.Keys), full.Truncated)
	}

	// 51 aliases over two keys (AWS allows 50 per key).
	for i := range 51 {
		target := ids[i%2]
		_, err := c.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String(fmt.Sprintf("alias/bulk-%02d", i)), TargetKeyId: aws.String(target)})
		must(t, err)
	}
	la, err := c.ListAliases(ctx(t), &kms.ListAliasesInput{})
	must(t, err)
	if len(la.Aliases) != 50 || !la.Truncated {
		t.Errorf("ListAliases default page: %d aliases truncated=%v, want 50, true", len(la.Aliases), la.Truncated)
	}
}

// TestHTTPDetails covers transport details SDKs differ in: chunked request
// bodies, keep-alive reuse, unique request ids.
func TestHTTPDetails(t *testing.T) {
	t.Parallel()
	s := startDev(t)

	// A chunked body (no Content-Length).
	body := `{"NumberOfBytes":16}`
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/", io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.GenerateRandom")
	sum := sha256.Sum256([]byte(body))
	must(t, v4.NewSigner().SignHTTP(ctx(t), aws.Credentials{AccessKeyID: devAccessKey, SecretAccessKey: devSecretKey}, req, hex.EncodeToString(sum[:]), "kms", devRegion, time.Now()))
	if r := send(t, req); r.Status != http.StatusOK {
		t.Errorf("chunked body: %d %s", r.Status, r.Body)
	}

	ids := map[string]bool{}
	for range 20 {
		r := signedCall(t, s, "TrentService.ListKeys", "{}", time.Now())
		id := r.Header.Get("X-Amzn-RequestId")
		if id == "" || ids[id] {
			t.Fatalf("request id %q missing or repeated", id)
		}
		ids[id] = true
	}
}
