// Package policy parses, validates and evaluates AWS access policy documents:
// KMS key policies, IAM identity policies and IAM role trust policies.
//
// It is pure: no I/O and no knowledge of where policies are stored. Parse a
// document once (Parse compiles every matcher), then evaluate it many times;
// Evaluate and Authorize do not allocate.
//
// # Grammar
//
// Version ("2012-10-17" or "2008-10-17"; policy variables need 2012-10-17),
// Id, Statement (an object or an array), and per statement Sid, Effect,
// Principal / NotPrincipal, Action / NotAction, Resource / NotResource and
// Condition, as the IAM JSON policy reference defines them. Anything else (an
// unknown element, an unknown condition operator, a value of the wrong type, a
// malformed IP range, number or date, a duplicated JSON member, invalid
// UTF-8) is a parse error, never a condition that silently fails.
//
// Matching follows AWS: actions match case-insensitively with '*' and '?';
// resources match case-sensitively, each colon-separated ARN part on its own;
// condition key names are case-insensitive (including the <key> of
// kms:EncryptionContext:<key> and the aws:*Tag/<key> keys) while the case
// sensitivity of values is the operator's (StringEquals is case-sensitive,
// StringEqualsIgnoreCase is not). Policy variables (${aws:username},
// ${aws:PrincipalTag/team, 'default'}, ${*}, ${?}, ${$}) are resolved in the
// resource part of Resource ARNs and in String and Arn condition values of
// 2012-10-17 documents; a variable without a value matches nothing.
//
// # Evaluation
//
// [Policy.Evaluate] applies one policy to a [Request]: an explicit Deny beats
// an Allow, and a request no statement matches is not applicable (an implicit
// deny). [Authorize] combines a resource policy (a key policy) and the
// caller's identity policies the way AWS KMS does.
package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/kmserr"
)

// Kind is the kind of a policy document, which decides which elements it must
// and must not have.
type Kind uint8

// The kinds of policy documents.
const (
	// KeyPolicy is a KMS key policy: a resource-based policy; every
	// statement names a Principal or NotPrincipal; a statement without
	// Action or Resource is accepted and has no effect (as in AWS KMS); at
	// most MaxKeyPolicyBytes bytes.
	KeyPolicy Kind = iota + 1
	// IdentityPolicy is an IAM policy attached to a user or role: no
	// Principal or NotPrincipal; Resource or NotResource required; Sids
	// alphanumeric and unique. Its size quota depends on where it is attached
	// (see MaxUserPolicySize and friends, counted with Size), so Parse checks
	// only the IAM API's document length.
	IdentityPolicy
	// TrustPolicy is a role trust policy (the resource policy of the role for
	// sts:AssumeRole): Principal required, no NotPrincipal, no Resource; at
	// most MaxTrustPolicySize non-whitespace characters.
	TrustPolicy
)

func (k Kind) String() string {
	switch k {
	case KeyPolicy:
		return "key policy"
	case IdentityPolicy:
		return "identity policy"
	case TrustPolicy:
		return "trust policy"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Size quotas of AWS. IAM counts characters without whitespace (see Size) and
// the user and role quotas apply to the sum of a user's or role's inline
// policies; KMS counts bytes.
const (
	MaxKeyPolicyBytes     = 32768  // KMS key policy document
	MaxUserPolicySize     = 2048   // all inline policies of an IAM user
	MaxRolePolicySize     = 10240  // all inline policies of an IAM role
	MaxManagedPolicySize  = 6144   // one managed policy
	MaxTrustPolicySize    = 2048   // a role trust policy (AWS default quota)
	MaxPolicyDocumentLen  = 131072 // the IAM and KMS APIs' PolicyDocument length
	maxStatementsPerParse = 4096   // bound on work per document, far above any quota
)

// Size returns the size of a policy document as IAM counts it against its
// quotas: characters other than whitespace (space, tab, CR, LF).
func Size(doc string) int {
	n := 0
	for _, r := range doc {
		switch r {
		case ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n
}

// Error is a parse or validation error. Its message is fit to return to the
// client (MalformedPolicyDocumentException for key policies,
// MalformedPolicyDocument for IAM).
type Error struct {
	// Msg says what is wrong, in AWS's style.
	Msg string
	// TooLarge is set when the document exceeds its size quota (KMS answers
	// LimitExceededException then, IAM LimitExceeded).
	TooLarge bool
}

func (e *Error) Error() string { return e.Msg }

// ErrMalformed matches every *Error with errors.Is.
var ErrMalformed = errors.New("policy: malformed document")

// Is makes errors.Is(err, ErrMalformed) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrMalformed }

func errorf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// Effect is the effect of a statement.
type Effect uint8

// The effects.
const (
	Allow Effect = iota + 1
	Deny
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	}
	return ""
}

// Policy is a parsed, compiled policy document. It is immutable and safe for
// concurrent use.
type Policy struct {
	Kind    Kind
	Version string // "2012-10-17", "2008-10-17", or "" when absent
	ID      string
	stmts   []statement
	// ids are the unique ids the named users and roles were bound to (Bind);
	// nil for none.
	ids map[string]string
}

// NamedPrincipals returns the IAM users, roles and role sessions that the
// policy's Principal and NotPrincipal elements name (their ARNs as written,
// each once, in order), not the accounts, services or "*". These are the
// principals that must exist when a key or trust policy is set, and that
// [Policy.Bind] binds.
func (p *Policy) NamedPrincipals() []string {
	var arns []string
	for i := range p.stmts {
		if ps := p.stmts[i].principal; ps != nil {
			for _, a := range ps.arns {
				if !slices.Contains(arns, a) {
					arns = append(arns, a)
				}
			}
		}
	}
	return arns
}

// Bind returns the policy with each named user and role bound to its unique
// id, as AWS binds a key or trust policy when it is set: ids maps an ARN of
// [Policy.NamedPrincipals] to the unique id (AIDA... or AROA...) of the user
// or role it named then (for a role session's ARN, its role's). A bound name
// matches only a caller with that id (a user's, or the role's of a session),
// so that a user or role deleted and created again under the same name does
// not inherit the permissions; a name without an entry in ids matches by
// name alone. p is unchanged (it may be shared); ids must not be modified
// afterwards.
func (p *Policy) Bind(ids map[string]string) *Policy {
	if len(ids) == 0 && p.ids == nil {
		return p
	}
	b := *p
	b.ids = ids
	if len(ids) == 0 {
		b.ids = nil
	}
	return &b
}

// Len returns the number of statements.
func (p *Policy) Len() int { return len(p.stmts) }

// Sid returns the Sid of statement i ("" when it has none).
func (p *Policy) Sid(i int) string { return p.stmts[i].sid }

// Effect returns the effect of statement i.
func (p *Policy) Effect(i int) Effect { return p.stmts[i].effect }

// statement is one compiled statement.
type statement struct {
	sid    string
	effect Effect

	principal    *principalSet // nil: no Principal element
	notPrincipal bool          // principal is a NotPrincipal

	actions   []string // lowercased patterns
	notAction bool

	resources   []resourcePattern // empty for a key policy statement without Resource: matches nothing
	notResource bool

	conds []condition
}

// Parse parses and validates a policy document of the given kind.
// The error is an *Error whose message is fit for the client.
func Parse(kind Kind, doc string) (*Policy, error) {
	switch kind {
	case KeyPolicy:
		if len(doc) > MaxKeyPolicyBytes {
			return nil, &Error{Msg: fmt.Sprintf("Policy exceeds the maximum allowed size of %d bytes.", MaxKeyPolicyBytes), TooLarge: true}
		}
	case TrustPolicy:
		if len(doc) > MaxPolicyDocumentLen || Size(doc) > MaxTrustPolicySize {
			return nil, &Error{Msg: fmt.Sprintf("Cannot exceed quota for ACLSizePerRole: %d", MaxTrustPolicySize), TooLarge: true}
		}
	case IdentityPolicy:
		if len(doc) > MaxPolicyDocumentLen {
			return nil, &Error{Msg: fmt.Sprintf("Policy document exceeds the maximum length of %d characters.", MaxPolicyDocumentLen), TooLarge: true}
		}
	default:
		return nil, errorf("policy: unknown kind %d", kind)
	}
	root, err := decodeJSON(doc)
	if err != nil {
		var d *dupError
		if errors.As(err, &d) {
			return nil, errorf("The policy contains the JSON member %q more than once.", clip(d.key))
		}
		return nil, errorf("The policy is not a valid JSON document.")
	}
	if root.kind != jsonObject {
		return nil, errorf("The policy must be a JSON object.")
	}
	p := &Policy{Kind: kind}
	var stmtNode *node
	for i := range root.obj {
		m := &root.obj[i]
		switch m.key {
		case "Version":
			if m.val.kind != jsonString || (m.val.s != "2012-10-17" && m.val.s != "2008-10-17") {
				return nil, errorf("The policy Version must be \"2012-10-17\" or \"2008-10-17\".")
			}
			p.Version = m.val.s
		case "Id":
			if m.val.kind != jsonString {
				return nil, errorf("The policy Id must be a string.")
			}
			p.ID = m.val.s
		case "Statement":
			stmtNode = &m.val
		default:
			return nil, errorf("The policy contains an unknown element %q.", clip(m.key))
		}
	}
	var stmts []node
	switch {
	case stmtNode == nil:
		return nil, errorf("The policy must contain a Statement.")
	case stmtNode.kind == jsonObject:
		stmts = []node{*stmtNode}
	case stmtNode.kind == jsonArray:
		stmts = stmtNode.arr
	default:
		return nil, errorf("The policy Statement must be an object or an array of objects.")
	}
	if len(stmts) == 0 {
		return nil, errorf("Policy must contain at least one statement.")
	}
	if len(stmts) > maxStatementsPerParse {
		return nil, errorf("Policy contains more than %d statements.", maxStatementsPerParse)
	}
	vars := p.Version == "2012-10-17"
	p.stmts = make([]statement, len(stmts))
	for i := range stmts {
		if stmts[i].kind != jsonObject {
			return nil, errorf("Policy contains a statement that is not a JSON object.")
		}
		if err := p.stmts[i].parse(kind, &stmts[i], vars); err != nil {
			return nil, err
		}
	}
	if kind != KeyPolicy {
		for i := range p.stmts {
			for j := range i {
				if p.stmts[i].sid != "" && p.stmts[i].sid == p.stmts[j].sid {
					return nil, errorf("Statement IDs (SID) in a single policy must be unique.")
				}
			}
		}
	}
	return p, nil
}

func (st *statement) parse(kind Kind, n *node, vars bool) error {
	var effect, principal, notPrincipal, action, notAction, resource, notResource, cond *node
	for i := range n.obj {
		m := &n.obj[i]
		switch m.key {
		case "Sid":
			if m.val.kind != jsonString {
				return errorf("Policy contains a statement whose Sid is not a string.")
			}
			st.sid = m.val.s
		case "Effect":
			effect = &m.val
		case "Principal":
			principal = &m.val
		case "NotPrincipal":
			notPrincipal = &m.val
		case "Action":
			action = &m.val
		case "NotAction":
			notAction = &m.val
		case "Resource":
			resource = &m.val
		case "NotResource":
			notResource = &m.val
		case "Condition":
			cond = &m.val
		default:
			return errorf("Policy contains a statement with an unknown element %q.", clip(m.key))
		}
	}
	if kind != KeyPolicy && !isAlnum(st.sid) {
		return errorf("Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*")
	}

	switch {
	case effect == nil:
		return errorf("Policy contains a statement with no Effect.")
	case effect.kind == jsonString && effect.s == "Allow":
		st.effect = Allow
	case effect.kind == jsonString && effect.s == "Deny":
		st.effect = Deny
	default:
		return errorf("Policy contains a statement with an invalid Effect: the Effect must be \"Allow\" or \"Deny\".")
	}

	switch kind {
	case IdentityPolicy:
		if principal != nil || notPrincipal != nil {
			return errorf("Policy document should not specify a principal.")
		}
	case KeyPolicy:
		if principal == nil && notPrincipal == nil {
			return errorf("Policy contains a statement with no principal.")
		}
	case TrustPolicy:
		if notPrincipal != nil {
			return errorf("Trust policies must not contain NotPrincipal.")
		}
		if principal == nil {
			return errorf("Missing required field Principal")
		}
	}
	if principal != nil && notPrincipal != nil {
		return errorf("Policy contains a statement with both Principal and NotPrincipal.")
	}
	if principal != nil || notPrincipal != nil {
		el := principal
		if el == nil {
			el, st.notPrincipal = notPrincipal, true
		}
		ps, err := parsePrincipals(el)
		if err != nil {
			return err
		}
		st.principal = ps
	}

	switch {
	case action != nil && notAction != nil:
		return errorf("Policy contains a statement with both Action and NotAction.")
	case action == nil && notAction == nil && kind == KeyPolicy:
		// AWS KMS accepts a key policy statement without Action, and the
		// statement has no effect: with no actions it matches none.
	case action == nil && notAction == nil:
		return errorf("Policy statement must contain actions.")
	}
	if action != nil || notAction != nil {
		el := action
		if el == nil {
			el, st.notAction = notAction, true
		}
		acts, ok := el.strings()
		if !ok {
			return errorf("Policy contains a statement whose Action is not a string or a non-empty array of strings.")
		}
		st.actions = make([]string, len(acts))
		for i, a := range acts {
			if a != "*" {
				svc, name, found := strings.Cut(a, ":")
				if !found || svc == "" || name == "" || strings.ContainsAny(svc, "*?") && svc != "*" {
					return errorf("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. Invalid action: %q", clip(a))
				}
			}
			st.actions[i] = strings.ToLower(a)
		}
	}

	switch {
	case resource != nil && notResource != nil:
		return errorf("Policy contains a statement with both Resource and NotResource.")
	case kind == TrustPolicy && (resource != nil || notResource != nil):
		return errorf("Has prohibited field Resource")
	case kind == IdentityPolicy && resource == nil && notResource == nil:
		return errorf("Policy statement must contain resources.")
	case resource != nil || notResource != nil:
		el := resource
		if el == nil {
			el, st.notResource = notResource, true
		}
		res, ok := el.strings()
		if !ok {
			return errorf("Policy contains a statement whose Resource is not a string or a non-empty array of strings.")
		}
		st.resources = make([]resourcePattern, len(res))
		for i, r := range res {
			rp, err := compileResource(r, vars)
			if err != nil {
				return err
			}
			st.resources[i] = rp
		}
	case kind == KeyPolicy:
		// AWS KMS accepts a key policy statement without Resource, and the
		// statement has no effect: with no resources it matches none.
	default:
		// A trust policy's statements are about the role: "*".
		st.resources = []resourcePattern{{any: true}}
	}

	if cond != nil {
		conds, err := parseConditions(kind, cond, vars)
		if err != nil {
			return err
		}
		st.conds = conds
	}
	return nil
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// clip bounds what an error message echoes of the document.
func clip(s string) string { return kmserr.Clip(s, 256) }
