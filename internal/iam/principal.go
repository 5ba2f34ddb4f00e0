// Package iam holds Trent's identities: accounts, IAM users and roles with
// their inline policies and tags, access keys, and STS sessions; and the
// operations of the AWS IAM and STS APIs over them (plain Go, no HTTP: the
// Query-protocol front door is internal/awsquery).
//
// # State
//
// Everything needed to authenticate a request (access keys, the principal
// each resolves to, the compiled identity policies of users and roles, the
// session-token key) lives in memory in one immutable snapshot swapped with
// an atomic pointer: Credential, which SigV4 calls on every request, takes no
// lock and never touches storage. Each change is one storage transaction;
// the snapshot is replaced only after it commits, so a failed write changes
// nothing. Records are stored through the barrier (secrets sealed) at:
//
//	iam/account/<account>                     an account of this data directory
//	iam/user/<account>/<lower-case name>      a user, its inline policies and tags
//	iam/role/<account>/<lower-case name>      a role, its trust policy, inline policies and tags
//	iam/accesskey/<access key id>             an access key (secret, owner, status)
//	iam/sts/token-key/<id>                    the key that seals session tokens
//
// IAM names are unique without regard to case, as in AWS: "Bob" and "bob"
// are the same user, and lookups ignore case.
package iam

import (
	"log/slog"
	"time"
)

// PrincipalType is the kind of an authenticated principal, named as
// CloudTrail's userIdentity.type names it.
type PrincipalType uint8

const (
	// Root is an account's root user: access keys created by the operator
	// (`trent admin`, the first start, the seed file) or --dev. It may do
	// anything in its account.
	Root PrincipalType = iota + 1
	// IAMUser is an IAM user authenticated with one of its access keys.
	IAMUser
	// AssumedRole is a role session from sts:AssumeRole.
	AssumedRole
)

// String returns CloudTrail's name: "Root", "IAMUser" or "AssumedRole".
func (t PrincipalType) String() string {
	switch t {
	case Root:
		return "Root"
	case IAMUser:
		return "IAMUser"
	case AssumedRole:
		return "AssumedRole"
	}
	return "Unknown"
}

// Principal is an authenticated caller, as resolved by SigV4 verification.
// It carries what authorization (internal/policy) and audit (CloudTrail's
// userIdentity) need. Values handed out by the Service are immutable: the
// pointers they hold are shared and must not be modified.
type Principal struct {
	Type      PrincipalType
	AccountID string // 12 digits
	// ARN: arn:aws:iam::ACCT:root, arn:aws:iam::ACCT:user/PATH/NAME or
	// arn:aws:sts::ACCT:assumed-role/ROLE/SESSION.
	ARN string
	// PrincipalID is AWS's unique id of the caller: the account id for
	// root, the user id (AIDA...) for a user, "ROLEID:SESSION" (AROA...:name)
	// for a role session. It is aws:userid in policies.
	PrincipalID string
	// UserName is the IAM user's name ("" for root and role sessions); it is
	// aws:username in policies.
	UserName    string
	AccessKeyID string
	// Session describes a role session; nil unless Type is AssumedRole.
	Session *Session
	// Tags are the principal tags (aws:PrincipalTag/<key>): the user's tags,
	// or the role's tags overridden by the session tags. Nil when none.
	Tags *Tags
	// Policies are the caller's identity-based policies: the user's or the
	// role's inline policies, compiled. Nil for root (whose access to its
	// own account is not decided by policies) and for identities without
	// any policy.
	Policies *Policies
}

// IsRoot reports whether p is an account's root user.
func (p *Principal) IsRoot() bool { return p.Type == Root }

// LogValue lists what may be logged about a principal (no secret is held).
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", p.Type.String()),
		slog.String("arn", p.ARN),
		slog.String("access_key_id", p.AccessKeyID),
	)
}

// Session is the context of a role session (CloudTrail's sessionContext).
type Session struct {
	RoleARN  string // issuer: the role's ARN
	RoleID   string // issuer: the role's id, AROA...
	RoleName string // issuer: the role's name
	Name     string // the role session name
	Created  time.Time
	Expires  time.Time
	// SourceIdentity is the SourceIdentity given to AssumeRole ("" when none).
	SourceIdentity string
}

// Tag is one tag of a user, a role or a session.
type Tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value" query:"Value,required"` // may be empty, not missing
}

// Tags is an immutable set of tags, in the order they were given.
type Tags struct {
	list []Tag
	m    map[string]string
}

// Map returns the tags as a map (shared: do not modify it); nil for nil Tags.
func (t *Tags) Map() map[string]string {
	if t == nil {
		return nil
	}
	return t.m
}

// Get returns the value of the tag named key, matching the key without
// regard to case as IAM does for principal tags.
func (t *Tags) Get(key string) (string, bool) {
	if t == nil {
		return "", false
	}
	for _, tg := range t.list {
		if equalFoldASCII(tg.Key, key) {
			return tg.Value, true
		}
	}
	return "", false
}

// List returns a copy of the tags.
func (t *Tags) List() []Tag {
	if t == nil {
		return nil
	}
	return append([]Tag(nil), t.list...)
}

// Len returns the number of tags.
func (t *Tags) Len() int {
	if t == nil {
		return 0
	}
	return len(t.list)
}

func newTags(list []Tag) *Tags {
	if len(list) == 0 {
		return nil
	}
	t := &Tags{list: append([]Tag(nil), list...), m: make(map[string]string, len(list))}
	for _, tg := range list {
		t.m[tg.Key] = tg.Value
	}
	return t
}
