package kms

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/kmserr"
)

const (
	defaultPolicyName = "default"
	// maxPolicyBytes is AWS's key policy document quota (32 KB).
	maxPolicyBytes = 32768
)

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

func malformed(msg string) error { return kmserr.ErrMalformedPolicy.With("%s", msg) }

// oneOrMany reads a policy element that is a string or a list of strings.
func oneOrMany(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// checkPolicy validates a key policy document: a JSON object with a
// non-empty Statement whose statements have an Effect and valid principals,
// and (unless bypass) that still lets the caller's account change the policy.
// Conditions are not evaluated (no policy engine yet).
func checkPolicy(c Caller, doc string, bypass bool) error {
	if len(doc) > maxPolicyBytes {
		return kmserr.ErrLimitExceeded.With("Policy exceeds the maximum allowed size of %d bytes.", maxPolicyBytes)
	}
	var root map[string]any
	if err := json.Unmarshal([]byte(doc), &root); err != nil || root == nil {
		return malformed("The policy is not a valid JSON document.")
	}
	var stmts []map[string]any
	switch x := root["Statement"].(type) {
	case map[string]any:
		stmts = []map[string]any{x}
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return malformed("Policy contains a statement that is not a JSON object.")
			}
			stmts = append(stmts, m)
		}
	}
	if len(stmts) == 0 {
		return malformed("Policy must contain at least one statement.")
	}
	lockoutOK := false
	for _, st := range stmts {
		effect, _ := st["Effect"].(string)
		if effect != "Allow" && effect != "Deny" {
			return malformed("Policy contains a statement with an invalid or missing Effect.")
		}
		p, hasP := st["Principal"]
		np, hasNP := st["NotPrincipal"]
		if !hasP && !hasNP {
			return malformed("Policy contains a statement with no principal.")
		}
		var principals []string
		for _, el := range []any{p, np} {
			if el == nil {
				continue
			}
			ps, ok := parsePrincipal(el)
			if !ok {
				return malformed("Policy contains a statement with one or more invalid principals.")
			}
			principals = append(principals, ps...)
		}
		if effect == "Allow" && hasP && coversCaller(c, principals) && coversAction(st["Action"], "kms:PutKeyPolicy") {
			lockoutOK = true
		}
	}
	if !bypass && !lockoutOK {
		return malformed("The new key policy will not allow you to update the key policy in the future.")
	}
	return nil
}

// parsePrincipal returns the AWS principals of a Principal element and
// checks that every principal of any kind is well-formed.
func parsePrincipal(el any) ([]string, bool) {
	if s, ok := el.(string); ok {
		return []string{s}, s == "*"
	}
	m, ok := el.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, false
	}
	var aws []string
	for kind, v := range m {
		vals, ok := oneOrMany(v)
		if !ok || len(vals) == 0 {
			return nil, false
		}
		switch kind {
		case "AWS":
			for _, p := range vals {
				if p != "*" && !validAccount(p) && !validIAMARN(p) {
					return nil, false
				}
			}
			aws = append(aws, vals...)
		case "Service", "Federated", "CanonicalUser":
			for _, p := range vals {
				if p == "" {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	return aws, true
}

// validIAMARN accepts arn:<partition>:(iam|sts)::<12 digits>:<resource>.
func validIAMARN(p string) bool {
	_, service, region, account, resource, ok := parseARN(p)
	return ok && (service == "iam" || service == "sts") && region == "" && validAccount(account) && resource != ""
}

func coversCaller(c Caller, principals []string) bool {
	acct := c.Principal.AccountID
	for _, p := range principals {
		if p == "*" || p == acct || p == c.Principal.ARN {
			return true
		}
		if _, _, _, a, res, ok := parseARN(p); ok && a == acct && res == "root" {
			return true
		}
	}
	return false
}

func coversAction(el any, action string) bool {
	acts, ok := oneOrMany(el)
	if !ok {
		return false
	}
	for _, a := range acts {
		if globMatch(strings.ToLower(a), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// globMatch matches s against a pattern with * and ? wildcards.
func globMatch(pat, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pat) || sx < len(s) {
		if px < len(pat) {
			switch pat[px] {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == pat[px] {
					px++
					sx++
					continue
				}
			}
		}
		if nextPx >= 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
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
	return &GetKeyPolicyOutput{Policy: k.policy, PolicyName: defaultPolicyName}, nil
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
	_, err := s.mutateKey(ctx, c, "PutKeyPolicy", in.KeyId, &v, func(k *key, _ time.Time) (*key, error) {
		if err := checkPolicyName(in.PolicyName); err != nil {
			return nil, err
		}
		if err := checkPolicy(c, *in.Policy, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
		if k.policy == *in.Policy {
			return nil, nil
		}
		nk := k.clone()
		nk.policy = *in.Policy
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
