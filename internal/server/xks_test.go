package server

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/xks"
)

func xksClient(s *Server, accessKey, secret string) *xks.Client {
	return xks.NewClient(xks.Config{Endpoint: s.URL(), Path: "/p" + xks.APIPath, Region: "us-east-1",
		AccessKeyID: accessKey, Secret: secret, HTTPClient: &http.Client{}})
}

var xksMD = &xks.RequestMetadata{AwsPrincipalArn: "arn:aws:iam::123456789012:root", KmsOperation: "Encrypt", KmsRequestId: "r-1"}

func wantXKSError(t *testing.T, err error, want *xks.Error) {
	t.Helper()
	var xe *xks.Error
	if !errors.As(err, &xe) || xe.Name != want.Name || xe.Status != want.Status {
		t.Fatalf("err = %v, want %d %s", err, want.Status, want.Name)
	}
}

// The proxy API shares the KMS API's listener and credentials, but never
// development mode's admission of unknown access keys; its calls are
// counted in the metrics by operation.
func TestXKSRouting(t *testing.T) {
	s, _ := start(t, devConfig())
	ck, err := sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil).CreateKey(bg, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(ck.KeyMetadata.KeyId)
	// The IAM secret itself is not the proxy credential: its ProxySecret is.
	_, err = xksClient(s, DevAccessKeyID, DevSecretKey).Health(bg, xksMD)
	wantXKSError(t, err, xks.ErrAuthenticationFailed)
	c := xksClient(s, DevAccessKeyID, xks.ProxySecret(DevSecretKey))
	sealed, err := c.Encrypt(bg, keyID, xksMD, []byte("dev"), []byte("aad"))
	if err != nil {
		t.Fatalf("Encrypt with the development key: %v", err)
	}
	pt, err := c.Decrypt(bg, keyID, xksMD, sealed, []byte("aad"))
	if err != nil || !bytes.Equal(pt, []byte("dev")) {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	for _, ak := range []string{"AKIAUNKNOWNEXAMPLE00", "123456789012"} {
		_, err = xksClient(s, ak, xks.ProxySecret("any secret at all")).Health(bg, xksMD)
		wantXKSError(t, err, xks.ErrAuthenticationFailed)
	}
	_, body := get(t, nil, s.URL()+"/metrics")
	for _, want := range []string{`trent_requests_total{operation="XksEncrypt",outcome="ok"} 1`,
		`trent_requests_total{operation="XksGetHealthStatus",outcome="AuthenticationFailedException"} 3`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A sealed server answers proxy calls in the proxy API's terms (503).
func TestXKSSealed(t *testing.T) {
	cfg := testConfig()
	cfg.DataDir, cfg.Seal = t.TempDir(), SealShamir
	s, _ := start(t, cfg)
	_, err := xksClient(s, DevAccessKeyID, DevSecretKey).Health(bg, xksMD)
	wantXKSError(t, err, xks.ErrDependencyTimeout)
}

// lastResponse is an http.RoundTripper that keeps the last response's
// headers (the request id a client sees).
type lastResponse struct{ h http.Header }

func (l *lastResponse) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		l.h = resp.Header
	}
	return resp, err
}

// A proxy call's log lines carry the request id its answer does (the
// audit record's requestID).
func TestXKSLogRequestID(t *testing.T) {
	s, logs := start(t, devConfig())
	rt := &lastResponse{}
	c := xks.NewClient(xks.Config{Endpoint: s.URL(), Path: "/p" + xks.APIPath, Region: "us-east-1",
		AccessKeyID: DevAccessKeyID, Secret: DevSecretKey, HTTPClient: &http.Client{Transport: rt}})
	_, err := c.Health(bg, xksMD)
	wantXKSError(t, err, xks.ErrAuthenticationFailed)
	wantLoggedID(t, logs, "xks: authentication failed", rt.h.Get("X-Amzn-Requestid"))
}

// wantLoggedID checks that the last log line with msg names the request id.
func wantLoggedID(t *testing.T, logs *syncBuffer, msg, id string) {
	t.Helper()
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, msg) {
			line = l
		}
	}
	if id == "" || !strings.Contains(line, "request_id="+id) {
		t.Errorf("x-amzn-RequestId %q, log line %q: want the id in the line", id, line)
	}
}

// A KMS call whose external key store proxy fails logs the failure with
// the call's request id (the one its caller, its audit record and the
// proxy got).
func TestXKSKeyStoreLogRequestID(t *testing.T) {
	s, logs := start(t, devConfig())
	c := sdk(s.URL(), DevAccessKeyID, DevSecretKey, nil)
	ext, err := c.CreateKey(bg, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	cks, err := c.CreateCustomKeyStore(bg, &awskms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("self"), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
		XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint,
		XksProxyUriEndpoint:  aws.String(s.URL()), XksProxyUriPath: aws.String("/p" + xks.APIPath),
		XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: aws.String(DevAccessKeyID), RawSecretAccessKey: aws.String(xks.ProxySecret(DevSecretKey))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConnectCustomKeyStore(bg, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: cks.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	for st := types.ConnectionStateType(""); st != types.ConnectionStateTypeConnected; {
		d, err := c.DescribeCustomKeyStores(bg, &awskms.DescribeCustomKeyStoresInput{CustomKeyStoreId: cks.CustomKeyStoreId})
		if err != nil || d.CustomKeyStores[0].ConnectionState == types.ConnectionStateTypeFailed {
			t.Fatalf("DescribeCustomKeyStores = %+v, %v", d, err)
		}
		st = d.CustomKeyStores[0].ConnectionState
		time.Sleep(10 * time.Millisecond)
	}
	requestID := func(err error) string {
		t.Helper()
		var re *awshttp.ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want a service error", err)
		}
		return re.ServiceRequestID()
	}
	const msg = "kms: external key store proxy call failed"
	_, err = c.CreateKey(bg, &awskms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore,
		CustomKeyStoreId: cks.CustomKeyStoreId, XksKeyId: aws.String("11111111-2222-3333-4444-555555555555")})
	wantLoggedID(t, logs, msg, requestID(err))

	outer, err := c.CreateKey(bg, &awskms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore,
		CustomKeyStoreId: cks.CustomKeyStoreId, XksKeyId: ext.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableKey(bg, &awskms.DisableKeyInput{KeyId: ext.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Encrypt(bg, &awskms.EncryptInput{KeyId: outer.KeyMetadata.KeyId, Plaintext: []byte("x")})
	wantLoggedID(t, logs, msg, requestID(err))
}
