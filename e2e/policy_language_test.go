package e2e

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// policyLangEnv is an account with the user "app" (with an access key) and a
// key whose policy keeps the account root as administrator: what the tests
// of the policy language through key policies share.
type policyLangEnv struct {
	t       *testing.T
	acct    string
	root    *awsiam.Client
	rootKMS *kms.Client
	app     *kms.Client
	keyID   *string
}

func newPolicyLangEnv(t *testing.T) *policyLangEnv {
	s, _, admin, root, rootKMS := startAdmin(t)
	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("app")})
	must(t, err)
	ak, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("app")})
	must(t, err)
	return &policyLangEnv{t: t, acct: admin.Account, root: root, rootKMS: rootKMS,
		app:   s.kmsSession(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), ""),
		keyID: newKey(t, rootKMS, "policy language").KeyId}
}

// putPolicy sets the key policy to the root's statement and stmts.
func (e *policyLangEnv) putPolicy(stmts string) {
	e.t.Helper()
	_, err := e.rootKMS.PutKeyPolicy(ctx(e.t), &kms.PutKeyPolicyInput{KeyId: e.keyID, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + e.acct + `:root"},"Action":"kms:*","Resource":"*"},` + stmts + `]}`)})
	must(e.t, err)
}

// encrypt is kms:Encrypt by app on the key with encryption context ec.
func (e *policyLangEnv) encrypt(ec map[string]string) error {
	_, err := e.app.Encrypt(ctx(e.t), &kms.EncryptInput{KeyId: e.keyID, Plaintext: []byte("x"), EncryptionContext: ec})
	return err
}

// TestKeyPolicyARNConditionVariablesEndToEnd: a policy variable in the
// account part of an ARN condition value is resolved, as AWS resolves
// variables in every part of an ArnLike/ArnNotLike value (only a Resource
// element limits them to the resource part).
func TestKeyPolicyARNConditionVariablesEndToEnd(t *testing.T) {
	t.Parallel()
	e := newPolicyLangEnv(t)
	// "Everyone but our own app user": app is not allowed.
	e.putPolicy(`{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*",
		"Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::${aws:PrincipalAccount}:user/app"}}}`)
	wantCode(t, e.encrypt(nil), "AccessDeniedException")
	// "Only our own app user": app is allowed.
	e.putPolicy(`{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*",
		"Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::${aws:PrincipalAccount}:user/app"}}}`)
	must(t, e.encrypt(nil))
}

// TestKeyPolicyStatementWithoutResourceOrActionEndToEnd: AWS KMS accepts a
// key policy statement without Resource or without Action, and such a
// statement has no effect ("the policy statement has no effect ... the
// CreateKey and PutKeyPolicy API requests succeed").
func TestKeyPolicyStatementWithoutResourceOrActionEndToEnd(t *testing.T) {
	t.Parallel()
	e := newPolicyLangEnv(t)
	appARN := "arn:aws:iam::" + e.acct + ":user/app"
	// An Allow naming app without Resource does not allow it.
	e.putPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Action":"kms:Encrypt"}`)
	wantCode(t, e.encrypt(nil), "AccessDeniedException")
	// A statement without Action is accepted, and has no effect either.
	e.putPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Resource":"*"}`)
	wantCode(t, e.encrypt(nil), "AccessDeniedException")
	_, err := e.rootKMS.CreateKey(ctx(t), &kms.CreateKeyInput{Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + e.acct + `:root"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Deny","Principal":"*","Resource":"*"}]}`)})
	must(t, err)
	// A Deny without Resource does not deny.
	e.putPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Action":"kms:Encrypt","Resource":"*"},
		{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt"}`)
	must(t, e.encrypt(nil))
}

// TestKeyPolicySetOperatorOnEmptyValueEndToEnd: a condition key whose value
// is an empty string is an empty data set for the set operators: AWS answers
// ForAnyValue false and ForAllValues true.
func TestKeyPolicySetOperatorOnEmptyValueEndToEnd(t *testing.T) {
	t.Parallel()
	e := newPolicyLangEnv(t)
	appARN := "arn:aws:iam::" + e.acct + ":user/app"
	tag := func(value string) error {
		_, err := e.app.TagResource(ctx(t), &kms.TagResourceInput{KeyId: e.keyID, Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String(value)}}})
		return err
	}
	// "Any team tag value": an empty value is none.
	e.putPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Action":"kms:TagResource","Resource":"*",
		"Condition":{"ForAnyValue:StringLike":{"aws:RequestTag/team":"*"}}}`)
	must(t, tag("pay"))
	wantCode(t, tag(""), "AccessDeniedException")
	// A Deny with ForAllValues applies to an empty value.
	e.putPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + appARN + `"},"Action":"kms:TagResource","Resource":"*"},
		{"Effect":"Deny","Principal":"*","Action":"kms:TagResource","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:RequestTag/team":"legacy"}}}`)
	must(t, tag("pay"))
	wantCode(t, tag(""), "AccessDeniedException")
}
