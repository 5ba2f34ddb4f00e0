package iam

import (
	"context"
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

// listPage sorts items by key and returns the page after marker (a key),
// at most maxItems long (maxItemsDefault when nil), and the marker of the
// next page ("" when this page is the last).
func listPage[T any](items []T, key func(T) string, marker string, maxItems *int32) (page []T, next string) {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	n := maxItemsDefault
	if maxItems != nil {
		n = int(*maxItems)
	}
	from := 0
	if marker != "" {
		from, _ = slices.BinarySearchFunc(items, marker, func(it T, m string) int {
			if key(it) <= m {
				return -1
			}
			return 1
		})
	}
	to := min(from+n, len(items))
	if to < len(items) {
		next = key(items[to-1])
	}
	return items[from:to], next
}

// caseKey orders names as IAM lists them: without regard to case.
func caseKey(n string) string { return strings.ToLower(n) }
