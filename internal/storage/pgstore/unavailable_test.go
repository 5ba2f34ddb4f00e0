package pgstore_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/pgstore"
	"github.com/trent-kms/trent/internal/storage/pgstore/pgtest"
)

// wantUnavailable checks that err is a clean ErrUnavailable, with no pgx
// type reachable through it.
func wantUnavailable(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("%s err = %v, want ErrUnavailable", op, err)
	}
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	if errors.As(err, &pe) || errors.As(err, &ce) {
		t.Errorf("%s err = %v exposes a pgx error type", op, err)
	}
}

// allOps runs one of each call and returns their errors by name.
func allOps(s *pgstore.Store) map[string]error {
	return map[string]error{
		"View":    s.View(ctx, func(tx storage.Tx) error { _, err := tx.Get("k"); return err }),
		"Update":  s.Update(ctx, func(tx storage.Tx) error { return tx.Put("k", []byte("down")) }),
		"Ping":    s.Ping(ctx),
		"Version": func() error { _, err := s.Version(ctx); return err }(),
	}
}

// A database that is stopped, then started again: every call fails at once
// with ErrUnavailable, and works again without reopening the store.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	in := pgtest.Start(t)
	s := mustOpen(t, in.URL(t), pgstore.Options{Timeout: 2 * time.Second})
	put(t, s, "k", "before")
	in.Stop()
	for op, err := range allOps(s) {
		start := time.Now()
		wantUnavailable(t, op, err)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s on a stopped database took %v", op, d)
		}
	}
	if err := in.Restart(); err != nil {
		t.Fatal(err)
	}
	// The pool may hand out one dead connection per slot before it notices.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put("k", []byte("after")) })
		if err == nil {
			break
		}
		wantUnavailable(t, "Update after restart", err)
		if time.Now().After(deadline) {
			t.Fatalf("Update still fails 15s after the database came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var v []byte
	if err := s.View(ctx, func(tx storage.Tx) (err error) { v, err = tx.Get("k"); return err }); err != nil || string(v) != "after" {
		t.Errorf("after restart k = %q, %v, want after", v, err)
	}
}

// A database that hangs (stopped processes, open sockets): calls give up
// after Options.Timeout with ErrUnavailable, and work again when it resumes.
func TestDatabaseHangs(t *testing.T) {
	t.Parallel()
	in := pgtest.Start(t)
	const timeout = time.Second
	s := mustOpen(t, in.URL(t), pgstore.Options{Timeout: timeout})
	put(t, s, "k", "before")
	in.Freeze()
	thawed := false
	defer func() {
		if !thawed {
			in.Thaw()
		}
	}()
	start := time.Now()
	for op, err := range allOps(s) {
		wantUnavailable(t, op, err)
	}
	// Four calls, each bounded by about one timeout (an Update may wait
	// twice: a statement, then its rollback).
	if d := time.Since(start); d > 8*timeout {
		t.Errorf("four calls on a hung database took %v, want about %v each", d, timeout)
	}
	in.Thaw()
	thawed = true
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.Update(ctx, func(tx storage.Tx) error { return tx.Put("k", []byte("after")) })
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Update still fails 15s after the database resumed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Open of a database nobody listens for fails fast and cleanly.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = pgstore.Open(ctx, fmt.Sprintf("postgres://trent@%s/trent?sslmode=disable", addr), pgstore.Options{Timeout: 2 * time.Second})
	wantUnavailable(t, "Open", err)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open of a closed port took %v", d)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := pgstore.Open(ctx, "postgres://user:s3cret@[::1", pgstore.Options{})
	if err == nil {
		t.Fatal("Open(bad URL) err = nil")
	}
	if errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Open(bad URL) err = %v, want a configuration error, not ErrUnavailable", err)
	}
	if s := err.Error(); containsAny(s, "s3cret") {
		t.Errorf("Open(bad URL) err = %q shows the password", s)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
	}
	return false
}
