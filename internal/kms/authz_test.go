package kms

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/iam"
)

const otherAcct = "444455556666"

// userCaller is an IAM user of account with no identity policy.
func userCaller(account, name string) Caller {
	return Caller{Principal: iam.Principal{AccountID: account, ARN: "arn:aws:iam::" + account + ":user/" + name}, Region: region}
}

// keyPolicy is a key policy that keeps the account root as administrator and
// adds the given statements.
func keyPolicy(stmts ...string) *string {
	p := `{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct +
		`:root"},"Action":"kms:*","Resource":"*"}`
	for _, s := range stmts {
		p += "," + s
	}
	return ptr(p + "]}")
}

func (e *env) putPolicy(keyID string, p *string) {
	e.t.Helper()
	if _, err := e.s.PutKeyPolicy(bg, caller, &PutKeyPolicyInput{KeyId: keyID, Policy: p}); err != nil {
		e.t.Fatalf("PutKeyPolicy err = %v", err)
	}
}

func TestAuthorizeKeyPolicy(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	bob := userCaller(acct, "bob")
	enc := func(c Caller, ec map[string]string) error {
		var f Facts
		c.Facts = &f
		_, err := e.s.Encrypt(bg, c, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionContext: ec})
		if err == nil && !f.Authorized {
			t.Errorf("Encrypt succeeded without Facts.Authorized")
		}
		return err
	}

	// The default policy delegates to the account: bob has no identity policy.
	wantErr(t, enc(bob, nil), "AccessDeniedException", "User: arn:aws:iam::"+acct+":user/bob is not authorized to perform: kms:Encrypt on resource: "+
		md.Arn+" because no identity-based policy allows the kms:Encrypt action")
	if err := enc(caller, nil); err != nil {
		t.Errorf("root Encrypt err = %v", err)
	}

	// A statement naming bob allows him at once.
	e.putPolicy(md.KeyId, keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/bob"},"Action":"kms:Encrypt","Resource":"*"}`))
	if err := enc(bob, nil); err != nil {
		t.Errorf("bob Encrypt after the key policy names him err = %v", err)
	}
	// Only for the action named.
	_, err := e.s.DescribeKey(bg, bob, &DescribeKeyInput{KeyId: md.KeyId})
	wantErr(t, err, "AccessDeniedException", "*")

	// A condition on the encryption context allows matching contexts only.
	e.putPolicy(md.KeyId, keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/bob"},"Action":"kms:Encrypt","Resource":"*",
		"Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}}`))
	if err := enc(bob, map[string]string{"tenant": "acme"}); err != nil {
		t.Errorf("bob Encrypt tenant=acme err = %v", err)
	}
	wantErr(t, enc(bob, map[string]string{"tenant": "other"}), "AccessDeniedException", "*")
	wantErr(t, enc(bob, nil), "AccessDeniedException", "*")

	// An explicit Deny wins over every Allow, the root's too.
	e.putPolicy(md.KeyId, keyPolicy(`{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}`))
	wantErr(t, enc(caller, nil), "AccessDeniedException", "User: arn:aws:iam::"+acct+":root is not authorized to perform: kms:Encrypt on resource: "+
		md.Arn+" with an explicit deny in a resource-based policy")
}

func TestAuthorizeNoKeyOperations(t *testing.T) {
	e := newEnv(t)
	bob := userCaller(acct, "bob")
	_, err := e.s.ListKeys(bg, bob, &ListKeysInput{})
	wantErr(t, err, "AccessDeniedException", "User: arn:aws:iam::"+acct+":user/bob is not authorized to perform: kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action")
	_, err = e.s.CreateKey(bg, bob, &CreateKeyInput{})
	wantErr(t, err, "AccessDeniedException", "*")
	_, err = e.s.GenerateRandom(bg, bob, &GenerateRandomInput{NumberOfBytes: ptr(int32(8))})
	wantErr(t, err, "AccessDeniedException", "*")
	_, err = e.s.ListAliases(bg, bob, &ListAliasesInput{})
	wantErr(t, err, "AccessDeniedException", "*")
	_, err = e.s.ListRetirableGrants(bg, bob, &ListRetirableGrantsInput{RetiringPrincipal: bob.Principal.ARN})
	wantErr(t, err, "AccessDeniedException", "*")
	for _, c := range []Caller{caller} {
		if _, err := e.s.ListKeys(bg, c, &ListKeysInput{}); err != nil {
			t.Errorf("root ListKeys err = %v", err)
		}
	}
}

func TestAuthorizeCrossAccount(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	other := callerIn(region, otherAcct)
	blob := e.encrypt(md.KeyId, []byte("secret"), nil)

	// The default policy names only the owner's account.
	_, err := e.s.Encrypt(bg, other, &EncryptInput{KeyId: md.Arn, Plaintext: []byte("x")})
	wantErr(t, err, "AccessDeniedException", "User: arn:aws:iam::"+otherAcct+":root is not authorized to perform: kms:Encrypt on resource: "+
		md.Arn+" because no resource-based policy allows the kms:Encrypt action")
	// Another account's key that does not exist answers the same.
	missing := strings.Replace(md.Arn, md.KeyId, otherID, 1)
	_, err = e.s.Encrypt(bg, other, &EncryptInput{KeyId: missing, Plaintext: []byte("x")})
	wantErr(t, err, "AccessDeniedException", "*")
	// A key id alone never reaches another account's key.
	_, err = e.s.Encrypt(bg, other, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "NotFoundException", "*")

	// The key policy names the other account: its root (whose identity side
	// allows everything) may use the key, by ARN; Decrypt finds the key from
	// the blob.
	e.putPolicy(md.KeyId, keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+otherAcct+`:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`))
	if _, err := e.s.Encrypt(bg, other, &EncryptInput{KeyId: md.Arn, Plaintext: []byte("x")}); err != nil {
		t.Errorf("cross-account Encrypt err = %v", err)
	}
	out, err := e.s.Decrypt(bg, other, &DecryptInput{CiphertextBlob: blob})
	if err != nil || string(out.Plaintext) != "secret" || out.KeyId != md.Arn {
		t.Errorf("cross-account Decrypt = %+v, %v", out, err)
	}
	// A user of the other account also needs its own identity policy.
	_, err = e.s.Decrypt(bg, userCaller(otherAcct, "eve"), &DecryptInput{CiphertextBlob: blob})
	wantErr(t, err, "AccessDeniedException", "*")
	// Management stays with the owner.
	_, err = e.s.DisableKey(bg, other, &DisableKeyInput{KeyId: md.Arn})
	wantErr(t, err, "AccessDeniedException", "*")
}

func TestAuthorizeBrokenStoredPolicyFailsClosed(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	k := e.s.getKey(scope{region, acct}, md.KeyId)
	nk := k.clone()
	nk.policy, nk.pol = `{"not":"a policy"}`, nil
	e.s.compile(nk)
	e.s.publish(nk)
	_, err := e.s.Encrypt(bg, caller, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "AccessDeniedException", "*")
}

func TestGrants(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	bob := userCaller(acct, "bob")
	bobARN := bob.Principal.ARN
	acme := map[string]string{"tenant": "acme", "purpose": "test"}
	blobAcme := e.encrypt(md.KeyId, []byte("acme data"), acme)
	blobOther := e.encrypt(md.KeyId, []byte("other data"), map[string]string{"tenant": "other"})
	decrypt := func(blob []byte, ec map[string]string) error {
		var f Facts
		c := bob
		c.Facts = &f
		_, err := e.s.Decrypt(bg, c, &DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
		if err == nil && f.Grant == "" {
			t.Errorf("Decrypt allowed without naming the grant in Facts")
		}
		return err
	}
	wantErr(t, decrypt(blobAcme, acme), "AccessDeniedException", "*")

	cg, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: bobARN, Operations: []string{"Decrypt"},
		Constraints: &GrantConstraintsInput{EncryptionContextSubset: map[string]string{"tenant": "acme"}}, Name: ptr("bob-acme")})
	if err != nil || len(cg.GrantId) != 64 || cg.GrantToken == "" {
		t.Fatalf("CreateGrant = %+v, %v", cg, err)
	}
	// The grant allows at once, for matching contexts only.
	if err := decrypt(blobAcme, acme); err != nil {
		t.Errorf("grantee Decrypt with tenant=acme err = %v", err)
	}
	wantErr(t, decrypt(blobOther, map[string]string{"tenant": "other"}), "AccessDeniedException", "*")
	// Only the operations it lists.
	_, err = e.s.Encrypt(bg, bob, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionContext: acme})
	wantErr(t, err, "AccessDeniedException", "*")
	// The grant token is accepted where grant tokens are.
	if _, err := e.s.Decrypt(bg, bob, &DecryptInput{CiphertextBlob: blobAcme, EncryptionContext: acme, GrantTokens: []string{cg.GrantToken}}); err != nil {
		t.Errorf("Decrypt with the grant token err = %v", err)
	}

	// Name idempotency: the same request answers the same grant.
	again, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: bobARN, Operations: []string{"Decrypt"},
		Constraints: &GrantConstraintsInput{EncryptionContextSubset: map[string]string{"tenant": "acme"}}, Name: ptr("bob-acme")})
	if err != nil || again.GrantId != cg.GrantId || again.GrantToken == cg.GrantToken {
		t.Errorf("CreateGrant retry = %+v, %v; want grant %s with a new token", again, err, cg.GrantId)
	}
	lg, err := e.s.ListGrants(bg, caller, &ListGrantsInput{KeyId: md.KeyId})
	if err != nil || len(lg.Grants) != 1 || lg.Grants[0].GranteePrincipal != bobARN || lg.Grants[0].IssuingAccount != "arn:aws:iam::"+acct+":root" ||
		lg.Grants[0].Constraints.EncryptionContextSubset["tenant"] != "acme" || lg.Grants[0].Name != "bob-acme" {
		t.Errorf("ListGrants = %+v, %v", lg, err)
	}

	// Validation.
	_, err = e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: bobARN, Operations: []string{"Sign"}})
	wantErr(t, err, "ValidationException", "Grant operations Sign are not supported by key "+md.Arn+".")
	_, err = e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: bobARN, Operations: []string{"Bogus"}})
	wantErr(t, err, "ValidationException", "*")
	_, err = e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: "bob", Operations: []string{"Decrypt"}})
	wantErr(t, err, "InvalidArnException", "*")
	_, err = e.s.RetireGrant(bg, caller, &RetireGrantInput{GrantToken: "not-a-token"})
	wantErr(t, err, "InvalidGrantTokenException", "*")
	_, err = e.s.RevokeGrant(bg, caller, &RevokeGrantInput{KeyId: md.KeyId, GrantId: strings.Repeat("0", 64)})
	wantErr(t, err, "InvalidGrantIdException", "*")

	// Someone the grant does not name may not retire it.
	_, err = e.s.RetireGrant(bg, userCaller(acct, "mallory"), &RetireGrantInput{GrantToken: cg.GrantToken})
	wantErr(t, err, "AccessDeniedException", "*")
	// The account may; then the grantee's next request is denied.
	if _, err := e.s.RetireGrant(bg, caller, &RetireGrantInput{GrantToken: cg.GrantToken}); err != nil {
		t.Fatalf("RetireGrant err = %v", err)
	}
	wantErr(t, decrypt(blobAcme, acme), "AccessDeniedException", "*")

	// Grants survive a restart; revoking one is effective at once.
	g2, err := e.s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: md.Arn, GranteePrincipal: bobARN, RetiringPrincipal: bobARN,
		Operations: []string{"Decrypt", "CreateGrant"}})
	if err != nil {
		t.Fatal(err)
	}
	e.s = e.reopen()
	if err := decrypt(blobOther, map[string]string{"tenant": "other"}); err != nil {
		t.Errorf("Decrypt after restart err = %v", err)
	}
	// A grant with CreateGrant lets the grantee delegate what it has only.
	_, err = e.s.CreateGrant(bg, bob, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: "arn:aws:iam::" + acct + ":user/carol", Operations: []string{"Encrypt"}})
	wantErr(t, err, "AccessDeniedException", "*")
	child, err := e.s.CreateGrant(bg, bob, &CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: "arn:aws:iam::" + acct + ":user/carol", Operations: []string{"Decrypt"}})
	if err != nil {
		t.Fatalf("child CreateGrant err = %v", err)
	}
	rg, err := e.s.ListRetirableGrants(bg, caller, &ListRetirableGrantsInput{RetiringPrincipal: bobARN})
	if err != nil || len(rg.Grants) != 1 || rg.Grants[0].GrantId != g2.GrantId {
		t.Errorf("ListRetirableGrants = %+v, %v", rg, err)
	}
	// The retiring principal retires by key and grant id.
	if _, err := e.s.RetireGrant(bg, bob, &RetireGrantInput{KeyId: md.Arn, GrantId: g2.GrantId}); err != nil {
		t.Errorf("RetireGrant by the retiring principal err = %v", err)
	}
	if _, err := e.s.RevokeGrant(bg, caller, &RevokeGrantInput{KeyId: md.KeyId, GrantId: child.GrantId}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, decrypt(blobOther, map[string]string{"tenant": "other"}), "AccessDeniedException", "*")
	lg, err = e.s.ListGrants(bg, caller, &ListGrantsInput{KeyId: md.KeyId})
	if err != nil || len(lg.Grants) != 0 {
		t.Errorf("ListGrants after retiring all = %+v, %v", lg, err)
	}
}

func TestGrantConstraints(t *testing.T) {
	for _, tc := range []struct {
		name   string
		g      grant
		ec     map[string]string
		wantOK bool
	}{
		{"subset present", grant{hasSubset: true, subset: map[string]string{"a": "1"}}, map[string]string{"a": "1", "b": "2"}, true},
		{"subset wrong value", grant{hasSubset: true, subset: map[string]string{"a": "1"}}, map[string]string{"a": "2"}, false},
		{"subset key case does not matter", grant{hasSubset: true, subset: map[string]string{"a": "1"}}, map[string]string{"A": "1"}, true},
		{"subset value case matters", grant{hasSubset: true, subset: map[string]string{"a": "x"}}, map[string]string{"a": "X"}, false},
		{"equals key case does not matter", grant{hasEquals: true, equals: map[string]string{"Tenant": "acme"}}, map[string]string{"tenant": "acme"}, true},
		{"equals value case matters", grant{hasEquals: true, equals: map[string]string{"a": "x"}}, map[string]string{"a": "X"}, false},
		{"subset missing", grant{hasSubset: true, subset: map[string]string{"a": "1"}}, nil, false},
		{"empty subset", grant{hasSubset: true, subset: map[string]string{}}, nil, true},
		{"equals exact", grant{hasEquals: true, equals: map[string]string{"a": "1"}}, map[string]string{"a": "1"}, true},
		{"equals extra pair", grant{hasEquals: true, equals: map[string]string{"a": "1"}}, map[string]string{"a": "1", "b": "2"}, false},
		{"equals empty", grant{hasEquals: true, equals: map[string]string{}}, nil, true},
		{"no constraint", grant{}, map[string]string{"x": "y"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.g.ecOK(tc.ec); got != tc.wantOK {
				t.Errorf("ecOK(%v) = %v, want %v", tc.ec, got, tc.wantOK)
			}
		})
	}
}

func TestGrantTokenRoundTrip(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	k := e.s.getKey(scope{region, acct}, md.KeyId)
	g := &grant{id: strings.Repeat("ab", 32)}
	tok := grantToken(k, g)
	ref, err := parseGrantToken(tok)
	if err != nil || ref.sc != (scope{region, acct}) || ref.keyID != md.KeyId || ref.grantID != g.id {
		t.Errorf("parseGrantToken(grantToken) = %+v, %v", ref, err)
	}
	if tok == grantToken(k, g) {
		t.Error("two tokens for one grant are equal; want each unique")
	}
	for _, bad := range []string{"", "x", tok[:len(tok)-2], tok + "AA", "AQ"} {
		if _, err := parseGrantToken(bad); err == nil {
			t.Errorf("parseGrantToken(%q) accepted", bad)
		}
	}
}

func TestAuthorizeRequestConditions(t *testing.T) {
	e := newEnv(t)
	md := e.createKey(caller)
	e.putPolicy(md.KeyId, keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/bob"},"Action":"kms:Encrypt","Resource":"*",
		"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"},"StringEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT","kms:KeySpec":"SYMMETRIC_DEFAULT","kms:CallerAccount":"`+acct+`"}}}`,
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/bob"},"Action":"kms:DescribeKey","Resource":"*"}`,
		`{"Effect":"Deny","Principal":"*","Action":"kms:DescribeKey","Resource":"*","Condition":{"StringLike":{"kms:RequestAlias":"alias/blocked*"}}}`))
	if _, err := e.s.CreateAlias(bg, caller, &CreateAliasInput{AliasName: "alias/blocked-1", TargetKeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	bob := userCaller(acct, "bob")
	enc := func(c Caller) error {
		_, err := e.s.Encrypt(bg, c, &EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		return err
	}
	wantErr(t, enc(bob), "AccessDeniedException", "*") // no source address, no TLS
	bob.SourceIP, bob.SecureTransport = netip.MustParseAddr("10.1.2.3"), true
	if err := enc(bob); err != nil {
		t.Errorf("Encrypt from 10.1.2.3 over TLS err = %v", err)
	}
	bob.SourceIP = netip.MustParseAddr("192.0.2.1")
	wantErr(t, enc(bob), "AccessDeniedException", "*")
	bob.SourceIP = netip.MustParseAddr("10.1.2.3")
	// kms:RequestAlias: the key by id is allowed, by the blocked alias denied
	// explicitly. (A condition on a key the request does not have, such as
	// kms:EncryptionAlgorithm for DescribeKey, never holds.)
	if _, err := e.s.DescribeKey(bg, bob, &DescribeKeyInput{KeyId: md.KeyId}); err != nil {
		t.Errorf("DescribeKey by id err = %v", err)
	}
	_, err := e.s.DescribeKey(bg, bob, &DescribeKeyInput{KeyId: "alias/blocked-1"})
	wantErr(t, err, "AccessDeniedException", "User: arn:aws:iam::"+acct+":user/bob is not authorized to perform: kms:DescribeKey on resource: "+md.Arn+" with an explicit deny in a resource-based policy")
}
