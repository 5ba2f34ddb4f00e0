package audit

import (
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kms"
)

// TestHeaderFieldsBounded: the User-Agent and the Host come before any
// authentication; whatever a client sends there, the record of its request
// stays small (invalid UTF-8 and control characters grow when escaped), and
// a usual value is kept whole.
func TestHeaderFieldsBounded(t *testing.T) {
	for _, big := range []string{strings.Repeat("\xff", 60000), strings.Repeat("\x01", 60000), strings.Repeat("a", 60000)} {
		e := &Event{Time: time.Now(), Source: SourceKMS, Name: "Encrypt", RequestID: "r", SourceIP: "203.0.113.7",
			UserAgent: big, Host: big, TLS: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256},
			ErrorCode: "MissingAuthenticationTokenException", ErrorMessage: "Missing Authentication Token"}
		if n := len(appendBody(nil, e, "id")); n > 16<<10 {
			t.Errorf("a %d-byte %q... User-Agent and Host make a %d-byte record", len(big), big[:1], n)
		}
	}
	ua := "aws-cli/2.15.0 md/awscrt#0.19.18 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe command/kms.encrypt"
	e := &Event{Time: time.Now(), Source: SourceKMS, Name: "Encrypt", UserAgent: ua}
	if !strings.Contains(string(appendBody(nil, e, "id")), `"userAgent":"`+ua+`"`) {
		t.Error("a usual User-Agent is not kept whole")
	}
}

// TestCryptoOpsReadOnly: every cryptographic operation GetKeyLastUsage
// tracks is recorded as CloudTrail records them: readOnly, and no
// responseElements on success.
func TestCryptoOpsReadOnly(t *testing.T) {
	out := &kms.DecapsulateOutput{KeyId: testKeyARN, EncapsulationAlgorithm: "ML_KEM_768", SharedSecret: []byte("SHARED")}
	for name := range TrackedOps {
		e := &Event{Time: time.Now(), Source: SourceKMS, Name: name, RequestID: "r", Output: out, Keys: [2]string{testKeyARN}}
		var rec struct {
			ReadOnly         bool            `json:"readOnly"`
			ResponseElements json.RawMessage `json:"responseElements"`
		}
		if err := json.Unmarshal(append(appendBody(nil, e, "id"), '}'), &rec); err != nil {
			t.Fatal(err)
		}
		if !rec.ReadOnly || string(rec.ResponseElements) != "null" {
			t.Errorf("%s: readOnly %v, responseElements %s; want true and null", name, rec.ReadOnly, rec.ResponseElements)
		}
	}
}

// TestOversizedRequestVerifies: a refused request can carry up to 1 MiB of
// parameters (PutKeyPolicy), which escaping grows (an invalid UTF-8 byte
// becomes a 3-byte U+FFFD): its record must still be a line that verify and
// the next start read, not one past maxLine.
func TestOversizedRequestVerifies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir})
	big := strings.Repeat("\xff", 1<<20-64)
	e := &Event{Time: time.Now(), Source: SourceKMS, Name: "PutKeyPolicy", RequestID: "r",
		Identity: Identity{ARN: "arn:aws:iam::111122223333:user/Mallory", AccountID: "111122223333"},
		Params:   &kms.PutKeyPolicyInput{KeyId: "k", Policy: &big}, ErrorCode: "ValidationException",
		ErrorMessage: "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 32768"}
	if err := l.Record(t0ctx, e); err != nil {
		t.Fatal(err)
	}
	l.Close()
	rep := verify(t, dir)
	if rep.Problem != nil || rep.Records != 1 {
		t.Fatalf("verify after an oversized request: %+v %v", rep, rep.Problem)
	}
	ln := lines(t, dir)[1]
	if !strings.Contains(string(ln), `"errorCode":"ValidationException"`) || !strings.Contains(string(ln), `"requestParameters":null`) {
		t.Errorf("the record of the oversized request: %.300s", ln)
	}
}
