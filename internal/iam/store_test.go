package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"

	"github.com/trent-kms/trent/internal/storage"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

var (
	accessKeyIDRe = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	secretRe      = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func mustNewStore(t *testing.T, st storage.Store) *Store {
	t.Helper()
	s, err := NewStore(context.Background(), st)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return s
}

func storedRecord(t *testing.T, st storage.Store, id string) map[string]any {
	t.Helper()
	var m map[string]any
	err := st.View(context.Background(), func(tx storage.Tx) error {
		v, err := tx.Get("iam/accesskey/" + id)
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &m)
	})
	if err != nil {
		t.Fatalf("read iam/accesskey/%s: %v", id, err)
	}
	return m
}

func TestEnsureAdmin(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	s := mustNewStore(t, st)

	k, created, err := s.EnsureAdmin(ctx, "111122223333")
	if err != nil || !created {
		t.Fatalf("EnsureAdmin = %v, created=%v; want a new key", err, created)
	}
	if !accessKeyIDRe.MatchString(k.ID) || !secretRe.MatchString(k.Secret) || k.AccountID != "111122223333" {
		t.Fatalf("EnsureAdmin key = {%s, <%d-char secret>, %s}: bad shape", k.ID, len(k.Secret), k.AccountID)
	}
	secret, p, ok := s.Lookup(k.ID)
	if !ok || secret != k.Secret || p != AdminPrincipal("111122223333", k.ID) {
		t.Fatalf("Lookup(%s) = _, %+v, %v", k.ID, p, ok)
	}
	if p.ARN != "arn:aws:iam::111122223333:root" || !p.Admin || p.AccessKeyID != k.ID {
		t.Errorf("principal = %+v", p)
	}
	rec := storedRecord(t, st, k.ID)
	if rec["access_key_id"] != k.ID || rec["secret_access_key"] != k.Secret || rec["account_id"] != "111122223333" {
		t.Errorf("stored record = %v", rec)
	}

	// Idempotent.
	k2, created, err := s.EnsureAdmin(ctx, "111122223333")
	if err != nil || created || k2 != k {
		t.Fatalf("second EnsureAdmin = %+v, %v, %v; want the same key, created=false", k2, created, err)
	}
	// Another account gets its own key.
	k3, created, err := s.EnsureAdmin(ctx, "444455556666")
	if err != nil || !created || k3.ID == k.ID || k3.Secret == k.Secret {
		t.Fatalf("EnsureAdmin(other account) = %+v, %v, %v", k3, created, err)
	}
	// Reloaded from storage: same key, not created again.
	s2 := mustNewStore(t, st)
	k4, created, err := s2.EnsureAdmin(ctx, "111122223333")
	if err != nil || created || k4 != k {
		t.Fatalf("EnsureAdmin after reload = %+v, %v, %v; want %+v, created=false", k4, created, err, k)
	}
	if _, _, ok := s2.Lookup(k3.ID); !ok {
		t.Error("reloaded store lacks the second account's key")
	}
	if _, _, err := s.EnsureAdmin(ctx, "12345"); err == nil {
		t.Error("EnsureAdmin accepted a malformed account id")
	}
}

func TestPut(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	s := mustNewStore(t, st)
	k := AccessKey{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: "111122223333"}
	if err := s.Put(ctx, k); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if secret, p, ok := s.Lookup(k.ID); !ok || secret != k.Secret || p != AdminPrincipal(k.AccountID, k.ID) {
		t.Fatalf("Lookup = %q, %+v, %v", secret, p, ok)
	}
	// Replace: new secret and account.
	k.Secret, k.AccountID = "another-secret", "999988887777"
	if err := s.Put(ctx, k); err != nil {
		t.Fatalf("Put (replace): %v", err)
	}
	if secret, p, ok := s.Lookup(k.ID); !ok || secret != "another-secret" || p.AccountID != "999988887777" {
		t.Fatalf("after replace Lookup = %q, %+v, %v", secret, p, ok)
	}
	if secret, _, ok := mustNewStore(t, st).Lookup(k.ID); !ok || secret != "another-secret" {
		t.Fatalf("after reload Lookup = %q, %v", secret, ok)
	}
	// A seeded key is not the generated administrator key: EnsureAdmin
	// still generates one (the server writes it to the credentials file).
	_, created, err := s.EnsureAdmin(ctx, "999988887777")
	if err != nil || !created {
		t.Fatalf("EnsureAdmin with only a seeded key = created %v, %v; want created", created, err)
	}
	if _, _, ok := s.Lookup("AKIANOTTHERE00000000"); ok {
		t.Error("Lookup of an unknown key succeeded")
	}

	for _, bad := range []AccessKey{
		{ID: "SHORT", Secret: "s", AccountID: "111122223333"},
		{ID: "AKIA/../../etc/pass", Secret: "s", AccountID: "111122223333"},
		{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "", AccountID: "111122223333"},
		{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "s", AccountID: "11112222333a"},
		{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "s", AccountID: ""},
	} {
		if err := s.Put(ctx, bad); err == nil {
			t.Errorf("Put(%q, account %q) succeeded, want error", bad.ID, bad.AccountID)
		}
	}
}

// failingStore reads from the wrapped store and fails every Update.
type failingStore struct{ storage.Store }

func (failingStore) Update(context.Context, func(storage.Tx) error) error {
	return errors.New("disk on fire")
}

func TestWriteFailureLeavesMemoryUnchanged(t *testing.T) {
	ctx := context.Background()
	s := mustNewStore(t, failingStore{memstore.New()})
	err := s.Put(ctx, AccessKey{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "x", AccountID: "111122223333"})
	if err == nil {
		t.Fatal("Put succeeded on a failing store")
	}
	if _, _, ok := s.Lookup("AKIAIOSFODNN7EXAMPLE"); ok {
		t.Error("key visible in memory although it was not persisted")
	}
	if _, _, err := s.EnsureAdmin(ctx, "111122223333"); err == nil {
		t.Error("EnsureAdmin succeeded on a failing store")
	}
}

func TestNewStoreRejectsCorruptRecords(t *testing.T) {
	ctx := context.Background()
	for name, put := range map[string][2]string{
		"not json":    {"iam/accesskey/AKIAIOSFODNN7EXAMPLE", "{"},
		"id mismatch": {"iam/accesskey/AKIAIOSFODNN7EXAMPLE", `{"access_key_id":"AKIAOTHER0000000000","secret_access_key":"s","account_id":"111122223333"}`},
	} {
		st := memstore.New()
		if err := st.Update(ctx, func(tx storage.Tx) error { return tx.Put(put[0], []byte(put[1])) }); err != nil {
			t.Fatal(err)
		}
		if _, err := NewStore(ctx, st); err == nil {
			t.Errorf("%s: NewStore succeeded", name)
		}
	}
}

func TestConcurrentLookupAndWrites(t *testing.T) {
	ctx := context.Background()
	s := mustNewStore(t, memstore.New())
	base := AccessKey{ID: "AKIABASEKEY000000000", Secret: "base", AccountID: "111122223333"}
	if err := s.Put(ctx, base); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := fmt.Sprintf("AKIAW%dK%014d", w, i)
				if err := s.Put(ctx, AccessKey{ID: id, Secret: "s", AccountID: "111122223333"}); err != nil {
					t.Error(err)
					return
				}
				if _, _, ok := s.Lookup(id); !ok {
					t.Errorf("Lookup(%s) after Put failed", id)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 2000 {
			if secret, _, ok := s.Lookup(base.ID); !ok || secret != "base" {
				t.Error("base key lost during concurrent writes")
				return
			}
		}
	}()
	wg.Wait()
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, secret := GenerateAccessKeyID(), GenerateSecret()
		if !accessKeyIDRe.MatchString(id) || !secretRe.MatchString(secret) {
			t.Fatalf("generated %q / <%d chars>: bad shape", id, len(secret))
		}
		if seen[id] || seen[secret] {
			t.Fatal("generated a duplicate")
		}
		seen[id], seen[secret] = true, true
	}
}
