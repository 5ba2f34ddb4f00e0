package envelope

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"reflect"
	"sync"
	"time"
)

// CacheLimits bounds how long and how much a cached data key is reused.
type CacheLimits struct {
	// MaxAge is how long an entry is used after it was created; required.
	MaxAge time.Duration
	// MaxMessages is how many messages one data key encrypts; 0 means
	// 2^32, the default of the official SDKs.
	MaxMessages uint64
	// MaxBytes is how many plaintext bytes (counted by
	// EncryptOptions.MaxPlaintextLength) one data key encrypts; 0 means no
	// limit.
	MaxBytes uint64
	// Capacity is the number of entries kept (encryption and decryption
	// counted apart); 0 means 1000. When full, the oldest entry goes.
	Capacity int
}

// Cache keeps encryption materials (data key, encrypted data keys, signing
// key) and unwrapped data keys so that many messages cost one keyring call.
// Pass it in [EncryptOptions] and [DecryptOptions]; entries are partitioned
// by keyring, algorithm suite and encryption context (and for decryption by
// the encrypted data keys), so one Cache can serve several keyrings.
// Encryption reuses an entry only for messages that set
// EncryptOptions.MaxPlaintextLength. A Cache is safe for concurrent use.
// Keyrings of non-comparable types bypass it.
type Cache struct {
	lim CacheLimits
	now func() time.Time

	mu  sync.Mutex
	enc map[cacheKey]*encEntry
	dec map[cacheKey]*decEntry
}

// NewCache returns an empty cache with the given limits.
func NewCache(limits CacheLimits) (*Cache, error) {
	if limits.MaxAge <= 0 {
		return nil, errors.New("envelope: cache needs a positive MaxAge")
	}
	if limits.MaxMessages == 0 {
		limits.MaxMessages = 1 << 32
	}
	if limits.Capacity <= 0 {
		limits.Capacity = 1000
	}
	return &Cache{lim: limits, now: time.Now, enc: map[cacheKey]*encEntry{}, dec: map[cacheKey]*decEntry{}}, nil
}

type cacheKey struct {
	kr Keyring
	id [sha512.Size]byte
}

type encEntry struct {
	m        EncryptionMaterials
	sign     *ecdsa.PrivateKey
	created  time.Time
	messages uint64
	bytes    uint64
}

type decEntry struct {
	dataKey []byte
	created time.Time
}

func cacheable(kr Keyring) bool {
	return kr != nil && reflect.TypeOf(kr).Comparable()
}

func encCacheID(s Suite, ec []byte) [sha512.Size]byte {
	h := sha512.New()
	h.Write([]byte{'E', byte(s >> 8), byte(s)})
	h.Write(ec)
	var id [sha512.Size]byte
	h.Sum(id[:0])
	return id
}

func decCacheID(s Suite, ec []byte, edks []EncryptedDataKey) [sha512.Size]byte {
	h := sha512.New()
	h.Write([]byte{'D', byte(s >> 8), byte(s)})
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(ec)))
	h.Write(n[:])
	h.Write(ec)
	for _, e := range edks {
		for _, f := range [][]byte{[]byte(e.ProviderID), e.ProviderInfo, e.Ciphertext} {
			binary.BigEndian.PutUint64(n[:], uint64(len(f)))
			h.Write(n[:])
			h.Write(f)
		}
	}
	var id [sha512.Size]byte
	h.Sum(id[:0])
	return id
}

// encMaterials returns encryption materials for a message of at most size
// bytes, from the cache when an entry is within its limits, else from fresh.
func (c *Cache) encMaterials(ctx context.Context, kr Keyring, s Suite, ec map[string]string, size uint64,
	fresh func(context.Context) (*EncryptionMaterials, *ecdsa.PrivateKey, error),
) (*EncryptionMaterials, *ecdsa.PrivateKey, error) {
	ser, err := serializeContext(ec)
	if err != nil {
		return nil, nil, err
	}
	key := cacheKey{kr: kr, id: encCacheID(s, ser)}
	if c.lim.MaxBytes > 0 && size > c.lim.MaxBytes {
		return fresh(ctx)
	}
	c.mu.Lock()
	if e, ok := c.enc[key]; ok {
		if c.now().Sub(e.created) < c.lim.MaxAge && e.messages < c.lim.MaxMessages &&
			(c.lim.MaxBytes == 0 || e.bytes+size <= c.lim.MaxBytes) {
			e.messages++
			e.bytes += size
			m := e.m
			c.mu.Unlock()
			return &m, e.sign, nil
		}
		delete(c.enc, key)
	}
	c.mu.Unlock()
	m, sign, err := fresh(ctx)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.enc) >= c.lim.Capacity {
		evictOldest(c.enc, func(e *encEntry) time.Time { return e.created })
	}
	c.enc[key] = &encEntry{m: *m, sign: sign, created: c.now(), messages: 1, bytes: size}
	return m, sign, nil
}

// dataKey returns the unwrapped data key for a message, from the cache or
// from unwrap.
func (c *Cache) dataKey(ctx context.Context, kr Keyring, s Suite, ec map[string]string, edks []EncryptedDataKey,
	unwrap func(context.Context) ([]byte, error),
) ([]byte, error) {
	ser, err := serializeContext(ec)
	if err != nil {
		return nil, err
	}
	key := cacheKey{kr: kr, id: decCacheID(s, ser, edks)}
	c.mu.Lock()
	if e, ok := c.dec[key]; ok {
		if c.now().Sub(e.created) < c.lim.MaxAge {
			dk := e.dataKey
			c.mu.Unlock()
			return dk, nil
		}
		delete(c.dec, key)
	}
	c.mu.Unlock()
	dk, err := unwrap(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dec) >= c.lim.Capacity {
		evictOldest(c.dec, func(e *decEntry) time.Time { return e.created })
	}
	c.dec[key] = &decEntry{dataKey: dk, created: c.now()}
	return dk, nil
}

func evictOldest[E any](m map[cacheKey]E, created func(E) time.Time) {
	var oldest cacheKey
	var t time.Time
	first := true
	for k, e := range m {
		if first || created(e).Before(t) {
			oldest, t, first = k, created(e), false
		}
	}
	if !first {
		delete(m, oldest)
	}
}

// Purge drops every entry.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.enc)
	clear(c.dec)
}
