package requestid

import (
	"regexp"
	"testing"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := New()
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("New() = %q (duplicate %v)", id, seen[id])
		}
		seen[id] = true
	}
}
