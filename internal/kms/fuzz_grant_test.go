package kms

import (
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzParseGrantToken: grant tokens come from any caller. A token either
// is InvalidGrantTokenException or names a valid region, account, key id
// and grant id, which grantToken writes back as a token naming the same.
func FuzzParseGrantToken(f *testing.F) {
	k := &key{id: "1234abcd-12ab-34cd-56ef-1234567890ab", region: "us-east-1", account: "111122223333"}
	g := &grant{id: strings.Repeat("ab", 32)}
	f.Add(grantToken(k, g))
	f.Add(grantToken(&key{id: k.id, region: "ap-southeast-2", account: "000000000000"}, g))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte{grantTokenVersion, 0, 0, 0}))
	f.Add("AQ")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		ref, err := parseGrantToken(tok)
		if err != nil {
			if err != errInvalidGrantToken {
				t.Fatalf("parseGrantToken: %v", err)
			}
			return
		}
		back, err := parseGrantToken(grantToken(&key{id: ref.keyID, region: ref.sc.region, account: ref.sc.account}, &grant{id: ref.grantID}))
		if err != nil || back != ref {
			t.Fatalf("token %q names %+v; written back it names %+v (%v)", tok, ref, back, err)
		}
	})
}
