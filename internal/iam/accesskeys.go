package iam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
)

func noSuchKey(id string) error {
	return kmserr.ErrNoSuchEntity.With("The Access Key with id %s cannot be found.", kmserr.Clip(id, 128))
}

// keyOwner starts an access-key operation: the caller's account, then
// userName and what check records, then the identity the operation names (a
// user, or the caller's own, user or root, when userName is empty), then
// whether the caller may do iam:action on it. It returns the account, the
// user name ("" for root) and the snapshot it authorized on.
func (s *Service) keyOwner(c *Caller, action, userName string, check func(v *checker)) (acct, owner string, st *state, err error) {
	acct, err = callerAccount(c, func(v *checker) {
		v.optName("userName", userName)
		if check != nil {
			check(v)
		}
	})
	if err != nil {
		return "", "", nil, err
	}
	st = s.snapshot()
	resource := arn.Root(s.partition, acct)
	var tags []Tag
	if userName != "" || !c.Principal.IsRoot() {
		if owner = userName; owner == "" {
			if c.Principal.Type != IAMUser {
				return "", "", nil, errNoUserName
			}
			owner = c.Principal.UserName
		}
		resource, tags = users.resource(s, st, acct, owner)
	}
	return acct, owner, st, s.authorize(c, "iam:"+action, resource, tagKeys{resource: tags})
}

// CreateAccessKey implements iam:CreateAccessKey: a new Active key for the
// user (the caller's own identity, root included, without UserName). The
// secret is in the answer and nowhere else; at most two keys per identity.
func (s *Service) CreateAccessKey(ctx context.Context, c Caller, in *CreateAccessKeyInput) (*CreateAccessKeyOutput, error) {
	acct, owner, _, err := s.keyOwner(&c, "CreateAccessKey", in.UserName, nil)
	if err != nil {
		return nil, err
	}
	k, err := s.createKey(ctx, acct, owner, OriginAPI, true)
	if err != nil {
		return nil, err
	}
	return &CreateAccessKeyOutput{AccessKey: AccessKey{UserName: k.user, AccessKeyID: k.id, Status: k.status,
		SecretAccessKey: Secret{k.secret}, CreateDate: Timestamp{k.created}}}, nil
}

var errKeyQuota = kmserr.ErrIAMLimitExceeded.With("Cannot exceed quota for AccessKeysPerUser: %d", maxAccessKeysPer)

// storedKeys counts the access keys of the user (acct, name; "" for the
// root user) that tx holds.
func storedKeys(tx storage.Tx, acct, name string) (int, error) {
	ents, err := tx.List(accessKeyPrefix, "", 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		var r struct {
			AccountID string `json:"account_id"`
			User      string `json:"user"`
		}
		err = errors.Join(err, decode(e, &r))
		clear(e.Value)
		if r.AccountID == acct && strings.EqualFold(r.User, name) {
			n++
		}
	}
	return n, err
}

// createKey generates and stores a new Active key for user ("" for root) of
// acct. With quota, an identity that has maxAccessKeysPer keys already is
// LimitExceeded.
func (s *Service) createKey(ctx context.Context, acct, userName, origin string, quota bool) (*accessKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	if st.accounts[acct] == nil {
		return nil, fmt.Errorf("iam: account %s is not an account of this data directory", acct)
	}
	if userName != "" {
		u, err := users.find(st, acct, userName)
		if err != nil {
			return nil, err
		}
		userName = u.name
	}
	if quota { // memory counts the --dev key, which is never stored; the transaction counts other nodes' keys
		n := 0
		for _, k := range st.keys {
			if k.account == acct && strings.EqualFold(k.user, userName) {
				n++
			}
		}
		if n >= maxAccessKeysPer {
			return nil, errKeyQuota
		}
	}
	for range 3 { // a collision of 80 random bits is not expected; retry anyway
		k := &accessKey{id: GenerateAccessKeyID(), secret: GenerateSecret(), account: acct, user: userName,
			status: StatusActive, created: s.now().UTC().Truncate(time.Second), origin: origin}
		if st.keys[k.id] != nil {
			continue
		}
		next := st.clone()
		next.bindKey(k, s.partition)
		next.keys[k.id] = k
		gone := users.noSuch(userName)
		err := s.commit(ctx, next, func(tx storage.Tx) error {
			// As storage holds it: another node may have deleted the user
			// or given it keys.
			if userName != "" {
				if err := exists(tx, userPath(acct, userName), gone); err != nil {
					return err
				}
			}
			if quota {
				n, err := storedKeys(tx, acct, userName)
				if err != nil {
					return err
				}
				if n >= maxAccessKeysPer {
					return errKeyQuota
				}
			}
			return put(tx, accessKeyPrefix+k.id, k.record(), true)
		})
		if errors.Is(err, storage.ErrExists) {
			continue
		}
		if errors.Is(err, gone) || errors.Is(err, errKeyQuota) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("iam: store access key: %w", err)
		}
		return k, nil
	}
	return nil, errors.New("iam: could not generate a unique access key id")
}

// ListAccessKeys implements iam:ListAccessKeys (ordered by access key id).
func (s *Service) ListAccessKeys(ctx context.Context, c Caller, in *ListAccessKeysInput) (*ListAccessKeysOutput, error) {
	acct, owner, st, err := s.keyOwner(&c, "ListAccessKeys", in.UserName, func(v *checker) {
		v.marker(in.Marker)
		v.maxItems(in.MaxItems)
	})
	if err != nil {
		return nil, err
	}
	if _, err := users.find(st, acct, owner); owner != "" && err != nil { // root has no user record
		return nil, err
	}
	var ks []*accessKey
	for _, k := range st.keys {
		if k.account == acct && strings.EqualFold(k.user, owner) {
			ks = append(ks, k)
		}
	}
	ks, next := listPage(ks, func(k *accessKey) string { return k.id }, in.Marker, in.MaxItems)
	out := &ListAccessKeysOutput{AccessKeyMetadata: []AccessKeyMetadata{}, IsTruncated: next != "", Marker: next}
	for _, k := range ks {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, AccessKeyMetadata{UserName: k.user, AccessKeyID: k.id,
			Status: k.status, CreateDate: Timestamp{k.created}})
	}
	return out, nil
}

// UpdateAccessKey implements iam:UpdateAccessKey: Active or Inactive. An
// Inactive key is refused from the next request on.
func (s *Service) UpdateAccessKey(ctx context.Context, c Caller, in *UpdateAccessKeyInput) (*UpdateAccessKeyOutput, error) {
	acct, owner, _, err := s.keyOwner(&c, "UpdateAccessKey", in.UserName, func(v *checker) {
		v.accessKeyID(in.AccessKeyId)
		if v.required("status", in.Status) && in.Status != StatusActive && in.Status != StatusInactive {
			v.Add("status", in.Status, true, "Member must satisfy enum value set: [Active, Inactive]")
		}
	})
	if err != nil {
		return nil, err
	}
	return answer(&UpdateAccessKeyOutput{}, s.setKeyStatus(ctx, in.AccessKeyId, in.Status, &keyFilter{account: acct, user: owner}))
}

// keyFilter limits a key operation to the keys of one identity.
type keyFilter struct{ account, user string }

func (f *keyFilter) match(k *accessKey) bool {
	return f == nil || k.account == f.account && strings.EqualFold(k.user, f.user)
}

// setKeyStatus changes the status of key id (of the identity f, when not nil).
func (s *Service) setKeyStatus(ctx context.Context, id, status string, f *keyFilter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	old := st.keys[id]
	if old == nil || !f.match(old) {
		return noSuchKey(id)
	}
	if old.status == status {
		return nil
	}
	k := *old
	k.status = status
	next := st.clone()
	next.bindKey(&k, s.partition)
	next.keys[id] = &k
	return s.commit(ctx, next, func(tx storage.Tx) error {
		return update(tx, accessKeyPrefix+id, k.record(), noSuchKey(id))
	})
}

// DeleteAccessKey implements iam:DeleteAccessKey. The key is refused from
// the next request on.
func (s *Service) DeleteAccessKey(ctx context.Context, c Caller, in *DeleteAccessKeyInput) (*DeleteAccessKeyOutput, error) {
	acct, owner, _, err := s.keyOwner(&c, "DeleteAccessKey", in.UserName, func(v *checker) { v.accessKeyID(in.AccessKeyId) })
	if err != nil {
		return nil, err
	}
	return answer(&DeleteAccessKeyOutput{}, s.deleteKey(ctx, in.AccessKeyId, &keyFilter{account: acct, user: owner}))
}

func (s *Service) deleteKey(ctx context.Context, id string, f *keyFilter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	k := st.keys[id]
	if k == nil || !f.match(k) {
		return noSuchKey(id)
	}
	next := st.clone()
	delete(next.keys, id)
	err := s.commit(ctx, next, func(tx storage.Tx) error { return tx.Delete(accessKeyPrefix + id) })
	if errors.Is(err, storage.ErrNotFound) { // another node deleted it
		return noSuchKey(id)
	}
	return err
}

func (c *checker) accessKeyID(v string) {
	if c.required("accessKeyId", v) && c.length("accessKeyId", v, 16, 128) {
		c.pattern("accessKeyId", v, patternAccessKey, allBytes(v, isWordChar))
	}
}
