package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
)

// maxCachedKeys bounds the derived-key cache. A signing key is valid for one
// (access key, day, region, service), so a handful per client per day.
const maxCachedKeys = 1024

type cacheKey struct {
	accessKeyID, secret, date, region, service string
}

// keyCache caches derived signing keys. The zero value is ready to use.
// The secret is part of the key so that replacing an access key's secret
// never serves a stale signing key.
type keyCache struct {
	mu sync.RWMutex
	m  map[cacheKey][sha256.Size]byte
}

func (c *keyCache) get(accessKeyID, secret, date, region, service string) [sha256.Size]byte {
	k := cacheKey{accessKeyID, secret, date, region, service}
	c.mu.RLock()
	dk, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return dk
	}
	dk = deriveKey(secret, date, region, service)
	// The strings of k may be substrings of a request header: copy them so
	// that the cache does not pin whole headers in memory.
	k = cacheKey{strings.Clone(accessKeyID), secret, strings.Clone(date), strings.Clone(region), strings.Clone(service)}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[cacheKey][sha256.Size]byte)
	}
	if len(c.m) >= maxCachedKeys {
		for old := range c.m { // evict an arbitrary entry
			delete(c.m, old)
			break
		}
	}
	c.m[k] = dk
	c.mu.Unlock()
	return dk
}

func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// deriveKey computes the SigV4 signing key:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveKey(secret, date, region, service string) [sha256.Size]byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k[:], region)
	k = hmacSHA256(k[:], service)
	return hmacSHA256(k[:], Terminator)
}

func hmacSHA256(key []byte, data string) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}
