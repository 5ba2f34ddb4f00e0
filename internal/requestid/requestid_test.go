package requestid

import (
	"regexp"
	"testing"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 3000 { // past the read-ahead buffer (256 ids)
		id := New()
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("New() = %q (duplicate %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		New()
	}
}
