package kms

import "testing"

// A store read from storage before a change, and kept after the change's
// own refresh, must not replace what that refresh cached: the cache would
// serve the older state (a disconnected store still in use, say) until the
// store's next change.
func TestKeyStoreCacheKeepsNoOlderRead(t *testing.T) {
	var c keyStoreCache
	const path = "p"
	old := &keyStoreRecord{ID: "cks-1", State: "CONNECTED"}
	now := &keyStoreRecord{ID: "cks-1", State: "DISCONNECTED"}

	slow := c.forget(path)                 // a refresh starts and reads old...
	c.keep(path, now, nil, c.forget(path)) // ...a later change refreshes first
	if cs := c.keep(path, old, nil, slow); cs.rec.State != "CONNECTED" {
		t.Errorf("keep returned %s, want the record it was given", cs.rec.State)
	}
	if got := c.m[path].rec.State; got != "DISCONNECTED" {
		t.Errorf("cache holds %s after a slow refresh, want the newer DISCONNECTED", got)
	}
	// With no change in between, a read is kept.
	c.keep(path, old, nil, c.forget(path))
	if got := c.m[path].rec.State; got != "CONNECTED" {
		t.Errorf("cache holds %s, want CONNECTED", got)
	}
}
