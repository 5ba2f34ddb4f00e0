package kms

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kmserr"
)

// TestCrossAccountManagementOps: another account named with kms:* in a key
// policy still cannot manage the key. AWS: "Cross-account permission is
// effective only for the following operations ... If you give a user in a
// different account permission for other operations, those permissions have
// no effect."
func TestCrossAccountManagementOps(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	e.putPolicy(md.KeyId, keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+otherAcct+`:root"},"Action":"kms:*","Resource":"*"}`))
	other := callerIn(region, otherAcct)

	if _, err := e.s.GetKeyPolicy(bg, other, &GetKeyPolicyInput{KeyId: md.Arn}); err == nil {
		t.Errorf("cross-account GetKeyPolicy allowed (AWS: not cross-account)")
	}
	if _, err := e.s.DisableKey(bg, other, &DisableKeyInput{KeyId: md.Arn}); err == nil {
		t.Errorf("cross-account DisableKey allowed (AWS: not cross-account)")
	}
	if _, err := e.s.PutKeyPolicy(bg, other, &PutKeyPolicyInput{KeyId: md.Arn, Policy: ptr(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + otherAcct + `:root"},"Action":"kms:*","Resource":"*"}]}`)}); err == nil {
		t.Errorf("cross-account PutKeyPolicy allowed: account %s now owns key %s alone (AWS: not cross-account)", otherAcct, md.Arn)
	}
	if _, err := e.s.ScheduleKeyDeletion(bg, other, &ScheduleKeyDeletionInput{KeyId: md.Arn, PendingWindowInDays: ptr(int32(7))}); err == nil {
		t.Errorf("cross-account ScheduleKeyDeletion allowed (AWS: not cross-account)")
	}
}

// TestListRetirableGrantsOtherAccount: ListRetirableGrants lists nothing
// for a retiring principal of another account. AWS: "Cross-account use: You
// must specify a principal in your Amazon Web Services account."
func TestListRetirableGrantsOtherAccount(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	alice := "arn:aws:iam::" + acct + ":user/alice"
	if _, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: alice, RetiringPrincipal: alice,
		Operations: []string{"Decrypt"}, Constraints: &GrantConstraintsInput{EncryptionContextEquals: map[string]string{"project": "secret-merger"}}}); err != nil {
		t.Fatal(err)
	}
	other := callerIn(region, otherAcct) // root of another account
	out, err := e.s.ListRetirableGrants(bg, other, &ListRetirableGrantsInput{RetiringPrincipal: alice})
	if err == nil && len(out.Grants) > 0 {
		t.Errorf("account %s listed account %s's grant: %+v", otherAcct, acct, out.Grants[0])
	}
}

// TestListRetirableGrantsOtherAccountsKeys: the grants listed include those
// on other accounts' keys. AWS ListRetirableGrants: "The grants that are
// returned include grants for KMS keys in your Amazon Web Services account
// and other Amazon Web Services accounts."
func TestListRetirableGrantsOtherAccountsKeys(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller) // a key of account acct
	bob := "arn:aws:iam::" + otherAcct + ":user/bob"
	cg, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: bob, RetiringPrincipal: bob,
		Operations: []string{"Decrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	// A grant of another Region is not listed.
	west := callerIn("us-west-2", acct)
	mdw := e.createKey(west)
	if _, err := e.s.CreateGrant(bg, west, &CreateGrantInput{KeyId: mdw.KeyId, GranteePrincipal: bob, RetiringPrincipal: bob,
		Operations: []string{"Decrypt"}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.s.ListRetirableGrants(bg, callerIn(region, otherAcct), &ListRetirableGrantsInput{RetiringPrincipal: bob})
	if err != nil {
		t.Fatalf("ListRetirableGrants(%s) err = %v", bob, err)
	}
	if len(out.Grants) != 1 || out.Grants[0].GrantId != cg.GrantId || out.Grants[0].KeyId != md.Arn {
		t.Errorf("ListRetirableGrants(%s) by account %s = %+v, want the one grant %s on account %s's key %s", bob, otherAcct, out.Grants, cg.GrantId, acct, md.Arn)
	}
}

// TestListRetirableGrantsResource: the resource an identity policy allows
// ListRetirableGrants on is the retiring principal. AWS ListRetirableGrants:
// "The authorized resource in ListRetirableGrants calls is the retiring
// principal specified in the request."
func TestListRetirableGrantsResource(t *testing.T) {
	e := newEnv(t)
	d := newIDP(t, acct)
	self := "arn:aws:iam::" + acct + ":user/carol"
	carol := d.user(acct, "carol", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ListRetirableGrants","Resource":"`+self+`"}]}`)
	if _, err := e.s.ListRetirableGrants(bg, carol, &ListRetirableGrantsInput{RetiringPrincipal: self}); err != nil {
		t.Errorf("ListRetirableGrants(%s) allowed on resource %s: err = %v, want nil", self, self, err)
	}
	_, err := e.s.ListRetirableGrants(bg, carol, &ListRetirableGrantsInput{RetiringPrincipal: "arn:aws:iam::" + acct + ":user/dave"})
	wantErr(t, err, "AccessDeniedException", "*")
}

// TestGrantConstraintKeyType: an encryption context grant constraint is
// refused for the cryptographic operations of asymmetric and HMAC keys (which
// take no encryption context, so the constraint would not hold). AWS
// CreateGrant: "You cannot use an encryption context grant constraint for
// cryptographic operations with asymmetric KMS keys or HMAC KMS keys."
func TestGrantConstraintKeyType(t *testing.T) {
	e := newEnv(t)
	bob := "arn:aws:iam::" + acct + ":user/bob"
	ec := &GrantConstraintsInput{EncryptionContextSubset: map[string]string{"tenant": "acme"}}
	for _, tc := range []struct {
		spec, usage string
		ops         []string
		wantErr     bool
	}{
		{"RSA_2048", "SIGN_VERIFY", []string{"Sign"}, true},
		{"RSA_2048", "ENCRYPT_DECRYPT", []string{"Decrypt"}, true},
		{"HMAC_256", "GENERATE_VERIFY_MAC", []string{"GenerateMac"}, true},
		{"ECC_NIST_P256", "SIGN_VERIFY", []string{"DescribeKey", "RetireGrant"}, false},
		{"SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", []string{"Decrypt"}, false},
	} {
		md := e.createKeyOf(tc.spec, tc.usage)
		_, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: bob, Operations: tc.ops, Constraints: ec})
		if tc.wantErr {
			wantErr(t, err, "ValidationException", "*")
		} else if err != nil {
			t.Errorf("CreateGrant(%s %s, %v, encryption context constraint) err = %v, want nil", tc.spec, tc.usage, tc.ops, err)
		}
	}
}

// TestGrantConstraintKeyCase: AWS GrantConstraints: "in a grant constraint,
// the key in each key-value pair is not case sensitive, but the value is case
// sensitive."
func TestGrantConstraintKeyCase(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	bob := userCaller(acct, "bob")
	if _, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: bob.Principal.ARN,
		Operations: []string{"Encrypt"}, Constraints: &GrantConstraintsInput{EncryptionContextSubset: map[string]string{"Tenant": "acme"}}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Encrypt(bg, bob, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "acme"}})
	if err != nil {
		t.Errorf("grant constraint key Tenant vs context key tenant: %v (AWS: keys not case sensitive in grant constraints)", err)
	}
}

// TestViaAWSServiceDeny: aws:ViaAWSService and aws:PrincipalIsAWSService are
// in every request, false on a direct call: a Deny on false applies.
func TestViaAWSServiceDeny(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	e.putPolicy(md.KeyId, keyPolicy(`{"Sid":"OnlyViaServices","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"Bool":{"aws:ViaAWSService":"false"}}}`,
		`{"Sid":"NoHumans","Effect":"Deny","Principal":"*","Action":"kms:GenerateDataKey","Resource":"*","Condition":{"Bool":{"aws:PrincipalIsAWSService":"false"}}}`))
	if _, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")}); err == nil {
		t.Errorf("direct Encrypt allowed despite Deny Bool aws:ViaAWSService=false (AWS: the key is false on a direct call, so the Deny applies)")
	}
	if _, err := e.s.GenerateDataKey(bg, caller, &GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES_256"}); err == nil {
		t.Errorf("direct GenerateDataKey allowed despite Deny Bool aws:PrincipalIsAWSService=false")
	}
}

// TestNumericNaN: a request value that is not a finite number ("NaN",
// "Inf") matches no numeric condition; NaN once compared equal, <= and >= to
// every number.
func TestNumericNaN(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	bob := userCaller(acct, "bob")
	e.putPolicy(md.KeyId, keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"`+bob.Principal.ARN+`"},"Action":"kms:Encrypt","Resource":"*",
		"Condition":{"NumericLessThanEquals":{"kms:EncryptionContext:level":"2"}}}`))
	if _, err := e.s.Encrypt(bg, bob, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"level": "5"}}); err == nil {
		t.Fatal("level=5 allowed")
	}
	if _, err := e.s.Encrypt(bg, bob, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"level": "NaN"}}); err == nil {
		t.Errorf("level=NaN satisfies NumericLessThanEquals 2")
	}
}

// TestValidToNumeric: kms:ValidTo is epoch seconds, compared with Numeric
// operators as AWS documents ("NumericLessThanEquals": {"kms:ValidTo":
// "1546257599.0"}). Authorization runs before the import token is checked,
// so a bogus token shows which way the decision went.
func TestValidToNumeric(t *testing.T) {
	e := newEnv(t)
	md := e.createExternal("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	limit := e.clock.Now().Add(24 * time.Hour).Unix()
	e.putPolicy(md.KeyId, keyPolicy(fmt.Sprintf(`{"Sid":"MaxOneDay","Effect":"Deny","Principal":"*","Action":"kms:ImportKeyMaterial","Resource":"*",
		"Condition":{"NumericGreaterThan":{"kms:ValidTo":"%d"}}}`, limit)))
	far := Timestamp{e.clock.Now().Add(300 * 24 * time.Hour)}
	_, err := e.s.ImportKeyMaterial(bg, caller, &ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: []byte("bogus-token"),
		EncryptedKeyMaterial: []byte{1, 2, 3}, ValidTo: &far})
	var ke *kmserr.Error
	if !errors.As(err, &ke) || ke.Code != "AccessDeniedException" {
		t.Errorf("ImportKeyMaterial with ValidTo 300 days out, past the Deny's limit: err = %v, want AccessDeniedException", err)
	}
}

// TestCombinationSanity: the combination rules of key policies, identity
// policies and accounts, with real IAM principals.
func TestCombinationSanity(t *testing.T) {
	d := newIDP(t, acct, otherAcct)
	e := newEnv(t)
	root := d.rootCaller(acct)
	admin := d.user(acct, "admin")
	md := e.createKey(root)
	// Key policy names only admin: IAM alone (even kms:*) and root are denied.
	_, err := e.s.PutKeyPolicy(bg, root, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: ptr(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"` + admin.Principal.ARN + `"},"Action":"kms:*","Resource":"*"}]}`), BypassPolicyLockoutSafetyCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	iamOnly := d.user(acct, "iamonly", allowAll("kms:*"))
	if _, err := e.s.DescribeKey(bg, iamOnly, &DescribeKeyInput{KeyId: md.KeyId}); err == nil {
		t.Error("IAM policy alone allowed")
	}
	if _, err := e.s.DescribeKey(bg, root, &DescribeKeyInput{KeyId: md.KeyId}); err == nil {
		t.Error("root allowed without the key policy")
	}
	if _, err := e.s.DescribeKey(bg, admin, &DescribeKeyInput{KeyId: md.KeyId}); err != nil {
		t.Errorf("admin named directly: %v", err)
	}
	// Cross-account: the key policy names a user of B directly: B's IAM must allow too.
	bUser := d.user(otherAcct, "consumer")
	bUser2 := d.user(otherAcct, "consumer2", allowAll("kms:Encrypt"))
	_, err = e.s.PutKeyPolicy(bg, admin, &PutKeyPolicyInput{KeyId: md.KeyId, Policy: ptr(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"` + admin.Principal.ARN + `"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":["` + bUser.Principal.ARN + `","` + bUser2.Principal.ARN + `"]},"Action":"kms:Encrypt","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Encrypt(bg, bUser, &EncryptInput{KeyId: md.Arn, Plaintext: []byte("x")}); err == nil {
		t.Error("cross-account without the caller's IAM allowed")
	}
	if _, err := e.s.Encrypt(bg, bUser2, &EncryptInput{KeyId: md.Arn, Plaintext: []byte("x")}); err != nil {
		t.Errorf("cross-account with both: %v", err)
	}
	// Identity explicit Deny beats a grant.
	denied := d.user(acct, "denied", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}`)
	if _, err := e.s.CreateGrant(bg, admin, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: denied.Principal.ARN, Operations: []string{"Encrypt"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Encrypt(bg, denied, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")}); err == nil {
		t.Error("grant beat an identity Deny")
	}
}

// TestRevokeSessionsTokenIssueTime: a role session has aws:TokenIssueTime,
// so IAM's documented way to revoke a role's active sessions (an inline Deny
// on DateLessThan aws:TokenIssueTime, what the IAM console's "Revoke active
// sessions" attaches) applies to them.
func TestRevokeSessionsTokenIssueTime(t *testing.T) {
	d := newIDP(t, acct)
	e := newEnv(t)
	md := e.createKey(d.rootCaller(acct))
	app := d.user(acct, "app", allowAll("sts:AssumeRole"))
	d.role(acct, "worker", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":"sts:AssumeRole"}]}`,
		allowAll("kms:Encrypt"))
	sess, akid, tok := d.assumeCreds(app, "arn:aws:iam::"+acct+":role/worker", "job")
	if _, err := e.s.Encrypt(bg, sess, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("session Encrypt before revocation: %v", err)
	}
	// Revoke every session issued before now (+1 h to be safe).
	cutoff := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if _, err := d.s.PutRolePolicy(bg, d.root[acct], &iam.PutRolePolicyInput{RoleName: "worker", PolicyName: "AWSRevokeOlderSessions",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + cutoff + `"}}}]}`}); err != nil {
		t.Fatal(err)
	}
	sess = d.session(akid, tok) // the same session, resolved again as the next request would be
	if _, err := e.s.Encrypt(bg, sess, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")}); err == nil {
		t.Errorf("a session issued before the aws:TokenIssueTime cutoff still encrypts: the revocation Deny never applies")
	}
}

// TestCrossAccountManagementOpsList: no management operation works for
// another account named with kms:* in the key policy, as in AWS.
func TestCrossAccountManagementOpsList(t *testing.T) {
	e := newEnv(t)
	out, err := e.s.CreateKey(bg, caller, &CreateKeyInput{MultiRegion: true})
	if err != nil {
		t.Fatal(err)
	}
	md := out.KeyMetadata
	e.putPolicy(md.KeyId, keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+otherAcct+`:root"},"Action":"kms:*","Resource":"*"}`))
	other := callerIn(region, otherAcct)
	try := func(name string, err error) {
		if err == nil {
			t.Errorf("cross-account %s allowed", name)
		}
	}
	_, err = e.s.TagResource(bg, other, &TagResourceInput{KeyId: md.Arn, Tags: []Tag{{TagKey: "owner", TagValue: "b"}}})
	try("TagResource", err)
	_, err = e.s.UpdateKeyDescription(bg, other, &UpdateKeyDescriptionInput{KeyId: md.Arn, Description: ptr("b was here")})
	try("UpdateKeyDescription", err)
	_, err = e.s.ListResourceTags(bg, other, &ListResourceTagsInput{KeyId: md.Arn})
	try("ListResourceTags", err)
	_, err = e.s.EnableKeyRotation(bg, other, &EnableKeyRotationInput{KeyId: md.Arn})
	try("EnableKeyRotation", err)
	r, err := e.s.ReplicateKey(bg, other, &ReplicateKeyInput{KeyId: md.Arn, ReplicaRegion: "eu-west-1",
		Policy: ptr(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + otherAcct + `:root"},"Action":"kms:*","Resource":"*"}]}`)})
	if err == nil {
		t.Errorf("cross-account ReplicateKey allowed: replica %s in account %s with a policy naming only %s", r.ReplicaKeyMetadata.Arn, acct, otherAcct)
	}
}

// TestCreateGrantThroughAnyGrant: when the caller holds several grants that
// allow CreateGrant, the new grant needs only one of them to cover it (not
// the first one found).
func TestCreateGrantThroughAnyGrant(t *testing.T) {
	e := newEnv(t)
	bob := userCaller(acct, "bob")
	alice := "arn:aws:iam::" + acct + ":user/alice"
	narrow, wide := []string{"CreateGrant", "Decrypt"}, []string{"CreateGrant", "Encrypt", "Decrypt"}
	for _, order := range [][][]string{{narrow, wide}, {wide, narrow}} { // whichever is found first
		md := e.createKey(caller)
		for _, ops := range order {
			if _, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: bob.Principal.ARN, Operations: ops}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.s.CreateGrant(bg, bob, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: alice, Operations: []string{"Encrypt"}}); err != nil {
			t.Errorf("grants created %v: a grant for Encrypt, which the wider one covers: %v", order, err)
		}
		if _, err := e.s.CreateGrant(bg, bob, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: alice, Operations: []string{"GenerateDataKey"}}); err == nil {
			t.Errorf("grants created %v: a grant for GenerateDataKey, which neither covers: allowed", order)
		}
	}
}
