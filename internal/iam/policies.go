package iam

import (
	"errors"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
)

// Policies is the compiled set of an identity's identity-based policies
// (its inline policies, in name order). It is immutable and shared by every
// principal of the identity; a change to the identity's policies builds a
// new set, which the very next request sees.
type Policies struct {
	names []string
	list  []*policy.Policy
}

// List returns the compiled policies, for policy.Authorize. The slice is
// shared: do not modify it. It is nil for a nil *Policies.
func (p *Policies) List() []*policy.Policy {
	if p == nil {
		return nil
	}
	return p.list
}

// Len returns the number of policies.
func (p *Policies) Len() int {
	if p == nil {
		return 0
	}
	return len(p.list)
}

// Name returns the name of policy i (a policy.Result's Identity index).
func (p *Policies) Name(i int) string { return p.names[i] }

// compileIdentity parses an identity-based policy document.
func compileIdentity(doc string) (*policy.Policy, error) {
	return compile(policy.IdentityPolicy, doc)
}

// compileTrust parses a role trust policy.
func compileTrust(doc string) (*policy.Policy, error) {
	return compile(policy.TrustPolicy, doc)
}

func compile(kind policy.Kind, doc string) (*policy.Policy, error) {
	p, err := policy.Parse(kind, doc)
	var pe *policy.Error
	switch {
	case err == nil:
		return p, nil
	case errors.As(err, &pe) && pe.TooLarge && kind == policy.TrustPolicy:
		return nil, kmserr.ErrIAMLimitExceeded.With("%s", pe.Msg)
	case errors.As(err, &pe):
		return nil, kmserr.ErrIAMMalformedPolicy.With("%s", pe.Msg)
	}
	return nil, err
}

// compileSet builds the Policies of an identity's inline policies; nil when
// there are none.
func compileSet(ps []inlinePolicy) *Policies {
	if len(ps) == 0 {
		return nil
	}
	out := &Policies{}
	for _, p := range ps {
		out.names = append(out.names, p.name)
		out.list = append(out.list, p.compiled)
	}
	return out
}

// policySize counts a policy document as IAM does against its quotas.
func policySize(doc string) int { return policy.Size(doc) }
