package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/keys"
	"github.com/trent-kms/trent/internal/storage"
)

// Following a shared store: when several nodes share one store, each holds
// every key in memory, and a change committed by one node reaches the
// others through the store's change feed (storage.Watcher), which names the
// paths a transaction wrote. Apply reads those records again and swaps them
// into memory, with the decode path of New; Reload does it for every
// record (the feed lost its history). Both hold the locks of what they
// change (locks.go) while they read and publish, as a local writer does, so
// that a record read is never older than what this node itself published:
// memory only moves forward.

// PathPrefix is the prefix of every path the service stores; Apply takes
// the paths under it.
const PathPrefix = "kms/"

// Apply reads the records at paths (under PathPrefix; others are ignored)
// from storage and publishes them: a key, alias or grant written by another
// node replaces this node's snapshot, one deleted leaves memory. Applying a
// record this node already holds changes nothing, so a change may be
// applied twice. A key's backing-key versions already held are kept (with
// the encryptions this node counted and has not flushed yet). Apply locks
// the keys of the key and grant records, and the aliases of the alias
// records with the keys they point to (in memory and in storage: the
// aliases of a key change only under its lock).
func (s *Service) Apply(ctx context.Context, paths []string) error {
	paths = ownPaths(s.applyKeyStores(ctx, paths))
	var ids []string
	var aliases []aliasRef
	for _, p := range paths {
		if id, ok := grantKey(p); ok {
			ids = append(ids, id)
			continue
		}
		region, account, rest, _ := splitPath(p)
		if !strings.HasPrefix(p, aliasPathPrefix) {
			ids = append(ids, rest)
			continue
		}
		sc := scope{region, account}
		aliases = append(aliases, aliasRef{sc, rest})
		if a := s.getAlias(sc, rest); a != nil {
			ids = append(ids, a.target)
		}
	}
	for {
		h := s.locks.lockRefs(ids, aliases)
		missing, err := s.applyHeld(ctx, &h, paths)
		h.release()
		if len(missing) == 0 {
			return err
		}
		ids = append(ids, missing...) // an alias moved meanwhile
	}
}

// Reload reads every key, alias and grant from storage and publishes what
// changed, removing from memory what storage no longer holds; it caches
// the custom key stores read, and logs out of the CloudHSM tokens that no
// stored store connects. It holds every lock.
func (s *Service) Reload(ctx context.Context) error {
	h := s.locks.all()
	defer h.release()
	s.creating.Lock()
	defer s.creating.Unlock()
	var entries []storage.Entry
	gen := s.stores.generation() // before the read: see s.stores.reload
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		entries, err = tx.List(PathPrefix, "", 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("kms: reload: %w", err)
	}
	stored := make(map[string]bool, len(entries))
	var errs []error
	var grants []storage.Entry
	for _, e := range entries {
		if strings.HasPrefix(e.Key, grantPathPrefix) {
			grants = append(grants, e) // once their keys are in
			continue
		}
		if strings.HasPrefix(e.Key, keyStorePathPrefix) {
			continue // s.stores.reload, below
		}
		stored[e.Key] = true
		errs = append(errs, s.applyRecord(e.Key, e.Value))
		clear(e.Value)
	}
	s.hsm.closeUnless(s.stores.reload(entries, gen, s.xksHTTP, s.log))
	for _, p := range s.paths() {
		if !stored[p] {
			errs = append(errs, s.applyRecord(p, nil))
		}
	}
	return errors.Join(append(errs, s.setGrants(grants))...)
}

// setGrants makes the stored grants entries every key's grants.
func (s *Service) setGrants(entries []storage.Entry) error {
	byKey := map[string][]*grant{}
	var errs []error
	for _, e := range entries {
		sc, keyID, g, err := s.decodeGrant(e.Key, e.Value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s.getKey(sc, keyID) == nil {
			s.log.Warn("kms: grant of a missing key ignored", "record", e.Key)
			continue
		}
		kp := keyPath(sc.region, sc.account, keyID)
		byKey[kp] = append(byKey[kp], g)
	}
	for _, k := range s.allKeys() {
		gs := byKey[keyPath(k.region, k.account, k.id)]
		slices.SortFunc(gs, func(a, b *grant) int { return strings.Compare(a.sortKey(), b.sortKey()) })
		if sameGrants(k.grants, gs) {
			continue
		}
		nk := k.clone()
		nk.grants = gs
		s.publish(nk)
	}
	return errors.Join(errs...)
}

func sameGrants(a, b []*grant) bool {
	return slices.EqualFunc(a, b, func(x, y *grant) bool { return x.id == y.id })
}

// decodeGrant decodes the grant record data stored at path.
func (s *Service) decodeGrant(path string, data []byte) (sc scope, keyID string, g *grant, err error) {
	parts := strings.Split(strings.TrimPrefix(path, grantPathPrefix), "/")
	if len(parts) != 4 {
		return sc, "", nil, fmt.Errorf("kms: %s is not a grant's path", path)
	}
	var rec grantRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return sc, "", nil, fmt.Errorf("kms: decode %s: %w", path, err)
	}
	if rec.ID != parts[3] {
		return sc, "", nil, fmt.Errorf("kms: record %s names another grant", path)
	}
	if g, err = grantFromRecord(&rec); err != nil {
		return sc, "", nil, fmt.Errorf("kms: load %s: %w", path, err)
	}
	return scope{parts[0], parts[1]}, parts[2], g, nil
}

// applyGrant publishes the grant record data stored at path (nil:
// deleted) into its key's snapshot. Callers hold the lock of the key.
func (s *Service) applyGrant(path string, data []byte) error {
	parts := strings.Split(strings.TrimPrefix(path, grantPathPrefix), "/")
	if len(parts) != 4 {
		return nil
	}
	k := s.getKey(scope{parts[0], parts[1]}, parts[2])
	if k == nil {
		return nil // the key is gone (its deletion takes its grants)
	}
	gs := slices.DeleteFunc(slices.Clone(k.grants), func(g *grant) bool { return g.id == parts[3] })
	if data != nil {
		_, _, g, err := s.decodeGrant(path, data)
		if err != nil {
			return err
		}
		gs = insertGrant(gs, g)
	}
	if sameGrants(k.grants, gs) && data == nil {
		return nil
	}
	nk := k.clone()
	nk.grants = gs
	s.publish(nk)
	return nil
}

// paths returns the path of every key and alias in memory.
func (s *Service) paths() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ps []string
	for sc, sp := range s.spaces {
		for id := range sp.keys {
			ps = append(ps, keyPath(sc.region, sc.account, id))
		}
		for name := range sp.aliases {
			ps = append(ps, aliasPath(sc.region, sc.account, name))
		}
	}
	return ps
}

// ownPaths returns the key, alias and grant paths of paths, the grants
// last (after the keys they belong to).
func ownPaths(paths []string) []string {
	var want, grants []string
	for _, p := range paths {
		if _, ok := grantKey(p); ok {
			grants = append(grants, p)
		} else if _, _, _, ok := splitPath(p); ok {
			want = append(want, p)
		}
	}
	return append(want, grants...)
}

// grantKey returns the key id of the grant path p.
func grantKey(p string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(p, grantPathPrefix), "/")
	if !strings.HasPrefix(p, grantPathPrefix) || len(parts) != 4 {
		return "", false
	}
	return parts[2], true
}

// applyHeld reads the records at want (ownPaths) and publishes them. h
// holds the locks of their keys and aliases; when an alias points (in
// memory or in storage) to a key whose lock h does not hold, nothing is
// published and missing lists those keys.
func (s *Service) applyHeld(ctx context.Context, h *held, want []string) (missing []string, err error) {
	if len(want) == 0 {
		return nil, nil
	}
	values := make([][]byte, len(want))
	defer func() {
		for _, v := range values {
			clear(v)
		}
	}()
	err = s.store.View(ctx, func(tx storage.Tx) error {
		for i, p := range want {
			v, err := tx.Get(p)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			values[i] = v
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kms: read changed records: %w", err)
	}
	for i, p := range want {
		region, account, name, _ := splitPath(p)
		if !strings.HasPrefix(p, aliasPathPrefix) {
			continue
		}
		targets := []string{}
		if a := s.getAlias(scope{region, account}, name); a != nil {
			targets = append(targets, a.target)
		}
		var rec aliasRecord
		if values[i] != nil && json.Unmarshal(values[i], &rec) == nil {
			targets = append(targets, rec.Target)
		}
		for _, id := range targets {
			if !h.holdsKey(id) {
				missing = append(missing, id)
			}
		}
	}
	if len(missing) > 0 {
		return missing, nil
	}
	var errs []error
	for i, p := range want {
		errs = append(errs, s.applyRecord(p, values[i]))
	}
	return nil, errors.Join(errs...)
}

// applyRecord publishes the record data stored at path (nil: deleted).
// Callers hold the locks of what it changes (applyHeld).
func (s *Service) applyRecord(path string, data []byte) error {
	if strings.HasPrefix(path, grantPathPrefix) {
		return s.applyGrant(path, data)
	}
	region, account, rest, ok := splitPath(path)
	if !ok {
		return nil // not a key or alias record: nothing this service holds
	}
	sc := scope{region, account}
	if strings.HasPrefix(path, aliasPathPrefix) {
		return s.applyAlias(sc, rest, path, data)
	}
	old := s.getKey(sc, rest)
	if data == nil {
		if old == nil {
			return nil
		}
		s.mu.Lock()
		if sp := s.spaces[sc]; sp != nil {
			delete(sp.keys, rest)
			sp.sortedIDs = nil
		}
		s.mu.Unlock()
		wipeVersions(old.versions, nil)
		return nil
	}
	var rec keyRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("kms: decode %s: %w", path, err)
	}
	if keyPath(rec.Region, rec.Account, rec.ID) != path {
		rec.wipe()
		return fmt.Errorf("kms: record %s names another key", path)
	}
	if old != nil && old.rev == rec.Rev {
		rec.wipe() // this node holds it already
		return nil
	}
	k, err := s.keyFromRecord(&rec, old)
	if err != nil {
		rec.wipe()
		return fmt.Errorf("kms: load %s: %w", path, err)
	}
	if old != nil {
		k.grants, k.pol, k.polSrc = old.grants, old.pol, old.polSrc // grants are records of their own
	}
	s.compile(k)
	if s.swapKey(k, old, nil) && old != nil {
		wipeVersions(old.versions, k.versions)
	}
	return nil
}

func (s *Service) applyAlias(sc scope, name, path string, data []byte) error {
	if data == nil {
		s.mu.Lock()
		if sp := s.spaces[sc]; sp != nil {
			delete(sp.aliases, name)
		}
		s.mu.Unlock()
		return nil
	}
	var rec aliasRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("kms: decode %s: %w", path, err)
	}
	if aliasPath(rec.Region, rec.Account, rec.Name) != path {
		return fmt.Errorf("kms: record %s names another alias", path)
	}
	a := &alias{name: rec.Name, region: rec.Region, account: rec.Account, target: rec.Target,
		created: rec.Created, updated: rec.Updated, arn: s.aliasARN(rec.Region, rec.Account, rec.Name)}
	s.mu.Lock()
	s.space(sc).aliases[a.name] = a
	s.mu.Unlock()
	return nil
}

// splitPath splits a key or alias path into its region, account and the
// rest (key id or alias name).
func splitPath(path string) (region, account, rest string, ok bool) {
	var tail string
	if t, found := strings.CutPrefix(path, keyPathPrefix); found {
		tail = t
	} else if t, found := strings.CutPrefix(path, aliasPathPrefix); found {
		tail = t
	} else {
		return "", "", "", false
	}
	region, tail, ok1 := strings.Cut(tail, "/")
	account, rest, ok2 := strings.Cut(tail, "/")
	return region, account, rest, ok1 && ok2 && rest != ""
}

// wipeVersions wipes the versions of old that keep does not hold.
func wipeVersions(old, keep []*keys.Version) {
	for _, v := range old {
		held := false
		for _, w := range keep {
			if w == v {
				held = true
				break
			}
		}
		if !held {
			v.Wipe()
		}
	}
}
