package iam

import (
	"context"
	"net/url"
	"testing"
)

// TestTagConditions: IAM actions carry aws:TagKeys, aws:RequestTag/* (the
// tags they set) and aws:ResourceTag/* (the target's tags), so Deny
// statements on them apply, as in AWS (they once never did).
func TestTagConditions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	self := "arn:aws:iam::" + acct + ":user/alice"
	// AWS's ABAC guard: alice may tag herself, but never with the "admin" key.
	alice := f.newUser("alice", policyDoc(
		allow("iam:TagUser", self),
		`{"Effect":"Deny","Action":"iam:TagUser","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["admin"]}}}`))
	_, err := f.svc.TagUser(ctx, alice, &TagUserInput{UserName: "alice", Tags: []Tag{{"admin", "true"}}})
	if err == nil {
		t.Errorf("TagUser(admin) allowed despite Deny on aws:TagKeys; AWS: AccessDenied")
	}
	// Same with aws:RequestTag.
	bob := f.newUser("bob", policyDoc(
		allow("iam:TagUser", "*"),
		`{"Effect":"Deny","Action":"iam:TagUser","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/admin":"true"}}}`))
	_, err = f.svc.TagUser(ctx, bob, &TagUserInput{UserName: "bob", Tags: []Tag{{"admin", "true"}}})
	if err == nil {
		t.Errorf("TagUser(admin=true) allowed despite Deny on aws:RequestTag/admin; AWS: AccessDenied")
	}
	// A protected role: Deny on aws:ResourceTag.
	ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "prot", Tags: []Tag{{"protected", "true"}},
		AssumeRolePolicyDocument: trustDoc(acct)}))
	carol := f.newUser("carol", policyDoc(
		allow("iam:*", "*"),
		`{"Effect":"Deny","Action":"iam:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/protected":"true"}}}`))
	_, err = f.svc.PutRolePolicy(ctx, carol, &PutRolePolicyInput{RoleName: "prot", PolicyName: "x", PolicyDocument: policyDoc(allow("*", "*"))})
	if err == nil {
		t.Errorf("PutRolePolicy on protected role allowed despite Deny on aws:ResourceTag/protected; AWS: AccessDenied")
	}
}

// TestSourceIdentityChained: a session's source identity stays with the
// sessions chained from it and cannot be changed, as in AWS.
func TestSourceIdentityChained(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, n := range []string{"first", "second"} {
		ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: n,
			AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}`)}))
	}
	u := f.newUser("u")
	first := ok(f.svc.AssumeRole(ctx, u, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/first", RoleSessionName: "one", SourceIdentity: "alice"}))
	sess := f.caller(first.Credentials.AccessKeyID, first.Credentials.SessionToken.Reveal())
	second := ok(f.svc.AssumeRole(ctx, sess, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/second", RoleSessionName: "two"}))
	s2 := f.caller(second.Credentials.AccessKeyID, second.Credentials.SessionToken.Reveal())
	if s2.Principal.Session.SourceIdentity != "alice" {
		t.Errorf("chained session SourceIdentity = %q, want alice (AWS keeps it across chaining)", s2.Principal.Session.SourceIdentity)
	}
	// AWS refuses a different value in a chained session.
	if _, err := f.svc.AssumeRole(ctx, sess, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/second", RoleSessionName: "two", SourceIdentity: "mallory"}); err == nil {
		t.Errorf("chained AssumeRole changed SourceIdentity alice -> mallory; AWS: refused")
	}
}

// TestCrossAccountAssumeNeedsIdentity: a trust policy in another account
// naming the caller still needs the caller's identity policy (AWS: both
// sides must allow).
func TestCrossAccountAssumeNeedsIdentity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const other = "444455556666"
	_, first, err := f.svc.OpenAccount(ctx, other, true, false)
	if err != nil {
		t.Fatal(err)
	}
	root2 := f.caller(first.AccessKeyID, "")
	alice := f.newUser("alice")
	ok(f.svc.CreateRole(ctx, root2, &CreateRoleInput{RoleName: "x",
		AssumeRolePolicyDocument: trustDoc("arn:aws:iam::" + acct + ":user/alice")}))
	_, err = f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + other + ":role/x", RoleSessionName: "ss"})
	wantErr(t, err, "AccessDenied", "")
	bob := f.newUser("bob", policyDoc(allow("sts:AssumeRole", "*")))
	_, err = f.svc.AssumeRole(ctx, bob, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + other + ":role/x", RoleSessionName: "ss"})
	wantErr(t, err, "AccessDenied", "")
	alice2 := f.newUser("carol", policyDoc(allow("sts:AssumeRole", "*")))
	_ = alice2
	// keys: a user cannot manage another's keys with permission only on itself
	dave := f.newUser("dave", policyDoc(allow("iam:*AccessKey*", "arn:aws:iam::"+acct+":user/dave")))
	_, err = f.svc.CreateAccessKey(ctx, dave, &CreateAccessKeyInput{UserName: "bob"})
	wantErr(t, err, "AccessDenied", "")
	_, err = f.svc.UpdateAccessKey(ctx, dave, &UpdateAccessKeyInput{AccessKeyId: bob.Principal.AccessKeyID, Status: "Inactive"})
	wantErr(t, err, "NoSuchEntity", "")
	_, err = f.svc.DeleteAccessKey(ctx, dave, &DeleteAccessKeyInput{AccessKeyId: f.root.Principal.AccessKeyID})
	wantErr(t, err, "NoSuchEntity", "")
	eve := f.newUser("eve")
	_, err = f.svc.CreateAccessKey(ctx, eve, &CreateAccessKeyInput{})
	wantErr(t, err, "AccessDenied", "")
	// deactivated key refused at once
	ok(f.svc.UpdateAccessKey(ctx, f.root, &UpdateAccessKeyInput{UserName: "eve", AccessKeyId: eve.Principal.AccessKeyID, Status: "Inactive"}))
	if _, _, err := f.svc.Credential(eve.Principal.AccessKeyID, ""); err == nil {
		t.Error("inactive key accepted")
	}
}

// TestTrustPrincipals: as in AWS, a trust policy may name only users and
// roles that exist ("Invalid principal in policy"), and trusts the user that
// existed when the role was created: one deleted and created again under the
// same name may not assume the role, after a restart too.
func TestTrustPrincipals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	aliceARN := "arn:aws:iam::" + acct + ":user/alice"
	for _, p := range []string{aliceARN, "arn:aws:iam::" + acct + ":role/r", "arn:aws:sts::" + acct + ":assumed-role/r/s"} {
		_, err := f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "x", AssumeRolePolicyDocument: trustDoc(p)})
		wantErr(t, err, "MalformedPolicyDocument", `Invalid principal in policy: "AWS":"`+p+`"`)
	}
	alice := f.newUser("alice")
	ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "x", AssumeRolePolicyDocument: trustDoc(aliceARN)}))
	roleARN := "arn:aws:iam::" + acct + ":role/x"
	ok(f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "s1"}))

	aliceID := ok(f.svc.GetUser(ctx, f.root, &GetUserInput{UserName: "alice"})).User.UserID
	// showsTrust checks the trust policy GetRole and ListRoles show: alice's
	// ARN while she exists, the id it was bound to once she is gone (AWS).
	showsTrust := func(want string) {
		t.Helper()
		got := ok(f.svc.GetRole(ctx, f.root, &GetRoleInput{RoleName: "x"})).Role.AssumeRolePolicyDocument
		listed := ok(f.svc.ListRoles(ctx, f.root, &ListRolesInput{})).Roles[0].AssumeRolePolicyDocument
		for _, doc := range []string{got, listed} {
			if d, err := url.QueryUnescape(doc); err != nil || d != want {
				t.Errorf("trust policy shown %q (%v), want %q", d, err, want)
			}
		}
	}
	showsTrust(trustDoc(aliceARN))

	ok(f.svc.DeleteAccessKey(ctx, f.root, &DeleteAccessKeyInput{UserName: "alice", AccessKeyId: alice.Principal.AccessKeyID}))
	ok(f.svc.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "alice"}))
	showsTrust(trustDoc(aliceID))
	alice = f.newUser("alice")
	_, err := f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "s1"})
	wantErr(t, err, "AccessDenied", "")
	showsTrust(trustDoc(aliceID))
	f.svc = f.open()
	_, err = f.svc.AssumeRole(ctx, f.caller(alice.Principal.AccessKeyID, ""), &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "s1"})
	wantErr(t, err, "AccessDenied", "")
	showsTrust(trustDoc(aliceID))
	// Such a document is refused, as AWS refuses it: the id must go.
	_, err = f.svc.UpdateAssumeRolePolicy(ctx, f.root, &UpdateAssumeRolePolicyInput{RoleName: "x", PolicyDocument: trustDoc(aliceID)})
	wantErr(t, err, "MalformedPolicyDocument", "")
	ok(f.svc.UpdateAssumeRolePolicy(ctx, f.root, &UpdateAssumeRolePolicyInput{RoleName: "x", PolicyDocument: trustDoc(aliceARN)}))
	showsTrust(trustDoc(aliceARN))
}
