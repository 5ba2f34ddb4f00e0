package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/audit/audittest"
	"github.com/trent-kms/trent/internal/xks"
)

// xksPath is the XksProxyUriPath the tests give: a prefix, then the API's.
const xksPath = "/any/prefix" + xks.APIPath

// xksSetup makes, through the Go SDK as the account's administrator, a
// symmetric key and an IAM user with an access key that the key policy
// allows the three proxy actions. It returns the key's id and ARN, and the
// user's access key id and proxy secret.
func xksSetup(t *testing.T, s *server, admin adminCreds, hc *http.Client, user string) (keyID, keyARN, accessKey, secret string) {
	t.Helper()
	cfg := s.awsConfig(admin.AccessKey, admin.Secret, "")
	cfg.HTTPClient = hc
	root := awsiam.NewFromConfig(cfg, func(o *awsiam.Options) { o.BaseEndpoint = aws.String(s.URL) })
	kc := kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(s.URL) })

	md := newKey(t, kc, "external key of an XKS key")
	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String(user)})
	must(t, err)
	k, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String(user)})
	must(t, err)
	policy := `{"Version":"2012-10-17","Statement":[
		{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + admin.Account + `:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"xks","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + admin.Account + `:user/` + user + `"},
		 "Action":["kms:DescribeKey","kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`
	_, err = kc.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: md.KeyId, PolicyName: aws.String("default"), Policy: aws.String(policy)})
	must(t, err)
	// The proxy credential is the access key with its proxy secret, derived
	// from the IAM secret (43 to 64 characters, as a KMS requires).
	return aws.ToString(md.KeyId), aws.ToString(md.Arn), aws.ToString(k.AccessKey.AccessKeyId), xks.ProxySecret(aws.ToString(k.AccessKey.SecretAccessKey))
}

func newXKSClient(t *testing.T, s *server, accessKey, secret string, hc *http.Client) *xks.Client {
	t.Helper()
	return xks.NewClient(xks.Config{Endpoint: s.URL, Path: xksPath, Region: devRegion, AccessKeyID: accessKey, Secret: secret, HTTPClient: hc})
}

// wantXKS checks that err is the proxy API's error name with HTTP status.
func wantXKS(t *testing.T, err error, sentinel *xks.Error) {
	t.Helper()
	var xe *xks.Error
	if !errors.As(err, &xe) {
		t.Fatalf("err = %v, want %s", err, sentinel.Name)
	}
	if xe.Name != sentinel.Name || xe.Status != sentinel.Status {
		t.Fatalf("err = %d %s (%s), want %d %s", xe.Status, xe.Name, xe.Message, sentinel.Status, sentinel.Name)
	}
}

func xksMetadata(op string) *xks.RequestMetadata {
	return &xks.RequestMetadata{AwsPrincipalArn: "arn:aws:iam::123456789012:role/app", KmsOperation: op,
		KmsRequestId: "4112f4d6-db54-4af4-ae30-c55a22a8dfae", KmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/xks-e2e"}
}

// TestXKSProxy drives Trent's External Key Store proxy API with Trent's
// XKS client (real SigV4, real HTTP) as AWS KMS would: health, metadata, a
// round trip, the refusals, a disabled key, and one audit record each.
func TestXKSProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	admin := readCredentials(t, dir)
	hc := &http.Client{Timeout: 30 * time.Second}
	keyID, keyARN, ak, secret := xksSetup(t, s, admin, hc, "aws-kms-xks")
	c := newXKSClient(t, s, ak, secret, hc)

	h, err := c.Health(ctx(t), xksMetadata("CreateCustomKeyStore"))
	must(t, err)
	if len(h.EkmFleetDetails) != 1 || h.EkmFleetDetails[0].HealthStatus != xks.HealthActive {
		t.Errorf("Health = %+v, want one ACTIVE key manager", h)
	}
	md, err := c.KeyMetadata(ctx(t), keyID, xksMetadata("DescribeKey"))
	must(t, err)
	if md.KeySpec != "AES_256" || strings.Join(md.KeyUsage, ",") != "ENCRYPT,DECRYPT" || md.KeyStatus != "ENABLED" {
		t.Errorf("KeyMetadata = %+v", md)
	}

	pt := []byte("a 32-byte data key of AWS KMS...")
	aad := []byte("the additional data AWS KMS binds")
	sealed, err := c.Encrypt(ctx(t), keyID, xksMetadata("Encrypt"), pt, aad)
	must(t, err)
	if len(sealed.IV) != 12 || len(sealed.Tag) != xks.TagSize || len(sealed.Ciphertext) != len(pt) || len(sealed.Metadata) != 5 {
		t.Errorf("Encrypt = iv %d, tag %d, ciphertext %d, metadata %d bytes", len(sealed.IV), len(sealed.Tag), len(sealed.Ciphertext), len(sealed.Metadata))
	}
	got, err := c.Decrypt(ctx(t), keyID, xksMetadata("Decrypt"), sealed, aad)
	must(t, err)
	if !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt = %q, want %q", got, pt)
	}
	_, err = c.Decrypt(ctx(t), keyID, xksMetadata("Decrypt"), sealed, []byte("other aad"))
	wantXKS(t, err, xks.ErrInvalidCiphertext)
	// GetKeyLastUsage sees the proxy's use of the key, as a Decrypt (the
	// failed one does not count).
	lu, err := s.kmsSession(admin.AccessKey, admin.Secret, "").GetKeyLastUsage(ctx(t), &kms.GetKeyLastUsageInput{KeyId: aws.String(keyID)})
	must(t, err)
	if lu.KeyLastUsage == nil || lu.KeyLastUsage.Operation != types.KeyLastUsageTrackingOperationDecrypt {
		t.Errorf("GetKeyLastUsage after the proxy's Decrypt = %+v", lu.KeyLastUsage)
	}

	// A wrong secret: 401.
	_, err = newXKSClient(t, s, ak, "not-the-secret", hc).Encrypt(ctx(t), keyID, xksMetadata("Encrypt"), pt, aad)
	wantXKS(t, err, xks.ErrAuthenticationFailed)
	// A valid user the key policy does not name: 403.
	_, _, ak2, secret2 := xksSetup(t, s, admin, hc, "someone-else")
	_, err = newXKSClient(t, s, ak2, secret2, hc).Encrypt(ctx(t), keyID, xksMetadata("Encrypt"), pt, aad)
	wantXKS(t, err, xks.ErrAccessDenied)
	// No such key: 404.
	_, err = c.KeyMetadata(ctx(t), "11111111-2222-3333-4444-555555555555", xksMetadata("DescribeKey"))
	wantXKS(t, err, xks.ErrKeyNotFound)

	// Disabled: metadata says so, encryption is refused.
	kc := s.kmsSession(admin.AccessKey, admin.Secret, "")
	_, err = kc.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: aws.String(keyID)})
	must(t, err)
	md, err = c.KeyMetadata(ctx(t), keyID, xksMetadata("DescribeKey"))
	must(t, err)
	if md.KeyStatus != "DISABLED" {
		t.Errorf("KeyMetadata of a disabled key: status %s", md.KeyStatus)
	}
	_, err = c.Encrypt(ctx(t), keyID, xksMetadata("Encrypt"), pt, aad)
	wantXKS(t, err, xks.ErrInvalidState)

	// The audit log: one record per proxy call, schema-valid, nothing of
	// the plaintext, the additional data or the ciphertext.
	stopClean(t, s)
	lines := auditLines(t, dir)
	type rec struct {
		EventSource  string `json:"eventSource"`
		EventName    string `json:"eventName"`
		ErrorCode    string `json:"errorCode"`
		UserIdentity struct {
			ARN         string `json:"arn"`
			AccessKeyID string `json:"accessKeyId"`
		} `json:"userIdentity"`
		RequestParameters struct {
			KeyID           string               `json:"keyId"`
			RequestMetadata *xks.RequestMetadata `json:"requestMetadata"`
		} `json:"requestParameters"`
		Resources []struct {
			ARN string `json:"ARN"`
		} `json:"resources"`
	}
	var got2 []string
	for _, l := range lines {
		for _, secretBytes := range [][]byte{pt, aad, sealed.Ciphertext, sealed.Tag, []byte(secret)} {
			if bytes.Contains(l, secretBytes) {
				t.Fatalf("audit line holds a secret (%q):\n%s", secretBytes, l)
			}
		}
		var r rec
		if err := json.Unmarshal(l, &r); err != nil || r.EventSource != "xks.trent.internal" {
			continue
		}
		audittest.MustValidate(t, l)
		got2 = append(got2, r.EventName+":"+r.ErrorCode)
		if r.EventName == "XksEncrypt" && r.ErrorCode == "" {
			if len(r.Resources) != 1 || r.Resources[0].ARN != keyARN || r.UserIdentity.AccessKeyID != ak ||
				r.RequestParameters.KeyID != keyID || r.RequestParameters.RequestMetadata == nil ||
				r.RequestParameters.RequestMetadata.KmsRequestId != xksMetadata("").KmsRequestId ||
				r.RequestParameters.RequestMetadata.AwsPrincipalArn != xksMetadata("").AwsPrincipalArn ||
				r.RequestParameters.RequestMetadata.KmsKeyArn != xksMetadata("").KmsKeyArn {
				t.Errorf("XksEncrypt record = %s", l)
			}
		}
	}
	want := []string{
		"XksGetHealthStatus:", "XksGetKeyMetadata:", "XksEncrypt:", "XksDecrypt:", "XksDecrypt:InvalidCiphertextException",
		"XksEncrypt:AuthenticationFailedException", "XksEncrypt:AccessDeniedException", "XksGetKeyMetadata:KeyNotFoundException",
		"XksGetKeyMetadata:", "XksEncrypt:InvalidStateException",
	}
	if strings.Join(got2, " ") != strings.Join(want, " ") {
		t.Errorf("XKS audit records:\n got %v\nwant %v", got2, want)
	}
	if code, out := trent(t, "audit", "verify", "--data-dir", dir); code != 0 {
		t.Errorf("trent audit verify: exit %d\n%s", code, out)
	}
}

// TestXKSProxyTLS: the proxy API over HTTPS, as AWS KMS requires it.
func TestXKSProxyTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t)
	certFile, keyFile := filepath.Join(t.TempDir(), "cert.pem"), filepath.Join(t.TempDir(), "key.pem")
	must(t, os.WriteFile(certFile, certPEM, 0o600))
	must(t, os.WriteFile(keyFile, keyPEM, 0o600))
	s := startEmbedded(t, dir, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("listening on %s with --tls-cert, want https://", s.URL)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	keyID, _, ak, secret := xksSetup(t, s, readCredentials(t, dir), hc, "aws-kms-xks")
	c := newXKSClient(t, s, ak, secret, hc)
	if _, err := c.Health(ctx(t), xksMetadata("ConnectCustomKeyStore")); err != nil {
		t.Fatalf("Health over TLS: %v", err)
	}
	sealed, err := c.Encrypt(ctx(t), keyID, xksMetadata("Encrypt"), []byte("over tls"), nil)
	must(t, err)
	got, err := c.Decrypt(ctx(t), keyID, xksMetadata("Decrypt"), sealed, nil)
	must(t, err)
	if string(got) != "over tls" {
		t.Fatalf("Decrypt over TLS = %q", got)
	}
}

// TestXKSTrentBehindTrent: a KMS key of Trent in an external key store
// whose proxy is the same Trent (Trent's custom key stores as the KMS side,
// its proxy API as the key manager): Encrypt and Decrypt through the SDK
// cross the proxy API and back, and the proxy's records name the KMS key.
func TestXKSTrentBehindTrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	admin := readCredentials(t, dir)
	hc := &http.Client{Timeout: 30 * time.Second}
	externalID, externalARN, ak, secret := xksSetup(t, s, admin, hc, "trent-kms")
	kc := s.kmsSession(admin.AccessKey, admin.Secret, "")

	cks, err := kc.CreateCustomKeyStore(ctx(t), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName:   aws.String("trent-behind-trent"),
		CustomKeyStoreType:   types.CustomKeyStoreTypeExternalKeyStore,
		XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint,
		XksProxyUriEndpoint:  aws.String(s.URL),
		XksProxyUriPath:      aws.String(xksPath),
		XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: aws.String(ak), RawSecretAccessKey: aws.String(secret)},
	})
	must(t, err)
	_, err = kc.ConnectCustomKeyStore(ctx(t), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: cks.CustomKeyStoreId})
	must(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := kc.DescribeCustomKeyStores(ctx(t), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: cks.CustomKeyStoreId})
		must(t, err)
		st := d.CustomKeyStores[0].ConnectionState
		if st == types.ConnectionStateTypeConnected {
			break
		}
		if st == types.ConnectionStateTypeFailed || time.Now().After(deadline) {
			t.Fatalf("custom key store state %s (%s)", st, d.CustomKeyStores[0].ConnectionErrorCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ck, err := kc.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore,
		CustomKeyStoreId: cks.CustomKeyStoreId, XksKeyId: aws.String(externalID)})
	must(t, err)
	outerARN := aws.ToString(ck.KeyMetadata.Arn)
	pt := []byte("protected by a key held in the proxy")
	roundTrip(t, kc, aws.ToString(ck.KeyMetadata.KeyId), pt, map[string]string{"purpose": "xks e2e"})
	customKeyStoreSDK(t, kc, cks.CustomKeyStoreId, ck.KeyMetadata, externalID, ak, secret, s.URL)

	// The proxy credential rotated while the store stays connected: a second
	// access key of the user, given to UpdateCustomKeyStore, then the first
	// deleted; the key keeps working.
	ic := s.iam(admin.AccessKey, admin.Secret)
	k2, err := ic.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("trent-kms")})
	must(t, err)
	_, err = kc.UpdateCustomKeyStore(ctx(t), &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: cks.CustomKeyStoreId,
		XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: k2.AccessKey.AccessKeyId, RawSecretAccessKey: aws.String(xks.ProxySecret(aws.ToString(k2.AccessKey.SecretAccessKey)))}})
	must(t, err)
	_, err = ic.DeleteAccessKey(ctx(t), &awsiam.DeleteAccessKeyInput{UserName: aws.String("trent-kms"), AccessKeyId: aws.String(ak)})
	must(t, err)
	roundTrip(t, kc, aws.ToString(ck.KeyMetadata.KeyId), pt, map[string]string{"purpose": "after the credential rotated"})

	stopClean(t, s)
	var names []string
	for _, l := range auditLines(t, dir) {
		if bytes.Contains(l, pt) {
			t.Fatalf("audit line holds the plaintext:\n%s", l)
		}
		var r struct {
			EventSource       string `json:"eventSource"`
			EventName         string `json:"eventName"`
			ErrorCode         string `json:"errorCode"`
			RequestParameters struct {
				RequestMetadata *xks.RequestMetadata `json:"requestMetadata"`
			} `json:"requestParameters"`
			Resources []struct {
				ARN string `json:"ARN"`
			} `json:"resources"`
		}
		if json.Unmarshal(l, &r) != nil || r.EventSource != "xks.trent.internal" {
			continue
		}
		names = append(names, r.EventName+":"+r.ErrorCode)
		if r.EventName == "XksEncrypt" || r.EventName == "XksDecrypt" {
			md := r.RequestParameters.RequestMetadata
			if md == nil || md.KmsKeyArn != outerARN || len(r.Resources) != 1 || r.Resources[0].ARN != externalARN {
				t.Errorf("%s record: kmsKeyArn %v, resources %v; want %s and %s", r.EventName, md, r.Resources, outerARN, externalARN)
			}
		}
	}
	for _, want := range []string{"XksEncrypt:", "XksDecrypt:"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("proxy records %v lack %s", names, want)
		}
	}
}

// customKeyStoreSDK checks, through the AWS SDK for Go, what a connected
// store id with the key md (external key externalID) reports and refuses:
// the SDK's typed exceptions, a data key, the store's states.
func customKeyStoreSDK(t *testing.T, kc *kms.Client, id *string, md *types.KeyMetadata, externalID, ak, secret, url string) {
	t.Helper()
	if md.Origin != types.OriginTypeExternalKeyStore || aws.ToString(md.CustomKeyStoreId) != aws.ToString(id) ||
		md.XksKeyConfiguration == nil || aws.ToString(md.XksKeyConfiguration.Id) != externalID {
		t.Errorf("KeyMetadata = %+v", md)
	}
	dk, err := kc.GenerateDataKey(ctx(t), &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256})
	must(t, err)
	d, err := kc.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	must(t, err)
	if !bytes.Equal(d.Plaintext, dk.Plaintext) {
		t.Error("the data key does not decrypt to itself")
	}
	store := func() types.CustomKeyStoresListEntry {
		out, err := kc.DescribeCustomKeyStores(ctx(t), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
		must(t, err)
		return out.CustomKeyStores[0]
	}
	if c := store().XksProxyConfiguration; c == nil || aws.ToString(c.AccessKeyId) != ak || aws.ToString(c.UriEndpoint) != url ||
		c.Connectivity != types.XksProxyConnectivityTypePublicEndpoint {
		t.Errorf("XksProxyConfiguration = %+v", c)
	}

	var inUse *types.CustomKeyStoreNameInUseException
	_, err = kc.CreateCustomKeyStore(ctx(t), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("trent-behind-trent"), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
		XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint, XksProxyUriEndpoint: aws.String(url),
		XksProxyUriPath: aws.String("/other" + xks.APIPath), XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: aws.String(ak), RawSecretAccessKey: aws.String(secret)},
	})
	if !errors.As(err, &inUse) {
		t.Errorf("a second store of the same name: %v", err)
	}
	var keyInUse *types.XksKeyAlreadyInUseException
	_, err = kc.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: id, XksKeyId: aws.String(externalID)})
	if !errors.As(err, &keyInUse) {
		t.Errorf("a second key on the same external key: %v", err)
	}
	var notFound *types.XksKeyNotFoundException
	_, err = kc.CreateKey(ctx(t), &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: id, XksKeyId: aws.String("11111111-2222-3333-4444-555555555555")})
	if !errors.As(err, &notFound) {
		t.Errorf("an external key the proxy does not have: %v", err)
	}
	_, err = kc.UpdateCustomKeyStore(ctx(t), &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: id, NewCustomKeyStoreName: aws.String("renamed")})
	must(t, err)
	var badState *types.CustomKeyStoreInvalidStateException
	_, err = kc.DeleteCustomKeyStore(ctx(t), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: id})
	if !errors.As(err, &badState) {
		t.Errorf("deleting a connected store: %v", err)
	}

	_, err = kc.DisconnectCustomKeyStore(ctx(t), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: id})
	must(t, err)
	if st := store(); st.ConnectionState != types.ConnectionStateTypeDisconnected || aws.ToString(st.CustomKeyStoreName) != "renamed" {
		t.Errorf("after Disconnect: %+v", st)
	}
	dm, err := kc.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: md.KeyId})
	must(t, err)
	if dm.KeyMetadata.KeyState != types.KeyStateUnavailable {
		t.Errorf("KeyState of a key in a disconnected store: %s", dm.KeyMetadata.KeyState)
	}
	var invalid *types.KMSInvalidStateException
	_, err = kc.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	if !errors.As(err, &invalid) {
		t.Errorf("Decrypt under a disconnected store: %v", err)
	}
	var hasKeys *types.CustomKeyStoreHasCMKsException
	_, err = kc.DeleteCustomKeyStore(ctx(t), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: id})
	if !errors.As(err, &hasKeys) {
		t.Errorf("deleting a store with a key: %v", err)
	}
	_, err = kc.ConnectCustomKeyStore(ctx(t), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id})
	must(t, err)
	d, err = kc.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	must(t, err)
	if !bytes.Equal(d.Plaintext, dk.Plaintext) {
		t.Error("the data key does not decrypt once the store is connected again")
	}
}
