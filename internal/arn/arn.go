// Package arn holds the identifier rules of Trent in one place: account ids,
// region and partition names, Amazon Resource Names, KMS key ids, key and
// alias ARNs, and the IAM/STS principal ARNs (account root, users, roles and
// assumed-role sessions).
//
// Every check and every Parse function works on substrings of its input and
// does not allocate; the Format-style functions build new strings.
package arn

import "strings"

// ARN is an Amazon Resource Name split into its six parts:
// arn:Partition:Service:Region:Account:Resource. Resource is everything after
// the fifth colon and may itself contain colons.
type ARN struct {
	Partition string
	Service   string
	Region    string
	Account   string
	Resource  string
}

// Parse splits s into its parts. It checks only the shape ("arn:" and five
// colons), not the parts themselves; ok is false when the shape is wrong.
func Parse(s string) (a ARN, ok bool) {
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return ARN{}, false
	}
	var found bool
	if a.Partition, rest, found = strings.Cut(rest, ":"); !found {
		return ARN{}, false
	}
	if a.Service, rest, found = strings.Cut(rest, ":"); !found {
		return ARN{}, false
	}
	if a.Region, rest, found = strings.Cut(rest, ":"); !found {
		return ARN{}, false
	}
	if a.Account, a.Resource, found = strings.Cut(rest, ":"); !found {
		return ARN{}, false
	}
	return a, true
}

// String formats a as arn:partition:service:region:account:resource.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsRegion reports whether s is shaped like an AWS region name: 2 to 4
// lowercase words joined by '-' and ending in a number of 1 to 3 digits, e.g.
// us-east-1, eu-central-2, us-gov-west-1, us-isob-east-1, cn-north-1.
func IsRegion(s string) bool {
	if len(s) > 32 {
		return false
	}
	words := 0
	for {
		i := strings.IndexByte(s, '-')
		if i < 0 {
			break
		}
		w := s[:i]
		if w == "" {
			return false
		}
		for j := 0; j < len(w); j++ {
			if w[j] < 'a' || w[j] > 'z' {
				return false
			}
		}
		words++
		s = s[i+1:]
	}
	if words < 2 || words > 4 || s == "" || len(s) > 3 {
		return false
	}
	for j := 0; j < len(s); j++ {
		if s[j] < '0' || s[j] > '9' {
			return false
		}
	}
	return true
}

// IsPartition reports whether s is shaped like an AWS partition name: "aws"
// or "aws-" followed by lowercase words joined by '-' (aws-cn, aws-us-gov,
// aws-iso-b...), at most 32 characters.
func IsPartition(s string) bool {
	if s == "aws" {
		return true
	}
	rest, ok := strings.CutPrefix(s, "aws-")
	if !ok || len(s) > 32 || rest == "" || rest[0] == '-' || rest[len(rest)-1] == '-' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c == '-' && rest[i-1] != '-') {
			return false
		}
	}
	return true
}

// IsKeyID reports whether id has the form of a KMS key id: a UUID
// (8-4-4-4-12 hex digits) or "mrk-" followed by 32 hex digits (multi-Region
// keys). Hex digits of either case are accepted, as AWS does.
func IsKeyID(id string) bool {
	if rest, ok := strings.CutPrefix(id, "mrk-"); ok {
		return len(rest) == 32 && isHex(rest)
	}
	if len(id) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := id[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHexByte(c) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func isHexByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// AliasPrefix starts every KMS alias name.
const AliasPrefix = "alias/"

// MaxAliasLen is the longest alias name KMS accepts, prefix included.
const MaxAliasLen = 256

// IsAliasName reports whether name is a well-formed KMS alias name:
// "alias/" followed by 1 or more of [a-zA-Z0-9:/_-], at most 256 characters
// in all. It does not reject the reserved "alias/aws/" prefix.
func IsAliasName(name string) bool {
	rest, ok := strings.CutPrefix(name, AliasPrefix)
	if !ok || rest == "" || len(name) > MaxAliasLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !IsAliasByte(rest[i]) {
			return false
		}
	}
	return true
}

// IsAliasByte reports whether c may appear in an alias name
// (the AWS model pattern ^[a-zA-Z0-9:/_-]+$).
func IsAliasByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '/' || c == '_' || c == '-'
}

// Key returns the ARN of a KMS key: arn:partition:kms:region:account:key/id.
func Key(partition, region, account, id string) string {
	return "arn:" + partition + ":kms:" + region + ":" + account + ":key/" + id
}

// Alias returns the ARN of a KMS alias (name includes "alias/"):
// arn:partition:kms:region:account:alias/name.
func Alias(partition, region, account, name string) string {
	return "arn:" + partition + ":kms:" + region + ":" + account + ":" + name
}

// Root returns the ARN of an account's root user: arn:partition:iam::account:root.
func Root(partition, account string) string {
	return "arn:" + partition + ":iam::" + account + ":root"
}

// User returns the ARN of an IAM user; path is "/" or "/a/b/".
func User(partition, account, path, name string) string {
	return "arn:" + partition + ":iam::" + account + ":user" + cleanPath(path) + name
}

// Role returns the ARN of an IAM role; path is "/" or "/a/b/".
func Role(partition, account, path, name string) string {
	return "arn:" + partition + ":iam::" + account + ":role" + cleanPath(path) + name
}

// AssumedRole returns the ARN of a role session:
// arn:partition:sts::account:assumed-role/role-name/session-name (the role's
// path is not part of a session ARN).
func AssumedRole(partition, account, roleName, session string) string {
	return "arn:" + partition + ":sts::" + account + ":assumed-role/" + roleName + "/" + session
}

func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// PrincipalKind is what an IAM or STS principal ARN names.
type PrincipalKind uint8

// The kinds of principal ARNs.
const (
	NotPrincipal           PrincipalKind = iota // not an IAM/STS principal ARN
	RootPrincipal                               // arn:p:iam::acct:root
	UserPrincipal                               // arn:p:iam::acct:user/path/name
	RolePrincipal                               // arn:p:iam::acct:role/path/name
	AssumedRolePrincipal                        // arn:p:sts::acct:assumed-role/role/session
	FederatedUserPrincipal                      // arn:p:sts::acct:federated-user/name
)

// String names the kind as aws:PrincipalType spells it (Account, User,
// AssumedRole, FederatedUser), or "Role" / "" for the others.
func (k PrincipalKind) String() string {
	switch k {
	case RootPrincipal:
		return "Account"
	case UserPrincipal:
		return "User"
	case RolePrincipal:
		return "Role"
	case AssumedRolePrincipal:
		return "AssumedRole"
	case FederatedUserPrincipal:
		return "FederatedUser"
	}
	return ""
}

// Principal is a parsed IAM or STS principal ARN. Name is the user, role or
// federated user name (without path); for an assumed-role session it is the
// role name and Session the session name.
type Principal struct {
	ARN
	Kind    PrincipalKind
	Path    string // "/" or "/a/b/" for users and roles
	Name    string
	Session string
}

// ParsePrincipal parses an IAM or STS principal ARN: the account root, a
// user or role (with optional path), an assumed-role session or a federated
// user. The region must be empty, the account 12 digits, the partition
// well-formed and names non-empty; ok is false otherwise.
func ParsePrincipal(s string) (p Principal, ok bool) {
	a, ok := Parse(s)
	if !ok || a.Region != "" || !IsAccountID(a.Account) || !IsPartition(a.Partition) {
		return Principal{}, false
	}
	p.ARN = a
	switch a.Service {
	case "iam":
		if a.Resource == "root" {
			p.Kind = RootPrincipal
			return p, true
		}
		var rest string
		if rest, ok = strings.CutPrefix(a.Resource, "user/"); ok {
			p.Kind = UserPrincipal
		} else if rest, ok = strings.CutPrefix(a.Resource, "role/"); ok {
			p.Kind = RolePrincipal
		} else {
			return Principal{}, false
		}
		p.Name = rest[strings.LastIndexByte(rest, '/')+1:]
		// The path runs from the '/' after "user" or "role" to the name.
		p.Path = a.Resource[len(a.Resource)-len(rest)-1 : len(a.Resource)-len(p.Name)]
		if p.Name == "" || strings.Contains(p.Path, "//") {
			return Principal{}, false
		}
		return p, true
	case "sts":
		if rest, ok := strings.CutPrefix(a.Resource, "assumed-role/"); ok {
			role, session, found := strings.Cut(rest, "/")
			if !found || role == "" || session == "" || strings.IndexByte(session, '/') >= 0 {
				return Principal{}, false
			}
			p.Kind, p.Name, p.Session = AssumedRolePrincipal, role, session
			return p, true
		}
		if name, ok := strings.CutPrefix(a.Resource, "federated-user/"); ok && name != "" && strings.IndexByte(name, '/') < 0 {
			p.Kind, p.Name = FederatedUserPrincipal, name
			return p, true
		}
	}
	return Principal{}, false
}
