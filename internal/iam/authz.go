package iam

import (
	"net/netip"
	"strings"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
)

// PolicyPrincipal returns the principal as internal/policy sees it. It does
// not allocate: the tag map is the principal's own (do not modify it).
func (p *Principal) PolicyPrincipal() policy.Principal {
	pp := policy.Principal{ARN: p.ARN, UserID: p.PrincipalID, Tags: policy.TagMap(p.Tags.Map())}
	if p.Session != nil {
		pp.RoleARN, pp.TokenIssued = p.Session.RoleARN, p.Session.Created
	}
	return pp
}

// request is the policy request of c performing action on resource.
func (s *Service) request(c *Caller, action, resource string) policy.Request {
	r := policy.Request{
		Principal:       c.Principal.PolicyPrincipal(),
		Action:          action,
		Resource:        resource,
		SecureTransport: c.SecureTransport,
		Time:            s.now(),
	}
	if ip, err := netip.ParseAddr(c.SourceIP); err == nil {
		r.SourceIP = ip
	}
	return r
}

// authorize decides whether c may perform action (e.g. "iam:CreateUser") on
// resource (an ARN in the caller's account) by the caller's identity
// policies: an explicit Deny wins, then an Allow; the root user is allowed
// implicitly (IAM resources have no resource policies).
func (s *Service) authorize(c *Caller, action, resource string, tk tagKeys) error {
	r := s.request(c, action, resource)
	tk.apply(&r)
	res := policy.Authorize(&r, nil, c.Principal.Policies.List())
	if res.Allowed {
		return nil
	}
	return kmserr.ErrIAMAccessDenied.With("%s", res.Message(c.Principal.ARN, action, resource))
}

// tagKeys are the tag condition keys of an IAM or STS request:
// aws:RequestTag/* and aws:TagKeys from the tags it sets (request), or
// aws:TagKeys alone from the keys of the tags it removes (keys),
// aws:ResourceTag/* from its target's tags.
type tagKeys struct {
	request, resource []Tag
	keys              []string
}

func (tk tagKeys) apply(r *policy.Request) {
	if len(tk.keys) > 0 {
		r.TagKeys = tk.keys
	}
	if len(tk.request) > 0 {
		m := make(policy.TagMap, len(tk.request))
		for _, t := range tk.request {
			m[t.Key] = t.Value
			r.TagKeys = append(r.TagKeys, t.Key)
		}
		r.RequestTags = m
	}
	if len(tk.resource) > 0 {
		m := make(policy.TagMap, len(tk.resource))
		for _, t := range tk.resource {
			m[t.Key] = t.Value
		}
		r.ResourceTags = m
	}
}

// assumeContext gives the sts: condition keys of an AssumeRole request.
type assumeContext struct{ externalID, sessionName, sourceIdentity string }

func (a *assumeContext) Lookup(key string) (policy.Values, bool) {
	var v string
	switch {
	case strings.EqualFold(key, "sts:ExternalId"):
		v = a.externalID
	case strings.EqualFold(key, "sts:RoleSessionName"):
		v = a.sessionName
	case strings.EqualFold(key, "sts:SourceIdentity"):
		v = a.sourceIdentity
	}
	return policy.One(v), v != ""
}

// authorizeAssume decides whether c may assume role r (nil when RoleArn
// names no role: denied alike, as AWS does not tell): the role's trust
// policy must allow sts:AssumeRole (and sts:TagSession with session tags,
// sts:SetSourceIdentity with a source identity); naming the caller is
// enough in the role's account, naming only the caller's account (or the
// role being in another account) needs the caller's identity policies to
// allow too. An explicit Deny anywhere wins.
func (s *Service) authorizeAssume(c *Caller, r *role, in *AssumeRoleInput) error {
	deny := kmserr.ErrIAMAccessDenied.With("User: %s is not authorized to perform: sts:AssumeRole on resource: %s",
		c.Principal.ARN, kmserr.Clip(in.RoleArn, 2048))
	if r == nil {
		return deny
	}
	req := s.request(c, "sts:AssumeRole", r.arn)
	req.Context = &assumeContext{externalID: in.ExternalId, sessionName: in.RoleSessionName, sourceIdentity: in.SourceIdentity}
	tagKeys{request: in.Tags, resource: r.tags}.apply(&req)
	identity := c.Principal.Policies.List()
	actions := []string{"sts:AssumeRole"}
	if len(in.Tags) > 0 {
		actions = append(actions, "sts:TagSession")
	}
	if in.SourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	for _, a := range actions {
		req.Action = a
		if res := policy.Authorize(&req, r.trustCompiled, identity); !res.Allowed {
			if a == "sts:AssumeRole" {
				return deny
			}
			return kmserr.ErrIAMAccessDenied.With("User: %s is not authorized to perform: %s on resource: %s",
				c.Principal.ARN, a, r.arn)
		}
	}
	return nil
}

// callerAccount checks that c is an authenticated principal of a known
// shape, then the request's members (check records their errors), and
// returns c's account: what every IAM and STS operation does first.
func callerAccount(c *Caller, check func(v *checker)) (string, error) {
	if !arn.IsAccountID(c.Principal.AccountID) {
		return "", kmserr.ErrIAMAccessDenied.With("The caller has no account.")
	}
	var v checker
	check(&v)
	return c.Principal.AccountID, v.err()
}
