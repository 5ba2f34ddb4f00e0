package kms

import (
	"sync"

	"github.com/trent-kms/trent/internal/policy"
)

// Bounds of the compiled-policy cache: documents held, and the largest one
// held (a bigger one is compiled each time).
const (
	polCacheEntries = 64
	polCacheDocMax  = 4 << 10
)

// policyCache holds compiled key policies by document text, so that keys
// sharing a document compile it once: every key an account creates without
// a policy has the same default one, which CreateKey would otherwise parse
// per key. A *policy.Policy is never modified once parsed (key snapshots
// already share it), so one value serves every key. When full, it starts
// over. The zero value is ready.
type policyCache struct {
	mu sync.Mutex
	m  map[string]*policy.Policy
}

// parse is policy.Parse(policy.KeyPolicy, doc), from the cache when doc was
// compiled before. Errors are not cached.
func (c *policyCache) parse(doc string) (*policy.Policy, error) {
	c.mu.Lock()
	p := c.m[doc]
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := policy.Parse(policy.KeyPolicy, doc)
	if err != nil || len(doc) > polCacheDocMax {
		return p, err
	}
	c.mu.Lock()
	if len(c.m) >= polCacheEntries {
		clear(c.m)
	}
	if c.m == nil {
		c.m = make(map[string]*policy.Policy)
	}
	c.m[doc] = p
	c.mu.Unlock()
	return p, nil
}
