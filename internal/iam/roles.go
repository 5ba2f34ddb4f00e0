package iam

import (
	"context"
	"slices"
	"strconv"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
)

// CreateRole implements iam:CreateRole.
func (s *Service) CreateRole(ctx context.Context, c Caller, in *CreateRoleInput) (*CreateRoleOutput, error) {
	e, err := roles.creating(s, &c, in.RoleName, in.Path, in.Tags, in.PermissionsBoundary, func(v *checker) {
		v.policyDocument("assumeRolePolicyDocument", in.AssumeRolePolicyDocument)
		v.description(in.Description)
		v.sessionDuration(in.MaxSessionDuration)
	})
	if err != nil {
		return nil, err
	}
	trust, ids, err := s.checkTrust(in.AssumeRolePolicyDocument)
	if err != nil {
		return nil, err
	}
	r := &role{entity: e, description: in.Description, trust: in.AssumeRolePolicyDocument, trustIDs: ids, trustCompiled: trust,
		maxSession: defaultRoleDuration}
	if in.MaxSessionDuration != nil {
		r.maxSession = *in.MaxSessionDuration
	}
	if err := roles.create(ctx, s, r); err != nil {
		return nil, err
	}
	return &CreateRoleOutput{Role: r.out(s)}, nil
}

// checkTrust parses a trust policy (its quota is internal/policy's) and
// binds the users and roles it names to their unique ids (policy.Bind): each
// must exist, as in AWS.
func (s *Service) checkTrust(doc string) (*policy.Policy, map[string]string, error) {
	p, err := compileTrust(doc)
	if err != nil {
		return nil, nil, err
	}
	var ids map[string]string
	for _, a := range p.NamedPrincipals() {
		id, ok := s.PrincipalID(a)
		if !ok {
			return nil, nil, kmserr.ErrIAMMalformedPolicy.With("Invalid principal in policy: \"AWS\":\"%s\"", a)
		}
		if ids == nil {
			ids = make(map[string]string)
		}
		ids[a] = id
	}
	return p.Bind(ids), ids, nil
}

// out is r as IAM answers it. A user or role its trust policy named that is
// gone shows as the unique id it was bound to, as in AWS.
func (r *role) out(s *Service) Role {
	return Role{Path: r.path, RoleName: r.name, RoleID: r.id, Arn: r.arn, CreateDate: Timestamp{r.created},
		AssumeRolePolicyDocument: encodeDocument(policy.ShowIDs(r.trust, r.trustIDs, s.PrincipalID)), Description: r.description,
		MaxSessionDuration: r.maxSession, Tags: slices.Clone(r.tags)}
}

// GetRole implements iam:GetRole.
func (s *Service) GetRole(ctx context.Context, c Caller, in *GetRoleInput) (*GetRoleOutput, error) {
	acct, st, err := roles.begin(s, &c, "GetRole", in.RoleName, tagKeys{}, nil)
	if err != nil {
		return nil, err
	}
	r, err := roles.find(st, acct, in.RoleName)
	if err != nil {
		return nil, err
	}
	out := &GetRoleOutput{Role: r.out(s)}
	out.Role.RoleLastUsed = &RoleLastUsed{}
	return out, nil
}

// ListRoles implements iam:ListRoles. As AWS's listing operations do, it
// leaves out the roles' tags.
func (s *Service) ListRoles(ctx context.Context, c Caller, in *ListRolesInput) (*ListRolesOutput, error) {
	rs, next, err := roles.list(s, &c, in.PathPrefix, in.Marker, in.MaxItems)
	out := &ListRolesOutput{Roles: []Role{}, IsTruncated: next != "", Marker: next}
	for _, r := range rs {
		o := r.out(s)
		o.Tags = nil
		out.Roles = append(out.Roles, o)
	}
	return answer(out, err)
}

// DeleteRole implements iam:DeleteRole. A role with inline policies is
// DeleteConflict. Sessions of the role are refused from the next request on.
func (s *Service) DeleteRole(ctx context.Context, c Caller, in *DeleteRoleInput) (*DeleteRoleOutput, error) {
	return answer(&DeleteRoleOutput{}, roles.remove(ctx, s, &c, in.RoleName))
}

// UpdateAssumeRolePolicy implements iam:UpdateAssumeRolePolicy: the role's
// trust policy, checked and bound as CreateRole's, decides from the next
// AssumeRole on (sessions already issued keep working until they expire, as
// in AWS).
func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, c Caller, in *UpdateAssumeRolePolicyInput) (*UpdateAssumeRolePolicyOutput, error) {
	acct, _, err := roles.begin(s, &c, "UpdateAssumeRolePolicy", in.RoleName, tagKeys{}, func(v *checker) error {
		v.policyDocument("policyDocument", in.PolicyDocument)
		return nil
	})
	if err != nil {
		return nil, err
	}
	trust, ids, err := s.checkTrust(in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	return answer(&UpdateAssumeRolePolicyOutput{}, roles.update(ctx, s, acct, in.RoleName, func(r *role) error {
		r.trust, r.trustIDs, r.trustCompiled = in.PolicyDocument, ids, trust
		return nil
	}))
}

// ListRolePolicies implements iam:ListRolePolicies.
func (s *Service) ListRolePolicies(ctx context.Context, c Caller, in *ListRolePoliciesInput) (*ListRolePoliciesOutput, error) {
	names, next, err := roles.listInline(s, &c, in.RoleName, in.Marker, in.MaxItems)
	return answer(&ListRolePoliciesOutput{PolicyNames: names, IsTruncated: next != "", Marker: next}, err)
}

// UntagRole implements iam:UntagRole.
func (s *Service) UntagRole(ctx context.Context, c Caller, in *UntagRoleInput) (*UntagRoleOutput, error) {
	return answer(&UntagRoleOutput{}, roles.untag(ctx, s, &c, in.RoleName, in.TagKeys))
}

// ListRoleTags implements iam:ListRoleTags.
func (s *Service) ListRoleTags(ctx context.Context, c Caller, in *ListRoleTagsInput) (*ListRoleTagsOutput, error) {
	tags, next, err := roles.listTags(s, &c, in.RoleName, in.Marker, in.MaxItems)
	return answer(&ListRoleTagsOutput{Tags: tags, IsTruncated: next != "", Marker: next}, err)
}

// TagRole implements iam:TagRole.
func (s *Service) TagRole(ctx context.Context, c Caller, in *TagRoleInput) (*TagRoleOutput, error) {
	return answer(&TagRoleOutput{}, roles.tag(ctx, s, &c, in.RoleName, in.Tags))
}

// PutRolePolicy implements iam:PutRolePolicy.
func (s *Service) PutRolePolicy(ctx context.Context, c Caller, in *PutRolePolicyInput) (*PutRolePolicyOutput, error) {
	return answer(&PutRolePolicyOutput{}, roles.putInline(ctx, s, &c, in.RoleName, in.PolicyName, in.PolicyDocument))
}

// GetRolePolicy implements iam:GetRolePolicy (the document URL-encoded).
func (s *Service) GetRolePolicy(ctx context.Context, c Caller, in *GetRolePolicyInput) (*GetRolePolicyOutput, error) {
	n, p, err := roles.getInline(s, &c, in.RoleName, in.PolicyName)
	return answer(&GetRolePolicyOutput{RoleName: n, PolicyName: p.name, PolicyDocument: encodeDocument(p.doc)}, err)
}

// DeleteRolePolicy implements iam:DeleteRolePolicy.
func (s *Service) DeleteRolePolicy(ctx context.Context, c Caller, in *DeleteRolePolicyInput) (*DeleteRolePolicyOutput, error) {
	return answer(&DeleteRolePolicyOutput{}, roles.deleteInline(ctx, s, &c, in.RoleName, in.PolicyName))
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
