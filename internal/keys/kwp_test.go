package keys

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestUnwrapKWPVectors: the test vectors of RFC 5649 section 6.
func TestUnwrapKWPVectors(t *testing.T) {
	kek := hx("5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8")
	for _, tc := range []struct{ wrapped, key string }{
		{"138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a", "c37b7e6492584340 bed1220780894115 5068f738"},
		{"afbeb0f07dfbf541 9200f2ccb50bb24f", "466f7250617369"},
	} {
		got, err := unwrapKWP(kek, hx(tc.wrapped))
		if err != nil || !bytes.Equal(got, hx(tc.key)) {
			t.Errorf("unwrapKWP(%s) = %x, %v, want %s", tc.wrapped, got, err, tc.key)
		}
		w := hx(tc.wrapped)
		for i := range w {
			bad := bytes.Clone(w)
			bad[i] ^= 0x80
			if _, err := unwrapKWP(kek, bad); err == nil {
				t.Errorf("unwrapKWP accepted a wrapped key with byte %d changed", i)
			}
		}
		for _, n := range []int{0, 8, len(w) - 1, len(w) - 8} {
			if _, err := unwrapKWP(kek, w[:n]); err == nil && n != len(w) {
				t.Errorf("unwrapKWP accepted %d of %d bytes", n, len(w))
			}
		}
	}
}

func FuzzUnwrapKWP(f *testing.F) {
	f.Add(hx("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"), hx("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"))
	f.Add(hx("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"), hx("afbeb0f07dfbf5419200f2ccb50bb24f"))
	f.Add(make([]byte, 32), make([]byte, 24))
	f.Fuzz(func(t *testing.T, kek, c []byte) {
		p, err := unwrapKWP(kek, c)
		if err == nil && (len(p) > len(c)-8 || len(p) <= len(c)-16) {
			t.Errorf("unwrapKWP gave %d bytes from %d", len(p), len(c))
		}
	})
}
