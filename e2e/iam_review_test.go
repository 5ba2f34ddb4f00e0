package e2e

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/awstest"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// TestIAMExistingUserNameLength: the operations on an existing user take a
// UserName of up to 128 characters (the model's existingUserNameType; only
// CreateUser's userNameType stops at 64), so a name of 65..128 characters
// names no user (NoSuchEntity), as in AWS, not a ValidationError.
func TestIAMExistingUserNameLength(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.iam(devAccessKey, devSecretKey)
	long := aws.String(strings.Repeat("u", 100))
	pol := aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`)
	tags := []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	for name, call := range map[string]func() error{
		"GetUser":    func() error { _, err := c.GetUser(ctx(t), &awsiam.GetUserInput{UserName: long}); return err },
		"DeleteUser": func() error { _, err := c.DeleteUser(ctx(t), &awsiam.DeleteUserInput{UserName: long}); return err },
		"TagUser": func() error {
			_, err := c.TagUser(ctx(t), &awsiam.TagUserInput{UserName: long, Tags: tags})
			return err
		},
		"UntagUser": func() error {
			_, err := c.UntagUser(ctx(t), &awsiam.UntagUserInput{UserName: long, TagKeys: []string{"k"}})
			return err
		},
		"ListUserTags": func() error { _, err := c.ListUserTags(ctx(t), &awsiam.ListUserTagsInput{UserName: long}); return err },
		"CreateAccessKey": func() error {
			_, err := c.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: long})
			return err
		},
		"ListAccessKeys": func() error {
			_, err := c.ListAccessKeys(ctx(t), &awsiam.ListAccessKeysInput{UserName: long})
			return err
		},
		"PutUserPolicy": func() error {
			_, err := c.PutUserPolicy(ctx(t), &awsiam.PutUserPolicyInput{UserName: long, PolicyName: aws.String("p"), PolicyDocument: pol})
			return err
		},
		"GetUserPolicy": func() error {
			_, err := c.GetUserPolicy(ctx(t), &awsiam.GetUserPolicyInput{UserName: long, PolicyName: aws.String("p")})
			return err
		},
		"ListUserPolicies": func() error {
			_, err := c.ListUserPolicies(ctx(t), &awsiam.ListUserPoliciesInput{UserName: long})
			return err
		},
		"DeleteUserPolicy": func() error {
			_, err := c.DeleteUserPolicy(ctx(t), &awsiam.DeleteUserPolicyInput{UserName: long, PolicyName: aws.String("p")})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			awstest.WantError(t, call(), "NoSuchEntity", 404, "The user with name "+*long+" cannot be found.")
		})
	}
	_, err := c.UpdateAccessKey(ctx(t), &awsiam.UpdateAccessKeyInput{UserName: long, AccessKeyId: aws.String(devAccessKey), Status: iamtypes.StatusTypeActive})
	awstest.WantError(t, err, "NoSuchEntity", 404, "")
	_, err = c.DeleteAccessKey(ctx(t), &awsiam.DeleteAccessKeyInput{UserName: long, AccessKeyId: aws.String(devAccessKey)})
	awstest.WantError(t, err, "NoSuchEntity", 404, "")

	tooLong := strings.Repeat("u", 129)
	_, err = c.GetUser(ctx(t), &awsiam.GetUserInput{UserName: aws.String(tooLong)})
	awstest.WantError(t, err, "ValidationError", 400, "Value '"+tooLong+"' at 'userName' failed to satisfy constraint: Member must have length less than or equal to 128")
	_, err = c.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: long})
	awstest.WantError(t, err, "ValidationError", 400, "at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64")
}

// TestIAMUntaggedHasNoTags: a user or role without tags, a listed one and
// the root user have no Tags element, as AWS answers (its ListUsers and
// ListRoles leave tags out, and GetUser and GetRole show them only when
// there are some), so the SDKs see no tag list at all (nil in Go, no "Tags"
// key in boto3 and the AWS CLI), not an empty one.
func TestIAMUntaggedHasNoTags(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.iam(devAccessKey, devSecretKey)
	trust := aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`)
	tags := []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	_, err := c.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("plain")})
	must(t, err)
	_, err = c.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("tagged"), Tags: tags})
	must(t, err)
	_, err = c.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("plain"), AssumeRolePolicyDocument: trust})
	must(t, err)
	_, err = c.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("tagged"), AssumeRolePolicyDocument: trust, Tags: tags})
	must(t, err)

	check := func(what string, got []iamtypes.Tag, want int) {
		t.Helper()
		if want == 0 && got != nil || len(got) != want {
			t.Errorf("%s: Tags = %#v, want %d tags (none: no Tags element, nil)", what, got, want)
		}
	}
	for _, n := range []string{"plain", "tagged"} {
		want := 0
		if n == "tagged" {
			want = 1
		}
		u, err := c.GetUser(ctx(t), &awsiam.GetUserInput{UserName: aws.String(n)})
		must(t, err)
		check("GetUser "+n, u.User.Tags, want)
		r, err := c.GetRole(ctx(t), &awsiam.GetRoleInput{RoleName: aws.String(n)})
		must(t, err)
		check("GetRole "+n, r.Role.Tags, want)
	}
	me, err := c.GetUser(ctx(t), &awsiam.GetUserInput{})
	must(t, err)
	check("GetUser (root)", me.User.Tags, 0)
	us, err := c.ListUsers(ctx(t), &awsiam.ListUsersInput{})
	must(t, err)
	for _, u := range us.Users {
		check("ListUsers "+aws.ToString(u.UserName), u.Tags, 0)
	}
	rs, err := c.ListRoles(ctx(t), &awsiam.ListRolesInput{})
	must(t, err)
	for _, r := range rs.Roles {
		check("ListRoles "+aws.ToString(r.RoleName), r.Tags, 0)
	}
	if len(us.Users) != 2 || len(rs.Roles) != 2 {
		t.Errorf("ListUsers %d, ListRoles %d, want 2 each", len(us.Users), len(rs.Roles))
	}
}

// TestIAMMarkerPattern: a Marker outside the model's pattern
// [\u0020-\u00FF]+ is a ValidationError in AWS's wording, for every listing.
func TestIAMMarkerPattern(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.iam(devAccessKey, devSecretKey)
	_, err := c.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("u")})
	must(t, err)
	_, err = c.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("r"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`)})
	must(t, err)
	const want = `failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0020-\u00FF]+`
	for _, m := range []string{"a\tb", "\u0100", "é\u2028"} {
		marker := aws.String(m)
		for name, call := range map[string]func() error{
			"ListUsers": func() error { _, err := c.ListUsers(ctx(t), &awsiam.ListUsersInput{Marker: marker}); return err },
			"ListRoles": func() error { _, err := c.ListRoles(ctx(t), &awsiam.ListRolesInput{Marker: marker}); return err },
			"ListAccessKeys": func() error {
				_, err := c.ListAccessKeys(ctx(t), &awsiam.ListAccessKeysInput{Marker: marker})
				return err
			},
			"ListUserTags": func() error {
				_, err := c.ListUserTags(ctx(t), &awsiam.ListUserTagsInput{UserName: aws.String("u"), Marker: marker})
				return err
			},
			"ListUserPolicies": func() error {
				_, err := c.ListUserPolicies(ctx(t), &awsiam.ListUserPoliciesInput{UserName: aws.String("u"), Marker: marker})
				return err
			},
			"ListRoleTags": func() error {
				_, err := c.ListRoleTags(ctx(t), &awsiam.ListRoleTagsInput{RoleName: aws.String("r"), Marker: marker})
				return err
			},
			"ListRolePolicies": func() error {
				_, err := c.ListRolePolicies(ctx(t), &awsiam.ListRolePoliciesInput{RoleName: aws.String("r"), Marker: marker})
				return err
			},
		} {
			t.Run(name, func(t *testing.T) {
				awstest.WantError(t, call(), "ValidationError", 400, "Value '"+m+"' at 'marker' "+want)
			})
		}
	}
	// Latin-1 and spaces are in the pattern.
	_, err = c.ListUsers(ctx(t), &awsiam.ListUsersInput{Marker: aws.String("ÿ a")})
	must(t, err)
}

// TestIAMGetRoleLastUsed: GetRole answers a RoleLastUsed structure, empty
// for a role not used (as AWS answers a role unused in its tracking period:
// the CLI shows "RoleLastUsed": {}), so that the SDK's RoleLastUsed is not
// nil; ListRoles leaves it out, as AWS does.
func TestIAMGetRoleLastUsed(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.iam(devAccessKey, devSecretKey)
	_, err := c.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("r"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`)})
	must(t, err)
	r, err := c.GetRole(ctx(t), &awsiam.GetRoleInput{RoleName: aws.String("r")})
	must(t, err)
	if r.Role.RoleLastUsed == nil {
		t.Fatal("GetRole: RoleLastUsed = nil, want an empty RoleLastUsed (AWS: <RoleLastUsed/>)")
	}
	if r.Role.RoleLastUsed.LastUsedDate != nil || r.Role.RoleLastUsed.Region != nil {
		t.Errorf("GetRole: RoleLastUsed = %+v, want empty", *r.Role.RoleLastUsed)
	}
	rs, err := c.ListRoles(ctx(t), &awsiam.ListRolesInput{})
	must(t, err)
	if len(rs.Roles) != 1 || rs.Roles[0].RoleLastUsed != nil {
		t.Errorf("ListRoles = %+v, want one role without RoleLastUsed", rs.Roles)
	}
}

// TestIAMTagMarkersFitThePattern: the Marker a tag listing answers fits the
// model's pattern [\u0020-\u00FF]+ and 320 characters even when the tag
// keys are not Latin-1, so it is taken back and the listing goes on (AWS's
// markers are opaque and always accepted back).
func TestIAMTagMarkersFitThePattern(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.iam(devAccessKey, devSecretKey)
	keys := []string{"Ab", "日本語", strings.Repeat("語", 128), strings.Repeat("語", 127) + "x", "é", "𝒜𝒷"}
	var tags []iamtypes.Tag
	for _, k := range keys {
		tags = append(tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String("v")})
	}
	_, err := c.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("u"), Tags: tags})
	must(t, err)
	var got []string
	var marker *string
	for range 2 * len(keys) {
		out, err := c.ListUserTags(ctx(t), &awsiam.ListUserTagsInput{UserName: aws.String("u"), MaxItems: aws.Int32(1), Marker: marker})
		must(t, err)
		for _, tg := range out.Tags {
			got = append(got, aws.ToString(tg.Key))
		}
		if !out.IsTruncated {
			break
		}
		marker = out.Marker
		if n := len([]rune(*marker)); n > 320 || strings.ContainsFunc(*marker, func(r rune) bool { return r < 0x20 || r > 0xff }) {
			t.Fatalf("Marker %q (%d characters) is outside [\\u0020-\\u00FF]{1,320}", *marker, n)
		}
	}
	if len(got) != len(keys) {
		t.Fatalf("paged ListUserTags = %q, want the %d keys once each", got, len(keys))
	}
	seen := map[string]bool{}
	for _, k := range got {
		if seen[k] {
			t.Errorf("key %q listed twice", k)
		}
		seen[k] = true
	}
}

// TestSTSRoleArnPattern: a RoleArn outside the model's arnType pattern (a
// control character, DEL) is a ValidationError in AWS's wording, not an
// AccessDenied.
func TestSTSRoleArnPattern(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.sts(devAccessKey, devSecretKey, "")
	const pattern = `[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`
	for _, a := range []string{"arn:aws:iam::111122223333:role/r\x01", "arn:aws:iam::111122223333:role/r\x7f", "arn:aws:iam::111122223333:role/r\u0086"} {
		_, err := c.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(a), RoleSessionName: aws.String("s1")})
		awstest.WantError(t, err, "ValidationError", 400, "at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: "+pattern)
	}
}

// TestSTSPackedTagsMessage: session tags over the packed limit are
// PackedPolicyTooLarge with AWS's message, "Packed size of session tags
// consumes N% of allotted space." (as AWS records it in CloudTrail).
func TestSTSPackedTagsMessage(t *testing.T) {
	t.Parallel()
	s, _, admin, root, _ := startAdmin(t)
	_, err := root.CreateUser(ctx(t), &awsiam.CreateUserInput{UserName: aws.String("dev")})
	must(t, err)
	k, err := root.CreateAccessKey(ctx(t), &awsiam.CreateAccessKeyInput{UserName: aws.String("dev")})
	must(t, err)
	_, err = root.CreateRole(ctx(t), &awsiam.CreateRoleInput{RoleName: aws.String("r"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + admin.Account + `:user/dev"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`)})
	must(t, err)
	var tags []ststypes.Tag
	for i := range 10 {
		tags = append(tags, ststypes.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String(strings.Repeat("v", 256))})
	}
	c := s.sts(aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey), "")
	_, err = c.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + admin.Account + ":role/r"), RoleSessionName: aws.String("s1"), Tags: tags})
	awstest.WantError(t, err, "PackedPolicyTooLarge", 400, "Packed size of session tags consumes ")
	var ptl *ststypes.PackedPolicyTooLargeException
	if !errors.As(err, &ptl) || !regexp.MustCompile(`^Packed size of session tags consumes [0-9]+% of allotted space\.$`).MatchString(ptl.ErrorMessage()) {
		t.Errorf("AssumeRole with oversized session tags: %v, want PackedPolicyTooLargeException \"Packed size of session tags consumes N%% of allotted space.\"", err)
	}
}
