package xks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/sigv4"
)

// proxySecretLabel is what an access key's secret signs to make its proxy
// secret.
const proxySecretLabel = "trent xks proxy credential v1"

// ProxySecret is the secret Trent's proxy takes with an IAM access key whose
// secret is secret: base64(HMAC-SHA256(secret, "trent xks proxy credential
// v1")), 44 characters. A KMS requires 43 to 64 (XksProxyAuthenticationCredential's
// RawSecretAccessKey) and IAM secrets have 40, so the proxy credential is
// derived rather than the IAM secret itself: nothing more to store, and
// deactivating or deleting the access key revokes it. The same with OpenSSL:
//
//	printf %s 'trent xks proxy credential v1' | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
func ProxySecret(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(proxySecretLabel))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ProxyCredentials is the credential store of Trent's proxy: the IAM
// access keys of Credentials, each with its ProxySecret. Session tokens are
// refused: a KMS signs with a long-term credential.
type ProxyCredentials struct{ Credentials sigv4.Credentials }

// Credential implements sigv4.Credentials.
func (p ProxyCredentials) Credential(accessKeyID, sessionToken string) (string, *iam.Principal, error) {
	if sessionToken != "" {
		return "", nil, iam.ErrInvalidCredential
	}
	secret, pr, err := p.Credentials.Credential(accessKeyID, "")
	if err != nil {
		return "", nil, err
	}
	return ProxySecret(secret), pr, nil
}
