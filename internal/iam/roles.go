package iam

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/storage"
)

// CreateRole implements iam:CreateRole.
func (s *Service) CreateRole(ctx context.Context, c Caller, in *CreateRoleInput) (*CreateRoleOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("roleName", in.RoleName, maxNameLen)
	v.path("path", in.Path)
	v.policyDocument("assumeRolePolicyDocument", in.AssumeRolePolicyDocument)
	v.description(in.Description)
	v.sessionDuration(in.MaxSessionDuration)
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
	roleARN := arn.Role(s.partition, acct, path, in.RoleName)
	if err := s.authorize(&c, "iam:CreateRole", roleARN); err != nil {
		return nil, err
	}
	trust, err := checkTrust(in.AssumeRolePolicyDocument)
	if err != nil {
		return nil, err
	}
	r := &role{account: acct, name: in.RoleName, path: path, arn: roleARN, description: in.Description,
		trust: in.AssumeRolePolicyDocument, trustCompiled: trust, maxSession: defaultRoleDuration,
		tags: slices.Clone(in.Tags)}
	if in.MaxSessionDuration != nil {
		r.maxSession = *in.MaxSessionDuration
	}
	if err := s.createRole(ctx, r); err != nil {
		return nil, err
	}
	return &CreateRoleOutput{Role: r.out()}, nil
}

// checkTrust parses a trust policy (its quota is internal/policy's).
func checkTrust(doc string) (*policy.Policy, error) { return compileTrust(doc) }

// createRole stores a new role (r's id and creation date are set here).
func (s *Service) createRole(ctx context.Context, r *role) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	if st.accounts[r.account] == nil {
		return kmserr.ErrIAMAccessDenied.With("Account %s is not an account of this server.", r.account)
	}
	if st.roles[nameOf(r.account, r.name)] != nil {
		return kmserr.ErrEntityAlreadyExists.With("Role with name %s already exists.", r.name)
	}
	r.id = generateID(prefixRoleID, 17)
	r.created = s.now().UTC().Truncate(time.Second)
	r.compiled = compileSet(r.policies)
	next := st.clone()
	next.roles[nameOf(r.account, r.name)] = r
	err := s.commit(ctx, next, func(tx storage.Tx) error {
		return put(tx, rolePath(r.account, r.name), r.record(), true)
	})
	return writeError(err, "Role with name "+r.name+" already exists.")
}

func (r *role) out() Role {
	return Role{Path: r.path, RoleName: r.name, RoleID: r.id, Arn: r.arn, CreateDate: Timestamp{r.created},
		AssumeRolePolicyDocument: encodeDocument(r.trust), Description: r.description,
		MaxSessionDuration: r.maxSession, Tags: slices.Clone(r.tags)}
}

func (s *Service) roleResource(st *state, acct, roleName string) string {
	if r := st.roles[nameOf(acct, roleName)]; r != nil {
		return r.arn
	}
	return arn.Role(s.partition, acct, "/", roleName)
}

func noSuchRole(roleName string) error {
	return kmserr.ErrNoSuchEntity.With("The role with name %s cannot be found.", roleName)
}

// GetRole implements iam:GetRole.
func (s *Service) GetRole(ctx context.Context, c Caller, in *GetRoleInput) (*GetRoleOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("roleName", in.RoleName, maxNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	st := s.snapshot()
	if err := s.authorize(&c, "iam:GetRole", s.roleResource(st, acct, in.RoleName)); err != nil {
		return nil, err
	}
	r := st.roles[nameOf(acct, in.RoleName)]
	if r == nil {
		return nil, noSuchRole(in.RoleName)
	}
	return &GetRoleOutput{Role: r.out()}, nil
}

// ListRoles implements iam:ListRoles. As AWS's listing operations do, it
// leaves out the roles' tags.
func (s *Service) ListRoles(ctx context.Context, c Caller, in *ListRolesInput) (*ListRolesOutput, error) {
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
	if err := s.authorize(&c, "iam:ListRoles", arn.Role(s.partition, acct, "/", "*")); err != nil {
		return nil, err
	}
	var rs []*role
	for k, r := range s.snapshot().roles {
		if k.account == acct && strings.HasPrefix(r.path, in.PathPrefix) {
			rs = append(rs, r)
		}
	}
	rs, next := listPage(rs, func(r *role) string { return caseKey(r.name) }, in.Marker, in.MaxItems)
	out := &ListRolesOutput{Roles: []Role{}, IsTruncated: next != "", Marker: next}
	for _, r := range rs {
		o := r.out()
		o.Tags = nil
		out.Roles = append(out.Roles, o)
	}
	return out, nil
}

// DeleteRole implements iam:DeleteRole. A role with inline policies is
// DeleteConflict. Sessions of the role are refused from the next request on.
func (s *Service) DeleteRole(ctx context.Context, c Caller, in *DeleteRoleInput) (*DeleteRoleOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("roleName", in.RoleName, maxNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:DeleteRole", s.roleResource(s.snapshot(), acct, in.RoleName)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	r := st.roles[nameOf(acct, in.RoleName)]
	if r == nil {
		return nil, noSuchRole(in.RoleName)
	}
	if len(r.policies) > 0 {
		return nil, kmserr.ErrDeleteConflict.With("Cannot delete entity, must delete policies first.")
	}
	next := st.clone()
	delete(next.roles, nameOf(acct, r.name))
	if err := s.commit(ctx, next, func(tx storage.Tx) error { return tx.Delete(rolePath(acct, r.name)) }); err != nil {
		return nil, err
	}
	return &DeleteRoleOutput{}, nil
}

// TagRole implements iam:TagRole.
func (s *Service) TagRole(ctx context.Context, c Caller, in *TagRoleInput) (*TagRoleOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("roleName", in.RoleName, maxNameLen)
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
	if err := s.authorize(&c, "iam:TagRole", s.roleResource(s.snapshot(), acct, in.RoleName)); err != nil {
		return nil, err
	}
	err = s.updateRole(ctx, acct, in.RoleName, func(r *role) error {
		tags := mergeTags(r.tags, in.Tags)
		if len(tags) > maxTags {
			return kmserr.ErrIAMLimitExceeded.With("The number of tags has reached the maximum limit.")
		}
		r.tags = tags
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &TagRoleOutput{}, nil
}

func (s *Service) updateRole(ctx context.Context, acct, roleName string, change func(r *role) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	old := st.roles[nameOf(acct, roleName)]
	if old == nil {
		return noSuchRole(roleName)
	}
	r := *old
	r.tags = slices.Clone(old.tags)
	r.policies = slices.Clone(old.policies)
	if err := change(&r); err != nil {
		return err
	}
	r.compiled = compileSet(r.policies)
	next := st.clone()
	next.roles[nameOf(acct, r.name)] = &r
	return s.commit(ctx, next, func(tx storage.Tx) error {
		return update(tx, rolePath(acct, r.name), r.record(), noSuchRole(roleName))
	})
}

// ---- role inline policies ----

// PutRolePolicy implements iam:PutRolePolicy.
func (s *Service) PutRolePolicy(ctx context.Context, c Caller, in *PutRolePolicyInput) (*PutRolePolicyOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("roleName", in.RoleName, maxNameLen)
	v.name("policyName", in.PolicyName, maxPolicyNameLen)
	v.policyDocument("policyDocument", in.PolicyDocument)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:PutRolePolicy", s.roleResource(s.snapshot(), acct, in.RoleName)); err != nil {
		return nil, err
	}
	compiled, err := compileIdentity(in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	err = s.updateRole(ctx, acct, in.RoleName, func(r *role) error {
		ps, err := putPolicy(r.policies, inlinePolicy{name: in.PolicyName, doc: in.PolicyDocument, compiled: compiled}, policy.MaxRolePolicySize)
		if err != nil {
			return kmserr.ErrIAMLimitExceeded.With("Maximum policy size of %d bytes exceeded for role %s", policy.MaxRolePolicySize, r.name)
		}
		r.policies = ps
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &PutRolePolicyOutput{}, nil
}

// GetRolePolicy implements iam:GetRolePolicy (the document URL-encoded).
func (s *Service) GetRolePolicy(ctx context.Context, c Caller, in *GetRolePolicyInput) (*GetRolePolicyOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("roleName", in.RoleName, maxNameLen)
	v.name("policyName", in.PolicyName, maxPolicyNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	st := s.snapshot()
	if err := s.authorize(&c, "iam:GetRolePolicy", s.roleResource(st, acct, in.RoleName)); err != nil {
		return nil, err
	}
	r := st.roles[nameOf(acct, in.RoleName)]
	if r == nil {
		return nil, noSuchRole(in.RoleName)
	}
	p, ok := findPolicy(r.policies, in.PolicyName)
	if !ok {
		return nil, kmserr.ErrNoSuchEntity.With("The role policy with name %s cannot be found.", in.PolicyName)
	}
	return &GetRolePolicyOutput{RoleName: r.name, PolicyName: p.name, PolicyDocument: encodeDocument(p.doc)}, nil
}

// DeleteRolePolicy implements iam:DeleteRolePolicy.
func (s *Service) DeleteRolePolicy(ctx context.Context, c Caller, in *DeleteRolePolicyInput) (*DeleteRolePolicyOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.name("roleName", in.RoleName, maxNameLen)
	v.name("policyName", in.PolicyName, maxPolicyNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:DeleteRolePolicy", s.roleResource(s.snapshot(), acct, in.RoleName)); err != nil {
		return nil, err
	}
	err = s.updateRole(ctx, acct, in.RoleName, func(r *role) error {
		ps, ok := deletePolicy(r.policies, in.PolicyName)
		if !ok {
			return kmserr.ErrNoSuchEntity.With("The role policy with name %s cannot be found.", in.PolicyName)
		}
		r.policies = ps
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &DeleteRolePolicyOutput{}, nil
}

func (c *checker) description(v string) {
	if v != "" && c.length("description", v, 0, maxDescriptionLen) {
		ok := true
		for _, r := range v {
			if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r >= 0xa1 && r <= 0xff) {
				ok = false
				break
			}
		}
		c.pattern("description", v, patternDesc, ok)
	}
}

func (c *checker) sessionDuration(v *int32) {
	if v == nil {
		return
	}
	s := strconv.Itoa(int(*v))
	switch {
	case *v < defaultRoleDuration:
		c.Add("maxSessionDuration", s, true, "Member must have value greater than or equal to 3600")
	case *v > maxSessionDuration:
		c.Add("maxSessionDuration", s, true, "Member must have value less than or equal to 43200")
	}
}
