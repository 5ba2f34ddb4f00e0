package kms

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/storage"
)

// lowGrantQuota lowers the grant quota to n for t.
func lowGrantQuota(t *testing.T, n int) {
	old := maxGrants
	maxGrants = n
	t.Cleanup(func() { maxGrants = old })
}

func createGrant(s *Service, keyID, grantee string) (*CreateGrantOutput, error) {
	return s.CreateGrant(bg, caller, &CreateGrantInput{KeyId: keyID, GranteePrincipal: "arn:aws:iam::" + acct + ":user/" + grantee, Operations: []string{"Decrypt"}})
}

// TestGrantQuotaAcrossNodes: two nodes on one PostgreSQL database, each
// adding grants to a key that the other has not heard of yet, do not give
// it more than the quota (lowered to 3): CreateGrant counts again on what
// storage holds. A database whose grants are not counted yet (an earlier
// release's) is counted by the first CreateGrant.
func TestGrantQuotaAcrossNodes(t *testing.T) {
	lowGrantQuota(t, 3)
	open, _ := openStore(t, "postgres")
	st := open()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a, err := New(bg, Config{Store: st, Shared: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, a)
	b, err := New(bg, Config{Store: open(), Shared: true, Now: clk.Now}) // holds the key; follows nothing
	if err != nil {
		t.Fatal(err)
	}
	for _, grantee := range []string{"a1", "a2"} {
		if _, err := createGrant(a, id, grantee); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := createGrant(b, id, "b1"); err != nil {
		t.Fatal(err) // the third
	}
	_, err = createGrant(a, id, "a3") // a knows two
	wantErr(t, err, "LimitExceededException", "The number of grants for key arn:aws:kms:us-east-1:111122223333:key/"+id+" exceeds the limit of 3.")
	_, err = createGrant(b, id, "b2") // b knows one
	wantErr(t, err, "LimitExceededException", "*")

	// A grant revoked makes room for one.
	gs, err := a.ListGrants(bg, caller, &ListGrantsInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeGrant(bg, caller, &RevokeGrantInput{KeyId: id, GrantId: gs.Grants[0].GrantId}); err != nil {
		t.Fatal(err)
	}
	if _, err := createGrant(b, id, "b3"); err != nil {
		t.Fatal(err)
	}
	_, err = createGrant(a, id, "a4")
	wantErr(t, err, "LimitExceededException", "*")

	// The count of an earlier release's database: none.
	err = st.Update(bg, func(tx storage.Tx) error { return tx.Delete(grantCountPath(region, acct, id)) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = createGrant(a, id, "a5")
	wantErr(t, err, "LimitExceededException", "*")
	n := len(storedPaths(t, st, grantPath(region, acct, id, "")))
	if n != 3 {
		t.Errorf("storage holds %d grants of the key, want 3", n)
	}
	if _, err := createGrant(b, id, "b4"); err == nil {
		t.Error("a CreateGrant past the quota, counted again, was taken")
	}

	// The key's deletion deletes its count with its grants.
	deleteKeyNow(t, a, clk, id)
	if ps := storedPaths(t, st, "kms/grant"); len(ps) != 0 {
		t.Errorf("grants and counts left after the key's deletion: %v", ps)
	}
}

// TestGrantQuotaOneNode: a single node (bbolt) refuses the grant past the
// quota on its memory, and keeps no count in storage.
func TestGrantQuotaOneNode(t *testing.T) {
	lowGrantQuota(t, 2)
	open, _ := openStore(t, "bbolt")
	st := open()
	s, err := New(bg, Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, s)
	for _, grantee := range []string{"a1", "a2"} {
		if _, err := createGrant(s, id, grantee); err != nil {
			t.Fatal(err)
		}
	}
	_, err = createGrant(s, id, "a3")
	wantErr(t, err, "LimitExceededException", "*")
	if ps := storedPaths(t, st, grantCountPathPrefix); len(ps) != 0 {
		t.Errorf("a single node stored grant counts: %v", ps)
	}
}

// TestGrantQuotaConcurrentNodes: two nodes adding grants to one key at
// once, neither following the other, stop at the quota together (their
// transactions conflict on the key's count and one is run again).
func TestGrantQuotaConcurrentNodes(t *testing.T) {
	lowGrantQuota(t, 10)
	open, _ := openStore(t, "postgres")
	st := open()
	a, err := New(bg, Config{Store: st, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, a)
	b, err := New(bg, Config{Store: open(), Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var made atomic.Int64
	for i, s := range []*Service{a, b, a, b} {
		wg.Go(func() {
			for j := range 8 {
				if _, err := createGrant(s, id, "g"+strconv.Itoa(i)+"-"+strconv.Itoa(j)); err == nil {
					made.Add(1)
				} else if !errors.Is(err, kmserr.ErrLimitExceeded) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := len(storedPaths(t, st, grantPath(region, acct, id, ""))); n != 10 || made.Load() != 10 {
		t.Errorf("storage holds %d grants of the key, %d CreateGrant succeeded; want 10", n, made.Load())
	}
}
