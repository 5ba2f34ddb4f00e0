package iam

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/storage"
)

var errNoBoundaries = kmserr.ErrInvalidInput.With("Trent does not support permissions boundaries.")

// CreateUser implements iam:CreateUser.
func (s *Service) CreateUser(ctx context.Context, c Caller, in *CreateUserInput) (*CreateUserOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("userName", in.UserName, maxNameLen)
	v.path("path", in.Path)
	v.tags("tags", in.Tags)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTagCount(in.Tags); err != nil {
		return nil, err
	}
	if in.PermissionsBoundary != "" {
		return nil, errNoBoundaries
	}
	path := in.Path
	if path == "" {
		path = "/"
	}
	userARN := arn.User(s.partition, acct, path, in.UserName)
	if err := s.authorize(&c, "iam:CreateUser", userARN); err != nil {
		return nil, err
	}
	u, err := s.createUser(ctx, acct, in.UserName, path, in.Tags, nil)
	if err != nil {
		return nil, err
	}
	return &CreateUserOutput{User: u.out()}, nil
}

// createUser creates a user (API and seed file).
func (s *Service) createUser(ctx context.Context, acct, userName, path string, tags []Tag, policies []inlinePolicy) (*user, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	if st.accounts[acct] == nil {
		return nil, kmserr.ErrIAMAccessDenied.With("Account %s is not an account of this server.", acct)
	}
	if st.users[nameOf(acct, userName)] != nil {
		return nil, kmserr.ErrEntityAlreadyExists.With("User with name %s already exists.", userName)
	}
	u := &user{account: acct, name: userName, path: path, id: generateID(prefixUserID, 17),
		arn: arn.User(s.partition, acct, path, userName), created: s.now().UTC().Truncate(time.Second),
		tags: slices.Clone(tags), policies: policies}
	u.compiled = compileSet(u.policies)
	next := st.clone()
	next.users[nameOf(acct, userName)] = u
	err := s.commit(ctx, next, func(tx storage.Tx) error {
		return put(tx, userPath(acct, userName), u.record(), true)
	})
	if err != nil {
		return nil, writeError(err, "User with name "+userName+" already exists.")
	}
	return u, nil
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

// targetUser resolves the user an operation names: userName, or the
// caller's own user when empty. For the root user calling about itself
// (allowed only where AWS allows it) it returns nil, nil.
func (s *Service) targetUser(st *state, c *Caller, acct, userName string, rootOK bool) (*user, error) {
	if userName == "" {
		switch c.Principal.Type {
		case IAMUser:
			userName = c.Principal.UserName
		case Root:
			if rootOK {
				return nil, nil
			}
			fallthrough
		default:
			return nil, kmserr.ErrIAMValidation.With("Must specify userName when calling with non-User credentials")
		}
	}
	u := st.users[nameOf(acct, userName)]
	if u == nil {
		return nil, kmserr.ErrNoSuchEntity.With("The user with name %s cannot be found.", userName)
	}
	return u, nil
}

// userResource is the ARN authorization sees for userName: the user's ARN
// when it exists, else user/NAME.
func (s *Service) userResource(st *state, acct, userName string) string {
	if u := st.users[nameOf(acct, userName)]; u != nil {
		return u.arn
	}
	return arn.User(s.partition, acct, "/", userName)
}

// GetUser implements iam:GetUser. Without UserName it describes the caller
// (for the root user: UserId = the account, Arn = the root ARN).
func (s *Service) GetUser(ctx context.Context, c Caller, in *GetUserInput) (*GetUserOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.optName("userName", in.UserName)
	if err := v.err(); err != nil {
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
	if err := s.authorize(&c, "iam:GetUser", s.userResource(st, acct, name)); err != nil {
		return nil, err
	}
	u, err := s.targetUser(st, &c, acct, in.UserName, false)
	if err != nil {
		return nil, err
	}
	return &GetUserOutput{User: u.out()}, nil
}

// ListUsers implements iam:ListUsers: the account's users whose path starts
// with PathPrefix, ordered by name, without their tags (as AWS lists them).
func (s *Service) ListUsers(ctx context.Context, c Caller, in *ListUsersInput) (*ListUsersOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.pathPrefix("pathPrefix", in.PathPrefix)
	v.marker(in.Marker)
	v.maxItems(in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:ListUsers", arn.User(s.partition, acct, "/", "*")); err != nil {
		return nil, err
	}
	var us []*user
	for k, u := range s.snapshot().users {
		if k.account == acct && strings.HasPrefix(u.path, in.PathPrefix) {
			us = append(us, u)
		}
	}
	us, next := listPage(us, func(u *user) string { return caseKey(u.name) }, in.Marker, in.MaxItems)
	out := &ListUsersOutput{Users: []User{}, IsTruncated: next != "", Marker: next}
	for _, u := range us {
		o := u.out()
		o.Tags = nil
		out.Users = append(out.Users, o)
	}
	return out, nil
}

// DeleteUser implements iam:DeleteUser. A user with access keys or inline
// policies is DeleteConflict, as in AWS.
func (s *Service) DeleteUser(ctx context.Context, c Caller, in *DeleteUserInput) (*DeleteUserOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("userName", in.UserName, maxNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:DeleteUser", s.userResource(s.snapshot(), acct, in.UserName)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	u := st.users[nameOf(acct, in.UserName)]
	if u == nil {
		return nil, kmserr.ErrNoSuchEntity.With("The user with name %s cannot be found.", in.UserName)
	}
	for _, k := range st.keys {
		if k.account == acct && strings.EqualFold(k.user, u.name) {
			return nil, kmserr.ErrDeleteConflict.With("Cannot delete entity, must delete access keys first.")
		}
	}
	if len(u.policies) > 0 {
		return nil, kmserr.ErrDeleteConflict.With("Cannot delete entity, must delete policies first.")
	}
	next := st.clone()
	delete(next.users, nameOf(acct, u.name))
	err = s.commit(ctx, next, func(tx storage.Tx) error { return tx.Delete(userPath(acct, u.name)) })
	if err != nil {
		return nil, err
	}
	return &DeleteUserOutput{}, nil
}

// TagUser implements iam:TagUser: tags are added, or replace the value of
// a tag with the same key (keys match without regard to case).
func (s *Service) TagUser(ctx context.Context, c Caller, in *TagUserInput) (*TagUserOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("userName", in.UserName, maxNameLen)
	if len(in.Tags) == 0 {
		v.Required("tags")
	}
	v.tags("tags", in.Tags)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTagCount(in.Tags); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:TagUser", s.userResource(s.snapshot(), acct, in.UserName)); err != nil {
		return nil, err
	}
	err = s.updateUser(ctx, acct, in.UserName, func(u *user) error {
		tags := mergeTags(u.tags, in.Tags)
		if len(tags) > maxTags {
			return kmserr.ErrIAMLimitExceeded.With("The number of tags has reached the maximum limit.")
		}
		u.tags = tags
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &TagUserOutput{}, nil
}

// updateUser applies change to a copy of the user and stores it; the
// principals of the user's access keys are rebuilt.
func (s *Service) updateUser(ctx context.Context, acct, userName string, change func(u *user) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	old := st.users[nameOf(acct, userName)]
	if old == nil {
		return kmserr.ErrNoSuchEntity.With("The user with name %s cannot be found.", userName)
	}
	u := *old
	u.tags = slices.Clone(old.tags)
	u.policies = slices.Clone(old.policies)
	if err := change(&u); err != nil {
		return err
	}
	u.compiled = compileSet(u.policies)
	next := st.clone()
	next.users[nameOf(acct, u.name)] = &u
	next.rebindUser(acct, u.name, s.partition)
	return s.commit(ctx, next, func(tx storage.Tx) error {
		return update(tx, userPath(acct, u.name), u.record(), kmserr.ErrNoSuchEntity.With("The user with name %s cannot be found.", userName))
	})
}

// ---- user inline policies ----

// PutUserPolicy implements iam:PutUserPolicy.
func (s *Service) PutUserPolicy(ctx context.Context, c Caller, in *PutUserPolicyInput) (*PutUserPolicyOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("userName", in.UserName, maxNameLen)
	v.name("policyName", in.PolicyName, maxPolicyNameLen)
	v.policyDocument("policyDocument", in.PolicyDocument)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:PutUserPolicy", s.userResource(s.snapshot(), acct, in.UserName)); err != nil {
		return nil, err
	}
	compiled, err := compileIdentity(in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	err = s.updateUser(ctx, acct, in.UserName, func(u *user) error {
		ps, err := putPolicy(u.policies, inlinePolicy{name: in.PolicyName, doc: in.PolicyDocument, compiled: compiled}, policy.MaxUserPolicySize)
		if err != nil {
			return kmserr.ErrIAMLimitExceeded.With("Maximum policy size of %d bytes exceeded for user %s", policy.MaxUserPolicySize, u.name)
		}
		u.policies = ps
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &PutUserPolicyOutput{}, nil
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

func findPolicy(ps []inlinePolicy, policyName string) (inlinePolicy, bool) {
	for _, p := range ps {
		if strings.EqualFold(p.name, policyName) {
			return p, true
		}
	}
	return inlinePolicy{}, false
}

// GetUserPolicy implements iam:GetUserPolicy. The document is returned
// URL-encoded, as AWS returns it.
func (s *Service) GetUserPolicy(ctx context.Context, c Caller, in *GetUserPolicyInput) (*GetUserPolicyOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("userName", in.UserName, maxNameLen)
	v.name("policyName", in.PolicyName, maxPolicyNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	st := s.snapshot()
	if err := s.authorize(&c, "iam:GetUserPolicy", s.userResource(st, acct, in.UserName)); err != nil {
		return nil, err
	}
	u, err := s.targetUser(st, &c, acct, in.UserName, false)
	if err != nil {
		return nil, err
	}
	p, ok := findPolicy(u.policies, in.PolicyName)
	if !ok {
		return nil, kmserr.ErrNoSuchEntity.With("The user policy with name %s cannot be found.", in.PolicyName)
	}
	return &GetUserPolicyOutput{UserName: u.name, PolicyName: p.name, PolicyDocument: encodeDocument(p.doc)}, nil
}

// ListUserPolicies implements iam:ListUserPolicies.
func (s *Service) ListUserPolicies(ctx context.Context, c Caller, in *ListUserPoliciesInput) (*ListUserPoliciesOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("userName", in.UserName, maxNameLen)
	v.marker(in.Marker)
	v.maxItems(in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	st := s.snapshot()
	if err := s.authorize(&c, "iam:ListUserPolicies", s.userResource(st, acct, in.UserName)); err != nil {
		return nil, err
	}
	u, err := s.targetUser(st, &c, acct, in.UserName, false)
	if err != nil {
		return nil, err
	}
	ps, next := listPage(slices.Clone(u.policies), func(p inlinePolicy) string { return caseKey(p.name) }, in.Marker, in.MaxItems)
	out := &ListUserPoliciesOutput{PolicyNames: []string{}, IsTruncated: next != "", Marker: next}
	for _, p := range ps {
		out.PolicyNames = append(out.PolicyNames, p.name)
	}
	return out, nil
}

// DeleteUserPolicy implements iam:DeleteUserPolicy.
func (s *Service) DeleteUserPolicy(ctx context.Context, c Caller, in *DeleteUserPolicyInput) (*DeleteUserPolicyOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("userName", in.UserName, maxNameLen)
	v.name("policyName", in.PolicyName, maxPolicyNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:DeleteUserPolicy", s.userResource(s.snapshot(), acct, in.UserName)); err != nil {
		return nil, err
	}
	err = s.updateUser(ctx, acct, in.UserName, func(u *user) error {
		ps, ok := deletePolicy(u.policies, in.PolicyName)
		if !ok {
			return kmserr.ErrNoSuchEntity.With("The user policy with name %s cannot be found.", in.PolicyName)
		}
		u.policies = ps
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &DeleteUserPolicyOutput{}, nil
}

func deletePolicy(ps []inlinePolicy, policyName string) ([]inlinePolicy, bool) {
	i := slices.IndexFunc(ps, func(p inlinePolicy) bool { return strings.EqualFold(p.name, policyName) })
	if i < 0 {
		return nil, false
	}
	return slices.Delete(slices.Clone(ps), i, i+1), true
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
