package arn

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ARN
		ok   bool
	}{
		{"arn:aws:kms:us-east-1:111122223333:key/1234", ARN{"aws", "kms", "us-east-1", "111122223333", "key/1234"}, true},
		{"arn:aws:iam::111122223333:root", ARN{"aws", "iam", "", "111122223333", "root"}, true},
		{"arn:aws:s3:::bucket/a:b:c", ARN{"aws", "s3", "", "", "bucket/a:b:c"}, true},
		{"arn:aws:kms:us-east-1:111122223333:", ARN{"aws", "kms", "us-east-1", "111122223333", ""}, true},
		{"arn:aws:kms:us-east-1:111122223333", ARN{}, false},
		{"arn:aws", ARN{}, false},
		{"ARN:aws:kms:us-east-1:111122223333:key/x", ARN{}, false},
		{"", ARN{}, false},
	} {
		got, ok := Parse(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q) = %+v, %v, want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && got.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestIsAccountID(t *testing.T) {
	for _, s := range []string{"111122223333", "000000000000"} {
		if !IsAccountID(s) {
			t.Errorf("IsAccountID(%q) = false", s)
		}
	}
	for _, s := range []string{"", "11112222333", "1111222233334", "11112222333a", " 11122223333", "１１１１２２２２３３３３"} {
		if IsAccountID(s) {
			t.Errorf("IsAccountID(%q) = true", s)
		}
	}
}

func TestIsRegion(t *testing.T) {
	for _, r := range []string{"us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-5", "cn-northwest-1", "us-isob-east-1", "il-central-1", "eu-isoe-west-1"} {
		if !IsRegion(r) {
			t.Errorf("IsRegion(%q) = false", r)
		}
	}
	for _, r := range []string{"", "moon", "local", "us-east", "US-EAST-1", "us--1", "-east-1", "us-east-1a", "us-east-1234", "us_east_1", "1-2-3", "a-b-c-d-e-1", "us-east-01x", strings.Repeat("a", 30) + "-1"} {
		if IsRegion(r) {
			t.Errorf("IsRegion(%q) = true", r)
		}
	}
}

func TestIsPartition(t *testing.T) {
	for _, p := range []string{"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-eusc"} {
		if !IsPartition(p) {
			t.Errorf("IsPartition(%q) = false", p)
		}
	}
	for _, p := range []string{"", "AWS", "aws-", "aws--cn", "aws-cn-", "aws-c1", "gcp", "awscn", "aws-" + strings.Repeat("x", 29)} {
		if IsPartition(p) {
			t.Errorf("IsPartition(%q) = true", p)
		}
	}
}

func TestIsKeyID(t *testing.T) {
	for _, s := range []string{"1234abcd-12ab-34cd-56ef-1234567890ab", "1234ABCD-12AB-34CD-56EF-1234567890AB", "mrk-1234abcd12ab34cd56ef1234567890ab"} {
		if !IsKeyID(s) {
			t.Errorf("IsKeyID(%q) = false", s)
		}
	}
	for _, s := range []string{"", "1234abcd-12ab-34cd-56ef-1234567890a", "1234abcd-12ab-34cd-56ef-1234567890ag", "1234abcd_12ab-34cd-56ef-1234567890ab",
		"mrk-1234abcd12ab34cd56ef1234567890a", "mrk-1234abcd-12ab-34cd-56ef-1234567890ab", "alias/x"} {
		if IsKeyID(s) {
			t.Errorf("IsKeyID(%q) = true", s)
		}
	}
}

func TestIsAliasName(t *testing.T) {
	for _, s := range []string{"alias/x", "alias/aws/ebs", "alias/a:b/c_d-E9", "alias/" + strings.Repeat("a", 250)} {
		if !IsAliasName(s) {
			t.Errorf("IsAliasName(%q) = false", s)
		}
	}
	for _, s := range []string{"", "alias/", "alias", "x/y", "alias/a b", "alias/é", "alias/" + strings.Repeat("a", 251)} {
		if IsAliasName(s) {
			t.Errorf("IsAliasName(%q) = true", s)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Key("aws", "us-east-1", "111122223333", "k"), "arn:aws:kms:us-east-1:111122223333:key/k"},
		{Alias("aws-cn", "cn-north-1", "111122223333", "alias/a"), "arn:aws-cn:kms:cn-north-1:111122223333:alias/a"},
		{Root("aws", "111122223333"), "arn:aws:iam::111122223333:root"},
		{User("aws", "111122223333", "/", "bob"), "arn:aws:iam::111122223333:user/bob"},
		{User("aws", "111122223333", "", "bob"), "arn:aws:iam::111122223333:user/bob"},
		{Role("aws", "111122223333", "/ops/", "admin"), "arn:aws:iam::111122223333:role/ops/admin"},
		{AssumedRole("aws", "111122223333", "admin", "s1"), "arn:aws:sts::111122223333:assumed-role/admin/s1"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParsePrincipal(t *testing.T) {
	for _, tc := range []struct {
		in                  string
		kind                PrincipalKind
		path, name, session string
	}{
		{"arn:aws:iam::111122223333:root", RootPrincipal, "", "", ""},
		{"arn:aws:iam::111122223333:user/bob", UserPrincipal, "/", "bob", ""},
		{"arn:aws:iam::111122223333:user/a/b/bob", UserPrincipal, "/a/b/", "bob", ""},
		{"arn:aws-cn:iam::111122223333:role/ops/admin", RolePrincipal, "/ops/", "admin", ""},
		{"arn:aws:sts::111122223333:assumed-role/admin/s-1", AssumedRolePrincipal, "", "admin", "s-1"},
		{"arn:aws:sts::111122223333:federated-user/carol", FederatedUserPrincipal, "", "carol", ""},
	} {
		p, ok := ParsePrincipal(tc.in)
		if !ok || p.Kind != tc.kind || p.Path != tc.path || p.Name != tc.name || p.Session != tc.session || p.Account != "111122223333" {
			t.Errorf("ParsePrincipal(%q) = %+v, %v", tc.in, p, ok)
		}
	}
	for _, s := range []string{
		"", "*", "111122223333", "arn:aws:iam::11112222333:root", "arn:aws:iam:us-east-1:111122223333:root",
		"arn:aws:iam::111122223333:group/g", "arn:aws:iam::111122223333:user/", "arn:aws:iam::111122223333:user/a//b",
		"arn:aws:sts::111122223333:assumed-role/admin", "arn:aws:sts::111122223333:assumed-role//s", "arn:aws:sts::111122223333:assumed-role/r/s/x",
		"arn:aws:kms::111122223333:root", "arn:gcp:iam::111122223333:root", "arn:aws:sts::111122223333:federated-user/",
	} {
		if p, ok := ParsePrincipal(s); ok {
			t.Errorf("ParsePrincipal(%q) = %+v, true", s, p)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	const k = "arn:aws:sts::111122223333:assumed-role/admin/s-1"
	n := testing.AllocsPerRun(100, func() {
		_, _ = Parse(k)
		_, _ = ParsePrincipal(k)
		_ = IsRegion("us-east-1")
		_ = IsKeyID("1234abcd-12ab-34cd-56ef-1234567890ab")
		_ = IsAccountID("111122223333")
	})
	if n != 0 {
		t.Errorf("allocations = %v, want 0", n)
	}
}
