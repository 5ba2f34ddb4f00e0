package awsjson

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

const (
	testAccount = "111122223333"
	testRegion  = "us-east-1"
	adminKeyID  = "AKIDADMINEXAMPLE0001"
	adminSecret = "admin/secret/EXAMPLEKEY"
	userKeyID   = "AKIDUSEREXAMPLE00001"
	userSecret  = "user/secret/EXAMPLEKEY"
)

// testNow is the fixed clock of the verifier, so that pre-signed requests stay valid.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// creds is the test's credential source for the real SigV4 verifier: one
// administrator and one non-administrator principal.
type creds map[string]struct {
	secret string
	p      *iam.Principal
}

func (c creds) Credential(id, token string) (string, *iam.Principal, error) {
	e, ok := c[id]
	if !ok || token != "" {
		return "", nil, iam.ErrUnknownCredential
	}
	return e.secret, e.p, nil
}

func ptr[T any](v T) *T { return &v }

func testCreds() creds {
	return creds{
		adminKeyID: {adminSecret, ptr(iam.RootPrincipal(testAccount, adminKeyID))},
		userKeyID: {userSecret, &iam.Principal{Type: iam.IAMUser, AccountID: testAccount, AccessKeyID: userKeyID,
			ARN: "arn:aws:iam::" + testAccount + ":user/alice"}},
	}
}

// recorder is an audit.Recorder that keeps events and can be told to fail.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
	fail   bool
}

func (r *recorder) Record(_ context.Context, e *audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("audit: disk full")
	}
	r.events = append(r.events, *e)
	return nil
}

func (r *recorder) last(t *testing.T) audit.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("no audit event recorded")
	}
	return r.events[len(r.events)-1]
}

type fixture struct {
	h     *Handler
	svc   *kms.Service
	audit *recorder
	logs  *bytes.Buffer
}

// faultyAuthn authenticates as the Verifier does, then fails as fault says
// (nil: not at all): the pipeline's handling of plain errors, panics and
// timeouts from a stage.
type faultyAuthn struct {
	v     *sigv4.Verifier
	fault func() error
}

func (a faultyAuthn) Verify(r *http.Request, body []byte) (*sigv4.Result, error) {
	res, err := a.v.Verify(r, body)
	if err == nil && a.fault != nil {
		err = a.fault()
	}
	return res, err
}

func newFixture(t testing.TB, fault func() error) *fixture {
	t.Helper()
	svc, err := kms.New(context.Background(), kms.Config{Store: memstore.New(), Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("kms.New: %v", err)
	}
	f := &fixture{svc: svc, audit: &recorder{}, logs: &bytes.Buffer{}}
	f.h = New(Config{
		Service:       svc,
		Authenticator: faultyAuthn{&sigv4.Verifier{Creds: testCreds(), Service: "kms", Now: func() time.Time { return testNow }}, fault},
		Auditor:       f.audit,
		Logger:        slog.New(slog.NewTextHandler(f.logs, nil)),
	})
	return f
}

// signed builds a SigV4-signed KMS request.
func signed(t testing.TB, op, keyID, secret string, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://kms.us-east-1.amazonaws.com/", bytes.NewReader(body))
	r.Header.Set("Content-Type", ContentType)
	r.Header.Set("X-Amz-Target", TargetPrefix+op)
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), "kms", testRegion, testNow)
	if err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
	return r
}

func (f *fixture) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// call runs op as the administrator and decodes a successful response into out.
func (f *fixture) call(t *testing.T, op string, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	w := f.do(signed(t, op, adminKeyID, adminSecret, b))
	if w.Code != http.StatusOK {
		t.Fatalf("%s: status %d, body %s", op, w.Code, w.Body)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s: decode response %q: %v", op, w.Body, err)
		}
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestEncryptDecryptRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	var ck struct{ KeyMetadata struct{ KeyId, Arn string } }
	f.call(t, "CreateKey", map[string]any{"Description": "test"}, &ck)
	if ck.KeyMetadata.KeyId == "" {
		t.Fatal("CreateKey returned no KeyId")
	}

	plaintext := []byte("attack at dawn")
	b, _ := json.Marshal(map[string]any{"KeyId": ck.KeyMetadata.KeyId, "Plaintext": plaintext,
		"EncryptionContext": map[string]string{"purpose": "test"}, "SomeFutureMember": 1})
	w := f.do(signed(t, "Encrypt", adminKeyID, adminSecret, b))
	if w.Code != http.StatusOK {
		t.Fatalf("Encrypt: status %d, body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("Encrypt Content-Type = %q, want %q", ct, ContentType)
	}
	if id := w.Header().Get("X-Amzn-Requestid"); !uuidV4.MatchString(id) {
		t.Errorf("x-amzn-RequestId = %q, want a UUID v4", id)
	}
	var enc struct {
		CiphertextBlob []byte
		KeyId          string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &enc); err != nil {
		t.Fatal(err)
	}
	if enc.KeyId != ck.KeyMetadata.Arn {
		t.Errorf("Encrypt KeyId = %q, want the key ARN %q", enc.KeyId, ck.KeyMetadata.Arn)
	}
	ev := f.audit.last(t)
	if ev.Name != "Encrypt" || ev.ErrorCode != "" || ev.Identity.ARN != "arn:aws:iam::"+testAccount+":root" ||
		ev.Region != testRegion || ev.RequestID != w.Header().Get("X-Amzn-Requestid") ||
		ev.Keys[0] != ck.KeyMetadata.Arn || ev.Encrypted.KeyARN != ck.KeyMetadata.Arn || ev.Encrypted.MaterialID == "" {
		t.Errorf("audit event = %+v", ev)
	}

	var dec struct{ Plaintext []byte }
	f.call(t, "Decrypt", map[string]any{"CiphertextBlob": enc.CiphertextBlob,
		"EncryptionContext": map[string]string{"purpose": "test"}}, &dec)
	if !bytes.Equal(dec.Plaintext, plaintext) {
		t.Errorf("Decrypt = %q, want %q", dec.Plaintext, plaintext)
	}
	// Nothing secret in the audit events or the log.
	for _, e := range f.audit.events {
		if s := strings.Join([]string{e.RequestID, e.Name, e.Identity.ARN, e.ErrorMessage, e.UserAgent}, " "); strings.Contains(s, "dawn") {
			t.Errorf("audit event holds plaintext: %+v", e)
		}
	}
	if strings.Contains(f.logs.String(), "dawn") {
		t.Errorf("log holds plaintext: %s", f.logs)
	}
}

func TestNoOutputIsEmptyObject(t *testing.T) {
	f := newFixture(t, nil)
	var ck struct{ KeyMetadata struct{ KeyId string } }
	f.call(t, "CreateKey", map[string]any{}, &ck)
	b, _ := json.Marshal(map[string]any{"KeyId": ck.KeyMetadata.KeyId})
	w := f.do(signed(t, "DisableKey", adminKeyID, adminSecret, b))
	if w.Code != http.StatusOK || w.Body.String() != "{}" {
		t.Errorf("DisableKey = %d %q, want 200 {}", w.Code, w.Body)
	}
}

// plainErr is a stage failing with a plain (non-kmserr) error: the
// pipeline must answer KMSInternalException and log the cause.
func plainErr() error { return errors.New("policy store unreachable: 10.0.0.7:5432") }

// panicky is a stage with a bug: a runtime error, as real bugs panic (the
// test checks that its message reaches the log).
func panicky() error {
	var m map[string]int
	//lint:ignore SA5000 the nil-map write is the bug this stage stands for
	m["boom"]++
	return nil
}

// slow is a stage whose backend timed out.
func slow() error { return fmt.Errorf("policy lookup: %w", context.DeadlineExceeded) }

func TestErrorPaths(t *testing.T) {
	valid := []byte(`{"KeyId":"alias/none","Plaintext":"aGVsbG8="}`)
	for _, tc := range []struct {
		name       string
		fault      func() error
		req        func(t *testing.T) *http.Request
		status     int
		code       string
		message    string // substring; "" to skip
		claimedKey string // the access key the audit record names for a refused request
	}{
		{
			name: "method GET",
			req: func(t *testing.T) *http.Request {
				return httptest.NewRequest(http.MethodGet, "/", nil)
			},
			status: http.StatusMethodNotAllowed, code: "MethodNotAllowedException",
		},
		{
			name: "unknown target",
			req: func(t *testing.T) *http.Request {
				return signed(t, "LaunchMissiles", adminKeyID, adminSecret, []byte("{}"))
			},
			status: 400, code: "UnknownOperationException", message: "TrentService.LaunchMissiles",
		},
		{
			name: "missing target",
			req: func(t *testing.T) *http.Request {
				r := signed(t, "Encrypt", adminKeyID, adminSecret, valid)
				r.Header.Del("X-Amz-Target")
				return r
			},
			status: 400, code: "UnknownOperationException", message: "Missing X-Amz-Target",
		},
		{
			// AWS answers a JSON-protocol request whose Content-Type is not
			// its own UnknownOperationException (Kinesis, for
			// application/octet-stream: disneystreaming/smithy4s#167).
			name: "wrong content type",
			req: func(t *testing.T) *http.Request {
				r := signed(t, "Encrypt", adminKeyID, adminSecret, valid)
				r.Header.Set("Content-Type", "application/octet-stream")
				return r
			},
			status: 400, code: "UnknownOperationException", message: "Content-Type must be application/x-amz-json-1.1",
		},
		{
			name: "no content type",
			req: func(t *testing.T) *http.Request {
				r := signed(t, "Encrypt", adminKeyID, adminSecret, valid)
				r.Header.Del("Content-Type")
				return r
			},
			status: 400, code: "UnknownOperationException", message: "Content-Type must be application/x-amz-json-1.1",
		},
		{
			name: "body over the operation's limit",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, bytes.Repeat([]byte(" "), 64<<10+1))
			},
			status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLargeException",
		},
		{
			name: "body over the limit without Content-Length",
			req: func(t *testing.T) *http.Request {
				r := signed(t, "DescribeKey", adminKeyID, adminSecret, bytes.Repeat([]byte(" "), 16<<10+1))
				r.ContentLength = -1
				return r
			},
			status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLargeException",
		},
		{
			name: "unsigned",
			req: func(t *testing.T) *http.Request {
				r := signed(t, "Encrypt", adminKeyID, adminSecret, valid)
				r.Header.Del("Authorization")
				return r
			},
			status: 400, code: "MissingAuthenticationTokenException",
		},
		{
			name: "unknown access key",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", "AKIDUNKNOWN000000000", adminSecret, valid)
			},
			status: 400, code: "UnrecognizedClientException", claimedKey: "AKIDUNKNOWN000000000",
		},
		{
			name: "wrong secret",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, "not-the-secret", valid)
			},
			status: 400, code: "InvalidSignatureException",
		},
		{
			name: "body changed after signing",
			req: func(t *testing.T) *http.Request {
				r := signed(t, "Encrypt", adminKeyID, adminSecret, valid)
				tampered := bytes.Replace(valid, []byte("aGVsbG8="), []byte("aGVsbG9="), 1)
				r.Body = io.NopCloser(bytes.NewReader(tampered))
				return r
			},
			status: 400, code: "InvalidSignatureException",
		},
		{
			name: "a user no policy allows",
			req: func(t *testing.T) *http.Request {
				return signed(t, "ListKeys", userKeyID, userSecret, []byte(`{}`))
			},
			status: 400, code: "AccessDeniedException",
			message: "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action",
		},
		{
			name:  "plain error from a stage",
			fault: plainErr,
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, valid)
			},
			status: 500, code: "KMSInternalException", message: "An internal error occurred.",
		},
		{
			name:  "panic in a stage",
			fault: panicky,
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, valid)
			},
			status: 500, code: "KMSInternalException", message: "An internal error occurred.",
		},
		{
			name:  "deadline exceeded",
			fault: slow,
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, valid)
			},
			status: 503, code: "DependencyTimeoutException", message: "timed out",
		},
		{
			name: "malformed JSON",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, []byte(`{"KeyId":`))
			},
			status: 400, code: "SerializationException",
		},
		{
			name: "not an object",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, []byte(`["KeyId"]`))
			},
			status: 400, code: "SerializationException", message: "must be a JSON object",
		},
		{
			name: "trailing data",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, []byte(`{} {}`))
			},
			status: 400, code: "SerializationException",
		},
		{
			name: "wrong member type",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, []byte(`{"KeyId":5,"Plaintext":"aGVsbG8="}`))
			},
			status: 400, code: "SerializationException", message: "Value at 'KeyId' has the wrong type: expected string, got JSON number",
		},
		{
			name: "bad base64 blob",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, []byte(`{"KeyId":"alias/x","Plaintext":"%%%"}`))
			},
			status: 400, code: "SerializationException", message: "base64",
		},
		{
			name: "validation in the service",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, []byte(`{"Plaintext":"aGVsbG8="}`))
			},
			status: 400, code: "ValidationException", message: "keyId",
		},
		{
			name: "unknown key",
			req: func(t *testing.T) *http.Request {
				return signed(t, "Encrypt", adminKeyID, adminSecret, valid)
			},
			status: 400, code: "NotFoundException",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.fault)
			w := f.do(tc.req(t))
			t.Logf("%d %s", w.Code, w.Body)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d (body %s)", w.Code, tc.status, w.Body)
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("error body %q is not JSON: %v", w.Body, err)
			}
			if body["__type"] != tc.code {
				t.Errorf("__type = %q, want %q (message %q)", body["__type"], tc.code, body["message"])
			}
			if got := w.Header().Get("X-Amzn-ErrorType"); got != tc.code {
				t.Errorf("X-Amzn-ErrorType = %q, want %q", got, tc.code)
			}
			if !strings.Contains(body["message"], tc.message) {
				t.Errorf("message = %q, want it to contain %q", body["message"], tc.message)
			}
			if ct := w.Header().Get("Content-Type"); ct != ContentType {
				t.Errorf("Content-Type = %q, want %q", ct, ContentType)
			}
			if id := w.Header().Get("X-Amzn-Requestid"); !uuidV4.MatchString(id) {
				t.Errorf("x-amzn-RequestId = %q, want a UUID v4", id)
			}
			// Every request is audited, also those refused before dispatch.
			if n := len(f.audit.events); n != 1 {
				t.Fatalf("%d audit events, want 1", n)
			}
			ev := f.audit.last(t)
			if ev.ErrorCode != tc.code || ev.RequestID != w.Header().Get("X-Amzn-Requestid") {
				t.Errorf("audit event = %+v, want error code %s", ev, tc.code)
			}
			if tc.code == "KMSInternalException" && ev.ErrorMessage != kmserr.ErrInternal.Message {
				t.Errorf("audit message = %q leaks the internal error", ev.ErrorMessage)
			}
			if tc.claimedKey != "" && ev.Identity.AccessKeyID != tc.claimedKey {
				t.Errorf("audit identity = %+v, want the claimed access key %s", ev.Identity, tc.claimedKey)
			}
			if tc.name == "panic in a stage" && !strings.Contains(f.logs.String(), "assignment to entry in nil map") {
				t.Errorf("panic not logged: %s", f.logs)
			}
			if tc.name == "plain error from a stage" {
				if !strings.Contains(f.logs.String(), "10.0.0.7") || !strings.Contains(f.logs.String(), w.Header().Get("X-Amzn-Requestid")) {
					t.Errorf("log does not hold the internal cause and request id: %s", f.logs)
				}
				if strings.Contains(w.Body.String(), "10.0.0.7") {
					t.Errorf("internal cause sent to the client: %s", w.Body)
				}
			}
		})
	}
}

func TestAuditFailureFailsRequest(t *testing.T) {
	f := newFixture(t, nil)
	f.audit.fail = true
	w := f.do(signed(t, "GenerateRandom", adminKeyID, adminSecret, []byte(`{"NumberOfBytes":32}`)))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500 (body %s)", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "Plaintext") {
		t.Errorf("response carries the output although audit failed: %s", w.Body)
	}
	if !strings.Contains(f.logs.String(), "disk full") {
		t.Errorf("audit failure not logged: %s", f.logs)
	}
}

func TestApplicationJSONAccepted(t *testing.T) {
	f := newFixture(t, nil)
	r := httptest.NewRequest(http.MethodPost, "http://kms.us-east-1.amazonaws.com/", strings.NewReader(`{"NumberOfBytes":16}`))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("X-Amz-Target", "TrentService.GenerateRandom")
	body := []byte(`{"NumberOfBytes":16}`)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: adminKeyID, SecretAccessKey: adminSecret},
		r, hex.EncodeToString(sum[:]), "kms", testRegion, testNow); err != nil {
		t.Fatal(err)
	}
	w := f.do(r)
	var out struct{ Plaintext []byte }
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &out) != nil || len(out.Plaintext) != 16 {
		t.Errorf("GenerateRandom with application/json = %d %s", w.Code, w.Body)
	}
}

func TestOperationTable(t *testing.T) {
	if len(operations) < 29 {
		t.Errorf("len(operations) = %d, want at least 29", len(operations))
	}
	for target, o := range operations {
		if target != TargetPrefix+o.Name || o.Action != "kms:"+o.Name {
			t.Errorf("operation %q: Name %q Action %q disagree", target, o.Name, o.Action)
		}
		if o.MaxBody <= 0 || o.Timeout < 0 || o.decode == nil || o.call == nil {
			t.Errorf("operation %q incomplete: %+v", target, o)
		}
		if !audit.ReadOnly(o.Name) && o.Timeout == 0 { // a write waits on storage: it needs a deadline
			t.Errorf("operation %q changes state but has no Timeout", target)
		}
	}
	if got := Operations(); len(got) != len(operations) || got[0] > got[len(got)-1] {
		t.Errorf("Operations() = %v", got)
	}
}

// TestTableCoversService checks that every operation method of kms.Service
// (func(ctx, Caller, *<Op>Input) (*<Op>Output, error)) is in the table, so
// that nothing the service implements is unreachable over the wire.
func TestTableCoversService(t *testing.T) {
	st := reflect.TypeFor[*kms.Service]()
	ctxType := reflect.TypeFor[context.Context]()
	callerType := reflect.TypeFor[kms.Caller]()
	n := 0
	for i := range st.NumMethod() {
		m := st.Method(i)
		ft := m.Type // receiver first
		if ft.NumIn() != 4 || ft.NumOut() != 2 || ft.In(1) != ctxType || ft.In(2) != callerType ||
			ft.In(3).Kind() != reflect.Pointer || ft.In(3).Elem().Name() != m.Name+"Input" {
			continue
		}
		n++
		if _, ok := operations[TargetPrefix+m.Name]; !ok {
			t.Errorf("kms.Service.%s is not in the operation table", m.Name)
		}
	}
	if n != len(operations) {
		t.Errorf("kms.Service has %d operation methods, the table %d rows", n, len(operations))
	}
}

// FuzzDecode checks that no request body makes any operation's decoder panic,
// and that every failure is a SerializationException.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"KeyId":"alias/x","Plaintext":"aGVsbG8="}`,
		`{"KeyId":5}`, `{"Plaintext":"%%%"}`, `{"EncryptionContext":{"a":1}}`, `{"NumberOfBytes":1e400}`,
		`{"Limit":-1,"Marker":"x"}`, `{"Tags":[{"TagKey":"k","TagValue":"v"}]}`, `{"KeyId":"a"}{}`,
		`{"PendingWindowInDays":"7"}`, "{\"KeyId\":\"\xff\"}", `{"GrantTokens":[null]}`,
	} {
		f.Add([]byte(s))
	}
	names := Operations()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, name := range names {
			in, err := operations[TargetPrefix+name].decode(body)
			if err != nil {
				var e *kmserr.Error
				if !errors.As(err, &e) || e.Code != "SerializationException" {
					t.Fatalf("%s: decode error %v is not a SerializationException", name, err)
				}
				continue
			}
			if in == nil {
				t.Fatalf("%s: decode returned nil input and nil error", name)
			}
		}
	})
}

// BenchmarkPipelineEncrypt measures the whole in-process pipeline for one
// Encrypt: body limit, SigV4 verification, authorization, decoding, the
// service's AES-GCM, audit (no-op) and encoding.
func BenchmarkPipelineEncrypt(b *testing.B) {
	b.Run("audit=off", func(b *testing.B) { benchmarkPipelineEncrypt(b, audit.Discard) })
	for _, mode := range []audit.SyncMode{audit.SyncBatch, audit.SyncAlways} {
		b.Run("audit="+mode.String(), func(b *testing.B) {
			signer, _, err := audit.LoadOrCreateSigner(context.Background(), memstore.New(), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			l, err := audit.Open(audit.Options{Dir: b.TempDir(), Sync: mode, Signer: signer})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			benchmarkPipelineEncrypt(b, l)
		})
	}
}

func benchmarkPipelineEncrypt(b *testing.B, rec audit.Recorder) {
	f := newFixture(b, nil)
	f.h.audit = rec
	out, err := f.svc.CreateKey(context.Background(),
		kms.Caller{Principal: iam.RootPrincipal(testAccount, adminKeyID), Region: testRegion}, &kms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	encryptLoop(b, f, out.KeyMetadata.KeyId, adminKeyID, adminSecret)
}

// encryptLoop sends one pre-signed Encrypt (256 bytes, a one-pair encryption
// context) under keyID per iteration.
func encryptLoop(b *testing.B, f *fixture, keyID, accessKey, secret string) {
	body, _ := json.Marshal(map[string]any{
		"KeyId":             keyID,
		"Plaintext":         base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("p"), 256)),
		"EncryptionContext": map[string]string{"app": "bench"},
	})
	tmpl := signed(b, "Encrypt", accessKey, secret, body)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := *tmpl
		r.Body = io.NopCloser(bytes.NewReader(body))
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, &r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkPipelineEncryptAuthz compares the authorization paths of one
// Encrypt through the whole pipeline (audit off): the account root under
// the default key policy, and an IAM user allowed by a grant on a key whose
// policy has 10 statements (every statement is evaluated, none allows, then
// the grant does).
func BenchmarkPipelineEncryptAuthz(b *testing.B) {
	var stmts []string
	stmts = append(stmts, `{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+testAccount+`:root"},"Action":"kms:*","Resource":"*"}`)
	for i := range 9 {
		stmts = append(stmts, fmt.Sprintf(`{"Sid":"s%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/other%d"},"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"app%d"},"Bool":{"aws:SecureTransport":"true"}}}`, i, testAccount, i, i))
	}
	tenStatements := `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	for _, tc := range []struct {
		name, keyID, secret string
		policy              *string
		grant               bool
	}{
		{"root/default-policy", adminKeyID, adminSecret, nil, false},
		{"user/10-statements+grant", userKeyID, userSecret, &tenStatements, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b, nil)
			f.h.audit = audit.Discard
			root := kms.Caller{Principal: iam.RootPrincipal(testAccount, adminKeyID), Region: testRegion}
			out, err := f.svc.CreateKey(context.Background(), root, &kms.CreateKeyInput{Policy: tc.policy})
			if err != nil {
				b.Fatal(err)
			}
			if tc.grant {
				_, err := f.svc.CreateGrant(context.Background(), root, &kms.CreateGrantInput{KeyId: out.KeyMetadata.KeyId,
					GranteePrincipal: "arn:aws:iam::" + testAccount + ":user/alice", Operations: []string{"Encrypt", "Decrypt"},
					Constraints: &kms.GrantConstraintsInput{EncryptionContextSubset: map[string]string{"app": "bench"}}})
				if err != nil {
					b.Fatal(err)
				}
			}
			encryptLoop(b, f, out.KeyMetadata.KeyId, tc.keyID, tc.secret)
		})
	}
}

// TestEveryOperationIsDecided sends every operation of the table, as an IAM
// user no policy allows anything, with a body that passes each operation's
// validation and names an existing key: every one must answer
// AccessDeniedException, so no operation can skip the decision (RetireGrant
// excepted: the grant decides who may retire it, and none exists here).
func TestEveryOperationIsDecided(t *testing.T) {
	f := newFixture(t, nil)
	var ck struct{ KeyMetadata struct{ KeyId string } }
	f.call(t, "CreateKey", map[string]any{}, &ck)
	key := ck.KeyMetadata.KeyId
	var enc struct{ CiphertextBlob []byte }
	f.call(t, "Encrypt", map[string]any{"KeyId": key, "Plaintext": []byte("x")}, &enc)
	body, _ := json.Marshal(map[string]any{
		"KeyId": key, "AliasName": "alias/decided", "TargetKeyId": key, "DestinationKeyId": key,
		"Plaintext": []byte("x"), "CiphertextBlob": enc.CiphertextBlob, "NumberOfBytes": 16, "KeyPairSpec": "ECC_NIST_P256",
		"Message": []byte("x"), "SigningAlgorithm": "ECDSA_SHA_256", "Signature": []byte("x"), "MacAlgorithm": "HMAC_SHA_256",
		"Mac": []byte("x"), "KeyAgreementAlgorithm": "ECDH", "PublicKey": []byte("x"), "EncapsulationAlgorithm": "ML_KEM",
		"SharedSecretCiphertextBlob": []byte("x"), "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048",
		"ImportToken": []byte("x"), "EncryptedKeyMaterial": []byte("x"), "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
		"GranteePrincipal": "arn:aws:iam::" + testAccount + ":user/bob", "Operations": []string{"Decrypt"},
		"GrantId": strings.Repeat("0", 64), "RetiringPrincipal": "arn:aws:iam::" + testAccount + ":user/bob",
		"Policy":      `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:root"},"Action":"kms:*","Resource":"*"}]}`,
		"Description": "d", "Tags": []map[string]string{{"TagKey": "a", "TagValue": "b"}}, "TagKeys": []string{"a"},
		"ReplicaRegion": "eu-west-1", "PrimaryRegion": "eu-west-1",
		"CustomKeyStoreId": "cks-1234567890abcdef0", "CustomKeyStoreName": "store",
	})
	for _, name := range Operations() {
		if name == "RetireGrant" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			w := f.do(signed(t, name, userKeyID, userSecret, body))
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			json.Unmarshal(w.Body.Bytes(), &e)
			if e.Type != "AccessDeniedException" || !strings.Contains(e.Message, "user/alice is not authorized to perform: kms:") {
				t.Errorf("%s as a user with no permission = %d %s: %s, want AccessDeniedException", name, w.Code, e.Type, e.Message)
			}
		})
	}
}

// TestBodyGrowsAsItArrives: a large Content-Length (up to an operation's
// limit, 1 MiB for CreateKey and PutKeyPolicy) reserves nothing before its
// bytes arrive: they come before any authentication.
func TestBodyGrowsAsItArrives(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	r.ContentLength = policyBody
	r.Body = io.NopCloser(iotest.ErrReader(errors.New("no body sent")))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	_, err := readBody(httptest.NewRecorder(), r, policyBody)
	runtime.ReadMemStats(&m1)
	if err == nil {
		t.Fatal("readBody of a body that never came: no error")
	}
	if d := m1.TotalAlloc - m0.TotalAlloc; d >= policyBody/4 {
		t.Errorf("%d bytes allocated for a body of which no byte arrived", d)
	}
	// And a whole large body is read.
	want := bytes.Repeat([]byte("x"), pooledBodyMax+1)
	r = httptest.NewRequest("POST", "/", bytes.NewReader(want))
	got, err := readBody(httptest.NewRecorder(), r, policyBody)
	if err != nil || !bytes.Equal(got.b, want) {
		t.Fatalf("readBody of %d bytes: %d bytes, %v", len(want), len(got.b), err)
	}
	// A short one is refused.
	r = httptest.NewRequest("POST", "/", bytes.NewReader(want[:pooledBodyMax+1]))
	r.ContentLength = pooledBodyMax + 100
	if _, err := readBody(httptest.NewRecorder(), r, policyBody); err == nil {
		t.Error("readBody of a body shorter than its Content-Length: no error")
	}
}
