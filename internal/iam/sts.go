package iam

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/kmserr"
)

// maxSessionTagChars bounds the session tags' packed size (AWS packs session
// policies and tags into 2,048 characters).
const maxSessionTagChars = 2048

// GetCallerIdentity implements sts:GetCallerIdentity. It needs no
// permission, as in AWS.
func (s *Service) GetCallerIdentity(ctx context.Context, c Caller, in *GetCallerIdentityInput) (*GetCallerIdentityOutput, error) {
	return &GetCallerIdentityOutput{UserID: c.Principal.PrincipalID, Account: c.Principal.AccountID, Arn: c.Principal.ARN}, nil
}

// AssumeRole implements sts:AssumeRole: temporary credentials of a role
// session. The role's trust policy decides who may assume it (and, when it
// trusts an account rather than the caller, the caller's identity policies
// must allow sts:AssumeRole too). The session lasts DurationSeconds (900 up
// to the role's MaxSessionDuration, 3600 by default; at most one hour when
// the caller is itself a role session).
func (s *Service) AssumeRole(ctx context.Context, c Caller, in *AssumeRoleInput) (*AssumeRoleOutput, error) {
	if _, err := callerAccount(&c, func(v *checker) {
		if v.required("roleArn", in.RoleArn) && v.length("roleArn", in.RoleArn, 20, maxRoleARNLen) {
			v.pattern("roleArn", in.RoleArn, patternARN, arnChars(in.RoleArn))
		}
		if v.required("roleSessionName", in.RoleSessionName) && v.length("roleSessionName", in.RoleSessionName, 2, maxSessionNameLen) {
			v.pattern("roleSessionName", in.RoleSessionName, patternSession, allBytes(in.RoleSessionName, isNameChar))
		}
		if d := in.DurationSeconds; d != nil && (*d < minSessionDuration || *d > maxSessionDuration) {
			if *d < minSessionDuration {
				v.Add("durationSeconds", strconv.Itoa(int(*d)), true, "Member must have value greater than or equal to 900")
			} else {
				v.Add("durationSeconds", strconv.Itoa(int(*d)), true, "Member must have value less than or equal to 43200")
			}
		}
		if in.ExternalId != "" && v.length("externalId", in.ExternalId, 2, maxExternalIDLen) {
			v.pattern("externalId", in.ExternalId, patternExternalID, allBytes(in.ExternalId, func(b byte) bool {
				return isNameChar(b) || b == ':' || b == '/'
			}))
		}
		if in.SourceIdentity != "" && v.length("sourceIdentity", in.SourceIdentity, 2, maxSessionNameLen) {
			v.pattern("sourceIdentity", in.SourceIdentity, patternSession, allBytes(in.SourceIdentity, isNameChar))
		}
		v.tags("tags", in.Tags)
	}); err != nil {
		return nil, err
	}
	if err := checkTagCount(in.Tags); err != nil {
		return nil, err
	}
	switch {
	case in.Policy != "" || len(in.PolicyArns) > 0:
		return nil, kmserr.ErrIAMValidation.With("Trent does not support session policies (Policy, PolicyArns).")
	case len(in.TransitiveTagKeys) > 0:
		return nil, kmserr.ErrIAMValidation.With("Trent does not support transitive session tags (TransitiveTagKeys).")
	case in.SerialNumber != "" || in.TokenCode != "":
		return nil, kmserr.ErrIAMValidation.With("Trent does not support MFA (SerialNumber, TokenCode).")
	}
	tagChars := 0
	for _, t := range in.Tags {
		tagChars += len(t.Key) + len(t.Value)
	}
	if tagChars > maxSessionTagChars {
		return nil, kmserr.ErrPackedPolicyTooLarge.With("Packed size of session tags consumes %d%% of allotted space.", tagChars*100/maxSessionTagChars)
	}

	p := &c.Principal
	if p.IsRoot() {
		return nil, kmserr.ErrIAMAccessDenied.With("Roles may not be assumed by root accounts.")
	}
	// A source identity, once set, stays with every session chained from
	// it and cannot be changed (it is then set again, and authorized so).
	if p.Session != nil && p.Session.SourceIdentity != "" {
		switch in.SourceIdentity {
		case "":
			in.SourceIdentity = p.Session.SourceIdentity
		case p.Session.SourceIdentity:
		default:
			return nil, kmserr.ErrIAMAccessDenied.With("The source identity of a role session (%s) cannot be changed when it assumes another role.", p.Session.SourceIdentity)
		}
	}
	st := s.snapshot()
	r := s.roleByARN(st, in.RoleArn)
	if err := s.authorizeAssume(&c, r, in); err != nil {
		return nil, err
	}
	duration := int32(defaultRoleDuration)
	if in.DurationSeconds != nil {
		duration = *in.DurationSeconds
	}
	if p.Type == AssumedRole && duration > chainedDurationMax {
		return nil, kmserr.ErrIAMValidation.With("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if duration > r.maxSession {
		return nil, kmserr.ErrIAMValidation.With("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}

	now := s.now().UTC().Truncate(time.Second)
	expires := now.Add(time.Duration(duration) * time.Second)
	akid := generateID(prefixSessionKey, 16)
	cl := &claims{Secret: GenerateSecret(), Account: r.account, Role: r.name, RoleID: r.id, Session: in.RoleSessionName,
		Issued: now.Unix(), Expires: expires.Unix(), Tags: in.Tags, SourceIdentity: in.SourceIdentity}
	token, err := st.tokenKey.seal(akid, cl)
	if err != nil {
		return nil, err
	}
	out := &AssumeRoleOutput{
		Credentials: Credentials{AccessKeyID: akid, SecretAccessKey: Secret{cl.Secret}, SessionToken: Secret{token},
			Expiration: Timestamp{expires}},
		AssumedRoleUser: AssumedRoleUser{AssumedRoleID: r.id + ":" + in.RoleSessionName,
			Arn: arn.AssumedRole(s.partition, r.account, r.name, in.RoleSessionName)},
		SourceIdentity: in.SourceIdentity,
	}
	if len(in.Tags) > 0 {
		pct := int32(tagChars * 100 / maxSessionTagChars)
		out.PackedPolicySize = &pct
	}
	return out, nil
}

// arnChars reports whether s is in STS's arnType pattern (XML's characters
// but for the C1 controls other than NEL, and DEL).
func arnChars(s string) bool {
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85,
			r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff:
		default:
			return false
		}
	}
	return true
}

// roleByARN returns the role named by a role ARN of this partition (its path
// must match), or nil.
func (s *Service) roleByARN(st *state, roleARN string) *role {
	prefix := "arn:" + s.partition + ":iam::"
	if !strings.HasPrefix(roleARN, prefix) {
		return nil
	}
	acct, res, ok := strings.Cut(roleARN[len(prefix):], ":")
	if !ok || !arn.IsAccountID(acct) || !strings.HasPrefix(res, "role/") {
		return nil
	}
	i := strings.LastIndexByte(res, '/')
	r := st.roles[nameOf(acct, res[i+1:])]
	if r == nil || r.arn != roleARN {
		return nil
	}
	return r
}
