package audit

import (
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
)

// sameParams fails t unless appendParamsFast of v writes what appendMembers
// writes (of v withDefaults), or declines. It reports whether it took v.
func sameParams(t *testing.T, v any) bool {
	t.Helper()
	want := string(appendMembers([]byte("x"), withDefaults(v)))
	got, ok := appendParamsFast([]byte("x"), v)
	if !ok {
		return false
	}
	if string(got) != want {
		t.Fatalf("appendParamsFast(%+v) = %s, appendMembers %s", v, got[1:], want[1:])
	}
	return true
}

func hotInputs(s string, b []byte, dry bool, ctx map[string]string, n *int32) []any {
	return []any{
		&kms.EncryptInput{KeyId: s, Plaintext: b, DryRun: dry, EncryptionAlgorithm: s, EncryptionContext: ctx, GrantTokens: []string{s}},
		&kms.DecryptInput{CiphertextBlob: b, DryRun: dry, EncryptionAlgorithm: s, EncryptionContext: ctx, GrantTokens: []string{s}, KeyId: s},
		&kms.GenerateDataKeyInput{KeyId: s, DryRun: dry, EncryptionContext: ctx, GrantTokens: []string{s}, KeySpec: s, NumberOfBytes: n},
		&kms.GenerateDataKeyWithoutPlaintextInput{KeyId: s, DryRun: dry, EncryptionContext: ctx, GrantTokens: []string{s}, KeySpec: s, NumberOfBytes: n},
	}
}

// TestParamsFast: the hot inputs are written by hand, as reflection writes
// them; what the hand-written path does not know goes to reflection.
func TestParamsFast(t *testing.T) {
	zero, n := int32(0), int32(64)
	for _, s := range []string{"", "arn:aws:kms:us-east-1:111122223333:key/k", "a\"\n\xff\u2028"} {
		for _, ctx := range []map[string]string{nil, {}, {"b": "2", "a": "1", "\x00": "é"}} {
			for _, num := range []*int32{nil, &zero, &n} {
				for _, dry := range []bool{false, true} {
					for _, v := range hotInputs(s, []byte("secret"), dry, ctx, num) {
						if !sameParams(t, v) {
							t.Errorf("appendParamsFast declined %+v", v)
						}
					}
				}
			}
		}
	}
	for _, v := range []any{
		&kms.DecryptInput{KeyId: "k", DryRunModifiers: []string{}},
		&kms.DecryptInput{KeyId: "k", Recipient: &kms.RecipientInfo{}},
		&kms.GenerateDataKeyInput{KeyId: "k", Recipient: &kms.RecipientInfo{}},
		&kms.DescribeKeyInput{KeyId: "k"},
		nil,
	} {
		if sameParams(t, v) {
			t.Errorf("appendParamsFast took %+v", v)
		}
	}
}

// FuzzParamsFast: what appendParamsFast writes is what appendMembers
// writes.
func FuzzParamsFast(f *testing.F) {
	f.Add("arn:aws:kms:us-east-1:111122223333:key/k", "tenant", "a", true, int32(32), true, false)
	f.Add("", "", "", false, int32(0), false, true)
	f.Fuzz(func(t *testing.T, s, k, v string, dry bool, n int32, hasN, nilCtx bool) {
		ctx := map[string]string{k: v, v: s}
		if nilCtx {
			ctx = nil
		}
		num := &n
		if !hasN {
			num = nil
		}
		for _, in := range hotInputs(s, []byte(v), dry, ctx, num) {
			sameParams(t, in)
		}
	})
}

// TestParamsNoProxySecret: an external key store's credential is recorded
// by its access key id alone, never its secret.
func TestParamsNoProxySecret(t *testing.T) {
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="
	cred := &kms.XksProxyAuthenticationCredential{AccessKeyId: "XKSPROXYACCESSKEY234567", RawSecretAccessKey: secret}
	for _, v := range []any{
		&kms.CreateCustomKeyStoreInput{CustomKeyStoreName: "s", XksProxyAuthenticationCredential: cred, KeyStorePassword: "password"},
		&kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: "cks-1", XksProxyAuthenticationCredential: cred},
	} {
		got := string(appendParams(nil, v))
		if strings.Contains(got, secret) || strings.Contains(got, "password") || !strings.Contains(got, `"accessKeyId":"XKSPROXYACCESSKEY234567"`) {
			t.Errorf("requestParameters of %T = %s", v, got)
		}
	}
}
