package iam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/arn"
	"github.com/trent-kms/trent/internal/storage"
)

// ErrNotAnAccount is returned by OpenAccount for an account that the data
// directory does not hold (when it may not be added).
var ErrNotAnAccount = errors.New("iam: not an account of this data directory")

// FallbackAccountID is the account of a new data directory when none is
// configured (the account of the AWS documentation's examples).
const FallbackAccountID = "111122223333"

// Accounts returns the ids of the accounts this data directory holds,
// oldest first.
func (s *Service) Accounts() []string {
	st := s.snapshot()
	as := make([]*account, 0, len(st.accounts))
	for _, a := range st.accounts {
		as = append(as, a)
	}
	slices.SortFunc(as, func(a, b *account) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.id
	}
	return ids
}

// NewKey is a freshly created access key, shown once.
type NewKey struct {
	AccessKeyID string
	Secret      Secret
	AccountID   string
	UserName    string // "" for the root user
}

// OpenAccount resolves the account a server runs as, and makes sure it is
// recorded. want is the configured account, "" for the data directory's
// own:
//
//   - a data directory that records no account yet (new, or written before
//     accounts were recorded) first records the accounts of its root access
//     keys (migration);
//   - want == "": the oldest account; FallbackAccountID in a new directory;
//   - want not recorded: it is added when add is true (or the directory has
//     no account at all), else ErrNotAnAccount;
//   - outside dev, an account that never had its first administrator gets
//     one: a new root access key, returned in first (else nil) for the
//     caller to show once. A --dev run records the account only, so that a
//     later run without --dev still creates the first administrator.
func (s *Service) OpenAccount(ctx context.Context, want string, add, dev bool) (acct string, first *NewKey, err error) {
	if want != "" && !arn.IsAccountID(want) {
		return "", nil, fmt.Errorf("iam: invalid account id %q: want 12 digits", want)
	}
	if err := s.migrateAccounts(ctx); err != nil {
		return "", nil, err
	}
	ids := s.Accounts()
	acct = want
	switch {
	case want == "" && len(ids) > 0:
		acct = ids[0]
	case want == "":
		acct = FallbackAccountID
	case len(ids) > 0 && !slices.Contains(ids, want) && !add:
		return "", nil, fmt.Errorf("%w: %s (it holds %s)", ErrNotAnAccount, want, strings.Join(ids, ", "))
	}
	if err := s.recordAccount(ctx, acct, false); err != nil {
		return "", nil, err
	}
	if dev || s.snapshot().accounts[acct].admin {
		return acct, nil, nil
	}
	k, err := s.createKey(ctx, acct, "", OriginGenerated, false)
	if err != nil {
		return "", nil, err
	}
	if err := s.recordAccount(ctx, acct, true); err != nil {
		return "", nil, err
	}
	return acct, &NewKey{AccessKeyID: k.id, Secret: Secret{k.secret}, AccountID: acct}, nil
}

// migrateAccounts records, in a data directory that records no account, the
// accounts of its root access keys (written before accounts were recorded).
// Their first administrator exists already.
func (s *Service) migrateAccounts(ctx context.Context) error {
	st := s.snapshot()
	if len(st.accounts) > 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, k := range st.keys {
		if k.user == "" && !seen[k.account] {
			seen[k.account] = true
			if err := s.recordAccount(ctx, k.account, true); err != nil {
				return err
			}
		}
	}
	if len(seen) > 0 {
		s.log.Info("iam: recorded the accounts of this data directory", "accounts", len(seen))
	}
	return nil
}

// recordAccount records acct if it is not yet, or marks that its first
// administrator exists (admin).
func (s *Service) recordAccount(ctx context.Context, acct string, admin bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snapshot()
	old := st.accounts[acct]
	if old != nil && (old.admin || !admin) {
		return nil
	}
	a := &account{id: acct, created: s.now().UTC(), admin: admin}
	if old != nil {
		a.created = old.created
	}
	next := st.clone()
	next.accounts[acct] = a
	return s.commit(ctx, next, func(tx storage.Tx) error {
		return put(tx, accountPrefix+acct, accountRecord{ID: acct, Created: a.created, Admin: admin}, false)
	})
}

// AccessKeyInfo describes an access key for operators (never its secret).
type AccessKeyInfo struct {
	AccessKeyID string
	AccountID   string
	UserName    string // "" for the root user
	Status      string
	Created     time.Time
	Origin      string // OriginGenerated, OriginAdmin, OriginSeed or OriginAPI
}

// AccessKeys lists every access key, by account then id.
func (s *Service) AccessKeys() []AccessKeyInfo {
	st := s.snapshot()
	out := make([]AccessKeyInfo, 0, len(st.keys))
	for _, k := range st.keys {
		out = append(out, AccessKeyInfo{AccessKeyID: k.id, AccountID: k.account, UserName: k.user,
			Status: k.status, Created: k.created, Origin: k.origin})
	}
	slices.SortFunc(out, func(a, b AccessKeyInfo) int {
		if c := strings.Compare(a.AccountID, b.AccountID); c != 0 {
			return c
		}
		return strings.Compare(a.AccessKeyID, b.AccessKeyID)
	})
	return out
}

// CreateOperatorKey creates an access key for the operator (`trent admin
// create-access-key`, break-glass): of account's root user, or of userName.
// No quota applies, and the account is recorded if it is not yet (its first
// administrator is this key).
func (s *Service) CreateOperatorKey(ctx context.Context, account, userName string) (*NewKey, error) {
	if !arn.IsAccountID(account) {
		return nil, fmt.Errorf("iam: invalid account id %q: want 12 digits", account)
	}
	if err := s.recordAccount(ctx, account, true); err != nil {
		return nil, err
	}
	k, err := s.createKey(ctx, account, userName, OriginAdmin, false)
	if err != nil {
		return nil, err
	}
	return &NewKey{AccessKeyID: k.id, Secret: Secret{k.secret}, AccountID: account, UserName: k.user}, nil
}

// SetAccessKeyStatus makes any access key Active or Inactive (operators).
func (s *Service) SetAccessKeyStatus(ctx context.Context, accessKeyID, status string) error {
	if status != StatusActive && status != StatusInactive {
		return fmt.Errorf("iam: status %q: want %s or %s", status, StatusActive, StatusInactive)
	}
	return s.setKeyStatus(ctx, accessKeyID, status, nil)
}

// DeleteAccessKeyByID deletes any access key (operators).
func (s *Service) DeleteAccessKeyByID(ctx context.Context, accessKeyID string) error {
	return s.deleteKey(ctx, accessKeyID, nil)
}
