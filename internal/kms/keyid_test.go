package kms

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Key ids are version 7 UUIDs: they sort by creation time (so that new
// keys' records sit together in storage), carry the creation time in
// milliseconds, and differ within one millisecond.
func TestKeyIDsAreTimeOrderedUUIDs(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		at := t0.Add(time.Duration(i/10) * time.Millisecond) // ten ids per millisecond
		id := newKeyID(at)
		if !uuidV7.MatchString(id) {
			t.Fatalf("newKeyID() = %q, not a version 7 UUID", id)
		}
		if seen[id] {
			t.Fatalf("newKeyID() drew %q twice", id)
		}
		seen[id] = true
		if i%10 == 0 && id < prev {
			t.Fatalf("id of %v (%s) sorts before one of an earlier millisecond (%s)", at, id, prev)
		}
		prev = id
		raw, _ := hex.DecodeString(strings.ReplaceAll(id, "-", "")[:12])
		var ms int64
		for _, c := range raw {
			ms = ms<<8 | int64(c)
		}
		if ms != at.UnixMilli() {
			t.Fatalf("id %s carries %d ms, want %d", id, ms, at.UnixMilli())
		}
	}
	e := newEnv(t)
	a := e.createKey(caller)
	e.clock.Advance(time.Millisecond)
	b := e.createKey(caller)
	if !(a.KeyId < b.KeyId) || !uuidV7.MatchString(a.KeyId) {
		t.Errorf("CreateKey ids %s then %s: want version 7 UUIDs in creation order", a.KeyId, b.KeyId)
	}
}
