package secret

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

var material = []byte("0123456789abcdefSECRETSECRET")

func TestNeverPrinted(t *testing.T) {
	s := Copy(material)
	type holder struct {
		Name string
		key  Bytes
		Key  Bytes
	}
	h := holder{Name: "k", key: s, Key: s}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q", "%o", "%b"} {
		for _, v := range []any{s, &s, h, &h, []Bytes{s}, map[string]Bytes{"k": s}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "SECRET") || strings.Contains(out, fmt.Sprintf("%x", material)) ||
				strings.Contains(out, fmt.Sprint(material)) || strings.Contains(out, fmt.Sprintf("%x", material[:4])) {
				t.Errorf("Sprintf(%q, %T) = %q: shows the secret", verb, v, out)
			}
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "key", s, "holder", h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", s, "holder", h)
	if strings.Contains(buf.String(), "SECRET") || strings.Contains(buf.String(), "MDEy") {
		t.Errorf("slog output shows the secret: %s", buf.String())
	}
}

func TestNeverMarshalled(t *testing.T) {
	s := Copy(material)
	if b, err := json.Marshal(struct{ K Bytes }{s}); err == nil {
		t.Errorf("json.Marshal = %s, want an error", b)
	}
	if b, err := json.Marshal(map[string]Bytes{"k": s}); err == nil {
		t.Errorf("json.Marshal(map) = %s, want an error", b)
	}
	if err := gob.NewEncoder(&bytes.Buffer{}).Encode(s); err == nil {
		t.Error("gob Encode succeeded, want an error")
	}
}

func TestEqualWipe(t *testing.T) {
	a, b := Copy(material), Copy(material)
	if !a.Equal(b) {
		t.Error("Equal of equal bytes = false")
	}
	if a.Equal(Copy(material[:5])) || a.Equal(Bytes{}) {
		t.Error("Equal of different bytes = true")
	}
	raw := make([]byte, len(material))
	copy(raw, material)
	c := New(raw)
	alias := c
	c.Wipe()
	if !bytes.Equal(raw, make([]byte, len(material))) {
		t.Errorf("Wipe left %x in the owned slice", raw)
	}
	if !alias.IsZero() || alias.Expose() != nil || alias.Len() != 0 {
		t.Error("a copy of a wiped Bytes still holds bytes")
	}
	var zero Bytes
	zero.Wipe()
	if !zero.IsZero() || zero.Expose() != nil {
		t.Error("zero Bytes not empty")
	}
	if Copy(material).Len() != len(material) {
		t.Error("Len wrong")
	}
}
