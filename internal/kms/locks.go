package kms

import (
	"hash/maphash"
	"math/bits"
	"sync"
)

// Writers lock what they change, not the whole service, so that writes to
// different keys run at the same time and share the storage's commits
// (boltstore commits concurrent Updates together: one fsync for all).
//
// A writer holds the locks of the keys and aliases it reads and writes from
// its check of the current state until that state is published after the
// commit, so that two writes of one key (or alias) are never interleaved:
// the second sees what the first published. The locks are stripes (a key or
// alias maps to one of lockStripes mutexes), taken in one global order to
// rule out deadlock: key stripes first, in ascending order, then alias
// stripes, in ascending order; a writer that holds alias stripes never takes
// a key stripe.
//
// Who locks what:
//   - every change of one key (mutateKey, grants, import): that key;
//   - CreateAlias: the alias and its target key; UpdateAlias: the alias, its
//     current and its new target; DeleteAlias: the alias and its target; so
//     the aliases of a key change only under that key's lock;
//   - the deletion of a key (Tick): the key, then its aliases;
//   - SeedKey: the key and its aliases; Tick: each key it changes, the keys
//     whose counters it writes;
//   - CreateKey: nothing (only this node's Apply of the committed record
//     can name a new key before CreateKey publishes it: swapKey keeps one);
//   - Apply (another node's changes): the keys of the key and grant records,
//     the aliases of the alias records and the keys they point to;
//   - Reload, Wipe: everything.
//
// Every write checks, in its transaction, that storage still holds the
// record it changes (errStale, service.go): the locks order this node's
// writers, the check orders the nodes that share a store.
const lockStripes = 64

type locks struct {
	seed    maphash.Seed
	keys    [lockStripes]sync.Mutex
	aliases [lockStripes]sync.Mutex
}

// held is the set of stripes a writer holds.
type held struct {
	l             *locks
	keys, aliases uint64 // bit i: stripe i
}

func (l *locks) stripe(s string) uint64 {
	return 1 << (maphash.String(l.seed, s) % lockStripes)
}

func (l *locks) aliasStripe(sc scope, name string) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(sc.region)
	h.WriteByte('/')
	h.WriteString(sc.account)
	h.WriteByte('/')
	h.WriteString(name)
	return 1 << (h.Sum64() % lockStripes)
}

// lock takes the stripes of the keys ids (key ids: unique in every scope)
// and of the aliases names (in scope sc).
func (l *locks) lock(sc scope, ids []string, names []string) held {
	as := make([]aliasRef, len(names))
	for i, n := range names {
		as[i] = aliasRef{sc, n}
	}
	return l.lockRefs(ids, as)
}

// aliasRef names the alias name of scope sc.
type aliasRef struct {
	sc   scope
	name string
}

// lockRefs takes the stripes of the keys ids and of the aliases as (of any
// scope).
func (l *locks) lockRefs(ids []string, as []aliasRef) held {
	h := held{l: l}
	for _, id := range ids {
		h.keys |= l.stripe(id)
	}
	for _, a := range as {
		h.aliases |= l.aliasStripe(a.sc, a.name)
	}
	lockMask(&l.keys, h.keys)
	lockMask(&l.aliases, h.aliases)
	return h
}

// lockKey takes the stripe of the key id.
func (l *locks) lockKey(id string) held {
	h := held{l: l, keys: l.stripe(id)}
	lockMask(&l.keys, h.keys)
	return h
}

// lockKeys takes the stripes of the keys ks.
func (l *locks) lockKeys(ks []*key) held {
	h := held{l: l}
	for _, k := range ks {
		h.keys |= l.stripe(k.id)
	}
	lockMask(&l.keys, h.keys)
	return h
}

// all takes every stripe.
func (l *locks) all() held {
	h := held{l: l, keys: ^uint64(0), aliases: ^uint64(0)}
	lockMask(&l.keys, h.keys)
	lockMask(&l.aliases, h.aliases)
	return h
}

// addAliases takes the stripes of the aliases names of scope sc. h must hold
// no alias stripe yet (the order: all key stripes before any alias stripe).
func (h *held) addAliases(sc scope, names []string) {
	if h.aliases != 0 {
		panic("kms: alias stripes taken twice")
	}
	for _, n := range names {
		h.aliases |= h.l.aliasStripe(sc, n)
	}
	lockMask(&h.l.aliases, h.aliases)
}

// holdsKey reports whether h holds the stripe of the key id.
func (h *held) holdsKey(id string) bool { return h.l != nil && h.keys&h.l.stripe(id) != 0 }

// release unlocks everything h holds. The zero held releases nothing.
func (h held) release() {
	if h.l == nil {
		return
	}
	unlockMask(&h.l.aliases, h.aliases)
	unlockMask(&h.l.keys, h.keys)
}

func lockMask(ms *[lockStripes]sync.Mutex, mask uint64) {
	for m := mask; m != 0; m &= m - 1 {
		ms[bits.TrailingZeros64(m)].Lock()
	}
}

func unlockMask(ms *[lockStripes]sync.Mutex, mask uint64) {
	for m := mask; m != 0; m &= m - 1 {
		ms[bits.TrailingZeros64(m)].Unlock()
	}
}
