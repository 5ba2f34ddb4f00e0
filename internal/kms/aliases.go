package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/storage"
)

// predefinedAliases are AWS's predefined aliases of AWS managed keys that
// ListAliases reports without a target key.
var predefinedAliases = []string{"alias/aws/acm", "alias/aws/dynamodb", "alias/aws/ebs", "alias/aws/elasticfilesystem",
	"alias/aws/es", "alias/aws/glue", "alias/aws/kinesisvideo", "alias/aws/lambda", "alias/aws/rds", "alias/aws/redshift",
	"alias/aws/s3", "alias/aws/secretsmanager", "alias/aws/ssm", "alias/aws/xray"}

const aliasPrefixMsg = `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`

func (v *validator) aliasName(name string) {
	if name == "" {
		v.Required("aliasName")
		return
	}
	v.strLen("aliasName", name, 1, maxAliasNameLen)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !arn.IsAliasByte(c) {
			v.Add("aliasName", name, true, "Member must satisfy regular expression pattern: "+aliasPattern)
			return
		}
	}
}

// checkAliasName applies the rules beyond the model pattern (checked first).
func checkAliasName(name string) error {
	if !strings.HasPrefix(name, "alias/") {
		return kmserr.ErrValidation.With(aliasPrefixMsg)
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return errNotAuthorized // AWS-managed alias namespace (as local-kms and moto answer)
	}
	if strings.Contains(name, ":") {
		return kmserr.ErrValidation.With("%s contains invalid characters for an alias", name)
	}
	if name == "alias/" {
		return kmserr.ErrInvalidAliasName.With("Alias name must not be empty after the prefix alias/.")
	}
	return nil
}

func (s *Service) aliasCount(sc scope, keyID string) int {
	n := 0
	s.mu.RLock()
	if sp := s.spaces[sc]; sp != nil {
		for _, a := range sp.aliases {
			if a.target == keyID {
				n++
			}
		}
	}
	s.mu.RUnlock()
	return n
}

// putAlias writes a (create=true: must not exist yet) and publishes it.
func (s *Service) putAlias(ctx context.Context, op string, a *alias, create bool) error {
	data, err := marshalAlias(a)
	if err != nil {
		return s.internal(ctx, op, err)
	}
	p := aliasPath(a.region, a.account, a.name)
	cur := s.getAlias(scope{a.region, a.account}, a.name)
	err = s.store.Update(ctx, func(tx storage.Tx) error {
		if create {
			if err := tx.Create(p, data); err != nil {
				return err
			}
		} else {
			if err := checkAlias(tx, p, cur); err != nil {
				return err
			}
			if err := tx.Put(p, data); err != nil {
				return err
			}
			if err := unindexAlias(tx, cur); err != nil {
				return err
			}
		}
		if err := indexAlias(tx, a); err != nil {
			return err
		}
		if !s.shared {
			return nil
		}
		// The quota again, on what storage holds: another node may have
		// given the key an alias this node has not heard of yet. The key's
		// index entries are read, not the account's aliases.
		n, err := storedAliasCount(tx, a.region, a.account, a.target)
		if err == nil && n > maxAliasesPerKey {
			err = errAliasQuota
		}
		return err
	})
	if errors.Is(err, storage.ErrExists) {
		return kmserr.ErrAlreadyExists.With("An alias with the name %s already exists", a.arn)
	}
	if errors.Is(err, errAliasQuota) {
		return aliasQuotaError(s.keyARN(a.region, a.account, a.target))
	}
	if errors.Is(err, errStale) {
		return err // UpdateAlias reads the alias again and decides again
	}
	if err != nil {
		return s.internal(ctx, op, err)
	}
	s.mu.Lock()
	s.space(scope{a.region, a.account}).aliases[a.name] = a
	s.mu.Unlock()
	return nil
}

// checkAlias is errStale unless the alias stored at path is cur (another
// node changed or deleted it).
func checkAlias(tx storage.Tx, path string, cur *alias) error {
	b, err := tx.Get(path)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && cur == nil) {
		return errStale
	}
	if err != nil {
		return err
	}
	var rec aliasRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("kms: decode %s: %w", path, err)
	}
	if rec.Target != cur.target || !rec.Updated.Equal(cur.updated) {
		return errStale
	}
	return nil
}

// aliasTarget validates AliasName and TargetKeyId, authorizes op on the
// alias (identity policies, resource the alias ARN) and resolves and
// authorizes the target (key id or key ARN in the caller's account, not
// pending deletion).
func (s *Service) aliasTarget(c Caller, sc scope, op, name, target string) (*key, error) {
	var v validator
	v.aliasName(name)
	v.keyID("targetKeyId", target, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := checkAliasName(name); err != nil {
		return nil, err
	}
	if strings.HasPrefix(target, "alias/") || strings.HasPrefix(target, "arn:") && strings.Contains(target, ":alias/") {
		return nil, kmserr.ErrValidation.With("Aliases must refer to keys. Not aliases")
	}
	if err := s.authorizeAlias(c, sc, op, name); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(c, sc, op, target, false)
	if err != nil {
		return nil, err
	}
	if k.account != sc.account {
		return nil, kmserr.ErrNotFound.With("Key '%s' does not exist", k.arn)
	}
	if err := k.notPendingDeletion(); err != nil {
		return nil, err
	}
	return k, nil
}

// lockAlias takes the locks of the alias name of sc, of the key it points to
// and of the key that target (a key id or ARN, "" for none) names, and
// returns once the alias points where it pointed when its lock was taken:
// the aliases of a key change only under the key's lock (locks.go).
func (s *Service) lockAlias(c Caller, sc scope, name, target string) held {
	for {
		var ids []string
		before := ""
		if a := s.getAlias(sc, name); a != nil {
			before = a.target
			ids = append(ids, a.target)
		}
		if target != "" {
			if k, err := s.findKey(c, sc, "", target, false); err == nil {
				ids = append(ids, k.id)
			}
		}
		h := s.locks.lock(sc, ids, []string{name})
		now := ""
		if a := s.getAlias(sc, name); a != nil {
			now = a.target
		}
		if now == before {
			return h
		}
		h.release()
	}
}

// checkAliasQuota answers early, on this node's memory, that k has its
// maxAliasesPerKey aliases; putAlias checks again on what storage holds.
func (s *Service) checkAliasQuota(sc scope, k *key) error {
	if s.aliasCount(sc, k.id) >= maxAliasesPerKey {
		return aliasQuotaError(k.arn)
	}
	return nil
}

func aliasQuotaError(keyARN string) error {
	return kmserr.ErrLimitExceeded.With("The number of aliases for key %s exceeds the limit of %d.", keyARN, maxAliasesPerKey)
}

// errAliasQuota is putAlias's: the aliases stored for the key, with the
// one being written, are more than maxAliasesPerKey.
var errAliasQuota = errors.New("kms: alias quota")

// The alias index: for every alias record, storage holds an empty record
// at aliasKeyPath(its region, account, target key id, name), written and
// deleted in the transactions that write and delete the alias (putAlias,
// deleteAlias, deleteKey, SeedKey), so that the aliases of one key are
// listed without reading every alias of the account: the quota of a
// shared store (putAlias) and the deletion of a key read only the key's
// entries. indexAliases builds it at start for what an earlier release
// wrote.

// aliasKeyPathPrefix is the prefix of the alias index's entries.
const aliasKeyPathPrefix = "kms/aliaskey/"

func aliasKeyPath(region, account, keyID, name string) string {
	return aliasKeyPathPrefix + region + "/" + account + "/" + keyID + "/" + name
}

// indexAlias writes a's index entry.
func indexAlias(tx storage.Tx, a *alias) error {
	return tx.Put(aliasKeyPath(a.region, a.account, a.target, a.name), []byte{})
}

// unindexAlias deletes a's index entry (absent: nothing to do).
func unindexAlias(tx storage.Tx, a *alias) error {
	err := tx.Delete(aliasKeyPath(a.region, a.account, a.target, a.name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

// storedAliasNames returns the names of (at most limit, 0 for all) aliases
// of region and account that storage holds for the key keyID, also those
// of other nodes that this node has not heard of yet: the key's index
// entries.
func storedAliasNames(tx storage.Tx, region, account, keyID string, limit int) ([]string, error) {
	prefix := aliasKeyPath(region, account, keyID, "")
	ents, err := tx.List(prefix, "", limit)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = strings.TrimPrefix(e.Key, prefix)
	}
	return names, nil
}

// storedAliasCount returns the number of aliases of region and account
// that storage holds for the key keyID, counted on its index entries. When
// these are more than maxAliasesPerKey, each is checked against its alias:
// an entry whose alias is gone or points to another key (left by a node of
// a release before the index, during an upgrade) is deleted, not counted,
// so that it never refuses an alias.
func storedAliasCount(tx storage.Tx, region, account, keyID string) (int, error) {
	names, err := storedAliasNames(tx, region, account, keyID, maxAliasesPerKey+1)
	if err != nil || len(names) <= maxAliasesPerKey {
		return len(names), err
	}
	if names, err = storedAliasNames(tx, region, account, keyID, 0); err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		ok, err := pointsTo(tx, region, account, name, keyID)
		if err != nil {
			return 0, err
		}
		if ok {
			n++
		} else if err := tx.Delete(aliasKeyPath(region, account, keyID, name)); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// pointsTo reports whether storage holds the alias name of region and
// account, pointing to the key keyID.
func pointsTo(tx storage.Tx, region, account, name, keyID string) (bool, error) {
	p := aliasPath(region, account, name)
	b, err := tx.Get(p)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var rec aliasRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return false, fmt.Errorf("kms: decode %s: %w", p, err)
	}
	return rec.Target == keyID, nil
}

// deleteStoredAliases deletes in tx every alias that storage holds for k
// (also those of other nodes that this node has not heard of yet), with
// their index entries, and returns their names. held are the names of the
// aliases of k that this node holds: those that a node of a release before
// the index wrote without an entry (during an upgrade) are deleted too.
func deleteStoredAliases(tx storage.Tx, k *key, held []string) ([]string, error) {
	names, err := storedAliasNames(tx, k.region, k.account, k.id, 0)
	if err != nil {
		return nil, err
	}
	for _, name := range held {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	var deleted []string
	for _, name := range names {
		ok, err := pointsTo(tx, k.region, k.account, name, k.id)
		if err != nil {
			return nil, err
		}
		if ok {
			if err := tx.Delete(aliasPath(k.region, k.account, name)); err != nil {
				return nil, err
			}
			deleted = append(deleted, name)
		}
		if err := tx.Delete(aliasKeyPath(k.region, k.account, k.id, name)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	return deleted, nil
}

// indexAliases makes the alias index what the stored aliases say: it adds
// the entries of aliases stored without one (written by a release before
// the index, or restored from its backup) and drops entries whose alias is
// gone or points elsewhere. New runs it after loading; a read finds the
// index complete at every start but the first, and writes nothing then.
func (s *Service) indexAliases(ctx context.Context) error {
	var add, drop []string
	diff := func(tx storage.Tx) error {
		add, drop = add[:0], drop[:0]
		as, err := tx.List(aliasPathPrefix, "", 0)
		if err != nil {
			return err
		}
		want := make(map[string]bool, len(as))
		for _, e := range as {
			var rec aliasRecord
			if err := json.Unmarshal(e.Value, &rec); err != nil {
				return fmt.Errorf("kms: decode %s: %w", e.Key, err)
			}
			if aliasPath(rec.Region, rec.Account, rec.Name) == e.Key && rec.Target != "" {
				want[aliasKeyPath(rec.Region, rec.Account, rec.Target, rec.Name)] = true
			}
		}
		idx, err := tx.List(aliasKeyPathPrefix, "", 0)
		if err != nil {
			return err
		}
		for _, e := range idx {
			if want[e.Key] {
				delete(want, e.Key)
			} else {
				drop = append(drop, e.Key)
			}
		}
		for p := range want {
			add = append(add, p)
		}
		return nil
	}
	if err := s.store.View(ctx, diff); err != nil {
		return fmt.Errorf("kms: index aliases: %w", err)
	}
	if len(add) == 0 && len(drop) == 0 {
		return nil
	}
	err := s.store.Update(ctx, func(tx storage.Tx) error {
		if err := diff(tx); err != nil { // again: another node may have written meanwhile
			return err
		}
		for _, p := range add {
			if err := tx.Put(p, []byte{}); err != nil {
				return err
			}
		}
		for _, p := range drop {
			if err := tx.Delete(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kms: index aliases: %w", err)
	}
	s.log.Info("kms: indexed the aliases by key", "added", len(add), "dropped", len(drop))
	return nil
}

// CreateAlias creates an alias for a key in the caller's account and region.
func (s *Service) CreateAlias(ctx context.Context, c Caller, in *CreateAliasInput) (*CreateAliasOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	h := s.lockAlias(c, sc, in.AliasName, in.TargetKeyId)
	defer h.release()
	k, err := s.aliasTarget(c, sc, "CreateAlias", in.AliasName, in.TargetKeyId)
	if err != nil {
		return nil, err
	}
	aliasARN := s.aliasARN(sc.region, sc.account, in.AliasName)
	if s.getAlias(sc, in.AliasName) != nil {
		return nil, kmserr.ErrAlreadyExists.With("An alias with the name %s already exists", aliasARN)
	}
	if err := s.checkAliasQuota(sc, k); err != nil {
		return nil, err
	}
	now := s.now()
	a := &alias{name: in.AliasName, arn: aliasARN, region: sc.region, account: sc.account, target: k.id, created: now, updated: now}
	if err := s.putAlias(ctx, "CreateAlias", a, true); err != nil {
		return nil, err
	}
	return &CreateAliasOutput{}, nil
}

// UpdateAlias points an existing alias at another key of the same type and
// usage. When another node moved or deleted the alias meanwhile, it reads
// the alias again and decides again (retryStale).
func (s *Service) UpdateAlias(ctx context.Context, c Caller, in *UpdateAliasInput) (*UpdateAliasOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	err = s.retryAlias(ctx, sc, "UpdateAlias", in.AliasName, func() error { return s.updateAlias(ctx, c, sc, in) })
	if err != nil {
		return nil, err
	}
	return &UpdateAliasOutput{}, nil
}

// retryAlias runs once, an attempt of op on the alias name, until it does
// not meet errStale: when another node moved or deleted the alias
// meanwhile, it reads the alias again and decides again (retryStale).
func (s *Service) retryAlias(ctx context.Context, sc scope, op, name string, once func() error) error {
	err := retryStale(ctx, func() error {
		err := once()
		if errors.Is(err, errStale) {
			if err := s.Apply(ctx, []string{aliasPath(sc.region, sc.account, name)}); err != nil {
				s.log.ErrorContext(ctx, "kms: read an alias changed by another node", "alias", name, "err", err)
			}
		}
		return err
	})
	if errors.Is(err, errStale) {
		return s.internal(ctx, op, err)
	}
	return err
}

// updateAlias is one attempt of UpdateAlias, under the locks of the alias
// and of its keys.
func (s *Service) updateAlias(ctx context.Context, c Caller, sc scope, in *UpdateAliasInput) error {
	h := s.lockAlias(c, sc, in.AliasName, in.TargetKeyId)
	defer h.release()
	k, err := s.aliasTarget(c, sc, "UpdateAlias", in.AliasName, in.TargetKeyId)
	if err != nil {
		return err
	}
	old := s.getAlias(sc, in.AliasName)
	if old == nil {
		return kmserr.ErrNotFound.With("Alias %s is not found.", s.aliasARN(sc.region, sc.account, in.AliasName))
	}
	cur := s.getKey(sc, old.target)
	if cur != nil {
		// UpdateAlias needs kms:UpdateAlias on the alias's current key too.
		if err := s.authorize(&c, cur, opAccess("UpdateAlias")); err != nil {
			return err
		}
	}
	if old.target == k.id {
		return nil
	}
	if cur != nil && (keyType(cur.spec) != keyType(k.spec) || cur.usage != k.usage) {
		return kmserr.ErrValidation.With("%s is not the same key type or key usage as the alias's current key %s.", k.arn, cur.arn)
	}
	if err := s.checkAliasQuota(sc, k); err != nil {
		return err
	}
	a := *old
	a.target = k.id
	a.updated = s.now()
	return s.putAlias(ctx, "UpdateAlias", &a, false)
}

// keyType is the type UpdateAlias keeps: AWS "The current and new KMS key
// must be the same type (both symmetric or both asymmetric or both HMAC), and
// they must have the same key usage" (the key specs may differ).
func keyType(s keys.Spec) string {
	switch {
	case s.Symmetric():
		return "symmetric"
	case s.Asymmetric():
		return "asymmetric"
	}
	return "HMAC"
}

// DeleteAlias deletes an alias (whatever the state of its key).
func (s *Service) DeleteAlias(ctx context.Context, c Caller, in *DeleteAliasInput) (*DeleteAliasOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.aliasName(in.AliasName)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	err = s.retryAlias(ctx, sc, "DeleteAlias", in.AliasName, func() error { return s.deleteAlias(ctx, c, sc, in.AliasName) })
	if err != nil {
		return nil, err
	}
	return &DeleteAliasOutput{}, nil
}

// deleteAlias is one attempt of DeleteAlias, under the locks of the alias
// and of its key. The alias must still be stored as this node knows it
// (errStale otherwise): the caller was authorized on the key it points to.
func (s *Service) deleteAlias(ctx context.Context, c Caller, sc scope, name string) error {
	h := s.lockAlias(c, sc, name, "")
	defer h.release()
	if err := s.authorizeAlias(c, sc, "DeleteAlias", name); err != nil {
		return err
	}
	a := s.getAlias(sc, name)
	if a == nil {
		return kmserr.ErrNotFound.With("Alias %s is not found.", s.aliasARN(sc.region, sc.account, name))
	}
	if k := s.getKey(sc, a.target); k != nil {
		c.Facts.addKey(k.arn)
		if err := s.authorize(&c, k, opAccess("DeleteAlias")); err != nil {
			return err
		}
	}
	p := aliasPath(a.region, a.account, a.name)
	err := s.store.Update(ctx, func(tx storage.Tx) error {
		if err := checkAlias(tx, p, a); err != nil {
			return err
		}
		if err := tx.Delete(p); err != nil {
			return err
		}
		return unindexAlias(tx, a)
	})
	if errors.Is(err, errStale) {
		return err
	}
	if err != nil {
		return s.internal(ctx, "DeleteAlias", err)
	}
	s.mu.Lock()
	delete(s.space(sc).aliases, a.name)
	s.mu.Unlock()
	return nil
}

// ListAliases lists the aliases of the caller's account and region (or of
// one key), ordered by name.
func (s *Service) ListAliases(ctx context.Context, c Caller, in *ListAliasesInput) (*ListAliasesOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, false)
	v.intRange("limit", in.Limit, 1, 100)
	v.marker(in.Marker)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.authorize(&c, nil, opAccess("ListAliases")); err != nil {
		return nil, err
	}
	filter := ""
	if in.KeyId != "" {
		k, err := s.findKey(c, sc, "kms:ListAliases", in.KeyId, false)
		if errors.Is(err, kmserr.ErrAccessDenied) || err == nil && k.account != sc.account {
			// Another account's key ARN, whether that key exists or not:
			// the same answer, so that nothing tells which keys it has.
			return nil, kmserr.ErrNotFound.With("Key '%s' does not exist", in.KeyId)
		}
		if err != nil {
			return nil, err
		}
		filter = k.id
	}
	var all []*alias
	s.mu.RLock()
	if sp := s.spaces[sc]; sp != nil {
		for _, a := range sp.aliases {
			if filter == "" || a.target == filter {
				all = append(all, a)
			}
		}
	}
	s.mu.RUnlock()
	if filter == "" {
		// AWS lists its predefined aliases with no TargetKeyId (no
		// AWS-managed key exists here, so none ever gets one).
		for _, name := range predefinedAliases {
			all = append(all, &alias{name: name, arn: s.aliasARN(sc.region, sc.account, name)})
		}
	}
	slices.SortFunc(all, func(a, b *alias) int { return strings.Compare(a.name, b.name) })
	pg, next, trunc, err := page(all, func(a *alias) string { return a.name }, "a", in.Marker, limitOr(in.Limit, 50))
	if err != nil {
		return nil, err
	}
	out := &ListAliasesOutput{Aliases: make([]AliasListEntry, 0, len(pg)), NextMarker: next, Truncated: trunc}
	for _, a := range pg {
		out.Aliases = append(out.Aliases, AliasListEntry{AliasArn: a.arn, AliasName: a.name, TargetKeyId: a.target,
			CreationDate: tsp(a.created), LastUpdatedDate: tsp(a.updated)})
	}
	return out, nil
}

// authorizeAlias decides op ("CreateAlias") on the alias name of sc: alias
// operations need the permission on the alias (identity policies only:
// aliases have no resource policy) as well as on its key.
func (s *Service) authorizeAlias(c Caller, sc scope, op, name string) error {
	a := opAccess(op)
	a.grant = 0
	r := policy.Request{
		Principal: policyPrincipal(c), Action: a.action, Resource: s.aliasARN(sc.region, sc.account, name),
		Region: c.Region, SourceIP: c.SourceIP, SecureTransport: c.SecureTransport, Time: s.now(),
	}
	if c.Facts != nil {
		c.Facts.Alias = r.Resource
	}
	res := identityAllows(&c, &r)
	if res.Allowed {
		c.Facts.allowed(nil)
		return nil
	}
	c.Facts.denied(res.Denial.String())
	return kmserr.ErrAccessDenied.With("%s", res.Message(r.Principal.ARN, a.action, r.Resource))
}
