package server

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// protoServer is a server with a data directory and a client of its first
// administrator over one protocol.
type protoServer struct {
	s          *Server
	dataDir    string
	id, secret string
	hc         *http.Client
}

func startProto(t *testing.T, tlsOn bool) (srv protoServer, pool *x509.CertPool) {
	t.Helper()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	if tlsOn {
		pool = x509.NewCertPool()
		pool.AppendCertsFromPEM(selfSignedCert(t, cfg.DataDir))
		cfg.TLSCertFile = filepath.Join(cfg.DataDir, "tls.crt")
		cfg.TLSKeyFile = filepath.Join(cfg.DataDir, "tls.key")
	}
	srv.s, _ = start(t, cfg)
	srv.dataDir = cfg.DataDir
	srv.id, srv.secret, _ = readCredentials(t, filepath.Join(cfg.DataDir, CredentialsFile))
	return srv, pool
}

// TestProtocolsAnswerAlike sends the same requests over plain HTTP/1.1 (the
// fast path of internal/http1, or net/http for what it hands over), over
// HTTP/1.1 in TLS (the same, after its own handshake) and over HTTP/2 (what
// the AWS SDKs negotiate over TLS: net/http), and wants the same answers:
// status, headers, body (request ids and ciphertexts aside), the same
// aws:SecureTransport, and the same audit fields.
func TestProtocolsAnswerAlike(t *testing.T) {
	plain, _ := startProto(t, false)
	plain.hc = &http.Client{Transport: &http.Transport{}}
	h1, pool := startProto(t, true)
	h2 := h1
	noH2 := map[string]func(string, *tls.Conn) http.RoundTripper{}
	h1.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, TLSNextProto: noH2}}
	h2.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	paths := map[string]protoServer{"HTTP/1.1": plain, "HTTP/1.1 over TLS": h1, "HTTP/2": h2}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range paths {
			if !yield(n) {
				return
			}
		}
	})

	// On each server a key, and one that denies Encrypt without TLS.
	policy := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	keys := map[*Server]*strings.Replacer{}
	for _, srv := range []protoServer{plain, h1} {
		c := sdk(srv.s.URL(), srv.id, srv.secret, srv.hc)
		var ids []string
		for _, in := range []*awskms.CreateKeyInput{{}, {Policy: aws.String(policy)}} {
			out, err := c.CreateKey(bg, in)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, *out.KeyMetadata.KeyId)
		}
		keys[srv.s] = strings.NewReplacer("TLSKEY", ids[1], "KEY", ids[0])
	}

	type request struct {
		method, path, contentType, target, body string
		service                                 string // signed for it when set
		chunked, expect                         bool
	}
	const (
		jsonType = "application/x-amz-json-1.1"
		formType = "application/x-www-form-urlencoded; charset=utf-8"
	)
	encrypt := `{"KeyId":"KEY","Plaintext":"aGVsbG8="}`
	tooLarge := `{"KeyId":"KEY","Plaintext":"` + strings.Repeat("A", 70<<10) + `"}`
	requests := map[string]request{
		"Encrypt":                         {method: "POST", path: "/", contentType: jsonType, target: "TrentService.Encrypt", body: encrypt, service: "kms"},
		"Encrypt, chunked":                {method: "POST", path: "/", contentType: jsonType, target: "TrentService.Encrypt", body: encrypt, service: "kms", chunked: true},
		"Encrypt, Expect: 100-continue":   {method: "POST", path: "/", contentType: jsonType, target: "TrentService.Encrypt", body: encrypt, service: "kms", expect: true},
		"Encrypt over its body limit":     {method: "POST", path: "/", contentType: jsonType, target: "TrentService.Encrypt", body: tooLarge, service: "kms"},
		"Encrypt over its limit, chunked": {method: "POST", path: "/", contentType: jsonType, target: "TrentService.Encrypt", body: tooLarge, service: "kms", chunked: true},
		"unsigned":                        {method: "POST", path: "/", contentType: jsonType, target: "TrentService.ListKeys", body: `{}`},
		"unknown operation":               {method: "POST", path: "/", contentType: jsonType, target: "TrentService.Nope", body: `{}`, service: "kms"},
		"another path":                    {method: "POST", path: "/x", contentType: jsonType, target: "TrentService.ListKeys", body: `{}`, service: "kms"},
		"GET /":                           {method: "GET", path: "/"},
		"HEAD /":                          {method: "HEAD", path: "/"},
		"PUT /":                           {method: "PUT", path: "/", body: "x"},
		"OPTIONS /":                       {method: "OPTIONS", path: "/"},
		"IAM ListUsers":                   {method: "POST", path: "/", contentType: formType, body: "Action=ListUsers&Version=2010-05-08", service: "iam"},
		"STS GetCallerIdentity":           {method: "POST", path: "/", contentType: formType, body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts"},
		"STS GET GetCallerIdentity":       {method: "GET", path: "/?Action=GetCallerIdentity&Version=2011-06-15", service: "sts"},
		"STS over its body limit":         {method: "POST", path: "/", contentType: formType, body: "Action=GetCallerIdentity&Version=2011-06-15&x=" + strings.Repeat("a", 600<<10), service: "sts"},
		"GET /health":                     {method: "GET", path: "/health"},
		"HEAD /health":                    {method: "HEAD", path: "/health"},
		"operator status":                 {method: "GET", path: "/trent/operator/status"},
		"operator seal, unsigned":         {method: "POST", path: "/trent/operator/seal", body: "{}"},
		"XKS proxy API, unsigned":         {method: "POST", path: "/kms/xks/v1/keys/k/metadata", contentType: "application/json", body: `{}`},
	}
	ids := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"CiphertextBlob":"[^"]*"|<RequestId>[^<]*<`)
	send := func(srv protoServer, q request) string {
		t.Helper()
		body := keys[srv.s].Replace(q.body)
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
			if q.chunked {
				rd = io.MultiReader(rd) // no length known: chunked, or HTTP/2 without content-length
			}
		}
		req, err := http.NewRequest(q.method, srv.s.URL()+q.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if q.contentType != "" {
			req.Header.Set("Content-Type", q.contentType)
		}
		if q.target != "" {
			req.Header.Set("X-Amz-Target", q.target)
		}
		if q.expect {
			req.Header.Set("Expect", "100-continue")
		}
		if q.service != "" {
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(bg, aws.Credentials{AccessKeyID: srv.id, SecretAccessKey: srv.secret},
				req, hex.EncodeToString(sum[:]), q.service, "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := srv.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var hd []string
		for k, v := range resp.Header {
			if k != "Date" {
				hd = append(hd, k+": "+strings.Join(v, ", "))
			}
		}
		if resp.Header.Get("Date") == "" {
			hd = append(hd, "no Date")
		}
		slices.Sort(hd)
		return ids.ReplaceAllString(fmt.Sprintf("%d %q\n%s", resp.StatusCode, hd, b), "ID")
	}
	for name, q := range requests {
		want := ""
		for _, p := range names {
			got := send(paths[p], q)
			if want == "" {
				want = got
				continue
			}
			if got != want {
				t.Errorf("%s: over %s:\n%s\nover %s:\n%s", name, names[0], want, p, got)
			}
		}
	}

	// aws:SecureTransport is true over every TLS path (the fast path, a
	// connection it hands over, HTTP/2), false over plain HTTP.
	for _, p := range names {
		for _, chunked := range []bool{false, true} {
			got := send(paths[p], request{method: "POST", path: "/", contentType: jsonType, target: "TrentService.Encrypt",
				body: `{"KeyId":"TLSKEY","Plaintext":"aGVsbG8="}`, service: "kms", chunked: chunked})
			if denied := strings.Contains(got, "AccessDeniedException"); denied != (p == "HTTP/1.1") {
				t.Errorf("Encrypt under a key denying it without TLS, over %s (chunked %v):\n%s", p, chunked, got)
			}
		}
	}

	// The audit records say the same of a call over either TLS path.
	ua := "differential/1"
	for srv, call := range map[protoServer]func(*awskms.Client) error{
		h1: func(c *awskms.Client) error { _, err := c.ListKeys(bg, &awskms.ListKeysInput{}); return err },
		h2: func(c *awskms.Client) error { _, err := c.ListAliases(bg, &awskms.ListAliasesInput{}); return err },
	} {
		hc := &http.Client{Transport: userAgent{srv.hc.Transport, ua}}
		if err := call(sdk(srv.s.URL(), srv.id, srv.secret, hc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h1.s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	recs := auditRecords(t, h1.dataDir)
	overH1, overH2 := recs["ListKeys"], recs["ListAliases"]
	for _, f := range []string{"tlsDetails", "sourceIPAddress", "userAgent"} {
		if a, b := fmt.Sprint(overH1[f]), fmt.Sprint(overH2[f]); a != b || overH1[f] == nil {
			t.Errorf("audit %s: over HTTP/1.1 in TLS %s, over HTTP/2 %s", f, a, b)
		}
	}
	if overH1["userAgent"] != ua {
		t.Errorf("audit userAgent = %v, want %s", overH1["userAgent"], ua)
	}
}

// userAgent sets every request's User-Agent.
type userAgent struct {
	rt http.RoundTripper
	ua string
}

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.rt.RoundTrip(r)
}
