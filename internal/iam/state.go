package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/storage"
)

// Storage path prefixes (see the package documentation).
const (
	accountPrefix   = "iam/account/"
	userPrefix      = "iam/user/"
	rolePrefix      = "iam/role/"
	accessKeyPrefix = "iam/accesskey/"
	tokenKeyPrefix  = "iam/sts/token-key/"
)

// Access key statuses.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// Origins of access keys: who created them.
const (
	OriginGenerated = "generated" // the first start's root key (the credentials file)
	OriginAdmin     = "admin"     // `trent admin create-access-key`
	OriginSeed      = "seed"      // the seed file
	OriginAPI       = "api"       // iam:CreateAccessKey
)

// name is the case-insensitive identity of a user or role in an account.
type name struct{ account, lower string }

func nameOf(account, n string) name { return name{account, strings.ToLower(n)} }

// state is an immutable snapshot of every identity. A change builds a new
// state (copying the maps it changes) and publishes it after the commit.
type state struct {
	accounts map[string]*account
	users    map[name]*user
	roles    map[name]*role
	keys     map[string]*accessKey // by access key id
	tokenKey *tokenKey
}

func (st *state) clone() *state {
	return &state{
		accounts: maps.Clone(st.accounts),
		users:    maps.Clone(st.users),
		roles:    maps.Clone(st.roles),
		keys:     maps.Clone(st.keys),
		tokenKey: st.tokenKey,
	}
}

type account struct {
	id      string
	created time.Time
	// admin: the account's first administrator (root access key) was
	// created, or came with the account (migration, seed, trent admin).
	admin bool
}

type inlinePolicy struct {
	name, doc string
	compiled  *policy.Policy
}

type user struct{ entity }

type role struct {
	entity
	description, trust string
	// trustIDs binds the users and roles trust names to their unique ids
	// (policy.Bind); nil when it names none, or in a role stored before
	// trust policies were bound (its names then match by name alone).
	trustIDs      map[string]string
	trustCompiled *policy.Policy // bound to trustIDs
	maxSession    int32
}

type accessKey struct {
	id, secret, account string
	user                string // "" for the root user
	status              string
	created             time.Time
	origin              string
	// principal is what an Active key authenticates as, rebuilt whenever
	// the key or its user changes. Nil while Inactive.
	principal *Principal
}

// ---- records ----

type accountRecord struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Admin   bool      `json:"admin,omitempty"`
}

type policyRecord struct {
	Name     string `json:"name"`
	Document string `json:"document"`
}

type userRecord struct {
	Account  string         `json:"account"`
	Name     string         `json:"name"`
	Path     string         `json:"path"`
	ID       string         `json:"id"`
	Created  time.Time      `json:"created"`
	Tags     []Tag          `json:"tags,omitempty"`
	Policies []policyRecord `json:"policies,omitempty"`
}

type roleRecord struct {
	Account     string         `json:"account"`
	Name        string         `json:"name"`
	Path        string         `json:"path"`
	ID          string         `json:"id"`
	Description string         `json:"description,omitempty"`
	Created     time.Time      `json:"created"`
	Trust       string         `json:"trust"`
	MaxSession  int32          `json:"maxSessionDuration"`
	Tags        []Tag          `json:"tags,omitempty"`
	Policies    []policyRecord `json:"policies,omitempty"`

	TrustPrincipals map[string]string `json:"trustPrincipals,omitempty"` // role.trustIDs
}

// accessKeyRecord is the stored form of an access key. Records written
// before users existed have only the first four fields (and Generated for
// the first start's key): they are Active root keys.
type accessKeyRecord struct {
	ID        string    `json:"access_key_id"`
	Secret    string    `json:"secret_access_key"`
	AccountID string    `json:"account_id"`
	Generated bool      `json:"generated,omitempty"`
	User      string    `json:"user,omitempty"`
	Status    string    `json:"status,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Origin    string    `json:"origin,omitempty"`
}

func userPath(account, n string) string { return userPrefix + account + "/" + strings.ToLower(n) }
func rolePath(account, n string) string { return rolePrefix + account + "/" + strings.ToLower(n) }

func (u *user) record() any {
	return userRecord{Account: u.account, Name: u.name, Path: u.path, ID: u.id, Created: u.created, Tags: u.tags,
		Policies: u.policyRecords()}
}

func (r *role) record() any {
	return roleRecord{Account: r.account, Name: r.name, Path: r.path, ID: r.id, Description: r.description,
		Created: r.created, Trust: r.trust, MaxSession: r.maxSession, Tags: r.tags, Policies: r.policyRecords(),
		TrustPrincipals: r.trustIDs}
}

func (k *accessKey) record() accessKeyRecord {
	return accessKeyRecord{ID: k.id, Secret: k.secret, AccountID: k.account, User: k.user,
		Status: k.status, Created: k.created, Origin: k.origin, Generated: k.origin == OriginGenerated}
}

// errDevKey refuses the documentation's example access key anywhere but in
// the memory of a --dev server.
var errDevKey = errors.New("iam: the AWS documentation's example access key is for --dev only and is never stored")

// load reads every identity from tx. Records of the documentation's example
// access key (written by --dev runs of earlier versions) are returned in
// devKeys for the caller to delete; an access key of a missing user is
// skipped, with a warning on log.
func load(tx storage.Tx, partition string, log *slog.Logger) (st *state, devKeys []string, err error) {
	st = &state{accounts: map[string]*account{}, users: map[name]*user{}, roles: map[name]*role{}, keys: map[string]*accessKey{}}
	ents, err := tx.List(accountPrefix, "", 0)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		var r accountRecord
		if err := decode(e, &r); err != nil {
			return nil, nil, err
		}
		if accountPrefix+r.ID != e.Key || !arn.IsAccountID(r.ID) {
			return nil, nil, fmt.Errorf("iam: record at %s names account %q", e.Key, r.ID)
		}
		st.accounts[r.ID] = &account{id: r.ID, created: r.Created, admin: r.Admin}
	}
	if ents, err = tx.List(userPrefix, "", 0); err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		u, err := users.stored(e, partition)
		if err != nil {
			return nil, nil, err
		}
		if userPath(u.account, u.name) != e.Key {
			return nil, nil, fmt.Errorf("iam: record at %s names user %s/%q", e.Key, u.account, u.name)
		}
		st.users[nameOf(u.account, u.name)] = u
	}
	if ents, err = tx.List(rolePrefix, "", 0); err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		ro, err := roles.stored(e, partition)
		if err != nil {
			return nil, nil, err
		}
		if rolePath(ro.account, ro.name) != e.Key {
			return nil, nil, fmt.Errorf("iam: record at %s names role %s/%q", e.Key, ro.account, ro.name)
		}
		st.roles[nameOf(ro.account, ro.name)] = ro
	}
	if ents, err = tx.List(accessKeyPrefix, "", 0); err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		var r accessKeyRecord
		if err := decode(e, &r); err != nil {
			return nil, nil, err
		}
		clear(e.Value)
		if accessKeyPrefix+r.ID != e.Key {
			return nil, nil, fmt.Errorf("iam: record at %s names access key %q", e.Key, r.ID)
		}
		if r.ID == devAccessKeyID {
			devKeys = append(devKeys, r.ID)
			continue
		}
		k := &accessKey{id: r.ID, secret: r.Secret, account: r.AccountID, user: r.User, status: r.Status,
			created: r.Created, origin: r.Origin}
		if k.status == "" {
			k.status = StatusActive
		}
		if k.origin == "" {
			k.origin = OriginSeed // keys put before origins were recorded came from the seed file
			if r.Generated {
				k.origin = OriginGenerated
			}
		}
		if k.user != "" && st.users[nameOf(k.account, k.user)] == nil {
			// Unusable (no principal); before DeleteUser checked in its
			// transaction, a race with CreateAccessKey on another node
			// could leave one. Refusing to load would stop every node.
			log.Warn("iam: access key of a missing user ignored", "access_key_id", k.id, "account", k.account, "user", k.user)
			continue
		}
		st.keys[k.id] = k
	}
	for _, k := range st.keys {
		st.bindKey(k, partition)
	}
	return st, devKeys, nil
}

func (r *userRecord) user(partition string) (*user, error) {
	u := &user{entity{account: r.Account, name: r.Name, path: r.Path, id: r.ID, created: r.Created, tags: r.Tags,
		arn: arn.User(partition, r.Account, r.Path, r.Name)}}
	return u, u.loadPolicies(r.Policies)
}

func (r *roleRecord) role(partition string) (*role, error) {
	ro := &role{entity: entity{account: r.Account, name: r.Name, path: r.Path, id: r.ID, created: r.Created,
		tags: r.Tags, arn: arn.Role(partition, r.Account, r.Path, r.Name)},
		description: r.Description, trust: r.Trust, trustIDs: r.TrustPrincipals, maxSession: r.MaxSession}
	trust, err := compileTrust(r.Trust)
	if err != nil {
		return nil, fmt.Errorf("iam: role %s trust policy: %w", ro.arn, err)
	}
	ro.trustCompiled = trust.Bind(ro.trustIDs)
	return ro, ro.loadPolicies(r.Policies)
}

func decode(e storage.Entry, v any) error {
	if err := json.Unmarshal(e.Value, v); err != nil {
		return fmt.Errorf("iam: decode %s: %w", e.Key, err)
	}
	return nil
}

// bindKey sets k.principal from the current user (k must be owned by st's
// maps or be about to be).
func (st *state) bindKey(k *accessKey, partition string) {
	if k.status != StatusActive {
		k.principal = nil
		return
	}
	if k.user == "" {
		p := rootPrincipal(partition, k.account, k.id)
		k.principal = &p
		return
	}
	u := st.users[nameOf(k.account, k.user)]
	if u == nil {
		k.principal = nil
		return
	}
	k.principal = &Principal{
		Type: IAMUser, AccountID: u.account, ARN: u.arn, PrincipalID: u.id, UserName: u.name,
		AccessKeyID: k.id, Tags: newTags(u.tags), Policies: u.compiled,
	}
}

// rebindUser replaces the keys of the user (account, lower name) with copies
// bound to the user as it is in st. Call it on a cloned state.
func (st *state) rebindUser(account, userName, partition string) {
	for id, k := range st.keys {
		if k.account == account && k.user != "" && strings.EqualFold(k.user, userName) {
			c := *k
			st.bindKey(&c, partition)
			st.keys[id] = &c
		}
	}
}

// commit runs write in one storage transaction and, only if it commits,
// publishes next. Callers hold s.mu.
func (s *Service) commit(ctx context.Context, next *state, write func(tx storage.Tx) error) error {
	if err := s.store.Update(ctx, write); err != nil {
		return err
	}
	s.state.Store(next)
	return nil
}

func put(tx storage.Tx, path string, v any, create bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("iam: encode %s: %w", path, err)
	}
	defer clear(b)
	if create {
		return tx.Create(path, b)
	}
	return tx.Put(path, b)
}

// update replaces the record at path, which must still be stored: a node
// sharing the store may have deleted it before this node heard of it, and a
// deleted access key, user or role must not come back. gone is the error
// then (the NoSuchEntity the caller would have got a moment later).
func update(tx storage.Tx, path string, v any, gone error) error {
	if err := exists(tx, path, gone); err != nil {
		return err
	}
	return put(tx, path, v, false)
}

// exists is gone when tx does not hold path.
func exists(tx storage.Tx, path string, gone error) error {
	b, err := tx.Get(path)
	clear(b)
	if errors.Is(err, storage.ErrNotFound) {
		return gone
	}
	return err
}

func rootPrincipal(partition, account, accessKeyID string) Principal {
	return Principal{Type: Root, AccountID: account, ARN: arn.Root(partition, account), PrincipalID: account, AccessKeyID: accessKeyID}
}

// RootPrincipal is the principal of accountID's root user authenticated with
// accessKeyID (partition "aws"): what --dev admits, and what tests use.
func RootPrincipal(accountID, accessKeyID string) Principal {
	return rootPrincipal("aws", accountID, accessKeyID)
}
