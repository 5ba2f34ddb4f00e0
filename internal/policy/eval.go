package policy

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	// ARN is the caller's ARN: the account root (arn:aws:iam::111122223333:root),
	// an IAM user, an assumed-role session
	// (arn:aws:sts::111122223333:assumed-role/Role/session) or a federated
	// user. The account, aws:PrincipalType and aws:username derive from it.
	ARN string
	// RoleARN is, for an assumed-role session, the ARN of its role (with its
	// path): a Principal naming the role matches its sessions, and it is the
	// session's aws:PrincipalArn.
	RoleARN string
	// UserID is aws:userid: the account id for the root user, the user's
	// unique id (AIDA...), or role-id:session-name for a session.
	UserID string
	// Tags are the principal's tags (aws:PrincipalTag/<key>); nil for none.
	Tags Tags
	// Service names a service principal (e.g. "ec2.amazonaws.com") when the
	// caller is one; ARN is empty then.
	Service string
	// TokenIssued is when the caller's temporary credentials (a role
	// session) were issued: aws:TokenIssueTime, and aws:MultiFactorAuthPresent
	// is false; zero for long-term credentials, for which both are absent.
	TokenIssued time.Time
}

// Request is what a policy decides about. Fill it without allocating: maps and
// slices are read, never kept or changed. Its strings should be valid UTF-8
// (Trent's request decoders refuse anything else): matching is exact either
// way, but a StringLike or ArnLike pattern with a variable whose value is not
// valid UTF-8 loses its time bound (see globFallback).
type Request struct {
	Principal Principal
	// Action is "service:Operation", e.g. "kms:Encrypt" (matched
	// case-insensitively).
	Action string
	// Resource is the ARN of the resource (a KMS key ARN), or "*" (or "")
	// for an operation on no resource, such as kms:CreateKey.
	Resource string

	// Region is aws:RequestedRegion ("" for absent).
	Region string
	// SourceIP is aws:SourceIp (the zero Addr for absent).
	SourceIP netip.Addr
	// SecureTransport is aws:SecureTransport (always present).
	SecureTransport bool
	// Time is aws:CurrentTime and aws:EpochTime (the zero Time for absent).
	Time time.Time

	// EncryptionContext gives kms:EncryptionContext:<key> (context keys
	// match case-insensitively, values by the operator) and
	// kms:EncryptionContextKeys; nil or empty means the request has none.
	EncryptionContext map[string]string
	// ResourceTags gives aws:ResourceTag/<key> (nil for none).
	ResourceTags Tags
	// RequestTags gives aws:RequestTag/<key> (nil for none).
	RequestTags Tags
	// TagKeys is aws:TagKeys (nil for absent).
	TagKeys []string

	// Context supplies every other condition key (kms:KeySpec,
	// kms:ViaService, ...); nil means none is present.
	Context Context
}

// Tags is a set of tags, for the aws:PrincipalTag/<key>, aws:ResourceTag/<key>
// and aws:RequestTag/<key> condition keys. Get returns the value of the tag
// whose key equals key ignoring case (condition key names are
// case-insensitive); it must not allocate if evaluation is to stay
// allocation-free.
type Tags interface {
	Get(key string) (value string, ok bool)
}

// TagMap is Tags backed by a map from tag key to value.
type TagMap map[string]string

// Get implements Tags: the exact key first, else the smallest key equal to
// key ignoring case.
func (m TagMap) Get(key string) (string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	best, found := "", false
	for k := range m {
		if strings.EqualFold(k, key) && (!found || k < best) {
			best, found = k, true
		}
	}
	return m[best], found
}

// Context supplies the values of condition keys the Request has no field
// for. Lookup receives known keys in their canonical spelling (the Key
// constants) and unknown keys as the policy writes them; it reports false
// for a key the request does not have. It must not allocate if evaluation is
// to stay allocation-free: return values with [One] and [Many].
type Context interface {
	Lookup(key string) (Values, bool)
}

// Values is the value of a condition key in a request: one string or a list
// (a multivalued key such as kms:GrantOperations). Numbers, booleans and
// dates are given in their text form ("30", "true", "2025-01-02T03:04:05Z").
type Values struct {
	one  string
	list []string
	many bool
}

// One is a single value.
func One(s string) Values { return Values{one: s} }

// Many is a list of values (an empty list is treated as an absent key).
func Many(list []string) Values { return Values{list: list, many: true} }

// Map is a Context backed by a map from key name to values, with
// case-insensitive key names; for tests and callers that do not mind
// building a map.
type Map map[string][]string

// Lookup implements Context.
func (m Map) Lookup(key string) (Values, bool) {
	if v, ok := m[key]; ok {
		return Many(v), true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return Many(v), true
		}
	}
	return Values{}, false
}

// caller is the Principal with what every statement needs parsed once.
type caller struct {
	p       *Principal
	kind    arn.PrincipalKind
	account string
	name    string // user name for aws:username
	// id is the unique id of the IAM user, or of the role of a session,
	// that the caller is ("" for others): what a bound name must match.
	id string
	// ids are the bindings of the policy being evaluated (Policy.Bind).
	ids map[string]string
}

func newCaller(p *Principal) caller {
	c := caller{p: p}
	if pa, ok := arn.ParsePrincipal(p.ARN); ok {
		c.kind, c.account = pa.Kind, pa.Account
		switch pa.Kind {
		case arn.UserPrincipal:
			c.name, c.id = pa.Name, p.UserID
		case arn.AssumedRolePrincipal:
			c.id, _, _ = strings.Cut(p.UserID, ":") // ROLEID:SESSION
		}
	}
	return c
}

// principalArn is aws:PrincipalArn: a session's role ARN, else the caller's ARN.
func (c *caller) principalArn() string {
	if c.kind == arn.AssumedRolePrincipal && c.p.RoleARN != "" {
		return c.p.RoleARN
	}
	return c.p.ARN
}

// evalCtx is the state of one evaluation; it lives on the caller's stack.
type evalCtx struct {
	r *Request
	c caller
	// cost is what pattern matching has cost this evaluation so far (the
	// bytes of values and the tokens of patterns matched); over is set when
	// it passes maxMatchCost, and the evaluation's answer is then void.
	cost int
	over bool
}

// maxMatchCost bounds the pattern matching of one evaluation: a 60 KB
// encryption context value against some 60 patterns, against which a 32 KiB
// policy of thousands of short patterns would cost seconds of CPU per
// request. Ordinary policies and requests cost a few thousand.
const maxMatchCost = 4 << 20

// valueSet is the values of a condition key in the request, iterated without
// building a slice.
type valueSet struct {
	mode   vsMode
	one    string
	list   []string
	m      map[string]string
	suffix string // vsMapFold: the key whose values (case-insensitively) are wanted
	t      time.Time
	ip     netip.Addr
}

type vsMode uint8

const (
	vsOne     vsMode = iota // one
	vsList                  // list
	vsMapKeys               // the keys of m
	vsMapFold               // the values of m whose key equals suffix, ignoring case
	vsTime                  // t (aws:CurrentTime)
	vsEpoch                 // t as epoch seconds (aws:EpochTime)
	vsIP                    // ip (aws:SourceIp)
)

// lookup returns the request's values for k; ok is false when the key is
// absent (or has no values).
func (ev *evalCtx) lookup(k *keyRef) (vs valueSet, ok bool) {
	r, c := ev.r, &ev.c
	str := func(s string) (valueSet, bool) { return valueSet{one: s}, s != "" }
	switch k.src {
	case srcPrincipalArn:
		return str(c.principalArn())
	case srcPrincipalAccount, srcCallerAccount:
		return str(c.account)
	case srcPrincipalType:
		return str(c.kind.String())
	case srcUsername:
		return str(c.name)
	case srcUserID:
		return str(c.p.UserID)
	case srcRequestedRegion:
		return str(r.Region)
	case srcPrincipalTag:
		return tag(c.p.Tags, k.suffix)
	case srcResourceTag:
		return tag(r.ResourceTags, k.suffix)
	case srcRequestTag:
		return tag(r.RequestTags, k.suffix)
	case srcEncryptionContext:
		return foldSet(r.EncryptionContext, k.suffix)
	case srcEncryptionContextKeys:
		return valueSet{mode: vsMapKeys, m: r.EncryptionContext}, len(r.EncryptionContext) > 0
	case srcTagKeys:
		return valueSet{mode: vsList, list: r.TagKeys}, len(r.TagKeys) > 0
	case srcSourceIP:
		return valueSet{mode: vsIP, ip: r.SourceIP}, r.SourceIP.IsValid()
	case srcCurrentTime:
		return valueSet{mode: vsTime, t: r.Time}, !r.Time.IsZero()
	case srcEpochTime:
		return valueSet{mode: vsEpoch, t: r.Time}, !r.Time.IsZero()
	case srcSecureTransport:
		return valueSet{one: strconv.FormatBool(r.SecureTransport)}, true
	case srcTokenIssueTime:
		return valueSet{mode: vsTime, t: c.p.TokenIssued}, !c.p.TokenIssued.IsZero()
	case srcMultiFactorAuthPresent:
		return valueSet{one: "false"}, !c.p.TokenIssued.IsZero() // no MFA with Trent's credentials
	case srcViaAWSService:
		return valueSet{one: "false"}, true // no AWS service calls Trent on a caller's behalf
	case srcPrincipalIsAWSService:
		return valueSet{one: strconv.FormatBool(c.p.Service != "")}, true
	}
	if r.Context == nil {
		return valueSet{}, false
	}
	v, ok := r.Context.Lookup(k.name)
	if !ok {
		return valueSet{}, false
	}
	if v.many {
		return valueSet{mode: vsList, list: v.list}, len(v.list) > 0
	}
	return valueSet{one: v.one}, true
}

func tag(t Tags, key string) (valueSet, bool) {
	if t == nil {
		return valueSet{}, false
	}
	v, ok := t.Get(key)
	return valueSet{one: v}, ok
}

// foldSet is the single-valued key m[suffix], with suffix matched
// case-insensitively as AWS matches condition key names. When several keys
// differ only by case, all their values count (deterministically).
func foldSet(m map[string]string, suffix string) (valueSet, bool) {
	if _, ok := m[suffix]; ok {
		n := 0
		for k := range m {
			if len(k) == len(suffix) && strings.EqualFold(k, suffix) {
				if n++; n > 1 {
					break
				}
			}
		}
		if n == 1 {
			return valueSet{one: m[suffix]}, true
		}
		return valueSet{mode: vsMapFold, m: m, suffix: suffix}, true
	}
	for k := range m {
		if strings.EqualFold(k, suffix) {
			return valueSet{mode: vsMapFold, m: m, suffix: suffix}, true
		}
	}
	return valueSet{}, false
}

// variable resolves a policy variable: a single-valued key with a string
// value. Multivalued keys cannot be variables (AWS).
func (ev *evalCtx) variable(k *keyRef) (string, bool) {
	vs, ok := ev.lookup(k)
	if !ok {
		return "", false
	}
	switch vs.mode {
	case vsOne:
		return vs.one, true
	case vsTime:
		return vs.t.UTC().Format(time.RFC3339), true
	case vsEpoch:
		return strconv.FormatInt(vs.t.Unix(), 10), true
	case vsIP:
		return vs.ip.String(), true
	}
	return "", false
}

// Decision is the outcome of evaluating one policy.
type Decision uint8

// The decisions.
const (
	// NotApplicable: no statement matches (an implicit deny).
	NotApplicable Decision = iota
	// Allowed: an Allow statement matches and no Deny does.
	Allowed
	// Denied: a Deny statement matches (an explicit deny).
	Denied
)

func (d Decision) String() string {
	switch d {
	case Allowed:
		return "Allow"
	case Denied:
		return "Deny"
	}
	return "NotApplicable"
}

// Outcome is the result of Evaluate: the decision and the statement that made
// it (its index and Sid; Statement is -1 when not applicable).
type Outcome struct {
	Decision  Decision
	Statement int
	Sid       string
}

// via is how a statement's Principal matched the caller.
type via uint8

const (
	viaNone    via = iota
	viaAccount     // an account principal: delegates to the account's identity policies
	viaDirect      // the caller itself, its role, "*", or an identity policy
)

// Evaluate applies the policy to r: Denied if a Deny statement applies,
// else Allowed if an Allow statement does, else NotApplicable. In a key or
// trust policy a statement applies only to the principals it names; naming
// the caller's account (arn:aws:iam::ACCOUNT:root or ACCOUNT) is enough here
// ([Authorize] adds AWS's rule that such a statement delegates to the
// identity policies). Evaluate does not allocate.
func (p *Policy) Evaluate(r *Request) Outcome {
	ev := evalCtx{r: r, c: newCaller(&r.Principal)}
	o, _ := p.eval(&ev, false)
	if ev.over {
		return Outcome{Decision: Denied, Statement: -1} // not evaluated: nothing may allow
	}
	return o
}

// eval is Evaluate with the principal match of the deciding Allow. With
// noConds, conditions are skipped: Allow statements apply as if they held and
// conditional Deny statements do not apply.
func (p *Policy) eval(ev *evalCtx, noConds bool) (Outcome, via) {
	ev.c.ids = p.ids
	allow, allowVia := -1, viaNone
	for i := range p.stmts {
		st := &p.stmts[i]
		v := st.applies(ev, noConds)
		if v == viaNone {
			continue
		}
		if st.effect == Deny {
			return Outcome{Decision: Denied, Statement: i, Sid: st.sid}, v
		}
		if v > allowVia {
			allow, allowVia = i, v
		}
	}
	if allow < 0 {
		return Outcome{Decision: NotApplicable, Statement: -1}, viaNone
	}
	return Outcome{Decision: Allowed, Statement: allow, Sid: p.stmts[allow].sid}, allowVia
}

// applies reports whether the statement applies to the request, and how its
// principal matched.
func (st *statement) applies(ev *evalCtx, noConds bool) via {
	v := viaDirect
	if st.principal != nil {
		if v = st.principal.matchCaller(&ev.c, st.notPrincipal, st.effect); v == viaNone {
			return viaNone
		}
	}
	if !st.matchAction(ev.r.Action) || !st.matchResource(ev) {
		return viaNone
	}
	if noConds {
		if st.effect == Deny && len(st.conds) > 0 {
			return viaNone
		}
		return v
	}
	for i := range st.conds {
		if !st.conds[i].eval(ev) {
			return viaNone
		}
	}
	return v
}

func (st *statement) matchAction(action string) bool {
	for _, a := range st.actions {
		if matchAction(a, action) {
			return !st.notAction
		}
	}
	return st.notAction
}

func (st *statement) matchResource(ev *evalCtx) bool {
	res := ev.r.Resource
	if res == "" {
		res = "*"
	}
	for i := range st.resources {
		rp := &st.resources[i]
		if rp.any || res != "*" && rp.match(ev, res) {
			return !st.notResource
		}
	}
	return st.notResource
}
