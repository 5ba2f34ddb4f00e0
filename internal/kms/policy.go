package kms

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
)

const defaultPolicyName = "default"

// defaultPolicy is the key policy AWS attaches when CreateKey has none.
func (s *Service) defaultPolicy(account string) string {
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:` +
		s.partition + `:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

func (v *validator) policy(p string) {
	if len(p) < 1 {
		v.Add("policy", p, true, "Member must have length greater than or equal to 1")
		return
	}
	if len(p) > maxPolicyLen {
		v.Add("policy", p, true, "Member must have length less than or equal to 131072")
		return
	}
	for _, r := range p {
		if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xFF) {
			v.Add("policy", p, true, "Member must satisfy regular expression pattern: "+policyPattern)
			return
		}
	}
}

func (v *validator) policyName(p *string) {
	if p == nil {
		return
	}
	v.strLen("policyName", *p, 1, 128)
	for _, r := range *p {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			v.Add("policyName", *p, true, "Member must satisfy regular expression pattern: "+policyNamePattern)
			return
		}
	}
}

func checkPolicyName(p *string) error {
	if p != nil && *p != defaultPolicyName {
		return kmserr.ErrNotFound.With("No such policy exists")
	}
	return nil
}

// boundPolicy is a key's policy: its document, compiled and bound to the
// principals it names.
type boundPolicy struct {
	doc string
	pol *policy.Policy // nil: compile it from doc
	ids map[string]string
}

// newKeyPolicy is the policy of a new key of account with ARN keyARN: doc
// checked by checkPolicy, or the default key policy when doc is nil.
func (s *Service) newKeyPolicy(c Caller, account, keyARN string, doc *string, bypass bool) (boundPolicy, error) {
	if doc == nil {
		return boundPolicy{doc: s.defaultPolicy(account)}, nil
	}
	return s.checkPolicy(c, keyARN, *doc, bypass)
}

var errInvalidPrincipals = kmserr.ErrMalformedPolicy.With("Policy contains a statement with one or more invalid principals.")

// checkPolicy parses a key policy document (MalformedPolicyDocumentException
// with the parser's message; LimitExceededException over 32 KiB), binds the
// IAM users and roles it names to their unique ids (each must exist, as in
// AWS; see policy.Bind) and, unless bypass, applies AWS's lockout safety
// check: the caller must still be allowed kms:PutKeyPolicy on the key under
// the new policy (conditions set aside, as AWS's check does).
func (s *Service) checkPolicy(c Caller, keyARN, doc string, bypass bool) (boundPolicy, error) {
	p, err := s.policies.parse(doc)
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) && pe.TooLarge {
			return boundPolicy{}, kmserr.ErrLimitExceeded.With("%s", pe.Msg)
		}
		return boundPolicy{}, kmserr.ErrMalformedPolicy.With("%s", err.Error())
	}
	var ids map[string]string
	if s.principals != nil {
		for _, a := range p.NamedPrincipals() {
			id, ok := s.principals.PrincipalID(a)
			if !ok {
				return boundPolicy{}, errInvalidPrincipals
			}
			if ids == nil {
				ids = make(map[string]string)
			}
			ids[a] = id
		}
	}
	p = p.Bind(ids)
	if !bypass && !p.MayAllow(&policy.Request{Principal: policyPrincipal(c), Action: "kms:PutKeyPolicy", Resource: keyARN}) {
		return boundPolicy{}, kmserr.ErrMalformedPolicy.With("The new key policy will not allow you to update the key policy in the future.")
	}
	return boundPolicy{doc, p, ids}, nil
}

// setPolicy makes kp k's policy.
func (k *key) setPolicy(kp boundPolicy) {
	k.policy, k.polIDs, k.pol, k.polSrc = kp.doc, kp.ids, kp.pol, kp.doc
}

// policyPrincipal is the caller as the policy evaluator sees it (its ARN,
// its session's role, its user id and tags).
func policyPrincipal(c Caller) policy.Principal {
	p := c.Principal.PolicyPrincipal()
	if p.ARN == "" {
		p.ARN = principalARN(c)
	}
	return p
}

// GetKeyPolicy returns the key policy ("default", the only one).
func (s *Service) GetKeyPolicy(ctx context.Context, c Caller, in *GetKeyPolicyInput) (*GetKeyPolicyOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.policyName(in.PolicyName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(c, sc, "GetKeyPolicy", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	doc := k.policy
	if s.principals != nil {
		// A user or role the policy named that is gone shows as the
		// unique id it was bound to, as in AWS.
		doc = policy.ShowIDs(doc, k.polIDs, s.principals.PrincipalID)
	}
	return &GetKeyPolicyOutput{Policy: doc, PolicyName: defaultPolicyName}, nil
}

// PutKeyPolicy replaces the key policy after validating it.
func (s *Service) PutKeyPolicy(ctx context.Context, c Caller, in *PutKeyPolicyInput) (*PutKeyPolicyOutput, error) {
	var v validator
	if in.Policy == nil {
		v.Required("policy")
	} else {
		v.policy(*in.Policy)
	}
	v.policyName(in.PolicyName)
	a := opAccess("PutKeyPolicy").set(condBypassLockoutSafetyCheck, boolString(in.BypassPolicyLockoutSafetyCheck))
	_, err := s.mutateKeyFor(ctx, c, a, in.KeyId, &v, func(k *key, _ time.Time) (*key, error) {
		if err := checkPolicyName(in.PolicyName); err != nil {
			return nil, err
		}
		kp, err := s.checkPolicy(c, k.arn, *in.Policy, in.BypassPolicyLockoutSafetyCheck)
		if err != nil {
			return nil, err
		}
		if k.policy == kp.doc && maps.Equal(k.polIDs, kp.ids) {
			return nil, nil
		}
		nk := k.clone()
		nk.setPolicy(kp)
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &PutKeyPolicyOutput{}, nil
}

// ListKeyPolicies always lists ["default"].
func (s *Service) ListKeyPolicies(ctx context.Context, c Caller, in *ListKeyPoliciesInput) (*ListKeyPoliciesOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.intRange("limit", in.Limit, 1, 1000)
	v.marker(in.Marker)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := s.resolveKey(c, sc, "ListKeyPolicies", in.KeyId, false); err != nil {
		return nil, err
	}
	names, next, trunc, err := page([]string{defaultPolicyName}, func(s string) string { return s }, "p", in.Marker, limitOr(in.Limit, 100))
	if err != nil {
		return nil, err
	}
	return &ListKeyPoliciesOutput{PolicyNames: nonNil(names), NextMarker: next, Truncated: trunc}, nil
}
