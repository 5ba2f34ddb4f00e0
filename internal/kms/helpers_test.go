package kms

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

const (
	acct    = "111122223333"
	region  = "us-east-1"
	otherID = "11111111-2222-3333-4444-555555555555"
)

var caller = Caller{
	Principal: iam.Principal{AccountID: acct, ARN: "arn:aws:iam::" + acct + ":root", Type: iam.Root},
	Region:    region,
}

func callerIn(region, account string) Caller {
	return Caller{Principal: iam.Principal{AccountID: account, ARN: "arn:aws:iam::" + account + ":root", Type: iam.Root}, Region: region}
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// failStore wraps a Store and makes Update fail while fail is set (after
// running fn, so that writes happen and must be rolled back).
type failStore struct {
	storage.Store
	mu   sync.Mutex
	fail bool
}

var errInjected = errors.New("injected failure")

func (f *failStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if !fail {
		return f.Store.Update(ctx, fn)
	}
	return f.Store.Update(ctx, func(tx storage.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errInjected
	})
}

func (f *failStore) setFail(b bool) {
	f.mu.Lock()
	f.fail = b
	f.mu.Unlock()
}

type env struct {
	t     testing.TB
	s     *Service
	store *failStore
	clock *clock
}

func newEnv(t testing.TB) *env {
	t.Helper()
	fs := &failStore{Store: memstore.New()}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := New(context.Background(), Config{Store: fs, Now: clk.Now})
	if err != nil {
		t.Fatalf("New() err = %v", err)
	}
	return &env{t: t, s: s, store: fs, clock: clk}
}

// reopen builds a new Service over the same store.
func (e *env) reopen() *Service {
	e.t.Helper()
	s, err := New(context.Background(), Config{Store: e.store, Now: e.clock.Now})
	if err != nil {
		e.t.Fatalf("New() over the same store err = %v", err)
	}
	return s
}

func (e *env) createKey(c Caller) *KeyMetadata {
	e.t.Helper()
	out, err := e.s.CreateKey(context.Background(), c, &CreateKeyInput{Description: "test key"})
	if err != nil {
		e.t.Fatalf("CreateKey() err = %v", err)
	}
	return out.KeyMetadata
}

func (e *env) encrypt(keyID string, pt []byte, ec map[string]string) []byte {
	e.t.Helper()
	out, err := e.s.Encrypt(context.Background(), caller, &EncryptInput{KeyId: keyID, Plaintext: pt, EncryptionContext: ec})
	if err != nil {
		e.t.Fatalf("Encrypt(%q) err = %v", keyID, err)
	}
	return out.CiphertextBlob
}

// wantErr checks err is a *kmserr.Error with code and (if msg != "*") message.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ke *kmserr.Error
	if !errors.As(err, &ke) {
		t.Fatalf("err = %v, want %s %q", err, code, msg)
	}
	if ke.Code != code || (msg != "*" && ke.Message != msg) {
		t.Fatalf("err = %s: %q, want %s: %q", ke.Code, ke.Message, code, msg)
	}
}

func ptr[T any](v T) *T { return &v }

// deleteKeyNow schedules the deletion of keyID in s with the shortest
// waiting period, moves clk past it and runs the tick that deletes the key.
func deleteKeyNow(t *testing.T, s *Service, clk *clock, keyID string) {
	t.Helper()
	if _, err := s.ScheduleKeyDeletion(bg, caller, &ScheduleKeyDeletionInput{KeyId: keyID, PendingWindowInDays: ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(8 * 24 * time.Hour)
	if err := s.Tick(bg); err != nil {
		t.Fatal(err)
	}
}
