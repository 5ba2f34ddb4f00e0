package policy

import (
	"encoding/json"
	"strings"

	"github.com/trent-kms/trent/internal/arn"
)

// principalSet is a compiled Principal or NotPrincipal element.
type principalSet struct {
	any       bool     // "*" or {"AWS": "*"}
	accounts  []string // account ids, from "111122223333" or arn:aws:iam::111122223333:root
	arns      []string // users, roles, assumed-role sessions, federated users
	services  []string
	federated []string
	canonical []string
}

var errInvalidPrincipal = errorf("Policy contains a statement with one or more invalid principals.")

func parsePrincipals(n *node) (*principalSet, error) {
	ps := &principalSet{}
	if n.kind == jsonString {
		if n.s != "*" {
			return nil, errInvalidPrincipal
		}
		ps.any = true
		return ps, nil
	}
	if n.kind != jsonObject || len(n.obj) == 0 {
		return nil, errInvalidPrincipal
	}
	for i := range n.obj {
		m := &n.obj[i]
		vals, ok := m.val.strings()
		if !ok {
			return nil, errInvalidPrincipal
		}
		switch m.key {
		case "AWS":
			for _, v := range vals {
				switch {
				case v == "*":
					ps.any = true
				case arn.IsAccountID(v):
					ps.accounts = append(ps.accounts, v)
				case strings.ContainsAny(v, "*?"):
					// No partial wildcards in principals: AWS refuses them.
					return nil, errInvalidPrincipal
				default:
					pa, ok := arn.ParsePrincipal(v)
					if !ok {
						return nil, errInvalidPrincipal
					}
					if pa.Kind == arn.RootPrincipal {
						ps.accounts = append(ps.accounts, pa.Account)
					} else {
						ps.arns = append(ps.arns, v)
					}
				}
			}
		case "Service", "Federated", "CanonicalUser":
			for _, v := range vals {
				if v == "" || strings.ContainsAny(v, "*?") {
					return nil, errInvalidPrincipal
				}
			}
			switch m.key {
			case "Service":
				ps.services = append(ps.services, vals...)
			case "Federated":
				ps.federated = append(ps.federated, vals...)
			default:
				ps.canonical = append(ps.canonical, vals...)
			}
		default:
			return nil, errInvalidPrincipal
		}
	}
	return ps, nil
}

// match reports how the set names the caller: directly (the caller's ARN,
// the role of its session, its service, or "*"), through its account, or not.
func (ps *principalSet) match(c *caller) via {
	if ps.any {
		return viaDirect
	}
	if c.p.Service != "" {
		for _, s := range ps.services {
			if strings.EqualFold(s, c.p.Service) {
				return viaDirect
			}
		}
		return viaNone
	}
	if ps.hasARN(c, c.p.ARN, c.kind) || c.kind == arn.AssumedRolePrincipal && ps.hasARN(c, c.p.RoleARN, arn.RolePrincipal) {
		return viaDirect
	}
	if c.account != "" && ps.hasAccount(c.account) {
		return viaAccount
	}
	return viaNone
}

func (ps *principalSet) hasAccount(account string) bool {
	for _, a := range ps.accounts {
		if a == account {
			return true
		}
	}
	return false
}

// hasARN reports whether the set lists the principal ARN s, one of the
// caller's. IAM user and role names are case-insensitive (IAM keeps them
// unique ignoring case); session names are compared exactly. A listed name
// the policy bound to a unique id (Policy.Bind) is the caller's only when
// that id is the caller's.
func (ps *principalSet) hasARN(c *caller, s string, kind arn.PrincipalKind) bool {
	if s == "" {
		return false
	}
	fold := kind == arn.UserPrincipal || kind == arn.RolePrincipal
	for _, a := range ps.arns {
		if a == s || fold && strings.EqualFold(a, s) {
			if id, bound := c.ids[a]; bound && id != c.id {
				continue
			}
			return true
		}
	}
	return false
}

// matchCaller applies a Principal or NotPrincipal element to the caller.
//
// NotPrincipal follows AWS's warning that a request is checked against each
// identity in the caller's chain (its account, its role for a session, then
// itself): a Deny with NotPrincipal spares the caller only when every one of
// them is listed, and an Allow with NotPrincipal applies only when none is.
func (ps *principalSet) matchCaller(c *caller, not bool, effect Effect) via {
	if !not {
		return ps.match(c)
	}
	if ps.any {
		return viaNone
	}
	if effect == Allow {
		if ps.match(c) != viaNone {
			return viaNone
		}
		return viaDirect
	}
	// Deny: applies unless the whole chain is listed.
	if c.p.Service != "" {
		if ps.match(c) == viaDirect {
			return viaNone
		}
		return viaDirect
	}
	listed := c.account != "" && ps.hasAccount(c.account)
	switch c.kind {
	case arn.RootPrincipal:
	case arn.AssumedRolePrincipal:
		listed = listed && ps.hasARN(c, c.p.RoleARN, arn.RolePrincipal) && ps.hasARN(c, c.p.ARN, c.kind)
	default:
		listed = listed && ps.hasARN(c, c.p.ARN, c.kind)
	}
	if listed {
		return viaNone
	}
	return viaDirect
}

// ShowIDs returns the key or trust policy document doc as AWS shows it once
// a user or role it named is gone: ids are the policy's bindings (see
// [Policy.Bind]), current returns the unique id of the user or role an ARN
// names now; each user or role ARN of a Principal or NotPrincipal element
// ("AWS" members) whose bound id is no longer current (deleted, or deleted
// and created again) is replaced by the id it was bound to (AIDA...,
// AROA...), which AWS refuses when the policy is set again. Role session
// ARNs are shown as written. The rest of the text is unchanged. doc is a
// policy that [Parse] accepted; ShowIDs returns it as it is otherwise.
func ShowIDs(doc string, ids map[string]string, current func(arn string) (id string, ok bool)) string {
	var gone map[string]string
	for a, id := range ids {
		if pa, _ := arn.ParsePrincipal(a); pa.Kind == arn.AssumedRolePrincipal {
			continue
		}
		if cur, ok := current(a); !ok || cur != id {
			if gone == nil {
				gone = make(map[string]string)
			}
			gone[a] = id
		}
	}
	if len(gone) == 0 {
		return doc
	}
	root, err := decodeJSON(doc)
	if err != nil || root.kind != jsonObject {
		return doc
	}
	var spans []node // the string literals to replace, in document order
	for _, m := range root.obj {
		if m.key != "Statement" {
			continue
		}
		stmts := []node{m.val}
		if m.val.kind == jsonArray {
			stmts = m.val.arr
		}
		for _, st := range stmts {
			for _, e := range st.obj {
				if e.key != "Principal" && e.key != "NotPrincipal" {
					continue
				}
				for _, t := range e.val.obj {
					if t.key != "AWS" {
						continue
					}
					vals := []node{t.val}
					if t.val.kind == jsonArray {
						vals = t.val.arr
					}
					for _, v := range vals {
						if _, ok := gone[v.s]; ok && v.kind == jsonString {
							spans = append(spans, v)
						}
					}
				}
			}
		}
	}
	if len(spans) == 0 {
		return doc
	}
	var b strings.Builder
	last := 0
	for _, v := range spans {
		q, _ := json.Marshal(gone[v.s]) // unique ids are ASCII letters and digits
		b.WriteString(doc[last:v.at])
		b.Write(q)
		last = v.end
	}
	b.WriteString(doc[last:])
	return b.String()
}
