package requestid

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
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

func TestLogHandler(t *testing.T) {
	var b strings.Builder
	log := slog.New(LogHandler(slog.NewTextHandler(&b, nil))).With("svc", "x")
	ctx := NewContext(context.Background(), "id-1")
	if id, ok := FromContext(ctx); !ok || id != "id-1" {
		t.Errorf("FromContext = %q %v", id, ok)
	}
	log.InfoContext(ctx, "with")
	log.InfoContext(context.Background(), "without")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "svc=x request_id=id-1") || strings.Contains(lines[1], "request_id") {
		t.Errorf("log lines:\n%s", b.String())
	}
}

// TestNewContext: the id survives contexts derived from it (a timeout, a
// value of another key), other keys still reach the parent, cancellation
// still propagates, and it costs one allocation per request.
func TestNewContext(t *testing.T) {
	type otherKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	ctx := NewContext(parent, "id-2")
	derived, stop := context.WithTimeout(context.WithValue(ctx, otherKey{}, "w"), time.Hour)
	defer stop()
	if id, ok := FromContext(derived); !ok || id != "id-2" {
		t.Errorf("FromContext(derived) = %q %v", id, ok)
	}
	if v := ctx.Value(otherKey{}); v != "v" {
		t.Errorf("Value(otherKey) = %v, want the parent's", v)
	}
	if _, ok := FromContext(parent); ok {
		t.Error("FromContext(parent) found an id")
	}
	cancel()
	select {
	case <-derived.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the parent did not reach a context derived from NewContext's")
	}
	bg, id := context.Background(), New() // not a constant, whose boxing would cost nothing
	if n := testing.AllocsPerRun(100, func() { _ = NewContext(bg, id) }); n > 1 {
		t.Errorf("NewContext: %v allocations, want 1", n)
	}
}
