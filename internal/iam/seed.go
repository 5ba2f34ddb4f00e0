package iam

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
)

// Seed is what a seed file declares about identities (see internal/config).
type Seed struct {
	Users      []SeedUser
	Roles      []SeedRole
	AccessKeys []SeedAccessKey
}

// SeedPolicy is an inline policy of a seeded user or role.
type SeedPolicy struct{ Name, Document string }

// SeedUser is a user of the seed file.
type SeedUser struct {
	AccountID, Name, Path string
	Tags                  []Tag
	Policies              []SeedPolicy
}

// SeedRole is a role of the seed file.
type SeedRole struct {
	AccountID, Name, Path, Description string
	TrustPolicy                        string
	MaxSessionDuration                 int32 // 0: 3600
	Tags                               []Tag
	Policies                           []SeedPolicy
}

// SeedAccessKey is an access key of the seed file: of the account's root
// user, or of UserName.
type SeedAccessKey struct {
	ID, Secret, AccountID, UserName string
	Inactive                        bool
}

// LogValue leaves the secret out.
func (k SeedAccessKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("account", k.AccountID), slog.String("user", k.UserName))
}

// Format keeps the secret out of fmt verbs too.
func (k SeedAccessKey) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "SeedAccessKey{ID:%s AccountID:%s UserName:%s Secret:REDACTED}", k.ID, k.AccountID, k.UserName)
}

// SeedResult says what ApplySeed changed.
type SeedResult struct {
	Created     int      // users and roles created
	Deactivated []string // seeded access keys no longer in the seed file, now Inactive
}

// ApplySeed makes the identities of a seed file so, at every start:
// missing users and roles are created; the declared inline policies and tags
// of users and roles are put (others are left alone), as are a role's trust
// policy, description and maximum session duration; declared access keys are
// created or updated (secret, owner, status). An access key that an earlier
// seed file created and that this one no longer declares is deactivated.
// The accounts named are recorded. It stops at the first invalid entry.
func (s *Service) ApplySeed(ctx context.Context, seed *Seed) (*SeedResult, error) {
	res := &SeedResult{}
	accounts := map[string]bool{}
	for _, u := range seed.Users {
		accounts[u.AccountID] = true
	}
	for _, r := range seed.Roles {
		accounts[r.AccountID] = true
	}
	for _, k := range seed.AccessKeys {
		accounts[k.AccountID] = true
	}
	for a := range accounts {
		if !arn.IsAccountID(a) {
			return nil, fmt.Errorf("iam: seed: invalid account id %q", a)
		}
		if err := s.recordAccount(ctx, a, true); err != nil {
			return nil, err
		}
	}
	for _, su := range seed.Users {
		created, err := s.seedUser(ctx, su)
		if err != nil {
			return nil, fmt.Errorf("iam: seed user %s: %w", su.Name, err)
		}
		if created {
			res.Created++
		}
	}
	for _, sr := range seed.Roles {
		created, err := s.seedRole(ctx, sr)
		if err != nil {
			return nil, fmt.Errorf("iam: seed role %s: %w", sr.Name, err)
		}
		if created {
			res.Created++
		}
	}
	declared := map[string]bool{}
	for _, k := range seed.AccessKeys {
		if err := s.seedKey(ctx, k); err != nil {
			return nil, fmt.Errorf("iam: seed access key %s: %w", k.ID, err)
		}
		declared[k.ID] = true
	}
	for _, k := range s.AccessKeys() {
		if k.Origin == OriginSeed && k.Status == StatusActive && !declared[k.AccessKeyID] {
			if err := s.setKeyStatus(ctx, k.AccessKeyID, StatusInactive, nil); err != nil {
				return nil, err
			}
			res.Deactivated = append(res.Deactivated, k.AccessKeyID)
			s.log.Warn("iam: access key of the seed file is no longer in it: deactivated",
				"access_key_id", k.AccessKeyID, "account", k.AccountID, "user", k.UserName)
		}
	}
	return res, nil
}

func compilePolicies(ps []SeedPolicy, quota int) ([]inlinePolicy, error) {
	var out []inlinePolicy
	for _, p := range ps {
		var v checker
		v.name("policyName", p.Name, maxPolicyNameLen)
		v.policyDocument("policyDocument", p.Document)
		if err := v.err(); err != nil {
			return nil, err
		}
		c, err := compileIdentity(p.Document)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		if out, err = putPolicy(out, inlinePolicy{name: p.Name, doc: p.Document, compiled: c}, quota); err != nil {
			return nil, fmt.Errorf("inline policies exceed %d characters", quota)
		}
	}
	return out, nil
}

func checkSeedIdentity(member, n, path string, tags []Tag) error {
	var v checker
	v.name(member, n, maxNameLen)
	v.path("path", path)
	v.tags("tags", tags)
	if err := v.err(); err != nil {
		return err
	}
	return checkTagCount(tags)
}

func (s *Service) seedUser(ctx context.Context, su SeedUser) (created bool, err error) {
	if err := checkSeedIdentity("userName", su.Name, su.Path, su.Tags); err != nil {
		return false, err
	}
	u := &user{entity{account: su.AccountID, name: su.Name, path: su.Path, tags: slices.Clone(su.Tags)}}
	return users.seed(ctx, s, u, su.Policies, func(*user) {})
}

func (s *Service) seedRole(ctx context.Context, sr SeedRole) (created bool, err error) {
	if err := checkSeedIdentity("roleName", sr.Name, sr.Path, sr.Tags); err != nil {
		return false, err
	}
	var v checker
	v.policyDocument("assumeRolePolicyDocument", sr.TrustPolicy)
	v.description(sr.Description)
	d := cmp.Or(sr.MaxSessionDuration, defaultRoleDuration)
	v.sessionDuration(&d)
	if err := v.err(); err != nil {
		return false, err
	}
	trust, ids, err := s.checkTrust(sr.TrustPolicy)
	if err != nil {
		return false, err
	}
	r := &role{entity: entity{account: sr.AccountID, name: sr.Name, path: sr.Path, tags: slices.Clone(sr.Tags)},
		description: sr.Description, trust: sr.TrustPolicy, trustIDs: ids, trustCompiled: trust, maxSession: d}
	return roles.seed(ctx, s, r, sr.Policies, func(r *role) {
		r.trust, r.trustIDs, r.trustCompiled, r.maxSession, r.description = sr.TrustPolicy, ids, trust, d, sr.Description
	})
}

// seed creates the identity p of the seed file (with the inline policies
// ps), or merges its tags and policies into the stored one (whose path
// cannot change) and makes more's changes.
func (k *kind[T, P]) seed(ctx context.Context, s *Service, p P, ps []SeedPolicy, more func(P)) (created bool, err error) {
	e := p.base()
	if e.policies, err = compilePolicies(ps, k.quota); err != nil {
		return false, err
	}
	e.path = cmp.Or(e.path, "/")
	e.arn = k.arn(s.partition, e.account, e.path, e.name)
	if k.items(s.snapshot())[nameOf(e.account, e.name)] == nil {
		err := k.create(ctx, s, p)
		return err == nil, err
	}
	return false, k.update(ctx, s, e.account, e.name, func(cur P) error {
		old := cur.base()
		if old.path != e.path {
			s.log.Warn("iam: seed: a "+k.noun+"'s path cannot change; keeping the stored one", k.noun, old.arn, "seed_path", e.path)
		}
		old.tags = mergeTags(old.tags, e.tags)
		for _, q := range e.policies {
			var err error
			if old.policies, err = putPolicy(old.policies, q, k.quota); err != nil {
				return fmt.Errorf("inline policies exceed %d characters", k.quota)
			}
		}
		more(cur)
		return nil
	})
}

// seedKey creates or updates an access key with a fixed id and secret.
func (s *Service) seedKey(ctx context.Context, sk SeedAccessKey) error {
	switch {
	case sk.ID == devAccessKeyID:
		return errDevKey
	case len(sk.ID) < 16 || len(sk.ID) > 128 || !allBytes(sk.ID, isWordChar):
		return fmt.Errorf("invalid access key id %q: want 16 to 128 characters of [A-Za-z0-9_]", kmserr.Clip(sk.ID, 64))
	case sk.Secret == "" || len(sk.Secret) > 256:
		return fmt.Errorf("invalid secret: want 1 to 256 characters")
	case !arn.IsAccountID(sk.AccountID):
		return fmt.Errorf("invalid account id %q", kmserr.Clip(sk.AccountID, 64))
	}
	status := StatusActive
	if sk.Inactive {
		status = StatusInactive
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	userName := ""
	if sk.UserName != "" {
		u := st.users[nameOf(sk.AccountID, sk.UserName)]
		if u == nil {
			return fmt.Errorf("user %s does not exist in account %s", sk.UserName, sk.AccountID)
		}
		userName = u.name
	}
	old := st.keys[sk.ID]
	k := &accessKey{id: sk.ID, secret: sk.Secret, account: sk.AccountID, user: userName, status: status,
		created: s.now().UTC().Truncate(time.Second), origin: OriginSeed}
	if old != nil {
		if old.secret == k.secret && old.account == k.account && strings.EqualFold(old.user, k.user) &&
			old.status == k.status && old.origin == OriginSeed {
			return nil // unchanged
		}
		k.created = old.created
	}
	next := st.clone()
	next.bindKey(k, s.partition)
	next.keys[k.id] = k
	return s.commit(ctx, next, func(tx storage.Tx) error {
		return put(tx, accessKeyPrefix+k.id, k.record(), false)
	})
}
