package kms

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// downStore is a store whose database has gone away: every Update fails
// with storage.ErrUnavailable (after fn ran, so its writes must roll back).
type downStore struct{ storage.Store }

func (d downStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return d.Store.Update(ctx, func(tx storage.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return fmt.Errorf("%w: test: connection refused", storage.ErrUnavailable)
	})
}

// An unreachable database is DependencyTimeoutException (503, retryable),
// as is a request whose deadline passed while storage held it; memory is
// left as it was.
func TestStorageUnavailable(t *testing.T) {
	s, err := New(context.Background(), Config{Store: downStore{memstore.New()}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateKey(context.Background(), caller, &CreateKeyInput{})
	wantErr(t, err, "DependencyTimeoutException", "*")
	out, _ := s.ListKeys(context.Background(), caller, &ListKeysInput{})
	if out != nil && len(out.Keys) != 0 {
		t.Errorf("ListKeys after a failed CreateKey = %d keys, want none", len(out.Keys))
	}

	slow, err := New(context.Background(), Config{Store: slowStore{memstore.New()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = slow.CreateKey(ctx, caller, &CreateKeyInput{})
	wantErr(t, err, "DependencyTimeoutException", "*")
}

// slowStore waits for the context before every Update, as a database that
// does not answer would.
type slowStore struct{ storage.Store }

func (s slowStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	<-ctx.Done()
	return fmt.Errorf("test: %w", ctx.Err())
}
