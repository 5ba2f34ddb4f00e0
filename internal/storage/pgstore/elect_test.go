package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

func elect(t *testing.T, s *pgstore.Store, role string) <-chan storage.Lease {
	t.Helper()
	ch := make(chan storage.Lease, 1)
	ectx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go func() {
		l, err := s.Elect(ectx, role)
		if err != nil {
			if ectx.Err() == nil {
				t.Errorf("Elect(%q) err = %v", role, err)
			}
			return
		}
		ch <- l
	}()
	return ch
}

func lease(t *testing.T, ch <-chan storage.Lease, d time.Duration) storage.Lease {
	t.Helper()
	select {
	case l := <-ch:
		t.Cleanup(l.Release)
		return l
	case <-time.After(d):
		t.Fatalf("no leadership within %v", d)
	}
	panic("unreachable")
}

func notElected(t *testing.T, ch <-chan storage.Lease, d time.Duration) {
	t.Helper()
	select {
	case l := <-ch:
		l.Release()
		t.Fatalf("a second candidate was elected while the leader held the lease")
	case <-time.After(d):
	}
}

// The leader's session is killed: it learns it lost the lease, and the
// other candidate takes over.
func TestElectTakeover(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := mustOpen(t, url+"&application_name=nodeA", pgstore.Options{Keepalive: time.Second})
	b := mustOpen(t, url+"&application_name=nodeB", pgstore.Options{Keepalive: time.Second})
	la := lease(t, elect(t, a, "jobs"), 10*time.Second)
	chB := elect(t, b, "jobs")
	notElected(t, chB, 2500*time.Millisecond)
	// Another role is independent.
	lease(t, elect(t, b, "other"), 10*time.Second)

	var killed int
	err := sqlConn(t, url).QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'nodeA leader/jobs'
		AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the leader's session: %d terminated, err = %v", killed, err)
	}
	start := time.Now()
	select {
	case <-la.Done():
		t.Logf("old leader noticed after %v", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatalf("the old leader still holds its lease 5s after its session was killed")
	}
	lb := lease(t, chB, 10*time.Second)
	t.Logf("new leader elected after %v", time.Since(start))

	// Release hands over at once.
	chA := elect(t, a, "jobs")
	notElected(t, chA, 1500*time.Millisecond)
	lb.Release()
	lb.Release() // twice is fine
	select {
	case <-lb.Done():
	default:
		t.Errorf("Done not closed after Release")
	}
	lease(t, chA, 10*time.Second)
}

// Closing a store releases its leases; Elect after Close fails.
func TestElectClose(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t, url, pgstore.Options{})
	la := lease(t, elect(t, a, "jobs"), 10*time.Second)
	chB := elect(t, b, "jobs")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	<-la.Done()
	lease(t, chB, 10*time.Second)
	if _, err := a.Elect(ctx, "jobs"); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Elect() after Close err = %v, want ErrClosed", err)
	}
}

// A candidate that is never elected returns when its context ends.
func TestElectCanceled(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := mustOpen(t, url, pgstore.Options{})
	lease(t, elect(t, a, "jobs"), 10*time.Second)
	cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if _, err := a.Elect(cctx, "jobs"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Elect() of a held role err = %v, want context.DeadlineExceeded", err)
	}
}
