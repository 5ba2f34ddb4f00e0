package iam

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzSessionToken: any X-Amz-Security-Token either does not open, or is
// one this key sealed for that access key id and gives back the claims
// sealed in it. (Each fuzzing process seals its own seed, with its own
// nonce: the claims, not the bytes, are what can be compared.)
func FuzzSessionToken(f *testing.F) {
	k, err := newTokenKey(tokenKeyID, bytes.Repeat([]byte{9}, 32))
	if err != nil {
		f.Fatal(err)
	}
	const akid = "ASIAQ2T3EXAMPLE77777"
	want := &claims{Secret: "s3cr3t", Account: "111122223333", Role: "arn:aws:iam::111122223333:role/r", RoleID: "AROAEXAMPLE",
		Session: "s", Issued: 1, Expires: 2, Tags: []Tag{{Key: "k", Value: "v"}}, SourceIdentity: "me"}
	tok, err := k.seal(akid, want)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(akid, tok)
	f.Add(akid, tok[:len(tok)-4])
	f.Add("ASIAOTHER", tok)
	f.Add(akid, "AQAAAAE=")
	f.Fuzz(func(t *testing.T, id, token string) {
		c, err := k.open(id, token)
		if err != nil {
			if err != errBadToken {
				t.Fatalf("open: %v, want errBadToken", err)
			}
			return
		}
		if id != akid {
			t.Fatalf("open accepted token %q for %q", token, id)
		}
		if diff := cmp.Diff(want, c, cmp.AllowUnexported(claims{})); diff != "" {
			t.Fatalf("claims (-sealed +opened):\n%s", diff)
		}
	})
}
