package interop

import (
	"regexp"
	"strconv"
	"testing"
)

var sdkSummaryRE = regexp.MustCompile(`(?m)^sdk: (\d+) checks passed$`)

// TestJavaScriptSDK runs sdk.js: the AWS SDK for JavaScript v3's KMS client
// against a dev server, beyond the Encryption SDK's operations (key types
// with signatures and OAEP checked by node:crypto, MACs, rotation, aliases
// paginated, the SDK's parsing of dates and of errors).
func TestJavaScriptSDK(t *testing.T) {
	needNode(t)
	t.Parallel()
	h := newHarness(t)
	out := h.node("sdk.js")
	m := sdkSummaryRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("sdk.js printed no summary:\n%s", out)
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 12 {
		t.Fatalf("sdk.js ran %d checks, want at least 12:\n%s", n, out)
	}
	t.Logf("sdk.js:\n%s", out)
}
