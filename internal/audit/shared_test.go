package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

type flakyStore struct {
	storage.Store
	fail bool
}

func (f *flakyStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if f.fail {
		return storage.ErrUnavailable
	}
	return f.Store.Update(ctx, fn)
}

// GetKeyLastUsage sees the uses every node recorded, once published.
func TestSharedUsage(t *testing.T) {
	st := &flakyStore{Store: memstore.New()}
	la, lb := mustOpen(t, Options{}), mustOpen(t, Options{})
	a, err := NewSharedUsage(t0ctx, la, st, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSharedUsage(t0ctx, lb, st, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := encryptEvent(1)
	e.Time = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := la.Record(t0ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.LastUsage(testKeyARN); ok {
		t.Fatal("b knows a's use before a published it")
	}
	st.fail = true
	if err := a.Flush(t0ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Flush with the store down: %v", err)
	}
	st.fail = false
	if err := a.Flush(t0ctx); err != nil { // what failed is published now
		t.Fatal(err)
	}
	if err := b.Apply(t0ctx, []string{UsagePrefix + "a/" + testKeyARN, "kms/key/x"}); err != nil {
		t.Fatal(err)
	}
	u, ok := b.LastUsage(testKeyARN)
	if !ok || !u.Time.Equal(e.Time) || u.Operation != "Encrypt" || u.RequestID != e.RequestID || u.EventID == "" {
		t.Fatalf("b's LastUsage = %+v, %v; want a's Encrypt at %v", u, ok, e.Time)
	}
	// A later use on b wins over a's; an earlier one does not.
	later := encryptEvent(2)
	later.Time = e.Time.Add(time.Hour)
	lb.Record(t0ctx, later)
	if u, _ := b.LastUsage(testKeyARN); !u.Time.Equal(later.Time) {
		t.Errorf("b's LastUsage after its own later use = %v, want %v", u.Time, later.Time)
	}
	if err := b.Flush(t0ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(t0ctx); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.LastUsage(testKeyARN); !u.Time.Equal(later.Time) {
		t.Errorf("a's LastUsage after b published = %v, want %v", u.Time, later.Time)
	}
	if len(la.TakeUsage()) != 0 {
		t.Error("a has uses left to publish after Flush")
	}
}
