package requestid

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
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
