package iam

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/storage"
)

// Session tokens are self-contained: the token is the session's claims
// (secret access key, account, role name and id, session name, issue and
// expiry times, session tags) sealed with AES-256-GCM under the token key,
// a random key stored once per data directory (through the barrier, at
// iam/sts/token-key/<id>). The additional data binds a token to its access
// key id. Any node that shares the database (and so the token key) verifies
// a token without a lookup or a write, and nothing is stored per session.
//
//	token = base64( version 0x01 | key id (4 bytes, big endian) | nonce (12) | AES-GCM(claims JSON) )
//
// The role is looked up (in memory) on every use, so a session of a deleted
// (or deleted and re-created) role is refused, and the role's current inline
// policies apply.

const (
	tokenVersion  = 1
	tokenKeyID    = 1
	tokenHeader   = 1 + 4
	maxTokenLen   = 8 << 10 // base64 characters
	tokenAADLabel = "trent sts session token v1\x00"
)

type tokenKey struct {
	id   uint32
	aead cipher.AEAD
}

type tokenKeyRecord struct {
	ID      uint32    `json:"id"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

func tokenKeyPath(id uint32) string { return tokenKeyPrefix + strconv.FormatUint(uint64(id), 10) }

func loadTokenKey(tx storage.Tx) (*tokenKey, error) {
	v, err := tx.Get(tokenKeyPath(tokenKeyID))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer clear(v)
	var r tokenKeyRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("iam: decode token key: %w", err)
	}
	defer clear(r.Key)
	if r.ID != tokenKeyID || len(r.Key) != 32 {
		return nil, errors.New("iam: malformed session token key record")
	}
	return newTokenKey(r.ID, r.Key)
}

func newTokenKey(id uint32, key []byte) (*tokenKey, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &tokenKey{id: id, aead: aead}, nil
}

// createTokenKey creates the token key, or loads the one another node
// created first.
func createTokenKey(ctx context.Context, st storage.Store) (*tokenKey, error) {
	r := tokenKeyRecord{ID: tokenKeyID, Key: make([]byte, 32), Created: time.Now().UTC()}
	rand.Read(r.Key)
	defer clear(r.Key)
	err := st.Update(ctx, func(tx storage.Tx) error { return put(tx, tokenKeyPath(r.ID), r, true) })
	if errors.Is(err, storage.ErrExists) {
		var k *tokenKey
		err = st.View(ctx, func(tx storage.Tx) error {
			var err error
			k, err = loadTokenKey(tx)
			return err
		})
		if err == nil && k == nil {
			err = errors.New("iam: session token key vanished")
		}
		return k, err
	}
	if err != nil {
		return nil, fmt.Errorf("iam: create session token key: %w", err)
	}
	return newTokenKey(r.ID, r.Key)
}

// claims are the sealed content of a session token.
type claims struct {
	Secret         string `json:"s"`
	Account        string `json:"a"`
	Role           string `json:"r"`
	RoleID         string `json:"ri"`
	Session        string `json:"n"`
	Issued         int64  `json:"i"` // Unix seconds
	Expires        int64  `json:"e"`
	Tags           []Tag  `json:"t,omitempty"`
	SourceIdentity string `json:"si,omitempty"`
}

func (k *tokenKey) aad(accessKeyID string) []byte {
	b := make([]byte, 0, len(tokenAADLabel)+tokenHeader+len(accessKeyID))
	b = append(b, tokenAADLabel...)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint32(b, k.id)
	return append(b, accessKeyID...)
}

// seal returns the session token of c for accessKeyID.
func (k *tokenKey) seal(accessKeyID string, c *claims) (string, error) {
	pt, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	defer clear(pt)
	out := make([]byte, tokenHeader, tokenHeader+k.aead.NonceSize()+len(pt)+k.aead.Overhead())
	out[0] = tokenVersion
	binary.BigEndian.PutUint32(out[1:], k.id)
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	out = k.aead.Seal(out, nonce, pt, k.aad(accessKeyID))
	return base64.StdEncoding.EncodeToString(out), nil
}

// errBadToken is any token that does not open.
var errBadToken = errors.New("iam: invalid session token")

// open returns the claims of token if it is a token this key sealed for
// accessKeyID.
func (k *tokenKey) open(accessKeyID, token string) (*claims, error) {
	if len(token) > maxTokenLen {
		return nil, errBadToken
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil || len(raw) < tokenHeader+k.aead.NonceSize()+k.aead.Overhead() {
		return nil, errBadToken
	}
	if raw[0] != tokenVersion || binary.BigEndian.Uint32(raw[1:]) != k.id {
		return nil, errBadToken
	}
	ns := k.aead.NonceSize()
	pt, err := k.aead.Open(nil, raw[tokenHeader:tokenHeader+ns], raw[tokenHeader+ns:], k.aad(accessKeyID))
	if err != nil {
		return nil, errBadToken
	}
	defer clear(pt)
	c := new(claims)
	if err := json.Unmarshal(pt, c); err != nil {
		return nil, errBadToken
	}
	return c, nil
}

// sessionCache remembers the principals of recently used session tokens,
// so that a session's requests open and decode its token once per state of
// the identities (any IAM change starts afresh).
type sessionCache struct {
	mu sync.RWMutex
	m  map[string]*cachedSession
}

type cachedSession struct {
	st          *state // the snapshot the principal was built from
	accessKeyID string
	secret      string
	expires     time.Time
	principal   *Principal
}

const maxCachedSessions = 4096

func (c *sessionCache) get(token string) *cachedSession {
	c.mu.RLock()
	e := c.m[token]
	c.mu.RUnlock()
	return e
}

func (c *sessionCache) put(token string, e *cachedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*cachedSession)
	}
	if len(c.m) >= maxCachedSessions {
		for k := range c.m { // evict an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[token] = e
}

// sessionCredential resolves a session's access key and token.
func (s *Service) sessionCredential(st *state, accessKeyID, token string) (string, *Principal, error) {
	now := s.now()
	if e := s.sessions.get(token); e != nil && e.st == st && e.accessKeyID == accessKeyID {
		if !now.Before(e.expires) {
			return "", nil, ErrExpiredToken
		}
		return e.secret, e.principal, nil
	}
	c, err := st.tokenKey.open(accessKeyID, token)
	if err != nil {
		if st.keys[accessKeyID] != nil {
			return "", nil, ErrInvalidCredential // a long-term key with a token
		}
		return "", nil, ErrUnknownCredential // nothing Trent issued
	}
	expires := time.Unix(c.Expires, 0)
	if !now.Before(expires) {
		return "", nil, ErrExpiredToken
	}
	r := st.roles[nameOf(c.Account, c.Role)]
	if r == nil || r.id != c.RoleID {
		return "", nil, ErrInvalidCredential
	}
	p := &Principal{
		Type: AssumedRole, AccountID: r.account, ARN: arn.AssumedRole(s.partition, r.account, r.name, c.Session),
		PrincipalID: r.id + ":" + c.Session, AccessKeyID: accessKeyID,
		Session: &Session{RoleARN: r.arn, RoleID: r.id, RoleName: r.name, Name: c.Session,
			Created: time.Unix(c.Issued, 0).UTC(), Expires: expires.UTC(), SourceIdentity: c.SourceIdentity},
		Tags: newTags(mergeTags(r.tags, c.Tags)), Policies: r.compiled,
	}
	s.sessions.put(token, &cachedSession{st: st, accessKeyID: accessKeyID, secret: c.Secret, expires: expires, principal: p})
	return c.Secret, p, nil
}
