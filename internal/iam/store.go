package iam

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
)

// accessKeyPrefix is the storage path prefix of access-key records:
// "iam/accesskey/<ACCESS_KEY_ID>". Values are sealed by the barrier under
// the store, so the secret is stored there as is.
const accessKeyPrefix = "iam/accesskey/"

// AccessKey is a long-term access key of an account's administrator.
type AccessKey struct {
	ID, Secret, AccountID string
}

// record is the stored form of an access key.
type record struct {
	ID        string `json:"access_key_id"`
	Secret    string `json:"secret_access_key"`
	AccountID string `json:"account_id"`
	// Generated marks the key EnsureAdmin created for the account (as opposed
	// to keys put from a seed file or the dev credentials).
	Generated bool `json:"generated,omitempty"`
}

type entry struct {
	secret    string
	principal Principal
	generated bool
}

// Store holds the access keys: all in memory (Lookup never touches
// storage), persisted through a storage.Store. It is safe for concurrent use.
type Store struct {
	st   storage.Store
	mu   sync.Mutex                       // serialises writers
	keys atomic.Pointer[map[string]entry] // copy-on-write; readers take no lock
}

// NewStore loads every access key from st.
func NewStore(ctx context.Context, st storage.Store) (*Store, error) {
	keys := make(map[string]entry)
	err := st.View(ctx, func(tx storage.Tx) error {
		ents, err := tx.List(accessKeyPrefix, "", 0)
		if err != nil {
			return err
		}
		for _, e := range ents {
			var rec record
			if err := json.Unmarshal(e.Value, &rec); err != nil {
				return fmt.Errorf("iam: decode %s: %w", e.Key, err)
			}
			if accessKeyPrefix+rec.ID != e.Key {
				return fmt.Errorf("iam: record at %s names access key %q", e.Key, rec.ID)
			}
			keys[rec.ID] = entry{secret: rec.Secret, principal: AdminPrincipal(rec.AccountID, rec.ID), generated: rec.Generated}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("iam: load access keys: %w", err)
	}
	s := &Store{st: st}
	s.keys.Store(&keys)
	return s, nil
}

// Lookup returns the secret and principal of an access key. It does not
// touch storage.
func (s *Store) Lookup(accessKeyID string) (secret string, p Principal, ok bool) {
	e, ok := (*s.keys.Load())[accessKeyID]
	if !ok {
		return "", Principal{}, false
	}
	return e.secret, e.principal, true
}

// Put creates or replaces an access key (seed file, dev credentials). The key
// is its account's administrator.
func (s *Store) Put(ctx context.Context, k AccessKey) error {
	if err := validate(k); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := (*s.keys.Load())[k.ID]
	return s.write(ctx, record{ID: k.ID, Secret: k.Secret, AccountID: k.AccountID, Generated: exists && old.generated && old.principal.AccountID == k.AccountID}, false)
}

// EnsureAdmin returns the access key generated for accountID's administrator,
// generating and persisting one (created=true) if there is none.
func (s *Store) EnsureAdmin(ctx context.Context, accountID string) (k AccessKey, created bool, err error) {
	if !IsAccountID(accountID) {
		return AccessKey{}, false, fmt.Errorf("iam: invalid account id %q: want 12 digits", accountID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := *s.keys.Load()
	var ids []string
	for id, e := range keys {
		if e.generated && e.principal.AccountID == accountID {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		sort.Strings(ids) // deterministic if there were ever several
		return AccessKey{ID: ids[0], Secret: keys[ids[0]].secret, AccountID: accountID}, false, nil
	}
	for range 3 { // a collision of 80 random bits is not expected; retry anyway
		rec := record{ID: GenerateAccessKeyID(), Secret: GenerateSecret(), AccountID: accountID, Generated: true}
		if _, taken := keys[rec.ID]; taken {
			continue
		}
		err := s.write(ctx, rec, true)
		if errors.Is(err, storage.ErrExists) {
			continue
		}
		if err != nil {
			return AccessKey{}, false, err
		}
		return AccessKey{ID: rec.ID, Secret: rec.Secret, AccountID: accountID}, true, nil
	}
	return AccessKey{}, false, errors.New("iam: could not generate a unique access key id")
}

// write persists rec and then publishes it in memory. Callers hold s.mu.
func (s *Store) write(ctx context.Context, rec record, create bool) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("iam: encode access key: %w", err)
	}
	err = s.st.Update(ctx, func(tx storage.Tx) error {
		if create {
			return tx.Create(accessKeyPrefix+rec.ID, val)
		}
		return tx.Put(accessKeyPrefix+rec.ID, val)
	})
	clear(val)
	if err != nil {
		return fmt.Errorf("iam: store access key %s: %w", rec.ID, err)
	}
	old := *s.keys.Load()
	next := make(map[string]entry, len(old)+1)
	for id, e := range old {
		next[id] = e
	}
	next[rec.ID] = entry{secret: rec.Secret, principal: AdminPrincipal(rec.AccountID, rec.ID), generated: rec.Generated}
	s.keys.Store(&next)
	return nil
}

// AdminPrincipal is the principal of accountID's administrator (the account
// root) authenticated with accessKeyID.
func AdminPrincipal(accountID, accessKeyID string) Principal {
	return Principal{
		AccountID:   accountID,
		ARN:         "arn:aws:iam::" + accountID + ":root",
		AccessKeyID: accessKeyID,
		Admin:       true,
	}
}

// GenerateAccessKeyID returns a fresh AWS-shaped access key id: "AKIA"
// followed by 16 characters of [A-Z2-7] from crypto/rand.
func GenerateAccessKeyID() string {
	var b [10]byte // 80 bits = 16 base32 characters
	rand.Read(b[:])
	return "AKIA" + base32.StdEncoding.EncodeToString(b[:])
}

// GenerateSecret returns a fresh 40-character secret access key
// ([A-Za-z0-9+/], 240 bits from crypto/rand).
func GenerateSecret() string {
	var b [30]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func validate(k AccessKey) error {
	if len(k.ID) < 16 || len(k.ID) > 128 || !isWord(k.ID) {
		return fmt.Errorf("iam: invalid access key id %q: want 16 to 128 characters of [A-Za-z0-9_]", kmserr.Clip(k.ID, 64))
	}
	if k.Secret == "" || len(k.Secret) > 256 {
		return fmt.Errorf("iam: invalid secret for access key %s: want 1 to 256 characters", k.ID)
	}
	if !IsAccountID(k.AccountID) {
		return fmt.Errorf("iam: invalid account id %q for access key %s: want 12 digits", kmserr.Clip(k.AccountID, 64), k.ID)
	}
	return nil
}

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isWord(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) < 0
}
