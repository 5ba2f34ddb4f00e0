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

// afterWork moves the deadline by the work done, so that the storage
// write keeps its whole Timeout, while a cancellation of the request (the
// client gone) still ends it.
func TestAfterWork(t *testing.T) {
	parent, cancelParent := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelParent()
	ctx, cancel := afterWork(parent, time.Hour)
	defer cancel()
	pd, _ := parent.Deadline()
	if d, ok := ctx.Deadline(); !ok || !d.Equal(pd.Add(time.Hour)) {
		t.Errorf("deadline = %v, %v; want the request's plus an hour", d, ok)
	}
	<-parent.Done()
	time.Sleep(10 * time.Millisecond) // an AfterFunc that wrongly cancels has run by now
	if err := ctx.Err(); err != nil {
		t.Errorf("after the request's own deadline: %v, want the write's context alive", err)
	}

	client, gone := context.WithCancel(context.Background())
	parent, cancelParent = context.WithTimeout(client, time.Hour)
	defer cancelParent()
	ctx, cancel = afterWork(parent, time.Hour)
	defer cancel()
	gone()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the client gone did not end the write's context")
	}

	parent, cancelParent = context.WithTimeout(context.Background(), time.Hour)
	defer cancelParent()
	if ctx, _ := afterWork(parent, time.Microsecond); ctx != parent {
		t.Error("work under a millisecond changed the context")
	}
}
