package xks

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/iam"
)

type oneKey struct{}

func (oneKey) Credential(id, token string) (string, *iam.Principal, error) {
	if id != "AKIAEXAMPLE" {
		return "", nil, iam.ErrUnknownCredential
	}
	p := iam.RootPrincipal("111122223333", id)
	return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &p, nil
}

// TestProxySecret: the derived secret satisfies the XKS credential's model
// constraints, is what the documented OpenSSL command prints, and stands
// in for the IAM secret in ProxyCredentials.
func TestProxySecret(t *testing.T) {
	t.Parallel()
	const iamSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	got := ProxySecret(iamSecret)
	if !regexp.MustCompile(`^[a-zA-Z0-9/+=]{43,64}$`).MatchString(got) {
		t.Fatalf("ProxySecret = %q: not a RawSecretAccessKey", got)
	}
	if ProxySecret(iamSecret+"x") == got {
		t.Fatal("two secrets derive the same proxy secret")
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.Command("sh", "-c", `printf %s 'trent xks proxy credential v1' | openssl dgst -sha256 -hmac "$1" -binary | base64`, "sh", iamSecret).Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(out)) != got {
			t.Errorf("openssl derives %q, ProxySecret %q", out, got)
		}
	}
	s, p, err := ProxyCredentials{oneKey{}}.Credential("AKIAEXAMPLE", "")
	if err != nil || s != got || p.AccountID != "111122223333" {
		t.Errorf("Credential = %q, %+v, %v", s, p, err)
	}
	if _, _, err := (ProxyCredentials{oneKey{}}).Credential("AKIAEXAMPLE", "token"); !errors.Is(err, iam.ErrInvalidCredential) {
		t.Errorf("with a session token: %v", err)
	}
	if _, _, err := (ProxyCredentials{oneKey{}}).Credential("AKIAOTHER", ""); !errors.Is(err, iam.ErrUnknownCredential) {
		t.Errorf("unknown key: %v", err)
	}
}
