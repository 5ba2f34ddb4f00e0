package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestAuthorizationEndToEnd is the acceptance flow of access control through
// the Go SDK against the binary: an IAM user is denied until the key policy
// names it; an explicit Deny in its identity policy beats the key policy's
// Allow; a condition on kms:EncryptionContext:tenant allows matching
// contexts only; a role session uses KMS through its role's policy; a
// deleted access key is refused at once.
func TestAuthorizationEndToEnd(t *testing.T) {
	t.Parallel()
	s, _, admin, root, rootKMS := startAdmin(t)
	acct := admin.Account

	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("app")})
	must(t, err)
	ak, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
	must(t, err)
	app := s.kmsSession(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), "")
	appARN := "arn:aws:iam::" + acct + ":user/app"

	key := newKey(t, rootKMS, "authz")
	keyARN := aws.ToString(key.Arn)
	encrypt := func(c *kms.Client, ec map[string]string) error {
		_, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("secret"), EncryptionContext: ec})
		return err
	}

	// 1. No policy names the user: denied, in AWS's words.
	err = encrypt(app, nil)
	wantCode(t, err, "AccessDeniedException")
	if want := "User: " + appARN + " is not authorized to perform: kms:Encrypt on resource: " + keyARN +
		" because no identity-based policy allows the kms:Encrypt action"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Encrypt as app: %v, want message %q", err, want)
	}

	// 2. A key policy statement naming the user: allowed on the next request.
	putPolicy := func(extra string) {
		t.Helper()
		_, err := rootKMS.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
			{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},` + extra + `]}`)})
		must(t, err)
	}
	putPolicy(`{"Sid":"app","Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`)
	must(t, encrypt(app, nil))

	// 3. An explicit Deny in an identity policy beats the key policy's Allow.
	_, err = root.PutUserPolicy(ctx(t), &awsiam.PutUserPolicyInput{UserName: aws.String("app"), PolicyName: aws.String("no-encrypt"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}`)})
	must(t, err)
	err = encrypt(app, nil)
	wantCode(t, err, "AccessDeniedException")
	if err == nil || !strings.Contains(err.Error(), "with an explicit deny in an identity-based policy") {
		t.Errorf("Encrypt under an identity Deny: %v", err)
	}
	_, err = root.DeleteUserPolicy(ctx(t), &awsiam.DeleteUserPolicyInput{UserName: aws.String("app"), PolicyName: aws.String("no-encrypt")})
	must(t, err)
	must(t, encrypt(app, nil))

	// 4. A condition on kms:EncryptionContext:tenant allows matching contexts only.
	putPolicy(`{"Sid":"app","Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
		"Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}}`)
	must(t, encrypt(app, map[string]string{"tenant": "acme"}))
	wantCode(t, encrypt(app, map[string]string{"tenant": "globex"}), "AccessDeniedException")
	wantCode(t, encrypt(app, nil), "AccessDeniedException")

	// 5. A role session uses KMS with its role's identity policy (the
	// default key policy delegates to the account).
	key2 := newKey(t, rootKMS, "for the role")
	_, err = root.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("encryptor"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Action":"sts:AssumeRole"}]}`)})
	must(t, err)
	_, err = root.PutRolePolicy(ctx(t), &awsiam.PutRolePolicyInput{RoleName: aws.String("encryptor"), PolicyName: aws.String("use-key2"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + aws.ToString(key2.Arn) + `"}]}`)})
	must(t, err)
	ar, err := s.sts(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), "").AssumeRole(ctx(t),
		&sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/encryptor"), RoleSessionName: aws.String("job")})
	must(t, err)
	sess := s.kmsSession(aws.ToString(ar.Credentials.AccessKeyId), aws.ToString(ar.Credentials.SecretAccessKey), aws.ToString(ar.Credentials.SessionToken))
	_, err = sess.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key2.KeyId, Plaintext: []byte("x")})
	must(t, err)
	_, err = sess.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "acme"}})
	wantCode(t, err, "AccessDeniedException")
	// A change to the role's policy takes effect on the next request.
	_, err = root.DeleteRolePolicy(ctx(t), &awsiam.DeleteRolePolicyInput{RoleName: aws.String("encryptor"), PolicyName: aws.String("use-key2")})
	must(t, err)
	_, err = sess.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key2.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException")

	// 6. A deleted access key is refused at once.
	_, err = root.DeleteAccessKey(ctx(t), &awsiam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: ak.AccessKey.AccessKeyId})
	must(t, err)
	wantCode(t, encrypt(app, map[string]string{"tenant": "acme"}), "UnrecognizedClientException")
}

// TestGrantsEndToEnd: a Decrypt grant with EncryptionContextSubset lets the
// grantee decrypt matching ciphertexts only; after RetireGrant, and after
// RevokeGrant, the next request is denied.
func TestGrantsEndToEnd(t *testing.T) {
	t.Parallel()
	s, dir, admin, root, rootKMS := startAdmin(t)
	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("reader")})
	must(t, err)
	ak, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("reader")})
	must(t, err)
	reader := s.kmsSession(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), "")
	readerARN := "arn:aws:iam::" + admin.Account + ":user/reader"

	key := newKey(t, rootKMS, "grants")
	seal := func(ec map[string]string) []byte {
		out, err := rootKMS.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("for the reader"), EncryptionContext: ec})
		must(t, err)
		return out.CiphertextBlob
	}
	acme := map[string]string{"tenant": "acme", "doc": "1"}
	other := map[string]string{"tenant": "globex"}
	blobAcme, blobOther := seal(acme), seal(other)
	decrypt := func(blob []byte, ec map[string]string, tokens ...string) error {
		out, err := reader.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, GrantTokens: tokens})
		if err == nil && string(out.Plaintext) != "for the reader" {
			t.Errorf("Decrypt plaintext = %q", out.Plaintext)
		}
		return err
	}
	wantCode(t, decrypt(blobAcme, acme), "AccessDeniedException")

	grant := func() *kms.CreateGrantOutput {
		g, err := rootKMS.CreateGrant(ctx(t), &kms.CreateGrantInput{KeyId: key.KeyId, GranteePrincipal: aws.String(readerARN),
			Operations:  []types.GrantOperation{types.GrantOperationDecrypt},
			Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme"}}})
		must(t, err)
		return g
	}
	g := grant()
	// Usable at once, with or without its token, for matching contexts only.
	must(t, decrypt(blobAcme, acme, aws.ToString(g.GrantToken)))
	must(t, decrypt(blobAcme, acme))
	wantCode(t, decrypt(blobOther, other), "AccessDeniedException")
	_, err = reader.Encrypt(ctx(t), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x"), EncryptionContext: acme})
	wantCode(t, err, "AccessDeniedException")
	lg, err := rootKMS.ListGrants(ctx(t), &kms.ListGrantsInput{KeyId: key.KeyId})
	must(t, err)
	if len(lg.Grants) != 1 || aws.ToString(lg.Grants[0].GrantId) != aws.ToString(g.GrantId) || aws.ToString(lg.Grants[0].GranteePrincipal) != readerARN ||
		lg.Grants[0].Constraints.EncryptionContextSubset["tenant"] != "acme" {
		t.Errorf("ListGrants = %+v", lg.Grants)
	}

	// RetireGrant (the account retires by token): the next request is denied.
	_, err = rootKMS.RetireGrant(ctx(t), &kms.RetireGrantInput{GrantToken: g.GrantToken})
	must(t, err)
	wantCode(t, decrypt(blobAcme, acme), "AccessDeniedException")

	// RevokeGrant: the same.
	g = grant()
	must(t, decrypt(blobAcme, acme))
	_, err = rootKMS.RevokeGrant(ctx(t), &kms.RevokeGrantInput{KeyId: key.KeyId, GrantId: g.GrantId})
	must(t, err)
	wantCode(t, decrypt(blobAcme, acme), "AccessDeniedException")
	_, err = rootKMS.RevokeGrant(ctx(t), &kms.RevokeGrantInput{KeyId: key.KeyId, GrantId: g.GrantId})
	wantCode(t, err, "InvalidGrantIdException")

	// Grants persist across a restart.
	g = grant()
	stopClean(t, s)
	s = startEmbedded(t, dir)
	reader = s.kmsSession(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), "")
	must(t, decrypt(blobAcme, acme))
	lg, err = s.kmsSession(admin.AccessKey, admin.Secret, "").ListGrants(ctx(t), &kms.ListGrantsInput{KeyId: key.KeyId})
	must(t, err)
	if len(lg.Grants) != 1 || aws.ToString(lg.Grants[0].GrantId) != aws.ToString(g.GrantId) {
		t.Errorf("ListGrants after the restart = %+v, want the grant %s only", lg.Grants, aws.ToString(g.GrantId))
	}
}

// TestCrossAccountEndToEnd: two accounts of one data directory. Account B
// uses account A's key by key ARN and alias ARN only once A's key policy
// names B's account; B's root may then, and B's IAM user needs its own
// identity policy too; Decrypt finds A's key from the ciphertext.
func TestCrossAccountEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startEmbedded(t, dir)
	a := readCredentials(t, dir)
	stopClean(t, s)
	const acctB = "777788889999"
	s = startEmbedded(t, dir, "--account-id", acctB, "--add-account")
	added, err := os.ReadFile(filepath.Join(dir, "credentials-"+acctB))
	must(t, err)
	m := keyLineRE.FindStringSubmatch(string(added))
	if m == nil {
		t.Fatalf("no access key in credentials-%s:\n%s", acctB, added)
	}
	aKMS := s.kmsSession(a.AccessKey, a.Secret, "")
	bKMS := s.kmsSession(m[1], m[2], "")

	key := newKey(t, aKMS, "shared with B")
	_, err = aKMS.CreateAlias(ctx(t), &kms.CreateAliasInput{AliasName: aws.String("alias/shared"), TargetKeyId: key.KeyId})
	must(t, err)
	aliasARN := "arn:aws:kms:" + devRegion + ":" + a.Account + ":alias/shared"
	enc := func(c *kms.Client, id string) ([]byte, error) {
		out, err := c.Encrypt(ctx(t), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("across accounts")})
		if err != nil {
			return nil, err
		}
		return out.CiphertextBlob, nil
	}
	_, err = enc(bKMS, aws.ToString(key.Arn))
	wantCode(t, err, "AccessDeniedException")
	if err == nil || !strings.Contains(err.Error(), "because no resource-based policy allows the kms:Encrypt action") {
		t.Errorf("B's Encrypt before A's policy names it: %v", err)
	}
	// A key id alone never reaches another account's key.
	_, err = enc(bKMS, aws.ToString(key.KeyId))
	wantCode(t, err, "NotFoundException")

	_, err = aKMS.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + a.Account + `:root"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctB + `:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncryptFrom"],"Resource":"*"}]}`)})
	must(t, err)
	blob, err := enc(bKMS, aws.ToString(key.Arn))
	must(t, err)
	_, err = enc(bKMS, aliasARN)
	must(t, err)
	dec, err := bKMS.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob})
	must(t, err)
	if string(dec.Plaintext) != "across accounts" || aws.ToString(dec.KeyId) != aws.ToString(key.Arn) {
		t.Errorf("B's Decrypt = %q under %s", dec.Plaintext, aws.ToString(dec.KeyId))
	}
	// The key id alone names the ciphertext's key in another account when
	// decrypting symmetric ciphertext (AWS Decrypt and ReEncrypt: "A short
	// key ID is also acceptable ... when decrypting symmetric ciphertexts").
	_, err = bKMS.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: blob, KeyId: key.KeyId})
	must(t, err)
	bKey := newKey(t, bKMS, "B's own")
	re, err := bKMS.ReEncrypt(ctx(t), &kms.ReEncryptInput{CiphertextBlob: blob, SourceKeyId: key.KeyId, DestinationKeyId: bKey.KeyId})
	must(t, err)
	if aws.ToString(re.SourceKeyId) != aws.ToString(key.Arn) {
		t.Errorf("B's ReEncrypt SourceKeyId = %s, want %s", aws.ToString(re.SourceKeyId), aws.ToString(key.Arn))
	}
	// Another key's id is still looked up in the caller's account.
	_, err = bKMS.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, KeyId: key.KeyId})
	wantCode(t, err, "NotFoundException")
	// Management stays with A.
	_, err = bKMS.DisableKey(ctx(t), &kms.DisableKeyInput{KeyId: key.Arn})
	wantCode(t, err, "AccessDeniedException")
	// ListAliases lists the caller's own aliases: another account's key ARN
	// is answered alike whether that key exists or not.
	for _, id := range []string{aws.ToString(key.Arn), keyARN(devRegion, a.Account, "1234abcd-12ab-34cd-56ef-1234567890ab")} {
		_, err = bKMS.ListAliases(ctx(t), &kms.ListAliasesInput{KeyId: aws.String(id)})
		wantMessage(t, err, "NotFoundException", "Key '"+id+"' does not exist")
	}

	// B's IAM user needs B's identity policy as well as A's key policy.
	bIAM := s.iam(m[1], m[2])
	_, err = bIAM.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("consumer")})
	must(t, err)
	ak, err := bIAM.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("consumer")})
	must(t, err)
	user := s.kmsSession(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), "")
	_, err = enc(user, aws.ToString(key.Arn))
	wantCode(t, err, "AccessDeniedException")
	_, err = bIAM.PutUserPolicy(ctx(t), &awsiam.PutUserPolicyInput{UserName: aws.String("consumer"), PolicyName: aws.String("use-a"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + aws.ToString(key.Arn) + `"}]}`)})
	must(t, err)
	_, err = enc(user, aws.ToString(key.Arn))
	must(t, err)
}

// TestPolicyPrincipalsEndToEnd: as in AWS, a key policy may name only IAM
// users and roles that exist (MalformedPolicyDocumentException otherwise),
// and names the user or role that existed when it was set: a user deleted
// and created again under the same name does not inherit its permissions,
// across a restart too, until the policy is set again.
func TestPolicyPrincipalsEndToEnd(t *testing.T) {
	t.Parallel()
	s, dir, admin, root, rootKMS := startAdmin(t)
	acct := admin.Account
	policyFor := func(principal string) *string {
		return aws.String(`{"Version":"2012-10-17","Statement":[
			{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
			{"Sid":"app","Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"kms:Encrypt","Resource":"*"}]}`)
	}
	appARN := "arn:aws:iam::" + acct + ":user/app"
	invalid := "Policy contains a statement with one or more invalid principals."

	// No such user, role or session's role: refused by CreateKey and
	// PutKeyPolicy alike, in AWS's words.
	key := newKey(t, rootKMS, "principals")
	for _, p := range []string{appARN, "arn:aws:iam::" + acct + ":role/app", "arn:aws:sts::" + acct + ":assumed-role/app/s1"} {
		_, err := rootKMS.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: policyFor(p)})
		wantCode(t, err, "MalformedPolicyDocumentException")
		if !strings.Contains(err.Error(), invalid) {
			t.Errorf("PutKeyPolicy naming %s: %v, want %q", p, err, invalid)
		}
		_, err = rootKMS.CreateKey(ctx(t), &kms.CreateKeyInput{Policy: policyFor(p)})
		wantCode(t, err, "MalformedPolicyDocumentException")
	}

	// A role's trust policy alike (IAM's words).
	_, err := root.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("r"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Action":"sts:AssumeRole"}]}`)})
	wantCode(t, err, "MalformedPolicyDocument")
	if want := `Invalid principal in policy: "AWS":"` + appARN + `"`; !strings.Contains(err.Error(), want) {
		t.Errorf("CreateRole trusting %s: %v, want %q", appARN, err, want)
	}

	// newApp creates the user "app" with an access key.
	newApp := func() (id, secret string) {
		t.Helper()
		_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("app")})
		must(t, err)
		ak, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
		must(t, err)
		return aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey)
	}
	encrypt := func(s *server, id, secret string) error {
		_, err := s.kmsSession(id, secret, "").Encrypt(ctx(t), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
		return err
	}
	id, secret := newApp()
	// A user in another path is another user.
	_, err = rootKMS.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: policyFor("arn:aws:iam::" + acct + ":user/team/app")})
	wantCode(t, err, "MalformedPolicyDocumentException")
	_, err = rootKMS.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: policyFor(appARN)})
	must(t, err)
	must(t, encrypt(s, id, secret))
	old, err := root.GetUser(ctx(t), &awsiam.GetUserInput{UserName: aws.String("app")})
	must(t, err)
	oldID := aws.ToString(old.User.UserId)
	// showsPolicy checks GetKeyPolicy's text: the user's ARN while the user
	// exists, the unique id it was bound to once it is gone (as AWS shows
	// it); a policy naming that id cannot be set again.
	showsPolicy := func(s *server, want *string) {
		t.Helper()
		kmsc := s.kmsSession(admin.AccessKey, admin.Secret, "")
		got, err := kmsc.GetKeyPolicy(ctx(t), &kms.GetKeyPolicyInput{KeyId: key.KeyId})
		must(t, err)
		if aws.ToString(got.Policy) != aws.ToString(want) {
			t.Errorf("GetKeyPolicy:\n%s\nwant\n%s", aws.ToString(got.Policy), aws.ToString(want))
		}
	}
	showsPolicy(s, policyFor(appARN))

	// Deleted, then created again: the new "app" is not the one the policy
	// names, before and after a restart.
	_, err = root.DeleteAccessKey(ctx(t), &awsiam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(id)})
	must(t, err)
	_, err = root.DeleteUser(ctx(t), &awsiam.DeleteUserInput{UserName: aws.String("app")})
	must(t, err)
	showsPolicy(s, policyFor(oldID))
	_, err = rootKMS.PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: policyFor(oldID)})
	wantCode(t, err, "MalformedPolicyDocumentException")
	id, secret = newApp()
	wantCode(t, encrypt(s, id, secret), "AccessDeniedException")
	showsPolicy(s, policyFor(oldID))
	must(t, s.stop())
	s = startEmbedded(t, dir)
	wantCode(t, encrypt(s, id, secret), "AccessDeniedException")
	showsPolicy(s, policyFor(oldID))

	// Setting the policy again names the user that exists now.
	_, err = s.kmsSession(admin.AccessKey, admin.Secret, "").PutKeyPolicy(ctx(t), &kms.PutKeyPolicyInput{KeyId: key.KeyId, Policy: policyFor(appARN)})
	must(t, err)
	must(t, encrypt(s, id, secret))
	showsPolicy(s, policyFor(appARN))
}
