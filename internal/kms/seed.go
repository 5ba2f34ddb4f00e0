package kms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/secret"
	"github.com/trent-kms/trent/internal/storage"
)

// SeedKey creates a key of any supported spec with a fixed id (and
// optionally fixed material, aliases, tags and, for symmetric keys,
// automatic rotation) in k.Region
// (us-east-1 when empty) and k.AccountID. It is idempotent: when a key with
// that id already exists there, nothing changes and nil is returned. The key,
// its aliases and everything else are written in one transaction.
func (s *Service) SeedKey(ctx context.Context, k SeedKey) error {
	region := k.Region
	if region == "" {
		region = defaultRegion
	}
	if !arn.IsRegion(region) {
		return fmt.Errorf("kms: seed key %s: invalid region %q", k.ID, region)
	}
	if !arn.IsAccountID(k.AccountID) {
		return fmt.Errorf("kms: seed key %s: invalid account %q", k.ID, k.AccountID)
	}
	id := strings.ToLower(k.ID)
	if !arn.IsKeyID(id) || strings.HasPrefix(id, "mrk-") {
		return fmt.Errorf("kms: seed key %q: id must be a UUID", k.ID)
	}
	spec, usage := keys.Spec(k.Spec), keys.Usage(k.Usage)
	if spec == "" {
		spec = keys.SymmetricDefault
	}
	if usage == "" && spec.Symmetric() {
		usage = keys.EncryptDecrypt
	}
	if !spec.Supported() || !spec.Allows(usage) {
		return fmt.Errorf("kms: seed key %s: key spec %q with usage %q is not supported", id, spec, usage)
	}
	if k.RotationEnabled && !spec.Symmetric() {
		return fmt.Errorf("kms: seed key %s: only symmetric keys rotate", id)
	}
	if len(k.Description) > maxDescriptionLen {
		return fmt.Errorf("kms: seed key %s: description too long", id)
	}
	tags := make([]Tag, 0, len(k.Tags))
	for tk, tv := range k.Tags {
		tags = append(tags, Tag{TagKey: tk, TagValue: tv})
	}
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.TagKey, b.TagKey) })
	var v validator
	v.tags(tags)
	aliases := slices.Clone(k.Aliases)
	slices.Sort(aliases)
	aliases = slices.Compact(aliases)
	for _, a := range aliases {
		v.aliasName(a)
	}
	if err := v.Err(); err != nil {
		return fmt.Errorf("kms: seed key %s: %w", id, err)
	}
	if err := checkTags(tags, nil); err != nil {
		return fmt.Errorf("kms: seed key %s: %w", id, err)
	}
	for _, a := range aliases {
		if err := checkAliasName(a); err != nil {
			return fmt.Errorf("kms: seed key %s: alias %s: %w", id, a, err)
		}
	}
	if len(aliases) > maxAliasesPerKey {
		return fmt.Errorf("kms: seed key %s: more than %d aliases", id, maxAliasesPerKey)
	}

	sc := scope{region, k.AccountID}
	h := s.locks.lock(sc, []string{id}, aliases)
	defer h.release()
	if s.getKey(sc, id) != nil {
		return nil
	}
	for _, a := range aliases {
		if s.getAlias(sc, a) != nil {
			return fmt.Errorf("kms: seed key %s: alias %s already exists", id, a)
		}
	}
	now := s.now()
	nk := &key{
		id: id, arn: s.keyARN(region, k.AccountID, id), region: region, account: k.AccountID,
		created: now, description: k.Description, spec: spec, usage: usage, origin: originAWSKMS,
		state: stateEnabled, policy: s.defaultPolicy(k.AccountID), tags: tags,
	}
	if len(nk.tags) == 0 {
		nk.tags = nil
	}
	if k.RotationEnabled {
		nk.rotEnabled, nk.rotPeriod, nk.rotBase = true, defaultRotationPeriod, now
	}
	if k.Material != nil {
		ver, err := keys.NewVersion(nk.spec, id, 1, secret.Copy(k.Material), keys.NewMaterialID(), now, "")
		if err != nil {
			return fmt.Errorf("kms: seed key %s: material does not fit key spec %s", id, spec)
		}
		nk.versions = []*keys.Version{ver}
	} else {
		nk.versions = []*keys.Version{generateVersion(nk, 1, now, "")}
	}
	var recs []*alias
	for _, name := range aliases {
		recs = append(recs, &alias{name: name, arn: s.aliasARN(region, k.AccountID, name), region: region,
			account: k.AccountID, target: id, created: now, updated: now})
	}
	err := s.putKey(ctx, "SeedKey", nk, func(tx storage.Tx) error {
		for _, a := range recs {
			data, err := marshalAlias(a)
			if err != nil {
				return err
			}
			if err := tx.Create(aliasPath(a.region, a.account, a.name), data); err != nil {
				return err
			}
			if err := indexAlias(tx, a); err != nil {
				return err
			}
		}
		return nil
	}, func(sp *space) {
		for _, a := range recs {
			sp.aliases[a.name] = a
		}
	})
	if errors.Is(err, errStale) && s.getKey(sc, id) != nil {
		return nil // another node seeded it first (the same seed file)
	}
	if err != nil {
		return errors.New("kms: seed key " + id + ": storage write failed")
	}
	return nil
}
