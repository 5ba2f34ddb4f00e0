package kms

import (
	"context"
	"testing"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// idp is an IAM service holding real users and roles, whose principals
// (with compiled identity policies) are used as KMS callers.
type idp struct {
	t    *testing.T
	s    *iam.Service
	root map[string]iam.Caller
}

func newIDP(t *testing.T, accounts ...string) *idp {
	t.Helper()
	s, err := iam.New(context.Background(), iam.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	d := &idp{t: t, s: s, root: map[string]iam.Caller{}}
	for _, a := range accounts {
		_, first, err := s.OpenAccount(context.Background(), a, true, false)
		if err != nil {
			t.Fatal(err)
		}
		_, p, err := s.Credential(first.AccessKeyID, "")
		if err != nil {
			t.Fatal(err)
		}
		d.root[a] = iam.Caller{Principal: *p}
	}
	return d
}

// user creates user name in account with the given identity policies and
// returns it as a KMS caller.
func (d *idp) user(account, name string, policies ...string) Caller {
	d.t.Helper()
	ctx := context.Background()
	rc := d.root[account]
	if _, err := d.s.CreateUser(ctx, rc, &iam.CreateUserInput{UserName: name}); err != nil {
		d.t.Fatal(err)
	}
	for i, p := range policies {
		if _, err := d.s.PutUserPolicy(ctx, rc, &iam.PutUserPolicyInput{UserName: name, PolicyName: "p" + string(rune('a'+i)), PolicyDocument: p}); err != nil {
			d.t.Fatalf("PutUserPolicy %s: %v", p, err)
		}
	}
	ak, err := d.s.CreateAccessKey(ctx, rc, &iam.CreateAccessKeyInput{UserName: name})
	if err != nil {
		d.t.Fatal(err)
	}
	_, p, err := d.s.Credential(ak.AccessKey.AccessKeyID, "")
	if err != nil {
		d.t.Fatal(err)
	}
	return Caller{Principal: *p, Region: region}
}

func (d *idp) rootCaller(account string) Caller {
	return Caller{Principal: d.root[account].Principal, Region: region}
}

func allowAll(action string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`
}

// role creates role name in account trusting the account (the assumer then
// needs sts:AssumeRole in its identity policy) with the given policies.
func (d *idp) role(account, name, trust string, policies ...string) {
	d.t.Helper()
	ctx := context.Background()
	rc := d.root[account]
	if _, err := d.s.CreateRole(ctx, rc, &iam.CreateRoleInput{RoleName: name, AssumeRolePolicyDocument: trust}); err != nil {
		d.t.Fatal(err)
	}
	for i, p := range policies {
		if _, err := d.s.PutRolePolicy(ctx, rc, &iam.PutRolePolicyInput{RoleName: name, PolicyName: "p" + string(rune('a'+i)), PolicyDocument: p}); err != nil {
			d.t.Fatalf("PutRolePolicy %s: %v", p, err)
		}
	}
}

// assumeCreds makes as assume roleARN and returns the session as a KMS
// caller, with its access key id and token.
func (d *idp) assumeCreds(as Caller, roleARN, session string) (Caller, string, string) {
	d.t.Helper()
	out, err := d.s.AssumeRole(context.Background(), iam.Caller{Principal: as.Principal}, &iam.AssumeRoleInput{RoleArn: roleARN, RoleSessionName: session})
	if err != nil {
		d.t.Fatal(err)
	}
	_, p, err := d.s.Credential(out.Credentials.AccessKeyID, out.Credentials.SessionToken.Reveal())
	if err != nil {
		d.t.Fatal(err)
	}
	return Caller{Principal: *p, Region: region}, out.Credentials.AccessKeyID, out.Credentials.SessionToken.Reveal()
}

// session resolves a session's credentials again (as SigV4 does per request).
func (d *idp) session(akid, token string) Caller {
	d.t.Helper()
	_, p, err := d.s.Credential(akid, token)
	if err != nil {
		d.t.Fatal(err)
	}
	return Caller{Principal: *p, Region: region}
}
