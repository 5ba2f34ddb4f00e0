package awsjson

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/cputime"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// tenStatementPolicy is the key policy of the full-pipeline benchmarks: the
// account root, then nine statements for other users with conditions, none
// of which allows the caller (every one is evaluated before the grant).
func tenStatementPolicy() string {
	stmts := []string{`{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:root"},"Action":"kms:*","Resource":"*"}`}
	for i := range 9 {
		stmts = append(stmts, fmt.Sprintf(`{"Sid":"s%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/other%d"},"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"app%d"},"Bool":{"aws:SecureTransport":"true"}}}`, i, testAccount, i, i))
	}
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

// BenchmarkPipeline is the whole in-process pipeline of the hot operations
// as the performance targets count it (docs/benchmarks.md): a pre-signed
// request (SigV4 verified), an IAM user allowed by a grant on a key whose
// policy has 10 statements, the audit log in batch mode writing to a
// directory, JSON in and out. No network: the ResponseWriter is reused, so
// that allocs/op counts the pipeline's allocations only.
func BenchmarkPipeline(b *testing.B) {
	for _, op := range []string{"Encrypt", "Decrypt", "GenerateDataKey"} {
		b.Run(op, func(b *testing.B) {
			f := newFixture(b, nil)
			signer, _, err := audit.LoadOrCreateSigner(context.Background(), memstore.New(), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			l, err := audit.Open(audit.Options{Dir: b.TempDir(), Sync: audit.SyncBatch, Signer: signer})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			f.h.audit = l
			root := kms.Caller{Principal: iam.RootPrincipal(testAccount, adminKeyID), Region: testRegion}
			policy := tenStatementPolicy()
			ck, err := f.svc.CreateKey(context.Background(), root, &kms.CreateKeyInput{Policy: &policy})
			if err != nil {
				b.Fatal(err)
			}
			keyID := ck.KeyMetadata.KeyId
			ec := map[string]string{"app": "bench"}
			_, err = f.svc.CreateGrant(context.Background(), root, &kms.CreateGrantInput{KeyId: keyID,
				GranteePrincipal: "arn:aws:iam::" + testAccount + ":user/alice",
				Operations:       []string{"Encrypt", "Decrypt", "GenerateDataKey"},
				Constraints:      &kms.GrantConstraintsInput{EncryptionContextSubset: ec}})
			if err != nil {
				b.Fatal(err)
			}
			pt := bytes.Repeat([]byte("p"), 256)
			var in map[string]any
			switch op {
			case "Encrypt":
				in = map[string]any{"KeyId": keyID, "Plaintext": base64.StdEncoding.EncodeToString(pt), "EncryptionContext": ec}
			case "Decrypt":
				enc, err := f.svc.Encrypt(context.Background(), root, &kms.EncryptInput{KeyId: keyID, Plaintext: pt, EncryptionContext: ec})
				if err != nil {
					b.Fatal(err)
				}
				in = map[string]any{"CiphertextBlob": enc.CiphertextBlob, "EncryptionContext": ec}
			case "GenerateDataKey":
				in = map[string]any{"KeyId": keyID, "KeySpec": "AES_256", "EncryptionContext": ec}
			}
			body, _ := json.Marshal(in)
			tmpl := signed(b, op, userKeyID, userSecret, body)
			w := &benchWriter{h: http.Header{}}
			rd := bytes.NewReader(body)
			r := *tmpl
			r.Body = io.NopCloser(rd)
			b.ReportAllocs()
			cpu0 := cputime.Process()
			b.ResetTimer()
			for b.Loop() {
				rd.Reset(body)
				clear(w.h)
				w.code = 0
				f.h.ServeHTTP(w, &r)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// benchWriter is a ResponseWriter that keeps the status and drops the body.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
