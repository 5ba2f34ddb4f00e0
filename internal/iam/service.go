package iam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/storage"
)

// Development credentials: the example access key of the AWS documentation.
// A --dev server holds them in memory (see DevCredentials); they are never
// stored, and a record of them found in storage is deleted at load.
const (
	DevAccessKeyID = "AKIAIOSFODNN7EXAMPLE"
	DevSecretKey   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

const devAccessKeyID = DevAccessKeyID

// Errors of Credential. The SigV4 layer turns them into the front door's
// codes (UnrecognizedClientException / InvalidClientTokenId,
// ExpiredTokenException / ExpiredToken).
var (
	// ErrUnknownCredential: no such access key (and no session token).
	ErrUnknownCredential = errors.New("iam: unknown access key")
	// ErrInvalidCredential: an Inactive access key, or a session token that
	// is not valid for the access key (or whose role no longer exists).
	ErrInvalidCredential = errors.New("iam: inactive access key or invalid session token")
	// ErrExpiredToken: a valid session token past its expiry.
	ErrExpiredToken = errors.New("iam: session token expired")
)

// Config configures a Service.
type Config struct {
	Store     storage.Store // wrapped by the barrier
	Partition string        // "aws" when empty
	// Now is time.Now when nil: creation dates and session expiry.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service holds the identities and implements the IAM and STS operations.
// It is safe for concurrent use.
type Service struct {
	store     storage.Store
	partition string
	now       func() time.Time
	log       *slog.Logger

	mu       sync.Mutex // serializes writers
	state    atomic.Pointer[state]
	sessions sessionCache
	// extra holds credentials that live only in memory (--dev).
	extra atomic.Pointer[map[string]*accessKey]
}

// New loads every identity from cfg.Store. It deletes records of the
// documentation's example access key that earlier --dev runs wrote (logged),
// and creates the session-token key on first use of the store.
func New(ctx context.Context, cfg Config) (*Service, error) {
	s := &Service{store: cfg.Store, partition: cfg.Partition, now: cfg.Now, log: cfg.Logger}
	if s.partition == "" {
		s.partition = "aws"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var st *state
	var devKeys []string
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		st, devKeys, err = load(tx, s.partition, s.log)
		if err != nil {
			return err
		}
		st.tokenKey, err = loadTokenKey(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("iam: load: %w", err)
	}
	if len(devKeys) > 0 {
		err := s.store.Update(ctx, func(tx storage.Tx) error {
			for _, id := range devKeys {
				if err := tx.Delete(accessKeyPrefix + id); err != nil && !errors.Is(err, storage.ErrNotFound) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("iam: delete stored development credentials: %w", err)
		}
		s.log.Warn("iam: deleted the development access key that an earlier --dev run stored in this data directory: it is accepted only while a server runs with --dev",
			"access_key_id", devAccessKeyID)
	}
	if st.tokenKey == nil {
		if st.tokenKey, err = createTokenKey(ctx, s.store); err != nil {
			return nil, err
		}
	}
	s.state.Store(st)
	return s, nil
}

// Reload reads every identity from storage again and publishes it: for a
// node whose shared store was changed by another node (the storage change
// feed calls it for changes under iam/). Session tokens stay valid (the
// token key does not change).
func (s *Service) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st *state
	err := s.store.View(ctx, func(tx storage.Tx) error {
		var err error
		st, _, err = load(tx, s.partition, s.log)
		return err
	})
	if err != nil {
		return fmt.Errorf("iam: reload: %w", err)
	}
	st.tokenKey = s.snapshot().tokenKey
	s.state.Store(st)
	return nil
}

// Partition returns the partition of the service's ARNs.
func (s *Service) Partition() string { return s.partition }

// DevCredentials makes the documentation's example access key the root user
// of account, in memory only, for a --dev server. Nothing is stored.
func (s *Service) DevCredentials(account string) {
	p := rootPrincipal(s.partition, account, devAccessKeyID)
	m := map[string]*accessKey{devAccessKeyID: {
		id: devAccessKeyID, secret: DevSecretKey, account: account, status: StatusActive,
		created: s.now(), origin: "dev", principal: &p,
	}}
	s.extra.Store(&m)
}

// Credential returns the secret and principal of an access key, presented
// with sessionToken ("" for long-term keys). It reads memory only. Errors:
// ErrUnknownCredential (a credential Trent never issued),
// ErrInvalidCredential, ErrExpiredToken.
func (s *Service) Credential(accessKeyID, sessionToken string) (secret string, p *Principal, err error) {
	st := s.state.Load()
	if sessionToken != "" {
		return s.sessionCredential(st, accessKeyID, sessionToken)
	}
	k := st.keys[accessKeyID]
	if k == nil {
		if m := s.extra.Load(); m != nil {
			k = (*m)[accessKeyID]
		}
	}
	switch {
	case k == nil:
		return "", nil, ErrUnknownCredential
	case k.principal == nil:
		return "", nil, ErrInvalidCredential
	}
	return k.secret, k.principal, nil
}

// snapshot returns the current state.
func (s *Service) snapshot() *state { return s.state.Load() }

// ---- paging ----

// listPage sorts items by key and returns the page after marker (made by
// encodeMarker), at most maxItems long (maxItemsDefault when nil), and the
// marker of the next page ("" when this page is the last).
func listPage[T any](items []T, key func(T) string, marker string, maxItems *int32) (page []T, next string) {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	n := maxItemsDefault
	if maxItems != nil {
		n = int(*maxItems)
	}
	from := 0
	if marker != "" {
		from = pageStart(items, key, marker)
	}
	to := min(from+n, len(items))
	if to < len(items) {
		next = encodeMarker(key(items[to-1]))
	}
	return items[from:to], next
}

// markerHashLen is the length of the hash that ends the marker of a long key.
const markerHashLen = 16

// encodeMarker returns the Marker that continues a listing after the item
// of key k. It fits the model's pattern [\u0020-\u00FF]+ and maxMarkerLen,
// as AWS's markers do (the SDKs and the CLI send them back unchanged): the
// key's UTF-8 bytes written as Latin-1 characters (an ASCII key is its own
// marker; keys hold no control characters); a key longer than
// maxMarkerLen bytes (a tag key of many non-Latin characters) as its first
// bytes, then U+00FF (0xFF never occurs in UTF-8) and a hash of the key.
func encodeMarker(k string) string {
	if len(k) <= maxMarkerLen {
		return latin1(k)
	}
	sum := sha256.Sum256([]byte(k))
	return latin1(k[:maxMarkerLen-1-markerHashLen]) + "\u00ff" + hex.EncodeToString(sum[:])[:markerHashLen]
}

func latin1(b string) string {
	r := make([]rune, len(b))
	for i := 0; i < len(b); i++ {
		r[i] = rune(b[i])
	}
	return string(r)
}

// pageStart returns the index of the first item after the one marker names
// (items sorted by key).
func pageStart[T any](items []T, key func(T) string, marker string) int {
	raw := make([]byte, 0, len(marker))
	for _, r := range marker {
		if r > 0xff { // not a marker of encodeMarker: taken as a key
			raw = append(raw[:0], marker...)
			break
		}
		raw = append(raw, byte(r))
	}
	m := string(raw)
	if i := strings.IndexByte(m, 0xff); i >= 0 { // a long key's
		for j, it := range items {
			if encodeMarker(key(it)) == marker {
				return j + 1
			}
		}
		m = m[:i] // the item is gone: go on from its prefix
	}
	from, _ := slices.BinarySearchFunc(items, m, func(it T, m string) int {
		if key(it) <= m {
			return -1
		}
		return 1
	})
	return from
}

// caseKey orders names as IAM lists them: without regard to case.
func caseKey(n string) string { return strings.ToLower(n) }
