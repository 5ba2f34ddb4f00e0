package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// rawResponse is one HTTP answer of the server.
type rawResponse struct {
	Status int
	Header http.Header
	Type   string // "__type" (sanitized as the SDKs do: after '#', before ':')
	Body   []byte
}

// signedCall sends one KMS JSON request signed with the dev credentials at
// signingTime.
func signedCall(t *testing.T, s *server, target string, body string, signingTime time.Time) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: devAccessKey, SecretAccessKey: devSecretKey}
	if err := v4.NewSigner().SignHTTP(ctx(t), creds, req, hex.EncodeToString(sum[:]), "kms", devRegion, signingTime); err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) rawResponse {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type string `json:"__type"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("error response %d is not JSON: %q", resp.StatusCode, b)
		}
		r.Type = e.Type
		if i := strings.IndexByte(r.Type, '#'); i >= 0 {
			r.Type = r.Type[i+1:]
		}
		if i := strings.IndexByte(r.Type, ':'); i >= 0 {
			r.Type = r.Type[:i]
		}
		if h := resp.Header.Get("X-Amzn-ErrorType"); h != "" && !strings.HasPrefix(h, r.Type) {
			t.Errorf("X-Amzn-ErrorType %q disagrees with __type %q", h, r.Type)
		}
	}
	return r
}

func TestSignatures(t *testing.T) {
	t.Parallel()
	s := startDev(t)

	// Control: a correctly signed raw request works and carries a request id.
	ok := signedCall(t, s, "TrentService.ListKeys", "{}", time.Now())
	if ok.Status != http.StatusOK {
		t.Fatalf("signed ListKeys: %d %s", ok.Status, ok.Body)
	}
	if ok.Header.Get("X-Amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId on success")
	}
	if ct := ok.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", ct)
	}

	// Wrong secret for the known dev access key.
	bad := s.client(devRegion, devAccessKey, "not-the-secret")
	_, err := bad.ListKeys(ctx(t), &kms.ListKeysInput{})
	wantCode(t, err, "InvalidSignatureException")

	// A credential scope whose region is not one, or is empty (a client
	// given an endpoint but no region signs so): AWS's type and words.
	for _, region := range []string{"mars-1", ""} {
		_, err = s.client(region, devAccessKey, devSecretKey).ListKeys(ctx(t), &kms.ListKeysInput{})
		wantMessage(t, err, "InvalidSignatureException", "Credential should be scoped to a valid region, not '"+region+"'. ")
	}

	// Clock skew within AWS's 5 minutes is accepted.
	for _, skew := range []time.Duration{-4 * time.Minute, 4 * time.Minute} {
		if r := signedCall(t, s, "TrentService.ListKeys", "{}", time.Now().Add(skew)); r.Status != http.StatusOK {
			t.Errorf("request signed %v from now: %d %s, want 200", skew, r.Status, r.Body)
		}
	}
	// Stale X-Amz-Date (10 minutes ago; AWS allows 5).
	for _, skew := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
		r := signedCall(t, s, "TrentService.ListKeys", "{}", time.Now().Add(skew))
		if r.Status != http.StatusBadRequest || r.Type != "InvalidSignatureException" {
			t.Errorf("request signed %v from now: %d %s, want 400 InvalidSignatureException", skew, r.Status, r.Body)
		}
		if r.Header.Get("X-Amzn-RequestId") == "" {
			t.Error("no x-amzn-RequestId on an error")
		}
	}

	// A body changed after signing.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(`{"Limit":1}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	sum := sha256.Sum256([]byte(`{}`))
	must(t, v4.NewSigner().SignHTTP(ctx(t), aws.Credentials{AccessKeyID: devAccessKey, SecretAccessKey: devSecretKey}, req, hex.EncodeToString(sum[:]), "kms", devRegion, time.Now()))
	if r := send(t, req); r.Status != http.StatusBadRequest || r.Type != "InvalidSignatureException" {
		t.Errorf("tampered body: %d %s, want 400 InvalidSignatureException", r.Status, r.Body)
	}

	// No Authorization header at all.
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	if r := send(t, req); r.Status != http.StatusBadRequest || r.Type != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned request: %d %s, want 400 MissingAuthenticationTokenException", r.Status, r.Body)
	}

	// A Content-Type that is not the protocol's: AWS's UnknownOperationException.
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	sum = sha256.Sum256([]byte(`{}`))
	must(t, v4.NewSigner().SignHTTP(ctx(t), aws.Credentials{AccessKeyID: devAccessKey, SecretAccessKey: devSecretKey}, req, hex.EncodeToString(sum[:]), "kms", devRegion, time.Now()))
	if r := send(t, req); r.Status != http.StatusBadRequest || r.Type != "UnknownOperationException" {
		t.Errorf("Content-Type application/octet-stream: %d %s, want 400 UnknownOperationException", r.Status, r.Body)
	}

	// Unknown operation.
	r := signedCall(t, s, "TrentService.FlyToTheMoon", "{}", time.Now())
	if r.Status != http.StatusBadRequest || r.Type != "UnknownOperationException" {
		t.Errorf("unknown target: %d %s, want 400 UnknownOperationException", r.Status, r.Body)
	}
	// Malformed JSON body.
	r = signedCall(t, s, "TrentService.ListKeys", "{not json", time.Now())
	if r.Status != http.StatusBadRequest || r.Type != "SerializationException" {
		t.Errorf("malformed JSON: %d %s, want 400 SerializationException", r.Status, r.Body)
	}

	// The SDK sees the request id too.
	out, err := s.dev().ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !ok || id == "" {
		t.Error("SDK found no request id")
	}
}

// TestDevUnknownAccessKeys checks dev mode's documented insecure behaviour:
// an unknown access key is admitted (signature unchecked) as the admin of the
// account its 12-digit id names; accounts do not see each other's keys.
func TestDevUnknownAccessKeys(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	other := s.client(devRegion, "444455556666", "anything")
	md := newKey(t, other, "other account")
	if aws.ToString(md.AWSAccountId) != "444455556666" || !strings.Contains(aws.ToString(md.Arn), ":444455556666:key/") {
		t.Errorf("key of access key 444455556666: account %q ARN %q", aws.ToString(md.AWSAccountId), aws.ToString(md.Arn))
	}
	_, err := s.dev().DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: md.KeyId})
	wantType[*types.NotFoundException](t, err)
	// By ARN it is a cross-account request, refused as AWS does without a key
	// policy that allows it.
	_, err = s.dev().DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: md.Arn})
	wantCode(t, err, "AccessDeniedException")
	// Its ciphertext does not decrypt in another account.
	blob := roundTrip(t, other, aws.ToString(md.KeyId), []byte("account data"), nil)
	if _, err := s.dev().Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob}); err == nil {
		t.Error("account 111122223333 decrypted a ciphertext of account 444455556666's key")
	}
	// A non-numeric unknown key maps to the default account.
	anon := s.client(devRegion, "AKIDSOMEBODYELSE0000", "whatever")
	md2 := newKey(t, anon, "default account")
	if aws.ToString(md2.AWSAccountId) != devAccount {
		t.Errorf("unknown non-numeric access key: account %q, want %s", aws.ToString(md2.AWSAccountId), devAccount)
	}
}

func TestRegions(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	west := s.client("us-west-2", devAccessKey, devSecretKey)
	eu := s.client("eu-central-1", devAccessKey, devSecretKey)
	md := newKey(t, west, "regional")
	id := aws.ToString(md.KeyId)
	if want := keyARN("us-west-2", devAccount, id); aws.ToString(md.Arn) != want {
		t.Errorf("ARN %q, want %q", aws.ToString(md.Arn), want)
	}
	blob := roundTrip(t, west, id, []byte("regional data"), nil)
	_, err := eu.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String(id)})
	wantType[*types.NotFoundException](t, err)
	_, err = eu.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: md.Arn})
	wantType[*types.NotFoundException](t, err)
	_, err = eu.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantType[*types.NotFoundException](t, err)
	if _, err := eu.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob}); err == nil {
		t.Error("a us-west-2 ciphertext decrypted in eu-central-1")
	}
	// Aliases are regional too.
	_, err = west.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/regional"), TargetKeyId: aws.String(id)})
	must(t, err)
	_, err = eu.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/regional")})
	wantType[*types.NotFoundException](t, err)
	// The same alias name is free in another Region.
	euKey := newKey(t, eu, "eu key")
	_, err = eu.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/regional"), TargetKeyId: euKey.KeyId})
	must(t, err)
	list, err := eu.ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)
	if len(list.Keys) != 1 || aws.ToString(list.Keys[0].KeyId) != aws.ToString(euKey.KeyId) {
		t.Errorf("eu-central-1 ListKeys = %+v, want only the eu key", list.Keys)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	// Make a request so that request metrics exist.
	_, err := s.dev().ListKeys(ctx(t), &kms.ListKeysInput{})
	must(t, err)

	resp, err := http.Get(s.URL + "/health")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health: %d %s", resp.StatusCode, body)
	}
	var h struct {
		Status  string `json:"status"`
		Sealed  *bool  `json:"sealed"`
		Storage string `json:"storage"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("/health body %q: %v", body, err)
	}
	if h.Status != "ok" || h.Sealed == nil || *h.Sealed || h.Storage != "ok" {
		t.Errorf("/health = %s", body)
	}

	resp, err = http.Get(s.URL + "/metrics")
	must(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	if !bytes.Contains(body, []byte("# TYPE ")) {
		t.Errorf("/metrics is not Prometheus text: %.200s", body)
	}
	// trent bench reads the server's CPU time from here.
	if !bytes.Contains(body, []byte("process_cpu_seconds_total")) {
		t.Error("/metrics lacks process_cpu_seconds_total")
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, certPEM, 0o600))
	must(t, os.WriteFile(keyFile, keyPEM, 0o600))
	s := startDev(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("listening on %s with --tls-cert, want https://", s.URL)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	c := s.clientWith(devRegion, devAccessKey, devSecretKey, hc)
	id := aws.ToString(newKey(t, c, "over tls").KeyId)
	roundTrip(t, c, id, []byte("over tls"), nil)
	// The client commands trust AWS_CA_BUNDLE, as the AWS CLI and SDKs do.
	bundle := []string{"AWS_ENDPOINT_URL=" + s.URL, "AWS_CA_BUNDLE=" + certFile}
	for _, args := range [][]string{{"operator", "status"}, {"health"}} {
		if out, errs, code := trentCmd(t, bundle, "", args...); code != 0 {
			t.Errorf("trent %v with AWS_CA_BUNDLE = %d %q %q", args, code, out, errs)
		}
	}
	// Without it, trent encrypt and trent health say that the certificate is
	// not trusted.
	env := []string{"AWS_ENDPOINT_URL=" + s.URL, "AWS_ACCESS_KEY_ID=" + devAccessKey, "AWS_SECRET_ACCESS_KEY=" + devSecretKey, "AWS_REGION=" + devRegion}
	if _, errs, code := trentCmd(t, env, "data", "encrypt", "--key", id, "-o", filepath.Join(dir, "out.enc"), "-"); code != 1 || !strings.Contains(errs, "hint: the server's TLS certificate is not trusted: give its CA certificate in AWS_CA_BUNDLE") {
		t.Errorf("trent encrypt with an untrusted certificate = %d %q, want a hint naming AWS_CA_BUNDLE", code, errs)
	}
	if _, errs, code := trentCmd(t, env, "", "health"); code != 1 || !strings.Contains(errs, "hint: the server's TLS certificate is not trusted") {
		t.Errorf("trent health with an untrusted certificate = %d %q, want a hint naming AWS_CA_BUNDLE", code, errs)
	}
	// Plain HTTP to the TLS port does not reach the API.
	plain := strings.Replace(s.URL, "https://", "http://", 1)
	resp, err := http.Post(plain+"/", "application/x-amz-json-1.1", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP request to the TLS listener succeeded")
		}
	}
}

// selfSignedCert returns a PEM certificate and key for 127.0.0.1.
func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "trent e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// TestQueryGET: IAM and STS take every action by GET as well as by POST
// (IAM User Guide, "Calling the IAM API using HTTP query requests"), the
// parameters in the URL, SigV4 in the headers, as some clients send them.
func TestQueryGET(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	get := func(query, service string) rawResponse {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/?"+query, nil)
		must(t, err)
		sum := sha256.Sum256(nil)
		must(t, v4.NewSigner().SignHTTP(ctx(t), aws.Credentials{AccessKeyID: devAccessKey, SecretAccessKey: devSecretKey}, req, hex.EncodeToString(sum[:]), service, devRegion, time.Now()))
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		must(t, err)
		return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	r := get("Action=GetCallerIdentity&Version=2011-06-15", "sts")
	if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("<GetCallerIdentityResponse")) || !bytes.Contains(r.Body, []byte("<Account>"+devAccount+"</Account>")) {
		t.Errorf("GET GetCallerIdentity: %d %s", r.Status, r.Body)
	}
	r = get("Action=ListUsers&Version=2010-05-08&MaxItems=5", "iam")
	if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("<ListUsersResponse")) {
		t.Errorf("GET ListUsers: %d %s", r.Status, r.Body)
	}
	// The same checks as a POST's: the scope must name the action's service.
	r = get("Action=ListUsers&Version=2010-05-08", "sts")
	if r.Status != http.StatusForbidden || !bytes.Contains(r.Body, []byte("<Code>SignatureDoesNotMatch</Code>")) {
		t.Errorf("GET ListUsers signed for sts: %d %s", r.Status, r.Body)
	}
}
