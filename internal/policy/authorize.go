package policy

import (
	"github.com/trent-kms/trent/internal/arn"
)

// Denial says why Authorize refused a request.
type Denial uint8

// The denials. The explicit ones cannot be overridden; the implicit ones
// (NoResourceAllow, NoIdentityAllow) can be, by another source of permission
// such as a KMS grant.
const (
	NotDenied            Denial = iota
	NoResourceAllow             // the resource (key) policy does not allow the caller
	NoIdentityAllow             // no identity policy allows (and the resource policy does not allow the caller directly)
	ExplicitResourceDeny        // a Deny statement of the resource policy applies
	ExplicitIdentityDeny        // a Deny statement of an identity policy applies
	// TooCostly: matching the policies' patterns against the request's
	// values went past maxMatchCost. Nothing else may allow the request:
	// a Deny among what was not evaluated could apply.
	TooCostly
)

// Explicit reports whether the denial is an explicit Deny (or as final as
// one).
func (d Denial) Explicit() bool {
	return d == ExplicitResourceDeny || d == ExplicitIdentityDeny || d == TooCostly
}

func (d Denial) String() string {
	switch d {
	case NoResourceAllow:
		return "no resource-based policy allows"
	case NoIdentityAllow:
		return "no identity-based policy allows"
	case ExplicitResourceDeny:
		return "explicit deny in a resource-based policy"
	case ExplicitIdentityDeny:
		return "explicit deny in an identity-based policy"
	case TooCostly:
		return "policy evaluation over its limit"
	}
	return "allowed"
}

// Source names the policy that decided a Result.
type Source uint8

// The sources.
const (
	FromNone     Source = iota
	FromResource        // the resource policy
	FromIdentity        // identity policy number Result.Identity
	FromRoot            // the account root user's implicit identity permissions
)

// Result is the decision of Authorize.
type Result struct {
	Allowed bool
	Denial  Denial // NotDenied when Allowed
	// Source, Identity, Statement and Sid name the deciding statement: the
	// Deny that denied, or the Allow that completed the permission (the
	// identity policy's when the resource policy delegated to it). Statement
	// is -1 when no statement decided (an implicit deny, or FromRoot).
	Source    Source
	Identity  int // index into the identity policies when Source is FromIdentity
	Statement int
	Sid       string
}

// Explicit reports whether the request was denied by an explicit Deny; an
// implicit deny may still be allowed by another source (KMS grants).
func (r Result) Explicit() bool { return r.Denial.Explicit() }

// Message is AWS's AccessDenied message for a denied result, e.g. "User:
// arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt
// on resource: arn:aws:kms:us-east-1:111122223333:key/... because no
// identity-based policy allows the kms:Encrypt action". resource is "*" for
// operations on no resource. It is "" for an allowed result.
func (r Result) Message(principalARN, action, resource string) string {
	if resource == "" {
		resource = "*"
	}
	head := "User: " + principalARN + " is not authorized to perform: " + action + " on resource: " + resource
	switch r.Denial {
	case NoResourceAllow:
		return head + " because no resource-based policy allows the " + action + " action"
	case NoIdentityAllow:
		return head + " because no identity-based policy allows the " + action + " action"
	case ExplicitResourceDeny:
		return head + " with an explicit deny in a resource-based policy"
	case ExplicitIdentityDeny:
		return head + " with an explicit deny in an identity-based policy"
	case TooCostly:
		return head + " because matching the policies' patterns against the request's values exceeds this server's limit"
	}
	return ""
}

// Authorize decides a request the way AWS KMS does (and STS for a role's trust
// policy), given the resource's policy and the caller's identity policies:
//
//   - an explicit Deny in any policy wins;
//   - with no resource policy (an operation on no resource, such as
//     kms:CreateKey), an identity policy must allow; the account root user
//     is allowed implicitly;
//   - in the resource's own account, the resource policy must allow: naming
//     the caller (its ARN, its session's role, or "*") is enough; naming only
//     the caller's account (arn:aws:iam::ACCOUNT:root or ACCOUNT) delegates
//     to the identity policies, one of which must allow (the root user's
//     identity side is an implicit allow);
//   - from another account, the resource policy must allow the caller or its
//     account, and the caller's identity policies must allow too.
//
// Unlike S3 or IAM in general, an identity policy alone never grants access to
// a resource that has a policy: a KMS key policy must always allow.
// Authorize does not allocate.
func Authorize(r *Request, resource *Policy, identity []*Policy) Result {
	ev := evalCtx{r: r, c: newCaller(&r.Principal)}
	res := ev.authorize(resource, identity)
	if ev.over {
		return Result{Denial: TooCostly, Statement: -1}
	}
	return res
}

func (ev *evalCtx) authorize(resource *Policy, identity []*Policy) Result {
	// Explicit denies first, wherever they are.
	var resOut Outcome
	var resVia via
	if resource != nil {
		resOut, resVia = resource.eval(ev, false)
		if resOut.Decision == Denied {
			return Result{Denial: ExplicitResourceDeny, Source: FromResource, Statement: resOut.Statement, Sid: resOut.Sid}
		}
	}
	idAllow := Result{Statement: -1}
	for i, p := range identity {
		if p == nil {
			continue
		}
		o, _ := p.eval(ev, false)
		switch o.Decision {
		case Denied:
			return Result{Denial: ExplicitIdentityDeny, Source: FromIdentity, Identity: i, Statement: o.Statement, Sid: o.Sid}
		case Allowed:
			if idAllow.Source == FromNone {
				idAllow = Result{Allowed: true, Source: FromIdentity, Identity: i, Statement: o.Statement, Sid: o.Sid}
			}
		}
	}
	if idAllow.Source == FromNone && ev.c.kind == arn.RootPrincipal {
		idAllow = Result{Allowed: true, Source: FromRoot, Statement: -1}
	}

	if resource == nil {
		if idAllow.Allowed {
			return idAllow
		}
		return Result{Denial: NoIdentityAllow, Statement: -1}
	}
	if resOut.Decision != Allowed {
		return Result{Denial: NoResourceAllow, Statement: -1}
	}
	resAllow := Result{Allowed: true, Source: FromResource, Statement: resOut.Statement, Sid: resOut.Sid}
	if ev.c.p.Service != "" {
		// A service principal has no identity policies.
		if resVia == viaDirect {
			return resAllow
		}
		return Result{Denial: NoResourceAllow, Statement: -1}
	}
	if ev.sameAccount() && resVia == viaDirect {
		return resAllow
	}
	if idAllow.Allowed {
		return idAllow
	}
	return Result{Denial: NoIdentityAllow, Statement: -1}
}

// sameAccount reports whether the request's resource belongs to the caller's
// account (an operation on no resource does).
func (ev *evalCtx) sameAccount() bool {
	a, ok := arn.Parse(ev.r.Resource)
	if !ok || a.Account == "" {
		return true
	}
	return a.Account == ev.c.account
}

// MayAllow reports whether the policy could allow r whatever the conditions
// say: some Allow statement applies to the caller (by name or through its
// account), the action and the resource once its conditions are set aside,
// and no Deny statement without conditions applies. It is KMS's key policy
// lockout safety check: would the caller still be allowed kms:PutKeyPolicy
// under a new policy. Identity policies are not consulted (a statement naming
// the account counts as allowing).
func (p *Policy) MayAllow(r *Request) bool {
	ev := evalCtx{r: r, c: newCaller(&r.Principal)}
	o, _ := p.eval(&ev, true)
	return o.Decision == Allowed && !ev.over
}
