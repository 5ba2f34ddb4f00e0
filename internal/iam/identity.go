package iam

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/storage"
)

// entity is what users and roles have in common: a name and path in an
// account, tags and inline policies.
type entity struct {
	account, name, path, id, arn string
	created                      time.Time
	tags                         []Tag
	policies                     []inlinePolicy // sorted by name
	compiled                     *Policies      // nil without policies
}

func (e *entity) base() *entity { return e }

func (e *entity) policyRecords() (rs []policyRecord) {
	for _, p := range e.policies {
		rs = append(rs, policyRecord{p.name, p.doc})
	}
	return rs
}

// loadPolicies compiles the stored inline policies rs into e.
func (e *entity) loadPolicies(rs []policyRecord) error {
	for _, r := range rs {
		c, err := compileIdentity(r.Document)
		if err != nil {
			return fmt.Errorf("iam: %s policy %s: %w", e.arn, r.Name, err)
		}
		e.policies = append(e.policies, inlinePolicy{name: r.Name, doc: r.Document, compiled: c})
	}
	e.compiled = compileSet(e.policies)
	return nil
}

// identity is *user or *role.
type identity[T any] interface {
	*T
	base() *entity
	record() any
}

// kind is what the operations that users and roles share tell them apart by.
// Every AWS-visible difference (names of actions, members and messages) is
// derived from noun.
type kind[T any, P identity[T]] struct {
	noun, Noun string // "user", "User"
	idPrefix   string
	maxName    int  // of the name of an existing one (a new one's is maxNameLen)
	quota      int  // of the inline policies' total size
	keys       bool // access keys belong to it (and carry its tags and policies)
	items      func(*state) map[name]P
	arn        func(partition, account, path, name string) string
	path       func(account, name string) string
	stored     func(e storage.Entry, partition string) (P, error) // decodes a record
}

var (
	users = &kind[user, *user]{"user", "User", prefixUserID, maxExistingNameLen, policy.MaxUserPolicySize, true,
		func(st *state) map[name]*user { return st.users }, arn.User, userPath, storedAs((*userRecord).user)}
	roles = &kind[role, *role]{"role", "Role", prefixRoleID, maxNameLen, policy.MaxRolePolicySize, false,
		func(st *state) map[name]*role { return st.roles }, arn.Role, rolePath, storedAs((*roleRecord).role)}
)

// storedAs returns the decoder of the records R of an identity P.
func storedAs[R, P any](identity func(r *R, partition string) (P, error)) func(storage.Entry, string) (P, error) {
	return func(e storage.Entry, partition string) (P, error) {
		var r R
		if err := decode(e, &r); err != nil {
			var none P
			return none, err
		}
		return identity(&r, partition)
	}
}

func (k *kind[T, P]) noSuch(n string) error {
	return kmserr.ErrNoSuchEntity.With("The %s with name %s cannot be found.", k.noun, n)
}

func (k *kind[T, P]) find(st *state, acct, n string) (P, error) {
	if p := k.items(st)[nameOf(acct, n)]; p != nil {
		return p, nil
	}
	return nil, k.noSuch(n)
}

// resource is the ARN authorization sees for n: the identity's ARN when it
// exists, else user/NAME (role/NAME).
func (k *kind[T, P]) resource(s *Service, st *state, acct, n string) (string, []Tag) {
	if p := k.items(st)[nameOf(acct, n)]; p != nil {
		return p.base().arn, p.base().tags
	}
	return k.arn(s.partition, acct, "/", n), nil
}

// begin starts an operation on the identity n: the caller's account, then
// n and what check records (then the error check returns), then whether the
// caller may do iam:action on n. It returns the snapshot it authorized on.
func (k *kind[T, P]) begin(s *Service, c *Caller, action, n string, req tagKeys, check func(v *checker) error) (string, *state, error) {
	var more error
	acct, err := callerAccount(c, func(v *checker) {
		v.name(k.noun+"Name", n, k.maxName)
		if check != nil {
			more = check(v)
		}
	})
	if err == nil {
		err = more
	}
	if err != nil {
		return "", nil, err
	}
	st := s.snapshot()
	res, tags := k.resource(s, st, acct, n)
	req.resource = tags
	return acct, st, s.authorize(c, "iam:"+action, res, req)
}

func checkPolicyName(policyName string) func(v *checker) error {
	return func(v *checker) error { v.name("policyName", policyName, maxPolicyNameLen); return nil }
}

// creating starts CreateUser and CreateRole: the caller's account, then the
// members (n, path, what check records, tags), then the tags' count and the
// permissions boundary, then whether the caller may create the identity. It
// returns the new identity's name, path, ARN and tags.
func (k *kind[T, P]) creating(s *Service, c *Caller, n, path string, tags []Tag, boundary string, check func(v *checker)) (entity, error) {
	acct, err := callerAccount(c, func(v *checker) {
		v.name(k.noun+"Name", n, maxNameLen)
		v.path("path", path)
		check(v)
		v.tags("tags", tags)
	})
	if err == nil {
		err = checkTagCount(tags)
	}
	if err == nil && boundary != "" {
		err = errNoBoundaries
	}
	if err != nil {
		return entity{}, err
	}
	path = cmp.Or(path, "/")
	e := entity{account: acct, name: n, path: path, arn: k.arn(s.partition, acct, path, n), tags: slices.Clone(tags)}
	return e, s.authorize(c, "iam:Create"+k.Noun, e.arn, tagKeys{request: tags})
}

// create stores the new identity p (its id and creation date are set here).
func (k *kind[T, P]) create(ctx context.Context, s *Service, p P) error {
	e := p.base()
	exists := k.Noun + " with name " + e.name + " already exists."
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	if st.accounts[e.account] == nil {
		return kmserr.ErrIAMAccessDenied.With("Account %s is not an account of this server.", e.account)
	}
	if k.items(st)[nameOf(e.account, e.name)] != nil {
		return kmserr.ErrEntityAlreadyExists.With("%s", exists)
	}
	e.id, e.created = generateID(k.idPrefix, 17), s.now().UTC().Truncate(time.Second)
	e.compiled = compileSet(e.policies)
	next := st.clone()
	k.items(next)[nameOf(e.account, e.name)] = p
	return writeError(s.commit(ctx, next, func(tx storage.Tx) error {
		return put(tx, k.path(e.account, e.name), p.record(), true)
	}), exists)
}

// list answers ListUsers and ListRoles: a page of the account's identities
// whose path starts with prefix, ordered by name.
func (k *kind[T, P]) list(s *Service, c *Caller, prefix, marker string, maxItems *int32) ([]P, string, error) {
	acct, err := callerAccount(c, func(v *checker) {
		v.pathPrefix("pathPrefix", prefix)
		v.marker(marker)
		v.maxItems(maxItems)
	})
	if err != nil {
		return nil, "", err
	}
	if err := s.authorize(c, "iam:List"+k.Noun+"s", k.arn(s.partition, acct, "/", "*"), tagKeys{}); err != nil {
		return nil, "", err
	}
	var ps []P
	for key, p := range k.items(s.snapshot()) {
		if key.account == acct && strings.HasPrefix(p.base().path, prefix) {
			ps = append(ps, p)
		}
	}
	ps, next := listPage(ps, func(p P) string { return caseKey(p.base().name) }, marker, maxItems)
	return ps, next, nil
}

// remove answers DeleteUser and DeleteRole: an identity with access keys or
// inline policies is DeleteConflict, as in AWS.
func (k *kind[T, P]) remove(ctx context.Context, s *Service, c *Caller, n string) error {
	acct, _, err := k.begin(s, c, "Delete"+k.Noun, n, tagKeys{}, nil)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	p, err := k.find(st, acct, n)
	if err != nil {
		return err
	}
	e := p.base()
	next := st.clone()
	delete(k.items(next), nameOf(acct, e.name))
	// Decided on what storage holds: another node may have deleted the
	// identity, or given it an access key or a policy, since this node heard.
	return s.commit(ctx, next, func(tx storage.Tx) error {
		stored, err := k.read(tx, s, acct, n)
		if err != nil {
			return err
		}
		if k.keys {
			keys, err := storedKeys(tx, acct, e.name)
			if err != nil {
				return err
			}
			if keys > 0 {
				return errAccessKeysFirst
			}
		}
		if len(stored.base().policies) > 0 {
			return kmserr.ErrDeleteConflict.With("Cannot delete entity, must delete policies first.")
		}
		return tx.Delete(k.path(acct, e.name))
	})
}

// read returns the identity n of acct as tx holds it (NoSuchEntity when it
// does not).
func (k *kind[T, P]) read(tx storage.Tx, s *Service, acct, n string) (P, error) {
	path := k.path(acct, n)
	b, err := tx.Get(path)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, k.noSuch(n)
	}
	if err != nil {
		return nil, err
	}
	return k.stored(storage.Entry{Key: path, Value: b}, s.partition)
}

var errAccessKeysFirst = kmserr.ErrDeleteConflict.With("Cannot delete entity, must delete access keys first.")

// update changes the identity n of acct with change, made to the record as
// storage holds it (read in the write's transaction), not to this node's
// snapshot: another node sharing the store may have changed the identity
// since this node last heard (a policy it deleted must not come back, a tag
// it added must stay), or deleted it (NoSuchEntity, as a moment later).
// The result is published (with the principals of a user's access keys
// rebuilt).
func (k *kind[T, P]) update(ctx context.Context, s *Service, acct, n string, change func(p P) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	if _, err := k.find(st, acct, n); err != nil {
		return err
	}
	var p P
	err := s.store.Update(ctx, func(tx storage.Tx) error {
		var err error
		if p, err = k.read(tx, s, acct, n); err != nil {
			return err
		}
		if err := change(p); err != nil {
			return err
		}
		e := p.base()
		e.compiled = compileSet(e.policies)
		return put(tx, k.path(acct, n), p.record(), false)
	})
	if err != nil {
		return err
	}
	next := st.clone()
	e := p.base()
	k.items(next)[nameOf(acct, e.name)] = p
	if k.keys {
		next.rebindUser(acct, e.name, s.partition)
	}
	s.state.Store(next)
	return nil
}

// tag answers TagUser and TagRole: tags are added, or replace the value of
// a tag with the same key (keys match without regard to case).
func (k *kind[T, P]) tag(ctx context.Context, s *Service, c *Caller, n string, tags []Tag) error {
	acct, _, err := k.begin(s, c, "Tag"+k.Noun, n, tagKeys{request: tags}, func(v *checker) error {
		if len(tags) == 0 {
			v.Required("tags")
		}
		v.tags("tags", tags)
		return checkTagCount(tags)
	})
	if err != nil {
		return err
	}
	return k.update(ctx, s, acct, n, func(p P) error {
		e := p.base()
		if e.tags = mergeTags(e.tags, tags); len(e.tags) > maxTags {
			return kmserr.ErrIAMLimitExceeded.With("The number of tags has reached the maximum limit.")
		}
		return nil
	})
}

// untag answers UntagUser and UntagRole: the tags with the given keys
// (matched without regard to case, as IAM keys tags) are removed; a key the
// identity does not have is ignored.
func (k *kind[T, P]) untag(ctx context.Context, s *Service, c *Caller, n string, keys []string) error {
	acct, _, err := k.begin(s, c, "Untag"+k.Noun, n, tagKeys{keys: keys}, func(v *checker) error {
		v.tagKeys("tagKeys", keys)
		return nil
	})
	if err != nil {
		return err
	}
	return k.update(ctx, s, acct, n, func(p P) error {
		e := p.base()
		e.tags = slices.DeleteFunc(e.tags, func(t Tag) bool { // e.tags is update's copy
			return slices.ContainsFunc(keys, func(key string) bool { return strings.EqualFold(key, t.Key) })
		})
		return nil
	})
}

// listTags answers ListUserTags and ListRoleTags: a page of the identity's
// tags, ordered by key without regard to case.
func (k *kind[T, P]) listTags(s *Service, c *Caller, n, marker string, maxItems *int32) ([]Tag, string, error) {
	return listOwn(k, s, c, "List"+k.Noun+"Tags", n, marker, maxItems,
		func(e *entity) []Tag { return e.tags }, func(t Tag) string { return caseKey(t.Key) })
}

// listInline answers ListUserPolicies and ListRolePolicies: a page of the
// names of the identity's inline policies.
func (k *kind[T, P]) listInline(s *Service, c *Caller, n, marker string, maxItems *int32) ([]string, string, error) {
	ps, next, err := listOwn(k, s, c, "List"+k.Noun+"Policies", n, marker, maxItems,
		func(e *entity) []inlinePolicy { return e.policies }, func(p inlinePolicy) string { return caseKey(p.name) })
	names := []string{}
	for _, p := range ps {
		names = append(names, p.name)
	}
	return names, next, err
}

// listOwn answers iam:action, a listing of what the identity n holds (items
// of its entity): a page ordered by key.
func listOwn[E, T any, P identity[T]](k *kind[T, P], s *Service, c *Caller, action, n, marker string, maxItems *int32,
	items func(*entity) []E, key func(E) string) ([]E, string, error) {
	acct, st, err := k.begin(s, c, action, n, tagKeys{}, func(v *checker) error {
		v.marker(marker)
		v.maxItems(maxItems)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	p, err := k.find(st, acct, n)
	if err != nil {
		return nil, "", err
	}
	page, next := listPage(slices.Clone(items(p.base())), key, marker, maxItems)
	return page, next, nil
}

// putInline answers PutUserPolicy and PutRolePolicy.
func (k *kind[T, P]) putInline(ctx context.Context, s *Service, c *Caller, n, policyName, doc string) error {
	acct, _, err := k.begin(s, c, "Put"+k.Noun+"Policy", n, tagKeys{}, func(v *checker) error {
		v.name("policyName", policyName, maxPolicyNameLen)
		v.policyDocument("policyDocument", doc)
		return nil
	})
	if err != nil {
		return err
	}
	compiled, err := compileIdentity(doc)
	if err != nil {
		return err
	}
	return k.update(ctx, s, acct, n, func(p P) error {
		e := p.base()
		ps, err := putPolicy(e.policies, inlinePolicy{name: policyName, doc: doc, compiled: compiled}, k.quota)
		if err != nil {
			return kmserr.ErrIAMLimitExceeded.With("Maximum policy size of %d bytes exceeded for %s %s", k.quota, k.noun, e.name)
		}
		e.policies = ps
		return nil
	})
}

// getInline answers GetUserPolicy and GetRolePolicy: the identity's name and
// the policy.
func (k *kind[T, P]) getInline(s *Service, c *Caller, n, policyName string) (string, inlinePolicy, error) {
	acct, st, err := k.begin(s, c, "Get"+k.Noun+"Policy", n, tagKeys{}, checkPolicyName(policyName))
	if err != nil {
		return "", inlinePolicy{}, err
	}
	p, err := k.find(st, acct, n)
	if err != nil {
		return "", inlinePolicy{}, err
	}
	if i := policyIndex(p.base().policies, policyName); i >= 0 {
		return p.base().name, p.base().policies[i], nil
	}
	return "", inlinePolicy{}, kmserr.ErrNoSuchEntity.With("The %s policy with name %s cannot be found.", k.noun, policyName)
}

// deleteInline answers DeleteUserPolicy and DeleteRolePolicy.
func (k *kind[T, P]) deleteInline(ctx context.Context, s *Service, c *Caller, n, policyName string) error {
	acct, _, err := k.begin(s, c, "Delete"+k.Noun+"Policy", n, tagKeys{}, checkPolicyName(policyName))
	if err != nil {
		return err
	}
	return k.update(ctx, s, acct, n, func(p P) error {
		e := p.base()
		i := policyIndex(e.policies, policyName)
		if i < 0 {
			return kmserr.ErrNoSuchEntity.With("The %s policy with name %s cannot be found.", k.noun, policyName)
		}
		e.policies = slices.Delete(e.policies, i, i+1) // e.policies is update's copy
		return nil
	})
}

// answer returns out, or nil and err when err is not nil.
func answer[O any](out *O, err error) (*O, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PrincipalID returns the unique id of the IAM user or role that the
// principal ARN p names, as a key or trust policy names it: the user's
// (AIDA...) for a user, the role's (AROA...) for a role or one of its
// sessions (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION). ok is false when
// no such user or role exists now (names compare ignoring case, the
// partition, account and path exactly), or p names something else.
func (s *Service) PrincipalID(p string) (id string, ok bool) {
	pa, ok := arn.ParsePrincipal(p)
	if !ok || pa.Partition != s.partition {
		return "", false
	}
	st := s.snapshot()
	var e *entity
	switch pa.Kind {
	case arn.UserPrincipal:
		if u := st.users[nameOf(pa.Account, pa.Name)]; u != nil && u.path == pa.Path {
			e = &u.entity
		}
	case arn.RolePrincipal:
		if r := st.roles[nameOf(pa.Account, pa.Name)]; r != nil && r.path == pa.Path {
			e = &r.entity
		}
	case arn.AssumedRolePrincipal: // session ARNs carry no path
		if r := st.roles[nameOf(pa.Account, pa.Name)]; r != nil {
			e = &r.entity
		}
	}
	if e == nil {
		return "", false
	}
	return e.id, true
}
