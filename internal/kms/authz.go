package kms

import (
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/attest"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
)

// # Authorization
//
// Every operation is decided in one place, authorize, after the key it acts
// on is resolved from memory and before anything is done with it: resolveKey
// (and the Decrypt path, for the key named inside the blob) calls it for every
// operation on a key, and the operations on no key (CreateKey, ListKeys,
// ListAliases, GenerateRandom, ListRetirableGrants) call it with a nil key.
// A decision combines, as AWS KMS does:
//
//   - the key policy (compiled when the key snapshot is made, so deciding
//     costs no parsing);
//   - the caller's identity policies (compiled by IAM when they change);
//   - the key's grants (an allow source only: checked when the policies did
//     not allow and no explicit Deny applies).
//
// The root user of an account is allowed by its identity side; the default
// key policy delegates to the account, so root can use its keys as today.
// The condition keys of the request come from an access value (no map is
// built per request).

// condKey indexes the request-valued condition keys an operation sets on its
// access (the kms: keys that describe the request rather than the key).
type condKey uint8

const (
	condKeySpec condKey = iota // CreateKey (a key's own spec otherwise)
	condKeyUsage
	condKeyOrigin
	condMultiRegion
	condMultiRegionKeyType // CreateKey: PRIMARY, or REPLICA for ReplicateKey's key (a key's own type otherwise)
	condEncryptionAlgorithm
	condSigningAlgorithm
	condMacAlgorithm
	condMessageType
	condKeyAgreementAlgorithm
	condDataKeyPairSpec
	condWrappingAlgorithm
	condWrappingKeySpec
	condExpirationModel
	condValidTo
	condGranteePrincipal
	condRetiringPrincipal
	condGrantConstraintType
	condGrantIsForAWSResource
	condRotationPeriodInDays
	condPendingWindowInDays
	condReEncryptOnSameKey
	condBypassLockoutSafetyCheck
	condReplicaRegion
	condPrimaryRegion
	numCondKeys
)

// condNames are the canonical names of the condKeys, as policy.Context.Lookup
// receives them.
var condNames = [numCondKeys]string{
	condKeySpec:                  policy.KeyKeySpec,
	condKeyUsage:                 policy.KeyKeyUsage,
	condKeyOrigin:                policy.KeyKeyOrigin,
	condMultiRegion:              policy.KeyMultiRegion,
	condMultiRegionKeyType:       policy.KeyMultiRegionKeyType,
	condEncryptionAlgorithm:      policy.KeyEncryptionAlgorithm,
	condSigningAlgorithm:         policy.KeySigningAlgorithm,
	condMacAlgorithm:             policy.KeyMacAlgorithm,
	condMessageType:              policy.KeyMessageType,
	condKeyAgreementAlgorithm:    policy.KeyKeyAgreementAlgorithm,
	condDataKeyPairSpec:          policy.KeyDataKeyPairSpec,
	condWrappingAlgorithm:        policy.KeyWrappingAlgorithm,
	condWrappingKeySpec:          policy.KeyWrappingKeySpec,
	condExpirationModel:          policy.KeyExpirationModel,
	condValidTo:                  policy.KeyValidTo,
	condGranteePrincipal:         policy.KeyGranteePrincipal,
	condRetiringPrincipal:        policy.KeyRetiringPrincipal,
	condGrantConstraintType:      policy.KeyGrantConstraintType,
	condGrantIsForAWSResource:    policy.KeyGrantIsForAWSResource,
	condRotationPeriodInDays:     policy.KeyRotationPeriodInDays,
	condPendingWindowInDays:      policy.KeyScheduleKeyDeletionPendingDays,
	condReEncryptOnSameKey:       policy.KeyReEncryptOnSameKey,
	condBypassLockoutSafetyCheck: policy.KeyBypassPolicyLockoutSafetyCheck,
	condReplicaRegion:            policy.KeyReplicaRegion,
	condPrimaryRegion:            policy.KeyPrimaryRegion,
}

// access is what one authorization decides about: an action on the resolved
// key (or on no key), with the request's condition values. It is the
// policy.Context of the decision.
type access struct {
	action string  // IAM action, "kms:Encrypt"
	grant  grantOp // the grant operation that allows action (0: no grant can)
	// ec is the request's encryption context (kms:EncryptionContext:*,
	// kms:EncryptionContextKeys, grant constraints); ecOp says the operation
	// takes one, so that encryption context grant constraints apply to it.
	ec   map[string]string
	ecOp bool
	// alias is kms:RequestAlias: the alias name the request named the key by.
	alias string
	cond  [numCondKeys]string
	// grantOps is kms:GrantOperations (CreateGrant).
	grantOps []string
	// requestTags and tagKeys are aws:RequestTag/* and aws:TagKeys.
	requestTags map[string]string
	tagKeys     []string

	// viaGrant is set by authorize when a grant (not a policy) allowed.
	viaGrant *grant
	// req is the policy request of the decision; it lives here because
	// policy.Authorize lets its request escape, and a is on the heap
	// already (one allocation per decision, not two).
	req policy.Request

	s *Service
	k *key // the key decided on, nil for none
	// resource is the resource of a decision on no key ("": "*"), the
	// retiring principal of ListRetirableGrants.
	resource string
	// att is the request's verified attestation document
	// (kms:RecipientAttestation:*), nil for none.
	att *attest.Document
}

// newAccess returns the access of action (e.g. "kms:Encrypt").
func newAccess(action string) *access { return &access{action: action} }

// opAccess returns the access of the operation op ("Encrypt"): the action
// kms:<op>, allowed also by grants of the grant operation of that name.
func opAccess(op string) *access {
	action, ok := actions[op]
	if !ok {
		action = "kms:" + op
	}
	return &access{action: action, grant: grantOpFor(op)}
}

// actions maps operation names to their IAM actions without building a
// string per request.
var actions = func() map[string]string {
	m := make(map[string]string)
	for _, op := range append(slices.Clone(grantOpNames), "CreateKey", "ListKeys", "ListAliases", "GenerateRandom",
		"UpdateKeyDescription", "EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "CreateAlias",
		"UpdateAlias", "DeleteAlias", "TagResource", "UntagResource", "ListResourceTags", "GetKeyPolicy", "PutKeyPolicy",
		"ListKeyPolicies", "EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand",
		"ListKeyRotations", "ListGrants", "ListRetirableGrants", "RevokeGrant", "ReEncrypt", "ImportKeyMaterial",
		"DeleteImportedKeyMaterial", "GetParametersForImport", "GetKeyLastUsage", "ReplicateKey", "UpdatePrimaryRegion",
		"CreateCustomKeyStore", "ConnectCustomKeyStore", "DisconnectCustomKeyStore", "DeleteCustomKeyStore",
		"DescribeCustomKeyStores", "UpdateCustomKeyStore") {
		m[op] = "kms:" + op
	}
	return m
}()

// op is the operation's name in messages: the action without "kms:", and
// ReEncrypt for both of its actions (ReEncryptFrom, ReEncryptTo).
func (a *access) op() string {
	op := strings.TrimPrefix(a.action, "kms:")
	if strings.HasPrefix(op, "ReEncrypt") {
		return "ReEncrypt"
	}
	return op
}

// set records a request-valued condition key.
func (a *access) set(c condKey, v string) *access {
	a.cond[c] = v
	return a
}

// Lookup implements policy.Context.
func (a *access) Lookup(name string) (policy.Values, bool) {
	for i := range a.cond {
		if a.cond[i] != "" && (condNames[i] == name || strings.EqualFold(condNames[i], name)) {
			return policy.One(a.cond[i]), true
		}
	}
	if a.att != nil {
		if v, ok := attestationValue(a.att, name); ok {
			return v, true
		}
	}
	k := a.k
	switch name {
	case policy.KeyGrantOperations:
		return policy.Many(a.grantOps), len(a.grantOps) > 0
	case policy.KeyRequestAlias:
		return policy.One(a.alias), a.alias != ""
	}
	if k == nil {
		return policy.Values{}, false
	}
	switch name {
	case policy.KeyKeySpec:
		return policy.One(string(k.spec)), true
	case policy.KeyKeyUsage:
		return policy.One(string(k.usage)), true
	case policy.KeyKeyOrigin:
		return policy.One(k.origin), true
	case policy.KeyMultiRegion:
		return policy.One(boolString(k.mrPrimary != "")), true
	case policy.KeyMultiRegionKeyType:
		if k.mrPrimary == "" {
			return policy.Values{}, false
		}
		if k.isPrimary() {
			return policy.One("PRIMARY"), true
		}
		return policy.One("REPLICA"), true
	case policy.KeyResourceAliases:
		names := a.s.aliasNames(scope{k.region, k.account}, k.id)
		return policy.Many(names), len(names) > 0
	}
	return policy.Values{}, false
}

// noAccessPolicy stands in for a stored key policy that no longer parses
// (written before policies were validated strictly): it allows nothing, so
// such a key fails closed.
var noAccessPolicy = func() *policy.Policy {
	p, err := policy.Parse(policy.KeyPolicy, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","NotAction":"*"}]}`)
	if err != nil {
		panic("kms: " + err.Error())
	}
	return p
}()

// authorize decides whether c may perform a on k (nil: an operation on no
// key, decided by the identity policies with resource "*"). It returns nil or
// an AccessDeniedException in AWS's words, and reports the decision through
// c.Facts.
func (s *Service) authorize(c *Caller, k *key, a *access) error {
	a.s, a.k = s, k
	r := &a.req
	*r = policy.Request{
		Principal:         policyPrincipal(*c),
		Action:            a.action,
		Resource:          "*",
		Region:            c.Region,
		SourceIP:          c.SourceIP,
		SecureTransport:   c.SecureTransport,
		Time:              s.now(),
		EncryptionContext: a.ec,
		RequestTags:       policy.TagMap(a.requestTags),
		TagKeys:           a.tagKeys,
		Context:           a,
	}
	if a.resource != "" {
		r.Resource = a.resource
	}
	var kp *policy.Policy
	if k != nil {
		r.Resource = k.arn
		r.ResourceTags = policy.TagMap(k.tagMap)
		kp = k.pol
		if kp == nil {
			kp = noAccessPolicy
		}
	}
	if k != nil && c.Principal.AccountID != k.account && a.grant == 0 && !crossAccountAction(a.action) {
		// AWS: only the cryptographic operations and a few others work
		// across accounts; permission for any other operation on another
		// account's key has no effect, whatever the key policy says.
		res := policy.Result{Denial: policy.NoResourceAllow}
		c.Facts.denied(res.Denial.String())
		return kmserr.ErrAccessDenied.With("%s", res.Message(r.Principal.ARN, a.action, r.Resource))
	}
	res := policy.Authorize(r, kp, identityPolicies(c))
	if res.Allowed {
		c.Facts.allowed(nil)
		return nil
	}
	if !res.Explicit() && k != nil && a.grant != 0 {
		if g := k.grantAllows(c, r, a); g != nil {
			c.Facts.allowed(g)
			return nil
		}
	}
	c.Facts.denied(res.Denial.String())
	return kmserr.ErrAccessDenied.With("%s", res.Message(r.Principal.ARN, a.action, r.Resource))
}

// crossAccountAction reports whether action works on another account's key
// besides the grant operations (which all do): AWS's list is the
// cryptographic operations, CreateGrant, DescribeKey, GetKeyRotationStatus,
// GetPublicKey, ListGrants, RetireGrant and RevokeGrant.
func crossAccountAction(action string) bool {
	switch action {
	case "kms:GetKeyRotationStatus", "kms:ListGrants", "kms:RevokeGrant":
		return true
	}
	return false
}

// identityAllows reports whether the caller's identity policies (or its
// being the account root) allow r with no resource policy, and whether an
// identity policy denies it explicitly.
func identityAllows(c *Caller, r *policy.Request) policy.Result {
	return policy.Authorize(r, nil, identityPolicies(c))
}

// identityPolicies are the caller's identity-based policies (compiled by
// IAM when they change; none for the root user, whose identity side is an
// implicit allow).
func identityPolicies(c *Caller) []*policy.Policy {
	return c.Principal.Policies.List()
}

// aliasNames returns the names of the aliases of key id in sc (for
// kms:ResourceAliases; built only when a policy asks).
func (s *Service) aliasNames(sc scope, id string) []string {
	var names []string
	s.mu.RLock()
	if sp := s.spaces[sc]; sp != nil {
		for _, a := range sp.aliases {
			if a.target == id {
				names = append(names, a.name)
			}
		}
	}
	s.mu.RUnlock()
	return names
}

// authorizeRetire decides RetireGrant, which the grant itself authorizes
// (AWS "Retiring and revoking grants"): its retiring principal, its grantee
// when the grant allows RetireGrant, and the account that owns the key may
// retire it; an account named as retiring principal, and the key's account,
// delegate to their principals through identity policies allowing
// kms:RetireGrant. An explicit Deny of kms:RetireGrant in an identity policy
// wins; the key policy is not consulted.
func (s *Service) authorizeRetire(c *Caller, k *key, g *grant) error {
	a := newAccess("kms:RetireGrant")
	a.s, a.k = s, k
	r := &a.req
	*r = policy.Request{
		Principal:       policyPrincipal(*c),
		Action:          a.action,
		Resource:        k.arn,
		Region:          c.Region,
		SourceIP:        c.SourceIP,
		SecureTransport: c.SecureTransport,
		Time:            s.now(),
		ResourceTags:    policy.TagMap(k.tagMap),
		Context:         a,
	}
	id := identityAllows(c, r)
	switch {
	case id.Explicit():
	case principalIs(r, g.retiring), g.ops&grantRetireGrant != 0 && principalIs(r, g.grantee):
		c.Facts.allowed(g)
		return nil
	case c.Principal.AccountID == k.account || c.Principal.AccountID == accountOf(g.retiring) ||
		g.ops&grantRetireGrant != 0 && c.Principal.AccountID == accountOf(g.grantee):
		if id.Allowed {
			c.Facts.allowed(nil)
			return nil
		}
	}
	if id.Allowed {
		id.Denial = policy.NoResourceAllow
	}
	c.Facts.denied(id.Denial.String())
	return kmserr.ErrAccessDenied.With("%s", id.Message(r.Principal.ARN, a.action, k.arn))
}
