package iam

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

const acct = "111122223333"

var (
	accessKeyIDRe = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	sessionKeyRe  = regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	secretRe      = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
	userIDRe      = regexp.MustCompile(`^AIDA[A-Z2-7]{17}$`)
	roleIDRe      = regexp.MustCompile(`^AROA[A-Z2-7]{17}$`)
)

// clock is a settable clock for sessions.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) add(d time.Duration) { c.off.Add(int64(d)) }

type fixture struct {
	t     *testing.T
	st    storage.Store
	svc   *Service
	clock *clock
	root  Caller
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, st: memstore.New(), clock: &clock{}}
	f.svc = f.open()
	_, first, err := f.svc.OpenAccount(context.Background(), acct, false, false)
	if err != nil || first == nil {
		t.Fatalf("OpenAccount = %v, %v", first, err)
	}
	f.root = f.caller(first.AccessKeyID, "")
	return f
}

// open loads a Service from the fixture's store (a restart).
func (f *fixture) open() *Service {
	f.t.Helper()
	svc, err := New(context.Background(), Config{Store: f.st, Now: f.clock.now})
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return svc
}

// caller authenticates as SigV4 would, failing the test on error.
func (f *fixture) caller(akid, token string) Caller {
	f.t.Helper()
	_, p, err := f.svc.Credential(akid, token)
	if err != nil {
		f.t.Fatalf("Credential(%s): %v", akid, err)
	}
	return Caller{Principal: *p, SourceIP: "192.0.2.1", RequestID: "test"}
}

// ok returns v, and panics (failing the test, with its stack) on err.
func ok[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// wantErr fails unless err is a *kmserr.Error with code whose message
// contains msg.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var e *kmserr.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("err = %s: %q, want %s containing %q", e.Code, e.Message, code, msg)
	}
}

func policyDoc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func allow(action, resource string) string {
	return `{"Effect":"Allow","Action":"` + action + `","Resource":"` + resource + `"}`
}

func ptr[T any](v T) *T { return &v }

// newUser creates a user with an access key and returns its caller.
func (f *fixture) newUser(name string, policies ...string) Caller {
	f.t.Helper()
	ctx := context.Background()
	ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: name}))
	for i, p := range policies {
		ok(f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: name, PolicyName: fmt.Sprintf("p%d", i), PolicyDocument: p}))
	}
	k := ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: name}))
	return f.caller(k.AccessKey.AccessKeyID, "")
}

func TestUsers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	out := ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "Alice", Path: "/team/", Tags: []Tag{{"k", "v"}}}))
	u := out.User
	if u.UserName != "Alice" || u.Path != "/team/" || u.Arn != "arn:aws:iam::"+acct+":user/team/Alice" || !userIDRe.MatchString(u.UserID) || len(u.Tags) != 1 {
		t.Errorf("CreateUser = %+v", u)
	}
	// Names are unique without regard to case; lookups ignore case.
	_, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "alice"})
	wantErr(t, err, "EntityAlreadyExists", "User with name alice already exists.")
	got := ok(f.svc.GetUser(ctx, f.root, &GetUserInput{UserName: "ALICE"}))
	if got.User.UserID != u.UserID || got.User.UserName != "Alice" {
		t.Errorf("GetUser(ALICE) = %+v", got.User)
	}
	_, err = f.svc.GetUser(ctx, f.root, &GetUserInput{UserName: "bob"})
	wantErr(t, err, "NoSuchEntity", "The user with name bob cannot be found.")
	// GetUser without a name: the root user.
	me := ok(f.svc.GetUser(ctx, f.root, &GetUserInput{}))
	if me.User.UserID != acct || me.User.Arn != "arn:aws:iam::"+acct+":root" || me.User.UserName != "" {
		t.Errorf("GetUser() as root = %+v", me.User)
	}

	// Listing: ordered by name without regard to case, paged, path prefix.
	for _, n := range []string{"carol", "Bob", "dave"} {
		ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: n}))
	}
	var names []string
	marker := ""
	for {
		page := ok(f.svc.ListUsers(ctx, f.root, &ListUsersInput{Marker: marker, MaxItems: ptr[int32](3)}))
		for _, u := range page.Users {
			names = append(names, u.UserName)
			if u.Tags != nil {
				t.Errorf("ListUsers lists tags of %s", u.UserName)
			}
		}
		if !page.IsTruncated {
			break
		}
		marker = page.Marker
	}
	if strings.Join(names, ",") != "Alice,Bob,carol,dave" {
		t.Errorf("ListUsers = %v", names)
	}
	team := ok(f.svc.ListUsers(ctx, f.root, &ListUsersInput{PathPrefix: "/team"}))
	if len(team.Users) != 1 || team.Users[0].UserName != "Alice" {
		t.Errorf("ListUsers(/team) = %+v", team.Users)
	}

	// Tags: merged, keys without regard to case, at most 50.
	ok(f.svc.TagUser(ctx, f.root, &TagUserInput{UserName: "alice", Tags: []Tag{{"K", "w"}, {"x", "y"}}}))
	got = ok(f.svc.GetUser(ctx, f.root, &GetUserInput{UserName: "alice"}))
	if fmt.Sprint(got.User.Tags) != "[{K w} {x y}]" {
		t.Errorf("tags after TagUser = %v", got.User.Tags)
	}
	_, err = f.svc.TagUser(ctx, f.root, &TagUserInput{UserName: "alice", Tags: []Tag{{"a", "1"}, {"A", "2"}}})
	wantErr(t, err, "InvalidInput", "Duplicate tag keys found")
	var many []Tag
	for i := range 49 {
		many = append(many, Tag{Key: fmt.Sprintf("t%d", i)})
	}
	_, err = f.svc.TagUser(ctx, f.root, &TagUserInput{UserName: "alice", Tags: many})
	wantErr(t, err, "LimitExceeded", "")

	// DeleteUser: access keys, then policies, must go first.
	k := ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "bob"}))
	ok(f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "bob", PolicyName: "p", PolicyDocument: policyDoc(allow("kms:*", "*"))}))
	_, err = f.svc.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "bob"})
	wantErr(t, err, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
	ok(f.svc.DeleteAccessKey(ctx, f.root, &DeleteAccessKeyInput{UserName: "bob", AccessKeyId: k.AccessKey.AccessKeyID}))
	_, err = f.svc.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "bob"})
	wantErr(t, err, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	ok(f.svc.DeleteUserPolicy(ctx, f.root, &DeleteUserPolicyInput{UserName: "bob", PolicyName: "P"}))
	ok(f.svc.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "bob"}))
	_, err = f.svc.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "bob"})
	wantErr(t, err, "NoSuchEntity", "")

	// Everything survives a restart.
	f.svc = f.open()
	got = ok(f.svc.GetUser(ctx, f.root, &GetUserInput{UserName: "alice"}))
	if got.User.UserID != u.UserID || got.User.Path != "/team/" || len(got.User.Tags) != 2 {
		t.Errorf("after restart GetUser = %+v", got.User)
	}
}

func TestValidation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		name      string
		call      func() error
		code, msg string
	}{
		{"user name pattern", func() error {
			_, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "a b"})
			return err
		}, "ValidationError", `1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"user name length", func() error {
			_, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: long})
			return err
		}, "ValidationError", "Member must have length less than or equal to 64"},
		{"user name missing", func() error {
			_, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{})
			return err
		}, "ValidationError", "Value null at 'userName' failed to satisfy constraint: Member must not be null"},
		{"path", func() error {
			_, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "u", Path: "team"})
			return err
		}, "ValidationError", "at 'path' failed to satisfy constraint"},
		{"two errors", func() error {
			_, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "a b", Path: "x"})
			return err
		}, "ValidationError", "2 validation errors detected"},
		{"tag key", func() error {
			_, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "u", Tags: []Tag{{Key: "a*b"}}})
			return err
		}, "ValidationError", "at 'tags.1.member.key'"},
		{"permissions boundary", func() error {
			_, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "u", PermissionsBoundary: "arn:aws:iam::aws:policy/X"})
			return err
		}, "InvalidInput", "permissions boundaries"},
		{"malformed policy", func() error {
			ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "pol"}))
			_, err := f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "pol", PolicyName: "p", PolicyDocument: "{"})
			return err
		}, "MalformedPolicyDocument", ""},
		{"identity policy with a principal", func() error {
			_, err := f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "pol", PolicyName: "p",
				PolicyDocument: policyDoc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`)})
			return err
		}, "MalformedPolicyDocument", ""},
		{"user policy quota", func() error {
			_, err := f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "pol", PolicyName: "big",
				PolicyDocument: policyDoc(allow("kms:"+strings.Repeat("x", 2100), "*"))})
			return err
		}, "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user pol"},
		{"policy of a missing user", func() error {
			_, err := f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "ghost", PolicyName: "p", PolicyDocument: policyDoc(allow("kms:*", "*"))})
			return err
		}, "NoSuchEntity", "The user with name ghost cannot be found."},
		{"max items", func() error {
			_, err := f.svc.ListUsers(ctx, f.root, &ListUsersInput{MaxItems: ptr[int32](0)})
			return err
		}, "ValidationError", "Member must have value greater than or equal to 1"},
		{"trust policy with a resource", func() error {
			_, err := f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "r",
				AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}`)})
			return err
		}, "MalformedPolicyDocument", "Resource"},
		{"trust policy quota", func() error {
			_, err := f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "r",
				AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole","Sid":"` + strings.Repeat("x", 2048) + `"}`)})
			return err
		}, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048"},
		{"max session duration", func() error {
			_, err := f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "r", MaxSessionDuration: ptr[int32](100),
				AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"` + acct + `"},"Action":"sts:AssumeRole"}`)})
			return err
		}, "ValidationError", "Value '100' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"},
		{"update access key status", func() error {
			_, err := f.svc.UpdateAccessKey(ctx, f.root, &UpdateAccessKeyInput{AccessKeyId: "AKIAIOSFODNN7EXAMPLE", Status: "On"})
			return err
		}, "ValidationError", "Member must satisfy enum value set: [Active, Inactive]"},
		{"unknown access key", func() error {
			_, err := f.svc.DeleteAccessKey(ctx, f.root, &DeleteAccessKeyInput{AccessKeyId: "AKIAAAAAAAAAAAAAAAAA"})
			return err
		}, "NoSuchEntity", "The Access Key with id AKIAAAAAAAAAAAAAAAAA cannot be found."},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.call(), tc.code, tc.msg) })
	}
}

func TestAccessKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "app", Tags: []Tag{{"team", "a"}}}))
	k1 := ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "app"})).AccessKey
	if !accessKeyIDRe.MatchString(k1.AccessKeyID) || !secretRe.MatchString(k1.SecretAccessKey.Reveal()) || k1.Status != "Active" || k1.UserName != "app" {
		t.Fatalf("CreateAccessKey = %+v", k1)
	}
	// The secret never prints.
	if s := fmt.Sprintf("%v %+v %s %#v", k1, k1, k1.SecretAccessKey, k1); strings.Contains(s, k1.SecretAccessKey.Reveal()) {
		t.Errorf("secret printed: %s", s)
	}
	secret, p, err := f.svc.Credential(k1.AccessKeyID, "")
	if err != nil || secret != k1.SecretAccessKey.Reveal() {
		t.Fatalf("Credential = %v", err)
	}
	if p.Type != IAMUser || p.ARN != "arn:aws:iam::"+acct+":user/app" || p.UserName != "app" || !userIDRe.MatchString(p.PrincipalID) ||
		p.AccessKeyID != k1.AccessKeyID || p.AccountID != acct || p.Session != nil {
		t.Errorf("principal = %+v", p)
	}
	if v, ok := p.Tags.Get("TEAM"); !ok || v != "a" {
		t.Errorf("principal tag team = %q, %v", v, ok)
	}
	k2 := ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "app"})).AccessKey
	_, err = f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "app"})
	wantErr(t, err, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
	list := ok(f.svc.ListAccessKeys(ctx, f.root, &ListAccessKeysInput{UserName: "app"}))
	if len(list.AccessKeyMetadata) != 2 {
		t.Errorf("ListAccessKeys = %+v", list)
	}

	// A user manages its own keys without UserName, when its policies allow.
	app := f.caller(k1.AccessKeyID, "")
	_, err = f.svc.ListAccessKeys(ctx, app, &ListAccessKeysInput{})
	wantErr(t, err, "AccessDenied", "User: arn:aws:iam::"+acct+":user/app is not authorized to perform: iam:ListAccessKeys on resource: arn:aws:iam::"+acct+":user/app because no identity-based policy allows the iam:ListAccessKeys action")
	ok(f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "app", PolicyName: "self",
		PolicyDocument: policyDoc(allow("iam:*AccessKey*", "arn:aws:iam::*:user/${aws:username}"))}))
	app = f.caller(k1.AccessKeyID, "") // the principal now carries the policy
	mine := ok(f.svc.ListAccessKeys(ctx, app, &ListAccessKeysInput{}))
	if len(mine.AccessKeyMetadata) != 2 {
		t.Errorf("ListAccessKeys as app = %+v", mine)
	}
	_, err = f.svc.ListAccessKeys(ctx, app, &ListAccessKeysInput{UserName: "other"})
	wantErr(t, err, "AccessDenied", "")

	// Inactive: refused on the next lookup; Active again: accepted.
	ok(f.svc.UpdateAccessKey(ctx, app, &UpdateAccessKeyInput{AccessKeyId: k2.AccessKeyID, Status: "Inactive"}))
	if _, _, err := f.svc.Credential(k2.AccessKeyID, ""); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("Credential(inactive) err = %v", err)
	}
	ok(f.svc.UpdateAccessKey(ctx, f.root, &UpdateAccessKeyInput{UserName: "app", AccessKeyId: k2.AccessKeyID, Status: "Active"}))
	if _, _, err := f.svc.Credential(k2.AccessKeyID, ""); err != nil {
		t.Errorf("Credential(reactivated) err = %v", err)
	}
	// Another identity's key is not found through this one.
	_, err = f.svc.UpdateAccessKey(ctx, f.root, &UpdateAccessKeyInput{AccessKeyId: k2.AccessKeyID, Status: "Inactive"})
	wantErr(t, err, "NoSuchEntity", "")
	ok(f.svc.DeleteAccessKey(ctx, f.root, &DeleteAccessKeyInput{UserName: "app", AccessKeyId: k2.AccessKeyID}))
	if _, _, err := f.svc.Credential(k2.AccessKeyID, ""); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("Credential(deleted) err = %v", err)
	}

	// The root user's own keys: CreateAccessKey without UserName.
	rk := ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{})).AccessKey
	if rk.UserName != "" {
		t.Errorf("root key UserName = %q", rk.UserName)
	}
	if _, p, err := f.svc.Credential(rk.AccessKeyID, ""); err != nil || !p.IsRoot() || p.PrincipalID != acct {
		t.Errorf("root key principal = %+v, %v", p, err)
	}
	// The first key and this one: the quota is reached.
	_, err = f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{})
	wantErr(t, err, "LimitExceeded", "")

	// Stored through the store, loaded back.
	f.svc = f.open()
	if s, _, err := f.svc.Credential(k1.AccessKeyID, ""); err != nil || s != k1.SecretAccessKey.Reveal() {
		t.Errorf("after restart: %v", err)
	}
}

func TestPolicyChangesApplyAtOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bob := f.newUser("bob", policyDoc(allow("iam:GetUser", "*")))
	ok(f.svc.GetUser(ctx, bob, &GetUserInput{}))
	ok(f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "bob", PolicyName: "deny",
		PolicyDocument: policyDoc(`{"Effect":"Deny","Action":"iam:GetUser","Resource":"*"}`)}))
	bob = f.caller(bob.Principal.AccessKeyID, "")
	_, err := f.svc.GetUser(ctx, bob, &GetUserInput{})
	wantErr(t, err, "AccessDenied", "with an explicit deny in an identity-based policy")
	if bob.Principal.Policies.Len() != 2 || bob.Principal.Policies.Name(0) != "deny" {
		t.Errorf("policies = %d", bob.Principal.Policies.Len())
	}
	got := ok(f.svc.GetUserPolicy(ctx, f.root, &GetUserPolicyInput{UserName: "bob", PolicyName: "deny"}))
	if dec, err := url.QueryUnescape(got.PolicyDocument); err != nil || !strings.Contains(dec, `"Deny"`) || strings.Contains(got.PolicyDocument, `"`) {
		t.Errorf("GetUserPolicy document = %q (not URL-encoded?)", got.PolicyDocument)
	}
	names := ok(f.svc.ListUserPolicies(ctx, f.root, &ListUserPoliciesInput{UserName: "bob"}))
	if strings.Join(names.PolicyNames, ",") != "deny,p0" {
		t.Errorf("ListUserPolicies = %v", names.PolicyNames)
	}
}

func trustDoc(principal string) string {
	return policyDoc(`{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":["sts:AssumeRole","sts:TagSession"]}`)
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	out := ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "app", Path: "/svc/", Description: "the app",
		AssumeRolePolicyDocument: trustDoc("arn:aws:iam::" + acct + ":root"), MaxSessionDuration: ptr[int32](7200), Tags: []Tag{{"env", "prod"}}}))
	r := out.Role
	if r.Arn != "arn:aws:iam::"+acct+":role/svc/app" || !roleIDRe.MatchString(r.RoleID) || r.MaxSessionDuration != 7200 || r.Description != "the app" {
		t.Errorf("CreateRole = %+v", r)
	}
	if doc, _ := url.QueryUnescape(r.AssumeRolePolicyDocument); doc != trustDoc("arn:aws:iam::"+acct+":root") {
		t.Errorf("AssumeRolePolicyDocument = %q", r.AssumeRolePolicyDocument)
	}
	_, err := f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "APP", AssumeRolePolicyDocument: trustDoc(acct)})
	wantErr(t, err, "EntityAlreadyExists", "Role with name APP already exists.")
	_, err = f.svc.GetRole(ctx, f.root, &GetRoleInput{RoleName: "nope"})
	wantErr(t, err, "NoSuchEntity", "The role with name nope cannot be found.")

	ok(f.svc.PutRolePolicy(ctx, f.root, &PutRolePolicyInput{RoleName: "app", PolicyName: "use", PolicyDocument: policyDoc(allow("kms:Encrypt", "*"))}))
	pol := ok(f.svc.GetRolePolicy(ctx, f.root, &GetRolePolicyInput{RoleName: "app", PolicyName: "use"}))
	if doc, _ := url.QueryUnescape(pol.PolicyDocument); doc != policyDoc(allow("kms:Encrypt", "*")) {
		t.Errorf("GetRolePolicy = %+v", pol)
	}
	_, err = f.svc.GetRolePolicy(ctx, f.root, &GetRolePolicyInput{RoleName: "app", PolicyName: "x"})
	wantErr(t, err, "NoSuchEntity", "The role policy with name x cannot be found.")
	_, err = f.svc.DeleteRole(ctx, f.root, &DeleteRoleInput{RoleName: "app"})
	wantErr(t, err, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	ok(f.svc.TagRole(ctx, f.root, &TagRoleInput{RoleName: "app", Tags: []Tag{{"ENV", "dev"}}}))
	if got := ok(f.svc.GetRole(ctx, f.root, &GetRoleInput{RoleName: "app"})).Role.Tags; fmt.Sprint(got) != "[{ENV dev}]" {
		t.Errorf("role tags = %v", got)
	}
	list := ok(f.svc.ListRoles(ctx, f.root, &ListRolesInput{PathPrefix: "/svc/"}))
	if len(list.Roles) != 1 || list.Roles[0].RoleName != "app" || list.Roles[0].Tags != nil {
		t.Errorf("ListRoles = %+v", list.Roles)
	}
	ok(f.svc.DeleteRolePolicy(ctx, f.root, &DeleteRolePolicyInput{RoleName: "app", PolicyName: "use"}))
	ok(f.svc.DeleteRole(ctx, f.root, &DeleteRoleInput{RoleName: "app"}))
}

func TestAssumeRole(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	roleARN := "arn:aws:iam::" + acct + ":role/app"
	// The role trusts alice by name, and the account (which delegates to
	// identity policies).
	alice := f.newUser("alice")
	ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "app", Tags: []Tag{{"team", "role"}, {"env", "prod"}},
		AssumeRolePolicyDocument: policyDoc(
			`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/alice"},"Action":["sts:AssumeRole","sts:TagSession"]}`,
			`{"Effect":"Allow","Principal":{"AWS":"`+acct+`"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-1"}}}`)}))
	ok(f.svc.PutRolePolicy(ctx, f.root, &PutRolePolicyInput{RoleName: "app", PolicyName: "use", PolicyDocument: policyDoc(allow("kms:*", "*"))}))
	bob := f.newUser("bob", policyDoc(allow("sts:AssumeRole", roleARN)))
	carol := f.newUser("carol")

	// Root may not assume roles.
	_, err := f.svc.AssumeRole(ctx, f.root, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "s1"})
	wantErr(t, err, "AccessDenied", "Roles may not be assumed by root accounts.")
	// Named in the trust policy: no identity policy needed.
	out := ok(f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "alice-session",
		Tags: []Tag{{"team", "session"}}}))
	cr := out.Credentials
	if !sessionKeyRe.MatchString(cr.AccessKeyID) || !secretRe.MatchString(cr.SecretAccessKey.Reveal()) || cr.SessionToken.Reveal() == "" {
		t.Fatalf("credentials = %+v", cr)
	}
	if d := time.Until(cr.Expiration.Time); d < 3590*time.Second || d > 3601*time.Second {
		t.Errorf("default duration: expires in %v", d)
	}
	if out.AssumedRoleUser.Arn != "arn:aws:sts::"+acct+":assumed-role/app/alice-session" || !strings.HasSuffix(out.AssumedRoleUser.AssumedRoleID, ":alice-session") {
		t.Errorf("AssumedRoleUser = %+v", out.AssumedRoleUser)
	}
	sess := f.caller(cr.AccessKeyID, cr.SessionToken.Reveal())
	p := sess.Principal
	if p.Type != AssumedRole || p.ARN != out.AssumedRoleUser.Arn || p.PrincipalID != out.AssumedRoleUser.AssumedRoleID ||
		p.Session == nil || p.Session.RoleARN != roleARN || p.Session.Name != "alice-session" || p.Policies.Len() != 1 {
		t.Errorf("session principal = %+v", p)
	}
	if v, _ := p.Tags.Get("team"); v != "session" { // session tags override the role's
		t.Errorf("session tag team = %q", v)
	}
	if v, _ := p.Tags.Get("env"); v != "prod" {
		t.Errorf("role tag env = %q", v)
	}
	id := ok(f.svc.GetCallerIdentity(ctx, sess, &GetCallerIdentityInput{}))
	if id.Arn != p.ARN || id.UserID != p.PrincipalID || id.Account != acct {
		t.Errorf("GetCallerIdentity = %+v", id)
	}
	// The token is bound to its access key id, and tampering is detected.
	if _, _, err := f.svc.Credential(alice.Principal.AccessKeyID, cr.SessionToken.Reveal()); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("token with another key: %v", err)
	}
	tok := []byte(cr.SessionToken.Reveal())
	tok[len(tok)/2] ^= 1
	if _, _, err := f.svc.Credential(cr.AccessKeyID, string(tok)); err == nil {
		t.Error("tampered token accepted")
	}

	// Trusted through the account: the identity policy must allow too.
	_, err = f.svc.AssumeRole(ctx, carol, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "cc", ExternalId: "ext-1"})
	wantErr(t, err, "AccessDenied", "User: arn:aws:iam::"+acct+":user/carol is not authorized to perform: sts:AssumeRole on resource: "+roleARN)
	_, err = f.svc.AssumeRole(ctx, bob, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "bb", ExternalId: "wrong"})
	wantErr(t, err, "AccessDenied", "")
	ok(f.svc.AssumeRole(ctx, bob, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "bb", ExternalId: "ext-1"}))
	// Session tags need sts:TagSession, which bob's statement does not grant.
	_, err = f.svc.AssumeRole(ctx, bob, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "bb", ExternalId: "ext-1", Tags: []Tag{{"a", "b"}}})
	wantErr(t, err, "AccessDenied", "sts:TagSession")
	// A role that does not exist is denied alike.
	_, err = f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/nope", RoleSessionName: "s1"})
	wantErr(t, err, "AccessDenied", "sts:AssumeRole on resource: arn:aws:iam::"+acct+":role/nope")

	// Durations.
	_, err = f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "s1", DurationSeconds: ptr[int32](7200)})
	wantErr(t, err, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	_, err = f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "s1", DurationSeconds: ptr[int32](899)})
	wantErr(t, err, "ValidationError", "Member must have value greater than or equal to 900")
	short := ok(f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "s1", DurationSeconds: ptr[int32](900)}))
	_, err = f.svc.AssumeRole(ctx, alice, &AssumeRoleInput{RoleArn: roleARN, RoleSessionName: "s1", Policy: "{}"})
	wantErr(t, err, "ValidationError", "session policies")

	// Expiry: valid until it, ExpiredToken after.
	f.clock.add(899 * time.Second)
	if _, _, err := f.svc.Credential(short.Credentials.AccessKeyID, short.Credentials.SessionToken.Reveal()); err != nil {
		t.Errorf("before expiry: %v", err)
	}
	f.clock.add(2 * time.Second)
	if _, _, err := f.svc.Credential(short.Credentials.AccessKeyID, short.Credentials.SessionToken.Reveal()); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("after expiry: %v, want ErrExpiredToken", err)
	}
	// Another node (a second Service on the same store) verifies tokens.
	other := f.open()
	if _, p2, err := other.Credential(cr.AccessKeyID, cr.SessionToken.Reveal()); err != nil || p2.ARN != p.ARN {
		t.Errorf("second node: %v", err)
	}

	// A change made by another node is seen after Reload.
	ok(other.CreateUser(ctx, f.root, &CreateUserInput{UserName: "from-other-node"}))
	ok(0, f.svc.Reload(ctx))
	ok(f.svc.GetUser(ctx, f.root, &GetUserInput{UserName: "from-other-node"}))
	if _, _, err := f.svc.Credential(cr.AccessKeyID, cr.SessionToken.Reveal()); err != nil {
		t.Errorf("session after Reload: %v", err)
	}

	// A deleted role's sessions are refused.
	ok(f.svc.DeleteRolePolicy(ctx, f.root, &DeleteRolePolicyInput{RoleName: "app", PolicyName: "use"}))
	ok(f.svc.DeleteRole(ctx, f.root, &DeleteRoleInput{RoleName: "app"}))
	if _, _, err := f.svc.Credential(cr.AccessKeyID, cr.SessionToken.Reveal()); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("session of a deleted role: %v", err)
	}
}

func TestRoleChaining(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, n := range []string{"first", "second"} {
		ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: n, MaxSessionDuration: ptr[int32](43200),
			AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}`)}))
	}
	u := f.newUser("u")
	first := ok(f.svc.AssumeRole(ctx, u, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/first", RoleSessionName: "one", DurationSeconds: ptr[int32](7200)}))
	sess := f.caller(first.Credentials.AccessKeyID, first.Credentials.SessionToken.Reveal())
	_, err := f.svc.AssumeRole(ctx, sess, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/second", RoleSessionName: "two", DurationSeconds: ptr[int32](3601)})
	wantErr(t, err, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	ok(f.svc.AssumeRole(ctx, sess, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/second", RoleSessionName: "two"}))
	// A session cannot use user-only calls.
	_, err = f.svc.CreateAccessKey(ctx, sess, &CreateAccessKeyInput{})
	wantErr(t, err, "ValidationError", "Must specify userName when calling with non-User credentials")
}

func TestOpenAccount(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	svc := ok(New(ctx, Config{Store: st}))
	// A --dev run records the account only.
	a, first, err := svc.OpenAccount(ctx, "", false, true)
	if err != nil || a != FallbackAccountID || first != nil {
		t.Fatalf("dev OpenAccount = %s, %v, %v", a, first, err)
	}
	// The first run without --dev creates the first administrator, once.
	a, first, err = svc.OpenAccount(ctx, "", false, false)
	if err != nil || a != FallbackAccountID || first == nil || !accessKeyIDRe.MatchString(first.AccessKeyID) {
		t.Fatalf("OpenAccount = %s, %v, %v", a, first, err)
	}
	svc = ok(New(ctx, Config{Store: st}))
	if a, again, err := svc.OpenAccount(ctx, "", false, false); err != nil || again != nil || a != FallbackAccountID {
		t.Fatalf("second OpenAccount = %s, %v, %v", a, again, err)
	}
	// Another account: refused, unless added.
	if _, _, err := svc.OpenAccount(ctx, "444455556666", false, false); !errors.Is(err, ErrNotAnAccount) {
		t.Fatalf("other account: %v", err)
	}
	if len(svc.Accounts()) != 1 {
		t.Fatalf("a refused account was recorded: %v", svc.Accounts())
	}
	a, added, err := svc.OpenAccount(ctx, "444455556666", true, false)
	if err != nil || a != "444455556666" || added == nil {
		t.Fatalf("added account: %s, %v, %v", a, added, err)
	}
	if got := strings.Join(svc.Accounts(), ","); got != FallbackAccountID+",444455556666" {
		t.Errorf("Accounts = %s", got)
	}
	// Without --account-id: the oldest.
	if a, _, _ := svc.OpenAccount(ctx, "", false, false); a != FallbackAccountID {
		t.Errorf("default account = %s", a)
	}
}

func TestLegacyRecords(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	// Records as earlier versions wrote them: a generated administrator key,
	// a seeded key, and the development key that --dev runs stored.
	legacy := map[string]string{
		"iam/accesskey/AKIAGENERATED0000001": `{"access_key_id":"AKIAGENERATED0000001","secret_access_key":"s1","account_id":"444455556666","generated":true}`,
		"iam/accesskey/AKIASEEDED0000000001": `{"access_key_id":"AKIASEEDED0000000001","secret_access_key":"s2","account_id":"777788889999"}`,
		"iam/accesskey/" + DevAccessKeyID:    `{"access_key_id":"` + DevAccessKeyID + `","secret_access_key":"` + DevSecretKey + `","account_id":"111122223333"}`,
	}
	ok(0, st.Update(ctx, func(tx storage.Tx) error {
		for k, v := range legacy {
			if err := tx.Put(k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}))
	svc := ok(New(ctx, Config{Store: st}))
	if _, _, err := svc.Credential(DevAccessKeyID, ""); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("stored dev key still accepted: %v", err)
	}
	ok(0, st.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get("iam/accesskey/" + DevAccessKeyID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("stored dev key not deleted: %v", err)
		}
		return nil
	}))
	_, p, err := svc.Credential("AKIAGENERATED0000001", "")
	if err != nil || !p.IsRoot() || p.AccountID != "444455556666" {
		t.Errorf("legacy key: %+v, %v", p, err)
	}
	// Accounts are recorded from the root keys; no new administrator.
	a, first, err := svc.OpenAccount(ctx, "", false, false)
	if err != nil || first != nil || (a != "444455556666" && a != "777788889999") || len(svc.Accounts()) != 2 {
		t.Errorf("OpenAccount on a legacy directory = %s, %v, %v; accounts %v", a, first, err, svc.Accounts())
	}
	keys := svc.AccessKeys()
	if len(keys) != 2 || keys[0].Origin != OriginGenerated || keys[1].Origin != OriginSeed {
		t.Errorf("AccessKeys = %+v", keys)
	}
}

func TestDevCredentialsInMemoryOnly(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	svc := ok(New(ctx, Config{Store: st}))
	svc.DevCredentials(acct)
	if s, p, err := svc.Credential(DevAccessKeyID, ""); err != nil || s != DevSecretKey || !p.IsRoot() {
		t.Fatalf("dev credentials: %v", err)
	}
	ok(0, st.View(ctx, func(tx storage.Tx) error {
		es, err := tx.List("iam/accesskey/", "", 0)
		if len(es) != 0 {
			t.Errorf("access key records: %d", len(es))
		}
		return err
	}))
	if _, err := svc.ApplySeed(ctx, &Seed{AccessKeys: []SeedAccessKey{{ID: DevAccessKeyID, Secret: "x", AccountID: acct}}}); err == nil {
		t.Error("the seed file stored the development key")
	}
	if _, _, err := ok(New(ctx, Config{Store: st})).Credential(DevAccessKeyID, ""); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("after restart without --dev: %v", err)
	}
}

func TestSeed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	seed := &Seed{
		Users: []SeedUser{{AccountID: acct, Name: "app", Path: "/svc/", Tags: []Tag{{"a", "1"}},
			Policies: []SeedPolicy{{"use", policyDoc(allow("kms:Encrypt", "*"))}}}},
		Roles: []SeedRole{{AccountID: acct, Name: "deployer", TrustPolicy: trustDoc("arn:aws:iam::" + acct + ":user/svc/app")}},
		AccessKeys: []SeedAccessKey{
			{ID: "AKIASEEDAPP000000001", Secret: "app-secret", AccountID: acct, UserName: "app"},
			{ID: "AKIASEEDROOT00000001", Secret: "root-secret", AccountID: acct},
		},
	}
	res := ok(f.svc.ApplySeed(ctx, seed))
	if res.Created != 2 || len(res.Deactivated) != 0 {
		t.Errorf("ApplySeed = %+v", res)
	}
	app := f.caller("AKIASEEDAPP000000001", "")
	if app.Principal.ARN != "arn:aws:iam::"+acct+":user/svc/app" || app.Principal.Policies.Len() != 1 {
		t.Errorf("seeded user principal = %+v", app.Principal)
	}
	ok(f.svc.AssumeRole(ctx, app, &AssumeRoleInput{RoleArn: "arn:aws:iam::" + acct + ":role/deployer", RoleSessionName: "s1"}))
	// Idempotent.
	if res := ok(f.svc.ApplySeed(ctx, seed)); res.Created != 0 || len(res.Deactivated) != 0 {
		t.Errorf("second ApplySeed = %+v", res)
	}
	// A key that leaves the seed file is deactivated; API keys are left alone.
	api := ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "app"})).AccessKey
	seed.AccessKeys = seed.AccessKeys[:1]
	res = ok(f.svc.ApplySeed(ctx, seed))
	if len(res.Deactivated) != 1 || res.Deactivated[0] != "AKIASEEDROOT00000001" {
		t.Errorf("ApplySeed after removal = %+v", res)
	}
	if _, _, err := f.svc.Credential("AKIASEEDROOT00000001", ""); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("removed seed key: %v", err)
	}
	if _, _, err := f.svc.Credential(api.AccessKeyID, ""); err != nil {
		t.Errorf("API key after seeding: %v", err)
	}
	// Invalid entries are refused.
	_, err := f.svc.ApplySeed(ctx, &Seed{Users: []SeedUser{{AccountID: acct, Name: "bad name"}}})
	wantErr(t, err, "ValidationError", "userName")
	if _, err := f.svc.ApplySeed(ctx, &Seed{AccessKeys: []SeedAccessKey{{ID: "AKIAGHOSTUSERKEY0001", Secret: "s", AccountID: acct, UserName: "ghost"}}}); err == nil {
		t.Error("a key of a missing user was seeded")
	}
}

// failingStore reads from the wrapped store and fails every Update.
type failingStore struct{ storage.Store }

func (failingStore) Update(context.Context, func(storage.Tx) error) error {
	return errors.New("disk on fire")
}

func TestWriteFailureLeavesMemoryUnchanged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "keep"}))
	f.svc.store = failingStore{f.st}
	if _, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "u"}); err == nil {
		t.Fatal("CreateUser succeeded on a failing store")
	}
	if _, err := f.svc.GetUser(ctx, f.root, &GetUserInput{UserName: "u"}); err == nil {
		t.Error("user visible in memory although it was not stored")
	}
	if _, err := f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "keep"}); err == nil {
		t.Error("CreateAccessKey succeeded on a failing store")
	}
	if _, err := f.svc.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "keep"}); err == nil {
		t.Error("DeleteUser succeeded on a failing store")
	}
	ok(f.svc.GetUser(ctx, f.root, &GetUserInput{UserName: "keep"}))
	if n := len(f.svc.AccessKeys()); n != 1 {
		t.Errorf("%d access keys, want the first administrator's only", n)
	}
}

func TestConcurrentCredentialAndWrites(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				n := fmt.Sprintf("u%d-%d", w, i)
				if _, err := f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: n}); err != nil {
					t.Error(err)
					return
				}
				k, err := f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: n})
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := f.svc.Credential(k.AccessKey.AccessKeyID, ""); err != nil {
					t.Errorf("Credential after CreateAccessKey: %v", err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 2000 {
			if _, _, err := f.svc.Credential(f.root.Principal.AccessKeyID, ""); err != nil {
				t.Error("root key lost during concurrent writes")
				return
			}
		}
	}()
	wg.Wait()
}

func BenchmarkCredential(b *testing.B) {
	ctx := context.Background()
	svc, _ := New(ctx, Config{Store: memstore.New()})
	_, first, err := svc.OpenAccount(ctx, acct, false, false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := svc.Credential(first.AccessKeyID, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// A node that has not heard of another node's deletion of an access key, a
// user or a role does not bring it back with an update.
func TestStaleUpdateDoesNotResurrect(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "bob"}))
	k := ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "bob"}))
	ok(f.svc.UpdateAccessKey(ctx, f.root, &UpdateAccessKeyInput{UserName: "bob", AccessKeyId: k.AccessKey.AccessKeyID, Status: StatusInactive}))
	ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}`)}))
	stale := f.open() // another node, loaded now
	ok(f.svc.DeleteAccessKey(ctx, f.root, &DeleteAccessKeyInput{UserName: "bob", AccessKeyId: k.AccessKey.AccessKeyID}))
	ok(f.svc.DeleteRole(ctx, f.root, &DeleteRoleInput{RoleName: "app"}))

	_, err := stale.UpdateAccessKey(ctx, f.root, &UpdateAccessKeyInput{UserName: "bob", AccessKeyId: k.AccessKey.AccessKeyID, Status: StatusActive})
	wantErr(t, err, "NoSuchEntity", "cannot be found")
	_, err = stale.PutRolePolicy(ctx, f.root, &PutRolePolicyInput{RoleName: "app", PolicyName: "p", PolicyDocument: policyDoc(allow("kms:*", "*"))})
	wantErr(t, err, "NoSuchEntity", "cannot be found")
	fresh := f.open()
	if _, _, err := fresh.Credential(k.AccessKey.AccessKeyID, ""); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("the deleted access key after a stale node's update: %v, want unknown", err)
	}
	if _, err := fresh.GetRole(ctx, f.root, &GetRoleInput{RoleName: "app"}); err == nil {
		t.Error("the deleted role is back after a stale node's update")
	}
}

// An update on a node that has not heard of another node's change of the
// same user or role is made to what storage holds: the other change stays
// (a policy it deleted does not come back, a tag it added is kept), and the
// stale node then holds both.
func TestStaleUpdateKeepsOtherChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "bob"}))
	ok(f.svc.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "bob", PolicyName: "revoked", PolicyDocument: policyDoc(allow("kms:*", "*"))}))
	ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}`)}))
	stale := f.open() // another node, loaded now
	ok(f.svc.DeleteUserPolicy(ctx, f.root, &DeleteUserPolicyInput{UserName: "bob", PolicyName: "revoked"}))
	ok(f.svc.TagRole(ctx, f.root, &TagRoleInput{RoleName: "app", Tags: []Tag{{Key: "team", Value: "blue"}}}))

	ok(stale.PutUserPolicy(ctx, f.root, &PutUserPolicyInput{UserName: "bob", PolicyName: "encrypt", PolicyDocument: policyDoc(allow("kms:Encrypt", "*"))}))
	ok(stale.PutRolePolicy(ctx, f.root, &PutRolePolicyInput{RoleName: "app", PolicyName: "p", PolicyDocument: policyDoc(allow("kms:Decrypt", "*"))}))
	for name, s := range map[string]*Service{"fresh": f.open(), "stale": stale} {
		pols := ok(s.ListUserPolicies(ctx, f.root, &ListUserPoliciesInput{UserName: "bob"})).PolicyNames
		if !slices.Equal(pols, []string{"encrypt"}) {
			t.Errorf("%s: bob's policies = %v, want [encrypt] (the revoked one deleted by another node stays deleted)", name, pols)
		}
		r := ok(s.GetRole(ctx, f.root, &GetRoleInput{RoleName: "app"})).Role
		if len(r.Tags) != 1 || r.Tags[0].Key != "team" {
			t.Errorf("%s: the role's tags = %v, want the one another node added", name, r.Tags)
		}
		if _, err := s.GetRolePolicy(ctx, f.root, &GetRolePolicyInput{RoleName: "app", PolicyName: "p"}); err != nil {
			t.Errorf("%s: the role's policy p: %v", name, err)
		}
	}
}

// A user deleted on one node gets no access key from a node that has not
// heard of the deletion, and a user that got an access key (a role that got
// a policy) on one node is not deleted by a node that has not heard of it:
// the store never holds an access key of a missing user (which no node
// could load). Deleting what another node deleted is NoSuchEntity.
func TestStaleAccessKeyAndUserDeletion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "gone"}))
	ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "kept"}))
	ok(f.svc.CreateRole(ctx, f.root, &CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}`)}))
	stale := f.open() // another node, loaded now
	ok(f.svc.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "gone"}))
	ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "kept"}))
	ok(f.svc.PutRolePolicy(ctx, f.root, &PutRolePolicyInput{RoleName: "app", PolicyName: "p", PolicyDocument: policyDoc(allow("kms:*", "*"))}))

	_, err := stale.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "gone"})
	wantErr(t, err, "NoSuchEntity", "cannot be found")
	_, err = stale.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "kept"})
	wantErr(t, err, "DeleteConflict", "must delete access keys first")
	_, err = stale.DeleteUser(ctx, f.root, &DeleteUserInput{UserName: "gone"})
	wantErr(t, err, "NoSuchEntity", "cannot be found")
	_, err = stale.DeleteRole(ctx, f.root, &DeleteRoleInput{RoleName: "app"})
	wantErr(t, err, "DeleteConflict", "must delete policies first")
	k := ok(stale.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "kept"})).AccessKey.AccessKeyID
	other := f.open()
	ok(stale.DeleteAccessKey(ctx, f.root, &DeleteAccessKeyInput{UserName: "kept", AccessKeyId: k}))
	_, err = other.DeleteAccessKey(ctx, f.root, &DeleteAccessKeyInput{UserName: "kept", AccessKeyId: k})
	wantErr(t, err, "NoSuchEntity", "cannot be found")
	fresh := f.open()
	if _, err := fresh.GetUser(ctx, f.root, &GetUserInput{UserName: "kept"}); err != nil {
		t.Errorf("the user with an access key after a stale node's DeleteUser: %v", err)
	}

	// The quota of access keys counts those another node made.
	ok(f.svc.CreateUser(ctx, f.root, &CreateUserInput{UserName: "q"}))
	staleQ := f.open()
	for range 2 {
		ok(f.svc.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "q"}))
	}
	_, err = staleQ.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: "q"})
	wantErr(t, err, "LimitExceeded", "AccessKeysPerUser")

	// A key of a missing user that an earlier version let through is
	// skipped when loading, not a failure of the whole load.
	orphan := accessKeyRecord{ID: "AKIAORPHAN0000000000", Secret: "s", AccountID: acct, User: "gone", Status: StatusActive}
	if err := f.st.Update(ctx, func(tx storage.Tx) error { return put(tx, accessKeyPrefix+orphan.ID, orphan, true) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.open().Credential(orphan.ID, ""); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("the access key of a missing user: %v, want unknown", err)
	}
}
