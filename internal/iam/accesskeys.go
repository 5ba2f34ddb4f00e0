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

// keyOwner resolves the identity an access-key operation names: a user, or
// the caller's own (user or root) when userName is empty. It returns the
// user name ("" for root) and the ARN authorization sees.
func (s *Service) keyOwner(st *state, c *Caller, acct, userName string) (owner, resource string, err error) {
	if userName == "" && c.Principal.IsRoot() {
		return "", arn.Root(s.partition, acct), nil
	}
	name := userName
	if name == "" {
		if c.Principal.Type != IAMUser {
			return "", "", kmserr.ErrIAMValidation.With("Must specify userName when calling with non-User credentials")
		}
		name = c.Principal.UserName
	}
	return name, s.userResource(st, acct, name), nil
}

// CreateAccessKey implements iam:CreateAccessKey: a new Active key for the
// user (the caller's own identity, root included, without UserName). The
// secret is in the answer and nowhere else; at most two keys per identity.
func (s *Service) CreateAccessKey(ctx context.Context, c Caller, in *CreateAccessKeyInput) (*CreateAccessKeyOutput, error) {
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.optName("userName", in.UserName)
	if err := v.err(); err != nil {
		return nil, err
	}
	owner, resource, err := s.keyOwner(s.snapshot(), &c, acct, in.UserName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:CreateAccessKey", resource); err != nil {
		return nil, err
	}
	k, err := s.createKey(ctx, acct, owner, OriginAPI, true)
	if err != nil {
		return nil, err
	}
	return &CreateAccessKeyOutput{AccessKey: AccessKey{UserName: k.user, AccessKeyID: k.id, Status: k.status,
		SecretAccessKey: Secret{k.secret}, CreateDate: Timestamp{k.created}}}, nil
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
		u := st.users[nameOf(acct, userName)]
		if u == nil {
			return nil, kmserr.ErrNoSuchEntity.With("The user with name %s cannot be found.", userName)
		}
		userName = u.name
	}
	if quota {
		n := 0
		for _, k := range st.keys {
			if k.account == acct && strings.EqualFold(k.user, userName) {
				n++
			}
		}
		if n >= maxAccessKeysPer {
			return nil, kmserr.ErrIAMLimitExceeded.With("Cannot exceed quota for AccessKeysPerUser: %d", maxAccessKeysPer)
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
		err := s.commit(ctx, next, func(tx storage.Tx) error {
			return put(tx, accessKeyPrefix+k.id, k.record(), true)
		})
		if errors.Is(err, storage.ErrExists) {
			continue
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
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.optName("userName", in.UserName)
	v.marker(in.Marker)
	v.maxItems(in.MaxItems)
	if err := v.err(); err != nil {
		return nil, err
	}
	st := s.snapshot()
	owner, resource, err := s.keyOwner(st, &c, acct, in.UserName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:ListAccessKeys", resource); err != nil {
		return nil, err
	}
	if owner != "" && st.users[nameOf(acct, owner)] == nil {
		return nil, kmserr.ErrNoSuchEntity.With("The user with name %s cannot be found.", owner)
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
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.optName("userName", in.UserName)
	v.accessKeyID(in.AccessKeyId)
	if v.required("status", in.Status) && in.Status != StatusActive && in.Status != StatusInactive {
		v.Add("status", in.Status, true, "Member must satisfy enum value set: [Active, Inactive]")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	owner, resource, err := s.keyOwner(s.snapshot(), &c, acct, in.UserName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:UpdateAccessKey", resource); err != nil {
		return nil, err
	}
	if err := s.setKeyStatus(ctx, in.AccessKeyId, in.Status, &keyFilter{account: acct, user: owner}); err != nil {
		return nil, err
	}
	return &UpdateAccessKeyOutput{}, nil
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
	acct, err := callerAccount(&c)
	if err != nil {
		return nil, err
	}
	var v checker
	v.optName("userName", in.UserName)
	v.accessKeyID(in.AccessKeyId)
	if err := v.err(); err != nil {
		return nil, err
	}
	owner, resource, err := s.keyOwner(s.snapshot(), &c, acct, in.UserName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(&c, "iam:DeleteAccessKey", resource); err != nil {
		return nil, err
	}
	if err := s.deleteKey(ctx, in.AccessKeyId, &keyFilter{account: acct, user: owner}); err != nil {
		return nil, err
	}
	return &DeleteAccessKeyOutput{}, nil
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
	return s.commit(ctx, next, func(tx storage.Tx) error { return tx.Delete(accessKeyPrefix + id) })
}

func (c *checker) accessKeyID(v string) {
	if c.required("accessKeyId", v) && c.length("accessKeyId", v, 16, 128) {
		c.pattern("accessKeyId", v, patternAccessKey, allBytes(v, isWordChar))
	}
}
