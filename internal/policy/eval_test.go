package policy

import (
	"slices"
	"strings"
	"testing"
)

// allowIf is an identity policy allowing every kms action on every resource
// under the given Condition element.
func allowIf(condition string) string {
	return doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":` + condition + `}`)
}

// keyStmt is a key policy statement.
func keyStmt(effect, principal, act string) string {
	return `{"Effect":"` + effect + `","Principal":` + principal + `,"Action":` + act + `,"Resource":"*"}`
}

type evalCase struct {
	name string // the rule the case proves
	kind Kind
	doc  string
	req  *Request
	want Decision
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	for _, tc := range evalCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.kind, tc.doc)
			got := p.Evaluate(tc.req)
			if got.Decision != tc.want {
				t.Errorf("Evaluate = %v (statement %d), want %v\npolicy: %s", got.Decision, got.Statement, tc.want, tc.doc)
			}
			// Parse once, evaluate many: the same answer every time.
			if again := p.Evaluate(tc.req); again != got {
				t.Errorf("second Evaluate = %+v, first %+v", again, got)
			}
		})
	}
}

func evalCases() []evalCase {
	I, K, T := IdentityPolicy, KeyPolicy, TrustPolicy
	alice := `{"AWS":"` + aliceARN + `"}`
	return []evalCase{
		// Effect and the basic decision.
		{"allow statement matching action and resource allows", I, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`), req(), Allowed},
		{"no matching statement is not applicable", I, doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}`), req(), NotApplicable},
		{"explicit deny beats allow in the same policy", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`, `{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}`), req(), Denied},
		{"deny listed before allow still wins", I, doc(`{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}`, `{"Effect":"Allow","Action":"kms:*","Resource":"*"}`), req(), Denied},
		{"deny for another action does not apply", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`, `{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`), req(), Allowed},
		{"single statement object instead of array", I, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}`, req(), Allowed},
		{"version 2008-10-17 is accepted", I, `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}`, req(), Allowed},

		// Action wildcards and case.
		{"action match is case-insensitive", I, doc(`{"Effect":"Allow","Action":"KMS:encrypt","Resource":"*"}`), req(), Allowed},
		{"action star matches every action", I, doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`), req(), Allowed},
		{"action service star matches the service", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`), req(), Allowed},
		{"action service star does not match another service", I, doc(`{"Effect":"Allow","Action":"iam:*","Resource":"*"}`), req(), NotApplicable},
		{"action prefix wildcard", I, doc(`{"Effect":"Allow","Action":"kms:Generate*","Resource":"*"}`), req(action("kms:GenerateDataKeyWithoutPlaintext")), Allowed},
		{"action prefix wildcard does not match other names", I, doc(`{"Effect":"Allow","Action":"kms:Generate*","Resource":"*"}`), req(), NotApplicable},
		{"action question mark matches one character", I, doc(`{"Effect":"Allow","Action":"kms:?ncrypt","Resource":"*"}`), req(), Allowed},
		{"action question mark needs exactly one character", I, doc(`{"Effect":"Allow","Action":"kms:?Encrypt","Resource":"*"}`), req(), NotApplicable},
		{"action infix wildcard", I, doc(`{"Effect":"Allow","Action":"kms:*Key*","Resource":"*"}`), req(action("kms:DescribeKey")), Allowed},
		{"action list matches any entry", I, doc(`{"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}`), req(), Allowed},
		{"NotAction applies to actions not listed", I, doc(`{"Effect":"Allow","NotAction":"kms:Decrypt","Resource":"*"}`), req(), Allowed},
		{"NotAction does not apply to listed actions", I, doc(`{"Effect":"Allow","NotAction":["kms:Encrypt"],"Resource":"*"}`), req(), NotApplicable},
		{"NotAction with wildcard excludes the pattern", I, doc(`{"Effect":"Deny","NotAction":"kms:Describe*","Resource":"*"}`), req(action("kms:DescribeKey")), NotApplicable},
		{"deny with NotAction denies everything else", I, doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`, `{"Effect":"Deny","NotAction":"kms:Describe*","Resource":"*"}`), req(), Denied},

		// Resource wildcards (case-sensitive, segment by segment).
		{"resource exact ARN", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"` + keyARN + `"}`), req(), Allowed},
		{"resource is case-sensitive", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/1234ABCD-12ab-34cd-56ef-1234567890ab"}`), req(), NotApplicable},
		{"resource wildcard in the resource part", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}`), req(), Allowed},
		{"resource wildcard in region and account", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/*"}`), req(), Allowed},
		{"resource wildcard does not cross a segment", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*3:*:key/*"}`), req(), NotApplicable},
		{"resource question mark in account", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:11112222333?:key/*"}`), req(), Allowed},
		{"resource of another account does not match", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:444455556666:key/*"}`), req(), NotApplicable},
		{"resource alias pattern does not match a key", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:alias/*"}`), req(), NotApplicable},
		{"NotResource applies to other resources", I, doc(`{"Effect":"Allow","Action":"kms:*","NotResource":"` + otherKey + `"}`), req(), Allowed},
		{"NotResource does not apply to the listed resource", I, doc(`{"Effect":"Allow","Action":"kms:*","NotResource":"arn:aws:kms:*:111122223333:key/*"}`), req(), NotApplicable},
		{"ARN resource pattern does not match an operation on no resource", I, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/*"}`), req(action("kms:CreateKey"), resource("*")), NotApplicable},
		{"star resource matches an operation on no resource", I, doc(`{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"}`), req(action("kms:CreateKey"), resource("")), Allowed},
		// AWS KMS accepts a key policy statement without Resource or Action;
		// it has no effect.
		{"key policy Allow without Resource has no effect", K, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt"}}`, req(), NotApplicable},
		{"key policy Deny without Resource has no effect", K, doc(`{"Effect":"Deny","Principal":"*","Action":"kms:*"}`, `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), req(), Allowed},
		{"key policy Allow without Action has no effect", K, doc(`{"Effect":"Allow","Principal":"*","Resource":"*"}`), req(), NotApplicable},
		{"key policy Deny without Action has no effect", K, doc(`{"Effect":"Deny","Principal":"*","Resource":"*"}`, `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), req(), Allowed},
		{"trust policy statement covers the role", T, doc(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), req(action("sts:AssumeRole"), resource("arn:aws:iam::111122223333:role/r")), Allowed},

		// Principals in key policies.
		{"principal user ARN matches that user", K, doc(keyStmt("Allow", alice, `"kms:*"`)), req(), Allowed},
		{"principal user ARN does not match another user", K, doc(keyStmt("Allow", alice, `"kms:*"`)), req(as("arn:aws:iam::111122223333:user/carol")), NotApplicable},
		{"principal user ARN ignores case of the user name", K, doc(keyStmt("Allow", `{"AWS":"arn:aws:iam::111122223333:user/ALICE"}`, `"kms:*"`)), req(), Allowed},
		{"principal star matches everyone", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`)), req(as(bobARN)), Allowed},
		{"principal AWS star matches everyone", K, doc(keyStmt("Allow", `{"AWS":"*"}`, `"kms:*"`)), req(as(bobARN)), Allowed},
		{"principal account root ARN matches users of the account", K, doc(keyStmt("Allow", `{"AWS":"`+rootARN+`"}`, `"kms:*"`)), req(), Allowed},
		{"principal bare account id matches users of the account", K, doc(keyStmt("Allow", `{"AWS":"`+acct+`"}`, `"kms:*"`)), req(), Allowed},
		{"principal account does not match another account", K, doc(keyStmt("Allow", `{"AWS":"`+acct+`"}`, `"kms:*"`)), req(as(bobARN)), NotApplicable},
		{"principal role ARN matches its assumed-role sessions", K, doc(keyStmt("Allow", `{"AWS":"`+roleARN+`"}`, `"kms:*"`)), req(asSession(sessARN, roleARN)), Allowed},
		{"principal session ARN matches that session", K, doc(keyStmt("Allow", `{"AWS":"`+sessARN+`"}`, `"kms:*"`)), req(asSession(sessARN, roleARN)), Allowed},
		{"principal session ARN does not match another session", K, doc(keyStmt("Allow", `{"AWS":"arn:aws:sts::111122223333:assumed-role/Admin/s2"}`, `"kms:*"`)), req(asSession(sessARN, roleARN)), NotApplicable},
		{"principal role ARN does not match sessions of another role", K, doc(keyStmt("Allow", `{"AWS":"arn:aws:iam::111122223333:role/Other"}`, `"kms:*"`)), req(asSession(sessARN, roleARN)), NotApplicable},
		{"principal list matches any entry", K, doc(keyStmt("Allow", `{"AWS":["`+bobARN+`","`+aliceARN+`"]}`, `"kms:*"`)), req(), Allowed},
		{"service principal matches the service caller", K, doc(keyStmt("Allow", `{"Service":"logs.amazonaws.com"}`, `"kms:*"`)), req(asService("logs.amazonaws.com")), Allowed},
		{"service principal does not match a user", K, doc(keyStmt("Allow", `{"Service":"logs.amazonaws.com"}`, `"kms:*"`)), req(), NotApplicable},
		{"federated principal does not match an IAM user", K, doc(keyStmt("Allow", `{"Federated":"cognito-identity.amazonaws.com"}`, `"kms:*"`)), req(), NotApplicable},
		{"canonical user principal does not match an IAM user", K, doc(keyStmt("Allow", `{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}`, `"kms:*"`)), req(), NotApplicable},
		{"deny naming the account denies its users", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`), keyStmt("Deny", `{"AWS":"`+acct+`"}`, `"kms:Encrypt"`)), req(), Denied},

		// NotPrincipal.
		{"deny NotPrincipal spares a caller listed with its account", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`), `{"Effect":"Deny","NotPrincipal":{"AWS":["`+aliceARN+`","`+rootARN+`"]},"Action":"kms:*","Resource":"*"}`), req(), Allowed},
		{"deny NotPrincipal denies a caller not listed", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`), `{"Effect":"Deny","NotPrincipal":{"AWS":["`+aliceARN+`","`+rootARN+`"]},"Action":"kms:*","Resource":"*"}`), req(as("arn:aws:iam::111122223333:user/carol")), Denied},
		{"deny NotPrincipal without the account still denies the user", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`), `{"Effect":"Deny","NotPrincipal":{"AWS":"`+aliceARN+`"},"Action":"kms:*","Resource":"*"}`), req(), Denied},
		{"deny NotPrincipal spares a session listed with its role and account", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`), `{"Effect":"Deny","NotPrincipal":{"AWS":["`+sessARN+`","`+roleARN+`","`+rootARN+`"]},"Action":"kms:*","Resource":"*"}`), req(asSession(sessARN, roleARN)), Allowed},
		{"deny NotPrincipal listing the role but not the session denies the session", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`), `{"Effect":"Deny","NotPrincipal":{"AWS":["`+roleARN+`","`+rootARN+`"]},"Action":"kms:*","Resource":"*"}`), req(asSession(sessARN, roleARN)), Denied},
		{"deny NotPrincipal listing the account spares the root user", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`), `{"Effect":"Deny","NotPrincipal":{"AWS":"`+rootARN+`"},"Action":"kms:*","Resource":"*"}`), req(as(rootARN)), Allowed},
		{"allow NotPrincipal allows callers not listed", K, doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"` + bobARN + `"},"Action":"kms:*","Resource":"*"}`), req(), Allowed},
		{"allow NotPrincipal does not allow a listed caller", K, doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"` + aliceARN + `"},"Action":"kms:*","Resource":"*"}`), req(), NotApplicable},
		{"allow NotPrincipal listing the account excludes its users", K, doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"` + acct + `"},"Action":"kms:*","Resource":"*"}`), req(), NotApplicable},
		{"NotPrincipal star applies to nobody", K, doc(keyStmt("Allow", `"*"`, `"kms:*"`), `{"Effect":"Deny","NotPrincipal":"*","Action":"kms:*","Resource":"*"}`), req(), Allowed},

		// Trust policies.
		{"trust policy allows the named role to assume", T, doc(`{"Effect":"Allow","Principal":{"AWS":"` + aliceARN + `"},"Action":"sts:AssumeRole"}`), req(action("sts:AssumeRole"), resource(roleARN)), Allowed},
		{"trust policy naming a service does not let a user assume", T, doc(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`), req(action("sts:AssumeRole"), resource(roleARN)), NotApplicable},
	}
}

// TestMatchAction covers the action matcher directly (case-insensitive
// wildcards; patterns are lowercased at parse time).
func TestMatchAction(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "kms:PutKeyPolicy", true}, {"kms:*", "kms:PutKeyPolicy", true}, {"kms:put*", "kms:PutKeyPolicy", true},
		{"kms:put?eypolicy", "kms:PutKeyPolicy", true}, {"kms:get*", "kms:PutKeyPolicy", false}, {"kms:putkeypolicy", "KMS:PUTKEYPOLICY", true},
		{"kms:putkeypolic", "kms:PutKeyPolicy", false}, {"*policy", "kms:PutKeyPolicy", true}, {"*x*", "kms:PutKeyPolicy", false},
		{"", "", true}, {"kms:*key*", "kms:DescribeKey", true}, {"kms:**", "kms:x", true}, {"kms:?", "kms:", false},
	} {
		if got := matchAction(tc.pat, tc.s); got != tc.want {
			t.Errorf("matchAction(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
}

// TestBind: a bound name matches only the user or role it was bound to, not
// one created later under the same name; an unbound name matches by name.
func TestBind(t *testing.T) {
	allow := `{"Effect":"Allow","Principal":{"AWS":["` + aliceARN + `","` + roleARN + `"]},"Action":"kms:*","Resource":"*"}`
	p := mustParse(t, KeyPolicy, doc(allow))
	if got, want := p.NamedPrincipals(), []string{aliceARN, roleARN}; !slices.Equal(got, want) {
		t.Fatalf("NamedPrincipals = %q, want %q", got, want)
	}
	bound := p.Bind(map[string]string{aliceARN: "AIDAALICE", roleARN: "AROAADMIN"})
	if p.Bind(nil) != p {
		t.Error("Bind(nil) of an unbound policy copied it")
	}
	recreated := func(r *Request) { r.Principal.UserID = "AIDAALICE2" }
	recreatedRole := func(r *Request) { r.Principal.UserID = "AROAADMIN2:s1" }
	upper := func(r *Request) { r.Principal.ARN = strings.TrimSuffix(aliceARN, "alice") + "ALICE" }
	for _, tc := range []struct {
		name string
		p    *Policy
		r    *Request
		want Decision
	}{
		{"bound user", bound, req(), Allowed},
		{"bound user, name in another case", bound, req(upper), Allowed},
		{"user re-created under the bound name", bound, req(recreated), NotApplicable},
		{"unbound name matches by name", p, req(recreated), Allowed},
		{"session of the bound role", bound, req(asSession(sessARN, roleARN)), Allowed},
		{"session of a re-created role", bound, req(asSession(sessARN, roleARN), recreatedRole), NotApplicable},
		{"unbound role", p, req(asSession(sessARN, roleARN), recreatedRole), Allowed},
	} {
		if got := tc.p.Evaluate(tc.r).Decision; got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}

	// A Deny with NotPrincipal spares only the bound user: a re-created one
	// is denied.
	deny := mustParse(t, KeyPolicy, doc(allow,
		`{"Effect":"Deny","NotPrincipal":{"AWS":["`+aliceARN+`","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}`)).
		Bind(map[string]string{aliceARN: "AIDAALICE"})
	if got := deny.Evaluate(req()).Decision; got != Allowed {
		t.Errorf("NotPrincipal Deny, bound user: %v, want Allowed", got)
	}
	if got := deny.Evaluate(req(recreated)).Decision; got != Denied {
		t.Errorf("NotPrincipal Deny, re-created user: %v, want Denied", got)
	}
	// Evaluation with bindings does not allocate.
	r := req()
	if n := testing.AllocsPerRun(100, func() { bound.Evaluate(r) }); n != 0 {
		t.Errorf("Evaluate of a bound policy: %v allocations", n)
	}
}
