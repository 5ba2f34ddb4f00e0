package boltstore

import "testing"

// The committer waits for the largest of the last eight batches, so that a
// batch cut short does not shrink the ones after it.
func TestRecentSizes(t *testing.T) {
	t.Parallel()
	var r recentSizes
	if got := r.max(); got != 0 {
		t.Fatalf("no batch yet: max() = %d, want 0", got)
	}
	r.add(12)
	r.add(3)
	if got := r.max(); got != 12 {
		t.Fatalf("after batches of 12 and 3: max() = %d, want 12", got)
	}
	for range 7 {
		r.add(3)
	}
	if got := r.max(); got != 3 {
		t.Fatalf("after eight batches of 3 since the one of 12: max() = %d, want 3", got)
	}
	r.add(1)
	for range 7 {
		r.add(1)
	}
	if got := r.max(); got != 1 {
		t.Fatalf("a lone writer's eight batches: max() = %d, want 1 (no wait)", got)
	}
}
