package iam

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
)

var errNoBoundaries = kmserr.ErrInvalidInput.With("Trent does not support permissions boundaries.")

// CreateUser implements iam:CreateUser.
func (s *Service) CreateUser(ctx context.Context, c Caller, in *CreateUserInput) (*CreateUserOutput, error) {
	e, err := users.creating(s, &c, in.UserName, in.Path, in.Tags, in.PermissionsBoundary, func(*checker) {})
	if err != nil {
		return nil, err
	}
	u := &user{e}
	if err := users.create(ctx, s, u); err != nil {
		return nil, err
	}
	return &CreateUserOutput{User: u.out()}, nil
}

// writeError maps a failed storage write: a record that exists although
// memory did not know it (another node) is EntityAlreadyExists.
func writeError(err error, exists string) error {
	if errors.Is(err, storage.ErrExists) {
		return kmserr.ErrEntityAlreadyExists.With("%s", exists)
	}
	return err
}

func (u *user) out() User {
	return User{Path: u.path, UserName: u.name, UserID: u.id, Arn: u.arn, CreateDate: Timestamp{u.created}, Tags: slices.Clone(u.tags)}
}

// GetUser implements iam:GetUser. Without UserName it describes the caller
// (for the root user: UserId = the account, Arn = the root ARN).
func (s *Service) GetUser(ctx context.Context, c Caller, in *GetUserInput) (*GetUserOutput, error) {
	acct, err := callerAccount(&c, func(v *checker) { v.optName("userName", in.UserName) })
	if err != nil {
		return nil, err
	}
	st := s.snapshot()
	if in.UserName == "" && c.Principal.IsRoot() {
		a := st.accounts[acct]
		out := &GetUserOutput{User: User{UserID: acct, Arn: arn.Root(s.partition, acct)}}
		if a != nil {
			out.User.CreateDate = Timestamp{a.created}
		}
		return out, nil
	}
	name := in.UserName
	if name == "" {
		name = c.Principal.UserName
	}
	res, tags := users.resource(s, st, acct, name)
	if err := s.authorize(&c, "iam:GetUser", res, tagKeys{resource: tags}); err != nil {
		return nil, err
	}
	if in.UserName == "" && c.Principal.Type != IAMUser {
		return nil, errNoUserName
	}
	u, err := users.find(st, acct, name)
	if err != nil {
		return nil, err
	}
	return &GetUserOutput{User: u.out()}, nil
}

var errNoUserName = kmserr.ErrIAMValidation.With("Must specify userName when calling with non-User credentials")

// ListUsers implements iam:ListUsers: the account's users whose path starts
// with PathPrefix, ordered by name, without their tags (as AWS lists them).
func (s *Service) ListUsers(ctx context.Context, c Caller, in *ListUsersInput) (*ListUsersOutput, error) {
	us, next, err := users.list(s, &c, in.PathPrefix, in.Marker, in.MaxItems)
	out := &ListUsersOutput{Users: []User{}, IsTruncated: next != "", Marker: next}
	for _, u := range us {
		o := u.out()
		o.Tags = nil
		out.Users = append(out.Users, o)
	}
	return answer(out, err)
}

// DeleteUser implements iam:DeleteUser. A user with access keys or inline
// policies is DeleteConflict, as in AWS.
func (s *Service) DeleteUser(ctx context.Context, c Caller, in *DeleteUserInput) (*DeleteUserOutput, error) {
	return answer(&DeleteUserOutput{}, users.remove(ctx, s, &c, in.UserName))
}

// TagUser implements iam:TagUser.
func (s *Service) TagUser(ctx context.Context, c Caller, in *TagUserInput) (*TagUserOutput, error) {
	return answer(&TagUserOutput{}, users.tag(ctx, s, &c, in.UserName, in.Tags))
}

// PutUserPolicy implements iam:PutUserPolicy.
func (s *Service) PutUserPolicy(ctx context.Context, c Caller, in *PutUserPolicyInput) (*PutUserPolicyOutput, error) {
	return answer(&PutUserPolicyOutput{}, users.putInline(ctx, s, &c, in.UserName, in.PolicyName, in.PolicyDocument))
}

// GetUserPolicy implements iam:GetUserPolicy. The document is returned
// URL-encoded, as AWS returns it.
func (s *Service) GetUserPolicy(ctx context.Context, c Caller, in *GetUserPolicyInput) (*GetUserPolicyOutput, error) {
	n, p, err := users.getInline(s, &c, in.UserName, in.PolicyName)
	return answer(&GetUserPolicyOutput{UserName: n, PolicyName: p.name, PolicyDocument: encodeDocument(p.doc)}, err)
}

// ListUserPolicies implements iam:ListUserPolicies.
func (s *Service) ListUserPolicies(ctx context.Context, c Caller, in *ListUserPoliciesInput) (*ListUserPoliciesOutput, error) {
	names, next, err := users.listInline(s, &c, in.UserName, in.Marker, in.MaxItems)
	return answer(&ListUserPoliciesOutput{PolicyNames: names, IsTruncated: next != "", Marker: next}, err)
}

// UntagUser implements iam:UntagUser.
func (s *Service) UntagUser(ctx context.Context, c Caller, in *UntagUserInput) (*UntagUserOutput, error) {
	return answer(&UntagUserOutput{}, users.untag(ctx, s, &c, in.UserName, in.TagKeys))
}

// ListUserTags implements iam:ListUserTags.
func (s *Service) ListUserTags(ctx context.Context, c Caller, in *ListUserTagsInput) (*ListUserTagsOutput, error) {
	tags, next, err := users.listTags(s, &c, in.UserName, in.Marker, in.MaxItems)
	return answer(&ListUserTagsOutput{Tags: tags, IsTruncated: next != "", Marker: next}, err)
}

// DeleteUserPolicy implements iam:DeleteUserPolicy.
func (s *Service) DeleteUserPolicy(ctx context.Context, c Caller, in *DeleteUserPolicyInput) (*DeleteUserPolicyOutput, error) {
	return answer(&DeleteUserPolicyOutput{}, users.deleteInline(ctx, s, &c, in.UserName, in.PolicyName))
}

// putPolicy returns ps with p added or replacing the policy of the same
// name, sorted by name; an error when the sum of the sizes exceeds quota.
func putPolicy(ps []inlinePolicy, p inlinePolicy, quota int) ([]inlinePolicy, error) {
	out := make([]inlinePolicy, 0, len(ps)+1)
	size := policySize(p.doc)
	for _, q := range ps {
		if !strings.EqualFold(q.name, p.name) {
			out = append(out, q)
			size += policySize(q.doc)
		}
	}
	if size > quota {
		return nil, kmserr.ErrIAMLimitExceeded
	}
	out = append(out, p)
	slices.SortFunc(out, func(a, b inlinePolicy) int { return strings.Compare(caseKey(a.name), caseKey(b.name)) })
	return out, nil
}

// policyIndex is the index of the policy named policyName in ps, or -1.
func policyIndex(ps []inlinePolicy, policyName string) int {
	return slices.IndexFunc(ps, func(p inlinePolicy) bool { return strings.EqualFold(p.name, policyName) })
}

// checkTagCount answers what AWS answers for too many or duplicated tags in
// one request.
func checkTagCount(tags []Tag) error {
	if len(tags) > maxTags {
		return kmserr.ErrIAMValidation.With("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", maxTags)
	}
	for i := range tags {
		for j := range i {
			if strings.EqualFold(tags[i].Key, tags[j].Key) {
				return kmserr.ErrInvalidInput.With("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
			}
		}
	}
	return nil
}
