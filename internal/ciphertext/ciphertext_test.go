package ciphertext

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func sample() *Blob {
	b := &Blob{KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab", Version: 3, Sealed: bytes.Repeat([]byte{0xAB}, 20)}
	for i := range b.Nonce {
		b.Nonce[i] = byte(i)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	b := sample()
	data := b.Marshal()
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Marshal()) err = %v", err)
	}
	if got.KeyID != b.KeyID || got.Version != b.Version || got.Nonce != b.Nonce || !bytes.Equal(got.Sealed, b.Sealed) {
		t.Errorf("Parse(Marshal()) = %+v, want %+v", got, b)
	}
	if !bytes.Equal(got.Marshal(), data) {
		t.Error("Marshal(Parse(x)) != x")
	}
	if !bytes.HasPrefix(data, got.Header()) {
		t.Error("blob does not start with its header")
	}
}

func TestParseRejects(t *testing.T) {
	good := sample().Marshal()
	cases := map[string][]byte{
		"empty":           nil,
		"one byte":        {Version1},
		"wrong version":   append([]byte{0x02}, good[1:]...),
		"zero id length":  append([]byte{Version1, 0}, good[2:]...),
		"id too long":     append([]byte{Version1, MaxKeyIDLen + 1}, good[2:]...),
		"bad id char":     bytes.Replace(good, []byte("1234abcd"), []byte("1234ab/d"), 1),
		"no tag":          good[:len(good)-20+TagSize-1],
		"too long":        append(append([]byte{}, good...), make([]byte, MaxBlobLen)...),
		"version zero":    (&Blob{KeyID: "k", Version: 0, Sealed: make([]byte, TagSize)}).Marshal(),
		"length past end": {Version1, 40, 'a', 'b'},
	}
	for name, data := range cases {
		if _, err := Parse(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse err = %v, want ErrMalformed", name, err)
		}
	}
	for i := range good {
		if _, err := Parse(good[:i]); err == nil && i < len(good)-len(sample().Sealed)+TagSize {
			t.Errorf("Parse(truncated to %d) succeeded", i)
		}
	}
}

func TestEncodeContextCanonical(t *testing.T) {
	a := EncodeContext(map[string]string{"ab": "c"})
	b := EncodeContext(map[string]string{"a": "bc"})
	if bytes.Equal(a, b) {
		t.Error("{ab:c} and {a:bc} encode the same")
	}
	x := EncodeContext(map[string]string{"k1": "v1", "k2": "v2", "k0": ""})
	y := EncodeContext(map[string]string{"k2": "v2", "k0": "", "k1": "v1"})
	if !bytes.Equal(x, y) {
		t.Error("encoding depends on map order")
	}
	if got := EncodeContext(nil); !bytes.Equal(got, []byte{0, 0}) {
		t.Errorf("EncodeContext(nil) = %x, want 0000", got)
	}
	if !bytes.Equal(EncodeContext(nil), EncodeContext(map[string]string{})) {
		t.Error("nil and empty context differ")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample().Marshal())
	f.Add([]byte{Version1, 1, 'k', 0, 0, 0, 1})
	f.Add([]byte(strings.Repeat("\x01", 64)))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to exactly the same bytes (no malleability).
		if !bytes.Equal(b.Marshal(), data) {
			t.Fatalf("Marshal(Parse(%x)) = %x", data, b.Marshal())
		}
	})
}
