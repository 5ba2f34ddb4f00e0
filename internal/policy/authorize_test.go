package policy

import (
	"fmt"
	"strings"
	"testing"
)

// defaultKeyPolicy is the key policy AWS attaches when CreateKey has none.
const defaultKeyPolicy = `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`

// kmsAdminUserPolicy is AWS's example key policy: key administrators, key
// users, grants for AWS resources, and an account delegation.
const kmsAdminUserPolicy = `{
  "Version": "2012-10-17",
  "Id": "key-consolepolicy-3",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/ops/Admin"},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
                "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
                "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"],
     "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::111122223333:user/alice", "arn:aws:iam::444455556666:root"]},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
     "Resource": "*"},
    {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
     "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
  ]
}`

type authCase struct {
	name     string
	key      string   // key policy ("" for an operation on no resource)
	identity []string // identity policies of the caller
	req      *Request
	want     Denial // NotDenied for allowed
	source   Source // for allowed results
}

func allowIdentity(act string) string {
	return doc(`{"Effect":"Allow","Action":"` + act + `","Resource":"*"}`)
}

func denyIdentity(act string) string {
	return doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`, `{"Effect":"Deny","Action":"`+act+`","Resource":"*"}`)
}

func keyPolicy(stmts ...string) string { return doc(stmts...) }

func TestAuthorize(t *testing.T) {
	t.Parallel()
	for _, tc := range authCases() {
		t.Run(tc.name, func(t *testing.T) {
			var key *Policy
			if tc.key != "" {
				key = mustParse(t, KeyPolicy, tc.key)
			}
			var ids []*Policy
			for _, d := range tc.identity {
				ids = append(ids, mustParse(t, IdentityPolicy, d))
			}
			got := Authorize(tc.req, key, ids)
			if got.Denial != tc.want || got.Allowed != (tc.want == NotDenied) {
				t.Fatalf("Authorize = %+v, want denial %v", got, tc.want)
			}
			if got.Allowed && tc.source != FromNone && got.Source != tc.source {
				t.Errorf("Authorize source = %v, want %v", got.Source, tc.source)
			}
			if got.Explicit() != tc.want.Explicit() {
				t.Errorf("Explicit() = %v", got.Explicit())
			}
		})
	}
}

func authCases() []authCase {
	alice := `{"AWS":"` + aliceARN + `"}`
	return []authCase{
		// Same account.
		{"key policy naming the user allows without identity policy", keyPolicy(keyStmt("Allow", alice, `"kms:Encrypt"`)), nil, req(), NotDenied, FromResource},
		{"key policy naming nobody denies even with identity allow", keyPolicy(keyStmt("Allow", `{"AWS":"`+bobARN+`"}`, `"kms:*"`)), []string{allowIdentity("kms:*")}, req(), NoResourceAllow, 0},
		{"default key policy delegates: identity allow allows", defaultKeyPolicy, []string{allowIdentity("kms:Encrypt")}, req(), NotDenied, FromIdentity},
		{"default key policy delegates: no identity allow denies", defaultKeyPolicy, nil, req(), NoIdentityAllow, 0},
		{"default key policy delegates: identity allows another action only", defaultKeyPolicy, []string{allowIdentity("kms:Decrypt")}, req(), NoIdentityAllow, 0},
		{"default key policy lets the account root user in", defaultKeyPolicy, nil, req(as(rootARN)), NotDenied, FromRoot},
		{"root user is denied when the key policy omits the account", keyPolicy(keyStmt("Allow", alice, `"kms:*"`)), nil, req(as(rootARN)), NoResourceAllow, 0},
		{"identity explicit deny beats key policy allow", keyPolicy(keyStmt("Allow", alice, `"kms:*"`)), []string{denyIdentity("kms:Encrypt")}, req(), ExplicitIdentityDeny, 0},
		{"key policy explicit deny beats identity allow", keyPolicy(keyStmt("Allow", `{"AWS":"`+acct+`"}`, `"kms:*"`), keyStmt("Deny", alice, `"kms:Encrypt"`)), []string{allowIdentity("kms:*")}, req(), ExplicitResourceDeny, 0},
		{"key policy deny applies to the root user too", keyPolicy(keyStmt("Allow", `{"AWS":"`+acct+`"}`, `"kms:*"`), keyStmt("Deny", `"*"`, `"kms:ScheduleKeyDeletion"`)), nil, req(as(rootARN), action("kms:ScheduleKeyDeletion")), ExplicitResourceDeny, 0},
		{"assumed role session allowed by key policy naming its role", keyPolicy(keyStmt("Allow", `{"AWS":"`+roleARN+`"}`, `"kms:*"`)), nil, req(asSession(sessARN, roleARN)), NotDenied, FromResource},
		{"assumed role session needs its role's identity policy under delegation", defaultKeyPolicy, []string{allowIdentity("kms:Encrypt")}, req(asSession(sessARN, roleARN)), NotDenied, FromIdentity},
		{"AWS example policy: key user may encrypt", kmsAdminUserPolicy, nil, req(), NotDenied, FromResource},
		{"AWS example policy: key administrator may not encrypt without IAM", kmsAdminUserPolicy, nil, req(asSession(sessARN, roleARN)), NoIdentityAllow, 0},
		{"AWS example policy: key administrator may schedule deletion", kmsAdminUserPolicy, nil, req(asSession(sessARN, roleARN), action("kms:ScheduleKeyDeletion")), NotDenied, FromResource},
		{"AWS example policy: grant for AWS resource allowed", kmsAdminUserPolicy, nil, req(action("kms:CreateGrant"), ctx(KeyGrantIsForAWSResource, "true")), NotDenied, FromResource},
		{"AWS example policy: grant not for AWS resource falls to identity", kmsAdminUserPolicy, nil, req(action("kms:CreateGrant"), ctx(KeyGrantIsForAWSResource, "false")), NoIdentityAllow, 0},

		// Cross account.
		{"cross-account: key policy names the account and identity allows", keyPolicy(keyStmt("Allow", `{"AWS":"`+otherAcct+`"}`, `"kms:*"`)), []string{allowIdentity("kms:Encrypt")}, req(as(bobARN)), NotDenied, FromIdentity},
		{"cross-account: key policy names the account, no identity policy", keyPolicy(keyStmt("Allow", `{"AWS":"`+otherAcct+`"}`, `"kms:*"`)), nil, req(as(bobARN)), NoIdentityAllow, 0},
		{"cross-account: key policy names the user, identity still required", keyPolicy(keyStmt("Allow", `{"AWS":"`+bobARN+`"}`, `"kms:*"`)), nil, req(as(bobARN)), NoIdentityAllow, 0},
		{"cross-account: key policy names the user and identity allows", keyPolicy(keyStmt("Allow", `{"AWS":"`+bobARN+`"}`, `"kms:*"`)), []string{allowIdentity("kms:*")}, req(as(bobARN)), NotDenied, FromIdentity},
		{"cross-account: identity allow without key policy allow is denied", defaultKeyPolicy, []string{allowIdentity("kms:*")}, req(as(bobARN)), NoResourceAllow, 0},
		{"cross-account: principal star still needs the identity policy", keyPolicy(keyStmt("Allow", `"*"`, `"kms:*"`)), nil, req(as(bobARN)), NoIdentityAllow, 0},
		{"cross-account: other account's root has an implicit identity allow", keyPolicy(keyStmt("Allow", `{"AWS":"`+otherAcct+`"}`, `"kms:*"`)), nil, req(as("arn:aws:iam::444455556666:root")), NotDenied, FromRoot},
		{"cross-account: the example policy's external account with IAM allow", kmsAdminUserPolicy, []string{allowIdentity("kms:Decrypt")}, req(as(bobARN), action("kms:Decrypt")), NotDenied, FromIdentity},
		{"cross-account: the example policy does not give the external account administration", kmsAdminUserPolicy, []string{allowIdentity("kms:*")}, req(as(bobARN), action("kms:ScheduleKeyDeletion")), NoResourceAllow, 0},

		// No resource policy: identity policies decide.
		{"no resource: identity allow allows CreateKey", "", []string{allowIdentity("kms:CreateKey")}, req(action("kms:CreateKey"), resource("*")), NotDenied, FromIdentity},
		{"no resource: no identity policy denies CreateKey", "", nil, req(action("kms:CreateKey"), resource("*")), NoIdentityAllow, 0},
		{"no resource: root user may CreateKey", "", nil, req(as(rootARN), action("kms:CreateKey"), resource("*")), NotDenied, FromRoot},
		{"no resource: identity deny beats root's implicit allow", "", []string{denyIdentity("kms:CreateKey")}, req(as(rootARN), action("kms:CreateKey"), resource("*")), ExplicitIdentityDeny, 0},

		// Services.
		{"service principal allowed by name in key policy", keyPolicy(keyStmt("Allow", `{"Service":"logs.amazonaws.com"}`, `"kms:*"`)), nil, req(asService("logs.amazonaws.com")), NotDenied, FromResource},
		{"service principal not named is denied", defaultKeyPolicy, nil, req(asService("logs.amazonaws.com")), NoResourceAllow, 0},
	}
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		d    Denial
		want string
	}{
		{NoIdentityAllow, "User: " + aliceARN + " is not authorized to perform: kms:Encrypt on resource: " + keyARN + " because no identity-based policy allows the kms:Encrypt action"},
		{NoResourceAllow, "User: " + aliceARN + " is not authorized to perform: kms:Encrypt on resource: " + keyARN + " because no resource-based policy allows the kms:Encrypt action"},
		{ExplicitResourceDeny, "User: " + aliceARN + " is not authorized to perform: kms:Encrypt on resource: " + keyARN + " with an explicit deny in a resource-based policy"},
		{ExplicitIdentityDeny, "User: " + aliceARN + " is not authorized to perform: kms:Encrypt on resource: " + keyARN + " with an explicit deny in an identity-based policy"},
		{NotDenied, ""},
	} {
		if got := (Result{Denial: tc.d, Allowed: tc.d == NotDenied}).Message(aliceARN, "kms:Encrypt", keyARN); got != tc.want {
			t.Errorf("Message(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := (Result{Denial: NoIdentityAllow}).Message(aliceARN, "kms:CreateKey", ""); got != "User: "+aliceARN+" is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action" {
		t.Errorf("Message for no resource = %q", got)
	}
}

func TestMayAllow(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		req  *Request
		want bool
	}{
		{"default policy lets the account change the policy", defaultKeyPolicy, req(action("kms:PutKeyPolicy")), true},
		{"policy for another account locks the caller out", keyPolicy(keyStmt("Allow", `{"AWS":"`+otherAcct+`"}`, `"kms:*"`)), req(action("kms:PutKeyPolicy")), false},
		{"policy without PutKeyPolicy locks the caller out", keyPolicy(keyStmt("Allow", `"*"`, `"kms:Encrypt"`)), req(action("kms:PutKeyPolicy")), false},
		{"conditions on the allow are set aside", keyPolicy(`{"Effect":"Allow","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"999999999999"}}}`), req(action("kms:PutKeyPolicy")), true},
		{"conditional deny is set aside", keyPolicy(keyStmt("Allow", `"*"`, `"kms:*"`), `{"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`), req(action("kms:PutKeyPolicy")), true},
		{"unconditional deny locks the caller out", keyPolicy(keyStmt("Allow", `"*"`, `"kms:*"`), keyStmt("Deny", `"*"`, `"kms:PutKeyPolicy"`)), req(action("kms:PutKeyPolicy")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, KeyPolicy, tc.doc).MayAllow(tc.req); got != tc.want {
				t.Errorf("MayAllow = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMatchCostLimit: a policy whose patterns cost more than maxMatchCost to
// match against the request's values refuses the request, finally (no grant
// may allow it: a Deny among what was not matched could apply), instead of
// spending seconds of CPU; an ordinary large request stays well under it.
func TestMatchCostLimit(t *testing.T) {
	pats := make([]string, 3000) // a 24 KiB policy
	for i := range pats {
		pats[i] = fmt.Sprintf(`"*%d"`, i) // a 60 KB value of 'a' matches none
	}
	d := doc(`{"Effect":"Allow","Principal":{"AWS":"`+aliceARN+`"},"Action":"kms:*","Resource":"*"}`,
		`{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:a":[`+strings.Join(pats, ",")+`]}}}`)
	p, err := Parse(KeyPolicy, d)
	if err != nil {
		t.Fatal(err)
	}
	got := Authorize(req(ec("a", strings.Repeat("a", 60000))), p, nil)
	if got.Allowed || got.Denial != TooCostly || !got.Denial.Explicit() {
		t.Errorf("3,000 patterns against a 60 KB value: %+v, want TooCostly", got)
	}
	if got := Authorize(req(ec("a", strings.Repeat("a", 300))), p, nil); !got.Allowed {
		t.Errorf("3,000 patterns against a 300-byte value: %+v, want allowed", got)
	}
	if o := p.Evaluate(req(ec("a", strings.Repeat("a", 60000)))); o.Decision != Denied {
		t.Errorf("Evaluate over the limit: %+v, want Denied", o)
	}
}
